"""A concurrency limit in front of a sandbox: at most `max_concurrency` programs run at once,
the rest wait their turn (first come, first served)."""

from __future__ import annotations

import asyncio

from agentgym.sandboxes.base import Sandbox, SandboxSession
from agentgym.sandboxes.types import ExecResult, Limits


class SandboxPool:
    """Shares one backend among many callers; `run` and the runs of `session()` each take a slot."""

    def __init__(self, sandbox: Sandbox, max_concurrency: int = 8):
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.sandbox = sandbox
        self.max_concurrency = max_concurrency
        self._slots = asyncio.Semaphore(max_concurrency)
        self.running = 0

    async def run(self, code: str, **kwargs) -> ExecResult:
        """`Sandbox.run` once a slot is free."""
        async with self._slot():
            return await self.sandbox.run(code, **kwargs)

    def session(self, *, limits: Limits | None = None, network: bool = False) -> SandboxSession:
        """A session of the backend whose runs each wait for a slot."""
        return SandboxSession(self.sandbox, limits, network, slot=self._slot)

    def _slot(self) -> _Slot:
        return _Slot(self)


class _Slot:
    def __init__(self, pool: SandboxPool):
        self.pool = pool

    async def __aenter__(self) -> None:
        await self.pool._slots.acquire()
        self.pool.running += 1

    async def __aexit__(self, *exc_info) -> None:
        self.pool.running -= 1
        self.pool._slots.release()
