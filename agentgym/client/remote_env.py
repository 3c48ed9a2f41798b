"""`RemoteEnv`: the Env API over the wire, for an environment session on a server."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from agentgym.client.connection import Connection
from agentgym.env import Env
from agentgym.errors import (
    AgentGymError,
    ConnectionLost,
    EpisodeEnded,
    NotForkable,
    RemoteError,
    ResetNeeded,
    ServerBusy,
    SessionFailed,
    UnknownEnvironment,
)
from agentgym.types import Observation, StepResult

logger = logging.getLogger("agentgym.client")

_TYPED_ERRORS: dict[str, type[AgentGymError]] = {
    "episode_ended": EpisodeEnded,
    "reset_needed": ResetNeeded,
    "not_forkable": NotForkable,
}
_FAILED_SESSION_TYPES = {"env_error", "session_failed", "step_timeout"}


def raise_for_answer(status: int, body: dict[str, Any]) -> None:
    """Raise the typed error an error answer stands for (nothing for a success)."""
    if status < 400:
        return
    error = body.get("error", {})
    error_type, message = error.get("type", "unknown"), error.get("message", str(body))
    if error_type in _TYPED_ERRORS:
        raise _TYPED_ERRORS[error_type](message)
    if error_type == "unknown_environment":
        raise UnknownEnvironment("", [], message)
    if status == 503:
        raise ServerBusy(status, error_type, message)
    if error_type in _FAILED_SESSION_TYPES:
        raise SessionFailed(status, error_type, message)
    raise RemoteError(status, error_type, message)


class RemoteEnv(Env):
    """An environment session on an agentgym server, behind the ordinary Env API.

    The session is created on the first `reset` (or by `EnvPool.make`). Every reset and step
    carries the session's next sequence number, and is retried after a dropped connection up
    to `retries` times: the server answers a retried number from its stored result, so no step
    is applied twice or lost. `fork()` is not retried (a lost fork answer would otherwise leave an
    orphan session): it raises `ConnectionLost`. `close()` closes the remote session, and the connection too when
    the env owns it (`agentgym.make("ws://...")`), not when it shares a pool's.
    """

    def __init__(
        self,
        connection: Connection,
        env_id: str,
        kwargs: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        last_seq: int = 0,
        system_prompt: str = "",
        retries: int = 5,
        retry_backoff_s: float = 0.1,
        owns_connection: bool = False,
    ):
        self.connection = connection
        self.env_id = env_id
        self.kwargs = dict(kwargs or {})
        self.session_id = session_id
        self.last_seq = last_seq
        self.system_prompt = system_prompt
        self.retries = retries
        self.retry_backoff_s = retry_backoff_s
        self.owns_connection = owns_connection
        self.closed = False

    async def create_session(self) -> str:
        """Create the remote session now (normally done by the first reset)."""
        if self.session_id is None:
            # The id is chosen here, so a create retried after a lost answer finds the session
            # it made the first time instead of making (and leaking) a second one.
            request = {"op": "create", "env_id": self.env_id, "kwargs": self.kwargs, "session_id": uuid.uuid4().hex}
            body = await self._call(request)
            self.session_id, self.system_prompt = body["session_id"], body["system_prompt"]
        return self.session_id

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await self.create_session()
        seq = self.last_seq + 1
        body, images = await self._call_with_images(
            {"op": "reset", "session_id": self.session_id, "seed": seed, "options": options, "seq": seq}
        )
        self.last_seq = seq
        return Observation.model_validate({**body["observation"], "images": images})

    async def step(self, action: str) -> StepResult:
        if self.session_id is None:
            raise ResetNeeded("step() called before reset(); call `await env.reset()` first")
        seq = self.last_seq + 1
        body, images = await self._call_with_images({"op": "step", "session_id": self.session_id, "action": action, "seq": seq})
        self.last_seq = seq
        result = body["result"]
        result["observation"] = {**result["observation"], "images": images}
        return StepResult.model_validate(result)

    async def fork(self) -> RemoteEnv:
        if self.session_id is None:
            raise ResetNeeded("fork() called before reset(); there is no session to copy")
        # not retried: a fork is not idempotent, and a retried one would leave an orphan session
        body, _ = await self._call_with_images({"op": "fork", "session_id": self.session_id}, retries=0)
        return RemoteEnv(
            self.connection,
            self.env_id,
            self.kwargs,
            session_id=body["session_id"],
            last_seq=body["last_seq"],
            system_prompt=body["system_prompt"],
            retries=self.retries,
            retry_backoff_s=self.retry_backoff_s,
        )

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.session_id is not None and not self.connection.closed:
            try:
                await self._call({"op": "close", "session_id": self.session_id})
            except RemoteError as error:
                if error.remote_type != "unknown_session":  # already reaped or closed: nothing to free
                    raise
        if self.owns_connection:
            await self.connection.close()

    async def _call(self, payload: dict[str, Any]) -> dict[str, Any]:
        body, _ = await self._call_with_images(payload)
        return body

    async def _call_with_images(
        self, payload: dict[str, Any], *, retries: int | None = None
    ) -> tuple[dict[str, Any], list[bytes]]:
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                status, body, images = await self.connection.request(payload)
            except ConnectionLost as error:
                if attempt == retries:
                    raise
                logger.info("retrying %s after a lost connection: %s", payload["op"], error)
                await asyncio.sleep(self.retry_backoff_s * 2**attempt)
                continue
            raise_for_answer(status, body)
            return body, images
        raise AssertionError("unreachable")

    def __repr__(self) -> str:
        return f"<RemoteEnv {self.env_id} session={self.session_id} at {self.connection.base_url}>"
