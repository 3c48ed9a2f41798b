"""A trivial agentgym environment for the server benchmark: it echoes the action.

Importing this module registers `bench/echo-v0`, so the server loads it with
`agentgym serve bench/echo-v0 --import echo_env` (with this folder on PYTHONPATH). Its step
does almost nothing, so the benchmark measures the serving path, not the environment.
"""

from __future__ import annotations

from typing import Any

import agentgym
from agentgym import Env, Observation, StepResult

ENV_ID = "bench/echo-v0"


class EchoEnv(Env):
    """Each step answers with the action's text, reward 0 and a step counter; never ends."""

    def __init__(self) -> None:
        self.turn = 0

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        self.turn = 0
        return Observation(text="ready")

    async def step(self, action: str) -> StepResult:
        self.turn += 1
        return StepResult(observation=Observation(text=action), reward=0.0, info={"step": self.turn})


agentgym.register(ENV_ID, EchoEnv, description="benchmark: echoes the action, never ends")
