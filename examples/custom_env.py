"""Write, register and play a new environment in about 20 lines (the README's example).

Run: python examples/custom_env.py
"""

import asyncio

import agentgym
from agentgym import Env, Observation, StepResult


class CountdownEnv(Env):
    """Say the numbers from `start` down to 1, one per turn."""

    def __init__(self, start: int = 3):
        self.start = start

    async def reset(self, *, seed=None, options=None) -> Observation:
        await super().reset(seed=seed)
        self.next = self.start
        return Observation(text=f"Count down from {self.start}.")

    async def step(self, action: str) -> StepResult:
        if action.strip() != str(self.next):
            return StepResult(observation=Observation(text=f"Say {self.next}."), reward=-0.1, info={"invalid_action": True})
        self.next -= 1
        return StepResult(observation=Observation(text="Good."), reward=1.0, terminated=self.next == 0)


agentgym.register("countdown-v0", CountdownEnv, max_turns=10, description="Count down to 1")


async def main() -> None:
    async with agentgym.make("countdown-v0", start=2) as env:
        print((await env.reset(seed=0)).text)
        for action in ["2", "oops", "1"]:
            result = await env.step(action)
            print(f"{action!r} -> {result.observation.text} reward={result.reward} done={result.done}")


if __name__ == "__main__":
    asyncio.run(main())
