"""Helpers shared by every test suite (import as `from support import ...`; pytest puts tests/
on the path): tiny environments, a rollout helper and subprocess runners."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentgym import Env, Observation, StepResult

REPO_ROOT = Path(__file__).resolve().parent.parent


class CountingEnv(Env):
    """A minimal non-forkable Env: counts valid steps, "stop" terminates, "?" is invalid.
    Records how often it was closed."""

    def __init__(self, start: int = 0):
        self.start = start
        self.closed = 0

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        self.count = self.start
        return Observation(text=f"count {self.count}")

    async def step(self, action: str) -> StepResult:
        if action == "?":
            return StepResult(observation=Observation(text=f"count {self.count}"), reward=-1.0, info={"invalid_action": True})
        self.count += 1
        return StepResult(observation=Observation(text=f"count {self.count}"), reward=1.0, terminated=action == "stop")

    async def close(self) -> None:
        self.closed += 1


Step = tuple[str, str, float, bool, bool, bool]
"""One step as compared by the tests: (text, anchor, reward, terminated, truncated, invalid)."""


async def play(env: Env, actions: Iterable[str]) -> list[Step]:
    """Step `env` through `actions` (stopping early if the episode ends) and return each step's
    observable outcome as a plain tuple, so two runs can be compared with `==`."""
    steps: list[Step] = []
    for action in actions:
        result = await env.step(action)
        observation = result.observation
        steps.append(
            (observation.text, observation.anchor, result.reward, result.terminated, result.truncated, result.invalid_action)
        )
        if result.done:
            break
    return steps


async def replay(env: Env, seed: int, actions: Iterable[str]) -> tuple[Observation, list[Step]]:
    """Reset `env` with `seed`, then `play` `actions`: the first observation and each step's outcome."""
    first = await env.reset(seed=seed)
    return first, await play(env, actions)


def run_python(
    code: str,
    *,
    python: str | os.PathLike[str] = sys.executable,
    pythonpath: Iterable[os.PathLike[str] | str] = (),
    cwd: os.PathLike[str] | str,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (`python -c`), from `cwd`, with exactly `pythonpath` as
    PYTHONPATH (the parent's is not inherited). Fails the test, showing stderr, on a non-zero exit."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in pythonpath)
    completed = subprocess.run(
        [str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert completed.returncode == 0, f"subprocess failed ({completed.returncode}):\n{completed.stderr}"
    return completed


def run_command(*args: str | os.PathLike[str], cwd: os.PathLike[str] | str | None = None, timeout: float = 300) -> str:
    """Run a command, failing the test with its output if it exits non-zero; returns stdout."""
    completed = subprocess.run([str(arg) for arg in args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert completed.returncode == 0, f"{args} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
    return completed.stdout
