"""The sandbox service's open sessions: ids, a cap on how many, and the closing of idle ones.

A session is idle when no request of it is in progress; one idle longer than
`idle_timeout_s` is closed by `close_idle` (which the service calls periodically), and its id
then answers 404 like any unknown id. Closing a session that is in use waits for its
requests in progress to finish; new requests to it are refused at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator

from agentgym.sandboxes.base import SandboxSession
from agentgym.sandboxes.pool import SandboxPool
from agentgym.sandboxes.types import Limits
from agentgym.server.protocol import ServiceError

log = logging.getLogger(__name__)


class OpenSession:
    """One session of the service: the sandbox session and its bookkeeping."""

    def __init__(self, session_id: str, session: SandboxSession):
        self.id = session_id
        self.session = session
        self.last_used = time.monotonic()
        self.in_use = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def idle_for(self, now: float) -> float:
        """Seconds since the last request ended (0 while one is in progress)."""
        return 0.0 if self.in_use else now - self.last_used

    async def wait_idle(self) -> None:
        await self._idle.wait()


class SessionRegistry:
    """The sessions of one service, at most `max_sessions` open at once."""

    def __init__(self, pool: SandboxPool, *, max_sessions: int, idle_timeout_s: float):
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {max_sessions}")
        if idle_timeout_s <= 0:
            raise ValueError(f"the session idle timeout must be positive, got {idle_timeout_s}")
        self.pool = pool
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.sessions: dict[str, OpenSession] = {}

    def __len__(self) -> int:
        return len(self.sessions)

    async def open(self, limits: Limits | None, network: bool) -> OpenSession:
        """A new session; 503 `too_many_sessions` at the cap."""
        if len(self.sessions) >= self.max_sessions:
            raise ServiceError(
                503,
                "too_many_sessions",
                f"{self.max_sessions} sessions are open, the most this service allows; close one "
                "(DELETE /sessions/{id}) or wait for idle ones to expire",
                {"Retry-After": "1"},
            )
        session = self.pool.session(limits=limits, network=network)
        session_id = secrets.token_hex(16)
        entry = OpenSession(session_id, session)
        self.sessions[session_id] = entry
        try:
            await session.open()
        except BaseException:
            self.sessions.pop(session_id, None)
            await session.close()
            raise
        return entry

    def get(self, session_id: str) -> OpenSession:
        entry = self.sessions.get(session_id)
        if entry is None:
            raise ServiceError(
                404,
                "unknown_session",
                f"no open session {session_id!r}: it was never opened, was closed, or expired after "
                f"{self.idle_timeout_s:g} s idle; open a new one with POST /sessions",
            )
        return entry

    @contextlib.asynccontextmanager
    async def use(self, session_id: str) -> AsyncIterator[SandboxSession]:
        """The sandbox session of `session_id` (404 if none), kept from expiring meanwhile."""
        entry = self.get(session_id)
        entry.in_use += 1
        entry._idle.clear()
        try:
            yield entry.session
        finally:
            entry.in_use -= 1
            entry.last_used = time.monotonic()
            if not entry.in_use:
                entry._idle.set()

    async def close(self, session_id: str) -> None:
        """Close `session_id` (404 if none) once its requests in progress have finished."""
        entry = self.get(session_id)
        del self.sessions[session_id]
        await self._close(entry)

    async def _close(self, entry: OpenSession) -> None:
        await entry.wait_idle()
        await entry.session.close()

    async def close_idle(self) -> list[str]:
        """Close every session idle longer than the timeout; returns their ids."""
        now = time.monotonic()
        expired = [entry for entry in self.sessions.values() if entry.idle_for(now) > self.idle_timeout_s]
        for entry in expired:
            del self.sessions[entry.id]
        for entry in expired:
            await entry.session.close()
            log.info("closed an idle sandbox session", extra={"session_id": entry.id})
        return [entry.id for entry in expired]

    async def close_all(self) -> None:
        entries = list(self.sessions.values())
        self.sessions.clear()
        await asyncio.gather(*(self._close_quietly(entry) for entry in entries))

    async def _close_quietly(self, entry: OpenSession) -> None:
        try:
            await entry.session.close()
        except Exception:
            log.exception("closing a sandbox session failed", extra={"session_id": entry.id})

    async def reap_forever(self) -> None:
        """Run `close_idle` every quarter of the timeout (at most every 5 s) until cancelled."""
        period = min(max(self.idle_timeout_s / 4, 0.05), 5.0)
        while True:
            await asyncio.sleep(period)
            try:
                await self.close_idle()
            except Exception:
                log.exception("closing idle sandbox sessions failed")
