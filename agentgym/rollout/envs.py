"""Where a rollout's environments come from: in-process (`agentgym.make`) or sessions on
environment servers (`EnvPool`). Every episode gets its own environment instance, made for its
task and closed when the episode ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from agentgym.env import Env
from agentgym.rollout.types import Task


async def close_quietly(env: Env, timeout_s: float = 30.0) -> None:
    """`await env.close()`, ignoring its errors and giving up after `timeout_s`."""
    try:
        await asyncio.wait_for(env.close(), timeout_s)
    except Exception:
        pass


if TYPE_CHECKING:
    from agentgym.client import EnvPool


@runtime_checkable
class EnvSource(Protocol):
    """Makes one environment per episode; `close()` frees what the source itself holds."""

    async def make(self, task: Task) -> Env:
        """A new environment for `task` (`task.env_id` with `task.env_kwargs`), not yet reset."""
        ...

    async def close(self) -> None:
        """Free the source's own resources (connections); environments it made are closed by their users."""
        ...


async def finish_making(making: Awaitable[Env]) -> Env:
    """Await `making`; if the caller is cancelled meanwhile, let the environment be made
    anyway (a thread or a server cannot be stopped half-way) and close it, then re-raise the
    cancellation, so that no environment or remote session is left behind."""
    future = asyncio.ensure_future(making)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        try:
            env = await future
        except Exception:
            raise asyncio.CancelledError() from None
        await close_quietly(env)
        raise


class LocalEnvs:
    """Environments in this process, from `agentgym.make(task.env_id, **task.env_kwargs)`.

    Construction runs in a worker thread, so a slow constructor never blocks the event loop.
    A `ws://host:port/ID` env id also works (each environment then opens its own connection;
    `RemoteEnvs` shares connections instead).
    """

    def __init__(self, **make_kwargs: Any):
        """`make_kwargs` go to every `agentgym.make` call (e.g. `max_turns=None` to lift the
        spec's time limit); a task's `env_kwargs` come on top."""
        self.make_kwargs = make_kwargs

    async def make(self, task: Task) -> Env:
        from agentgym.registration import make

        return await finish_making(asyncio.to_thread(make, task.env_id, **{**self.make_kwargs, **task.env_kwargs}))

    async def close(self) -> None:
        pass


class RemoteEnvs:
    """Sessions on environment servers, through one `EnvPool` (least loaded server first, shared
    connections). `retries` is how often a request is retried after a lost connection before
    the episode fails with kind "connection_lost"."""

    def __init__(self, urls: Sequence[str] | None = None, *, pool: EnvPool | None = None, retries: int = 5):
        if (urls is None) == (pool is None):
            raise ValueError("give either the server URLs or an EnvPool")
        self._urls, self._retries = list(urls or ()), retries
        self._pool = pool
        self._owns_pool = pool is None

    @property
    def pool(self) -> EnvPool:
        if self._pool is None:
            from agentgym.client import EnvPool  # the client (aiohttp) loads only when used

            self._pool = EnvPool(self._urls, retries=self._retries)
        return self._pool

    async def make(self, task: Task) -> Env:
        return await finish_making(self.pool.make(task.env_id, **task.env_kwargs))

    async def close(self) -> None:
        if self._owns_pool and self._pool is not None:
            await self._pool.close()
