"""Synchronous access to async environments, for scripts and notebooks.

`BlockingEnv(env)` offers `reset`, `step`, `fork` and `close` as ordinary blocking calls. The
coroutines run on an event loop in a background thread (`LoopThread`), so it also works where
the calling thread already runs a loop (Jupyter).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from agentgym.env import Env
from agentgym.types import Observation, StepResult

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread; `run` blocks until a coroutine finishes there."""

    def __init__(self, name: str = "agentgym-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self.loop.is_closed():
            coroutine.close()
            raise RuntimeError("this LoopThread was stopped")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class BlockingEnv:
    """Blocking calls to an async `Env`, e.g. `BlockingEnv(agentgym.make("ws://host:8000/id"))`.

    Forks share the original's loop thread; `close()` on the original (or leaving its `with`
    block) closes the env and, for the original only, stops the thread.
    """

    def __init__(self, env: Env, *, _loop: LoopThread | None = None):
        self.env = env
        self._owns_loop = _loop is None
        self._loop = _loop or LoopThread("agentgym-blocking-env")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        return self._loop.run(self.env.reset(seed=seed, options=options))

    def step(self, action: str) -> StepResult:
        return self._loop.run(self.env.step(action))

    def fork(self) -> BlockingEnv:
        return BlockingEnv(self._loop.run(self.env.fork()), _loop=self._loop)

    def close(self) -> None:
        if self._loop.loop.is_closed():
            return
        try:
            self._loop.run(self.env.close())
        finally:
            if self._owns_loop:
                self._loop.stop()

    def __enter__(self) -> BlockingEnv:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
