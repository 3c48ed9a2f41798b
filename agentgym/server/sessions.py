"""Sessions of served environments: ordering, exactly-once operations, limits and reaping.

One `Session` is one environment instance. Its operations run one at a time, in arrival order
(an asyncio lock, which is FIFO). `reset` and `step` are numbered (`seq`); the answer to the last
numbered operation is kept so that a retry of it is answered without acting twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agentgym.env import Env
from agentgym.errors import AgentGymError, EpisodeEnded, NotForkable, ResetNeeded, UnknownEnvironment
from agentgym.registration import make, spec
from agentgym.server.metrics import ServerMetrics
from agentgym.server.protocol import (
    CreateSessionRequest,
    EnvDescription,
    EnvList,
    ResetRequest,
    ResetResponse,
    ServiceError,
    SessionCreated,
    SessionInfo,
    SessionState,
    StepRequest,
    StepResponse,
)
from agentgym.timeouts import with_timeout

logger = logging.getLogger("agentgym.server")

T = TypeVar("T")


@dataclass(eq=False)
class Session:
    id: str
    env_id: str
    env: Env
    created_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)
    state: SessionState = "new"
    failure: str | None = None
    last_seq: int = 0
    last_key: tuple[Any, ...] | None = None
    last_answer: ResetResponse | StepResponse | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    creation: tuple[str, str] | None = None  # (env_id, kwargs as JSON): tells a retried create from a clash

    def created(self) -> SessionCreated:
        return SessionCreated(**self.info().model_dump(), system_prompt=self.env.system_prompt)

    def info(self) -> SessionInfo:
        return SessionInfo(
            session_id=self.id,
            env_id=self.env_id,
            state=self.state,
            last_seq=self.last_seq,
            created_at=self.created_at,
            idle_s=0.0 if self.lock.locked() else round(time.monotonic() - self.last_used, 3),
        )


@dataclass(frozen=True)
class ServerLimits:
    """max_sessions: open sessions at most (503 beyond). session_ttl_s: idle sessions are closed
    after this long. step_timeout_s: a reset or step that takes longer fails its session.
    max_action_bytes: the largest action accepted (UTF-8 bytes; 413 beyond)."""

    max_sessions: int = 4096
    session_ttl_s: float = 600.0
    step_timeout_s: float = 60.0
    max_action_bytes: int = 64 * 1024


class SessionManager:
    """Owns every session of one server and applies the operations of the protocol."""

    def __init__(self, env_ids: list[str], limits: ServerLimits, metrics: ServerMetrics):
        for env_id in env_ids:
            spec(env_id)  # raises UnknownEnvironment early, at start-up
        self.env_ids = sorted(env_ids)
        self.limits = limits
        self.metrics = metrics
        self.sessions: dict[str, Session] = {}
        self.accepting = True
        self._in_flight = 0
        self._drained = asyncio.Event()
        self._drained.set()

    # --- lookups -------------------------------------------------------------------------

    def get(self, session_id: str) -> Session:
        try:
            return self.sessions[session_id]
        except KeyError:
            raise ServiceError(404, "unknown_session", f"no open session {session_id!r} (closed, reaped or never created)") from None

    def check_served(self, env_id: str) -> None:
        if env_id in self.env_ids:
            return
        try:
            spec(env_id)
        except UnknownEnvironment as error:
            raise ServiceError(404, error.error_type, str(error)) from None
        raise ServiceError(404, "env_not_served", f"{env_id!r} is registered but this server serves only {self.env_ids}")

    # --- operations ----------------------------------------------------------------------

    async def create(self, request: CreateSessionRequest) -> SessionCreated:
        self.check_served(request.env_id)
        creation = (request.env_id, json.dumps(request.kwargs, sort_keys=True, default=str))
        if request.session_id is not None and request.session_id in self.sessions:
            existing = self.sessions[request.session_id]
            if existing.creation != creation:
                raise ServiceError(409, "session_exists", f"a different session already has the id {request.session_id!r}")
            self.metrics.replays.inc()
            return existing.created()  # a retried create: the session it made the first time
        self._check_capacity()
        if "max_turns" in request.kwargs:
            # `make` would take it as its own time-limit override: the server's limit would be lifted
            raise ServiceError(422, "invalid_kwargs", "max_turns is set by the server (the registered spec), not by a client")
        try:
            env = make(request.env_id, **request.kwargs)
        except (TypeError, ValueError) as error:
            raise ServiceError(422, "invalid_kwargs", f"cannot make {request.env_id!r} with {request.kwargs}: {error}") from None
        session_id = request.session_id or uuid.uuid4().hex
        return self._add(Session(id=session_id, env_id=request.env_id, env=env, creation=creation)).created()

    async def reset(self, session_id: str, request: ResetRequest) -> ResetResponse:
        key = ("reset", request.seed, json.dumps(request.options, sort_keys=True, default=str))

        async def apply(session: Session, seq: int) -> ResetResponse:
            observation = await self._call_env(session, session.env.reset(seed=request.seed, options=request.options), "reset")
            session.state = "running"
            return ResetResponse(seq=seq, observation=observation)

        return await self._numbered(session_id, request.seq, key, apply)

    async def step(self, session_id: str, request: StepRequest) -> StepResponse:
        size = len(request.action.encode("utf-8", "surrogatepass"))
        if size > self.limits.max_action_bytes:
            raise ServiceError(413, "action_too_large", f"the action has {size} bytes; this server accepts at most {self.limits.max_action_bytes}")

        async def apply(session: Session, seq: int) -> StepResponse:
            if session.state == "new":
                raise ServiceError(409, ResetNeeded.error_type, "step before reset; reset the session first")
            if session.state == "ended":
                raise ServiceError(409, EpisodeEnded.error_type, "the episode has ended; reset the session to start a new one")
            started = time.perf_counter()
            result = await self._call_env(session, session.env.step(request.action), "step")
            self.metrics.observe_step(session.env_id, time.perf_counter() - started)
            if result.done:
                session.state = "ended"
            return StepResponse(seq=seq, result=result)

        return await self._numbered(session_id, request.seq, ("step", request.action), apply)

    async def fork(self, session_id: str) -> SessionCreated:
        self._check_capacity()
        async with self._operation(self.get(session_id)) as session:
            self._check_not_failed(session)
            try:
                forked = await self._call_env(session, session.env.fork(), "fork", fail_session=False)
            except NotForkable as error:
                raise ServiceError(400, error.error_type, str(error)) from None
            copy = Session(id=uuid.uuid4().hex, env_id=session.env_id, env=forked, state=session.state, last_seq=session.last_seq)
        return self._add(copy).created()

    async def close(self, session_id: str) -> SessionInfo:
        session = self.sessions.pop(self.get(session_id).id)
        self.metrics.sessions.set(len(self.sessions))
        async with session.lock:
            await self._close_env(session)
        return session.info()

    def list(self) -> list[SessionInfo]:
        return [session.info() for session in self.sessions.values()]

    def describe(self, env_id: str) -> EnvDescription:
        self.check_served(env_id)
        env_spec = spec(env_id)
        return EnvDescription.model_validate(env_spec.model_dump(mode="json"))

    def describe_all(self) -> EnvList:
        return EnvList(envs=[self.describe(env_id) for env_id in self.env_ids])

    # --- lifecycle -----------------------------------------------------------------------

    async def reap_idle_forever(self) -> None:
        """Close sessions idle for longer than the TTL; runs until cancelled."""
        interval = max(0.05, min(self.limits.session_ttl_s / 4, 10.0))
        while True:
            await asyncio.sleep(interval)
            await self.reap_idle()

    async def reap_idle(self) -> int:
        deadline = time.monotonic() - self.limits.session_ttl_s
        idle = [s for s in self.sessions.values() if not s.lock.locked() and s.last_used < deadline]
        for session in idle:  # unregister them all before the first await: none can start a step now
            self.sessions.pop(session.id, None)
        for session in idle:
            logger.info("reaping idle session", extra={"session_id": session.id, "env_id": session.env_id})
            await self._close_env(session)
        if idle:
            self.metrics.sessions.set(len(self.sessions))
            self.metrics.reaped.inc(len(idle))
        return len(idle)

    async def drain(self, timeout_s: float) -> None:
        """Refuse new operations and wait (up to `timeout_s`) for those in flight to finish."""
        self.accepting = False
        try:
            await asyncio.wait_for(self._drained.wait(), timeout_s)
        except asyncio.TimeoutError:
            logger.warning("shutdown: operations still in flight after %.1f s", timeout_s, extra={"in_flight": self._in_flight})

    async def close_all(self) -> None:
        """Close every session's environment."""
        sessions, self.sessions = list(self.sessions.values()), {}
        await asyncio.gather(*(self._close_env(session) for session in sessions))
        self.metrics.sessions.set(0)

    # --- internals -----------------------------------------------------------------------

    def _check_capacity(self) -> None:
        if not self.accepting:
            raise ServiceError(503, "shutting_down", "the server is shutting down; use another server", {"Retry-After": "1"})
        if len(self.sessions) >= self.limits.max_sessions:
            raise ServiceError(
                503,
                "too_many_sessions",
                f"this server holds its maximum of {self.limits.max_sessions} sessions; close some or retry later",
                {"Retry-After": "1"},
            )

    def _add(self, session: Session) -> Session:
        self.sessions[session.id] = session
        self.metrics.sessions.set(len(self.sessions))
        return session

    @staticmethod
    def _check_not_failed(session: Session) -> None:
        if session.state == "failed":
            raise ServiceError(409, "session_failed", f"the session failed earlier ({session.failure}); close it and create a new one")

    def _begin(self) -> None:
        """Count an operation as in flight; refused while shutting down."""
        if not self.accepting:
            raise ServiceError(503, "shutting_down", "the server is shutting down; retry on another server", {"Retry-After": "1"})
        self._in_flight += 1
        self._drained.clear()

    def _end(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._drained.set()

    @asynccontextmanager
    async def _operation(self, session: Session) -> AsyncIterator[Session]:
        """Run one operation on `session`: in order, counted as in flight, refused when shutting down."""
        self._begin()
        try:
            async with session.lock:
                yield session
                session.last_used = time.monotonic()
        finally:
            self._end()

    async def _numbered(
        self, session_id: str, seq: int | None, key: tuple[Any, ...], apply: Callable[[Session, int], Awaitable[T]]
    ) -> T:
        # `_operation` written out: this is the hot path of every reset and step
        session = self.get(session_id)
        self._begin()
        try:
            async with session.lock:
                try:
                    if seq is not None and seq == session.last_seq and session.last_answer is not None:
                        if key != session.last_key:
                            raise ServiceError(409, "seq_conflict", f"seq {seq} was already used by a different request")
                        self.metrics.replays.inc()
                        return session.last_answer  # type: ignore[return-value]
                    self._check_not_failed(session)
                    expected = session.last_seq + 1
                    if seq is not None and seq != expected:
                        raise ServiceError(
                            409, "seq_out_of_order", f"got seq {seq}, expected {expected} (the last applied is {session.last_seq})"
                        )
                    answer = await apply(session, expected)
                    session.last_seq, session.last_key, session.last_answer = expected, key, answer  # type: ignore[assignment]
                    return answer
                finally:
                    session.last_used = time.monotonic()
        finally:
            self._end()

    async def _call_env(self, session: Session, call: Awaitable[T], what: str, fail_session: bool = True) -> T:
        """Await one environment call with the step timeout; failures become typed errors, and
        (unless `fail_session` is False) mark the session failed."""
        try:
            return await with_timeout(call, self.limits.step_timeout_s)
        except asyncio.TimeoutError:
            consequence = ""
            if fail_session:
                self._fail(session, f"{what} took longer than {self.limits.step_timeout_s} s")
                consequence = "; the session is failed"
            raise ServiceError(
                504, "step_timeout", f"{what} took longer than the step timeout of {self.limits.step_timeout_s} s{consequence}"
            ) from None
        except NotForkable:
            raise
        except AgentGymError as error:
            raise ServiceError(409, error.error_type, str(error)) from None
        except Exception as error:
            if what == "reset" and isinstance(error, (ValueError, TypeError)):
                # a bad seed or options: the caller's fault; the session stays usable
                raise ServiceError(422, "invalid_argument", f"reset refused: {error}") from None
            consequence = ""
            if fail_session:
                self._fail(session, f"{what} raised {type(error).__name__}: {error}")
                consequence = "; the session is failed"
            logger.exception("environment error", extra={"session_id": session.id, "env_id": session.env_id})
            raise ServiceError(
                500, "env_error", f"the environment raised {type(error).__name__} in {what}: {error}{consequence}"
            ) from None

    def _fail(self, session: Session, reason: str) -> None:
        session.state, session.failure = "failed", reason
        self.metrics.failed_sessions.inc()

    async def _close_env(self, session: Session) -> None:
        try:
            await asyncio.wait_for(session.env.close(), self.limits.step_timeout_s)
        except Exception:
            logger.exception("closing an environment failed", extra={"session_id": session.id, "env_id": session.env_id})
