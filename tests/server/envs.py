"""Test-only environments for the environment-service suites.

`register_test_envs()` registers them, under the `servertest/` namespace (unique to these
suites); the fixture in conftest.py does so for the duration of tests/server only, so other
suites never see them. A server in another process serves them with
`agentgym serve servertest/counting-v0 --import tests.server.serve_envs` (PYTHONPATH = the
repository root): importing that module registers them.

- `servertest/counting-v0` (`CountingEnv`): deterministic from its seed; counts every *real* call of
  `step` in `STEP_CALLS[tag]` (in-process) and, with `log=PATH`, appends one line per started and
  per applied step to that file (across processes). `delay` makes each step sleep. Forkable.
- `servertest/raising-v0` (`RaisingEnv`): raises `RuntimeError` in the step numbered `fail_at`.
- `servertest/slow-v0`: `CountingEnv` whose steps sleep 5 s by default (for step timeouts).
- `servertest/png-v0` (`PngEnv`): observations carry real PNG images whose bytes cover every value.
- `servertest/sync-sleep-v0` (`SleepySyncEnv`): a `SyncEnv` whose `step_sync` blocks in `time.sleep`.
- `servertest/unforkable-v0` (`UnforkableEnv`): the default `fork()`, which raises `NotForkable`.
"""

from __future__ import annotations

import asyncio
import copy
import os
import struct
import time
import zlib
from collections import Counter
from typing import Any

from agentgym import Env, Observation, StepResult, register
from agentgym.env import SyncEnv

STEP_CALLS: Counter[str] = Counter()
"""Real `step` calls of `CountingEnv`, by its `tag` kwarg (in-process servers only)."""


def _append_line(path: str, line: str) -> None:
    """One `write` on an O_APPEND descriptor: the line is in the kernel's hands when this
    returns, so it survives the process exiting at any moment after."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


class CountingEnv(Env):
    """Each step draws from the seeded generator, so two runs with the same seed and actions
    give identical results; "stop" terminates. Every real step call is counted (see module doc)."""

    def __init__(self, tag: str = "", delay: float = 0.0, log: str | None = None, fork_delay: float = 0.0, close_delay: float = 0.0):
        self.tag, self.delay, self.log = tag, delay, log
        self.fork_delay, self.close_delay = fork_delay, close_delay
        self.steps = 0
        self.token = ""
        self.closing = False

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        self.steps = 0
        self.token = (options or {}).get("token", "")
        return Observation(text=f"start {int(self.np_random.integers(1 << 30))}")

    async def step(self, action: str) -> StepResult:
        assert not self.closing, "step on a closed environment"
        STEP_CALLS[self.tag] += 1
        number = self.steps + 1
        if self.log:
            _append_line(self.log, f"start {self.token} {number} {action}")
        if self.delay:
            await asyncio.sleep(self.delay)
        self.steps = number
        draw = int(self.np_random.integers(1 << 30))
        if self.log:
            _append_line(self.log, f"applied {self.token} {number} {action}")
        return StepResult(
            observation=Observation(text=f"step {number} action {action!r} draw {draw}", anchor=f"{number}"),
            reward=float(draw % 7),
            terminated=action == "stop",
            info={"step": number, "action": action},
        )

    async def fork(self) -> CountingEnv:
        if self.fork_delay:
            await asyncio.sleep(self.fork_delay)
        return copy.deepcopy(self)

    async def close(self) -> None:
        self.closing = True
        if self.close_delay:
            await asyncio.sleep(self.close_delay)


class RaisingEnv(Env):
    def __init__(self, fail_at: int = 1):
        self.fail_at = fail_at

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        self.steps = 0
        return Observation(text="ready")

    async def step(self, action: str) -> StepResult:
        self.steps += 1
        if self.steps >= self.fail_at:
            raise RuntimeError(f"boom at step {self.steps}")
        return StepResult(observation=Observation(text=f"ok {self.steps}"))


def make_png(width: int, height: int, pixels: bytes) -> bytes:
    """A valid RGB PNG (8 bits per channel, no filter) holding `pixels` (width*height*3 bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + pixels[y * width * 3 : (y + 1) * width * 3] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b"")


class PngEnv(Env):
    """Each observation carries `count` PNG images of random pixels (stored uncompressed, so
    every byte value appears); the step's action picks the side length (at most 512)."""

    def __init__(self, count: int = 2, side: int = 16):
        self.count, self.side = count, side

    def _images(self, side: int) -> tuple[bytes, ...]:
        return tuple(
            make_png(side, side, self.np_random.integers(0, 256, side * side * 3, dtype="uint8").tobytes())
            for _ in range(self.count)
        )

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        return Observation(text="images", images=self._images(self.side))

    async def step(self, action: str) -> StepResult:
        side = (
            min(int(action), 512) if action.isascii() and action.isdigit() else self.side
        )  # a fuzzer may send "99999999"
        return StepResult(observation=Observation(text=f"side {side}", images=self._images(side)))


class SleepySyncEnv(SyncEnv):
    """Synchronous code that blocks its thread for `delay` seconds per step."""

    def __init__(self, delay: float = 0.3):
        self.delay = delay

    def reset_sync(self, *, seed: int | None, options: dict[str, Any] | None) -> Observation:
        return Observation(text="sleepy")

    def step_sync(self, action: str) -> StepResult:
        time.sleep(self.delay)
        return StepResult(observation=Observation(text=f"slept on {action}"))


class UnforkableEnv(Env):
    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        return Observation(text="plain")

    async def step(self, action: str) -> StepResult:
        return StepResult(observation=Observation(text="plain"))


TEST_ENV_IDS = [
    "servertest/counting-v0",
    "servertest/raising-v0",
    "servertest/slow-v0",
    "servertest/png-v0",
    "servertest/sync-sleep-v0",
    "servertest/unforkable-v0",
]


def register_test_envs() -> None:
    """Register every test environment (idempotent)."""
    module = "tests.server.envs"  # one import name, in-process and in a server subprocess
    register("servertest/counting-v0", f"{module}:CountingEnv", max_turns=50, capabilities={"fork": True})
    register("servertest/raising-v0", f"{module}:RaisingEnv")
    register("servertest/slow-v0", f"{module}:CountingEnv", delay=5.0)
    register("servertest/png-v0", f"{module}:PngEnv", capabilities={"images": True})
    register("servertest/sync-sleep-v0", f"{module}:SleepySyncEnv")
    register("servertest/unforkable-v0", f"{module}:UnforkableEnv")


def unregister_test_envs() -> None:
    """Remove them from the registry again."""
    from agentgym import registration

    for env_id in TEST_ENV_IDS:
        registration._registry.pop(env_id, None)
