"""Helpers of the rollout suites: a deterministic test environment and a scripted test policy.

`StepsEnv` (registered as `rollouttest/steps-v0` by the suite's conftest, and as
`rollouttest/steps-limited-v0` with a 2-turn time limit): the first observation is drawn from
the seeded generator; each step appends the action to the observation (so two forks that take
different actions see different states) and rewards "good" with 1, "bad" with 0, anything else
is invalid (-0.1). The episode terminates after `length` steps. `fail_seeds` / `fail_at` make
the step numbered `fail_at` raise in episodes reset with one of those seeds (a failure on
purpose), and `fail_every=k` does the same in every k-th instance made; `delay` sleeps in every step. `OPEN` counts instances not closed yet.

`ScriptedPolicy` implements the Policy protocol with a real tokenizer: each response is the
chosen action's token ids plus the end-of-turn token, with fixed log-probabilities.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from agentgym import Env, Observation, StepResult
from agentgym.policies.base import Generation, SamplingParams

OPEN: set[int] = set()
"""ids of StepsEnv instances made and not closed yet."""


class StepsEnv(Env):
    system_prompt = "Answer good or bad."

    made = 0
    """Instances made so far in this process (for `fail_every`)."""

    def __init__(
        self,
        length: int = 3,
        delay: float = 0.0,
        fail_seeds: Sequence[int] = (),
        fail_at: int = 1,
        fail_every: int = 0,
        pad: int = 0,
    ):
        self.length, self.delay, self.pad = length, delay, pad
        StepsEnv.made += 1
        self.fail = bool(fail_every) and StepsEnv.made % fail_every == 0
        self.fail_seeds, self.fail_at = tuple(fail_seeds), fail_at
        self.actions: list[str] = []
        self.seed: int | None = None
        self.start = 0
        self.closed = False
        OPEN.add(id(self))

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        self.seed, self.actions = seed, []
        self.start = int(self.np_random.integers(1000))
        if options and options.get("start") is not None:
            self.start = int(options["start"])
        return self._observation()

    async def step(self, action: str) -> StepResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        if (self.fail or self.seed in self.fail_seeds) and len(self.actions) + 1 == self.fail_at:
            raise RuntimeError(f"failing on purpose at step {self.fail_at}")
        self.actions.append(action)
        valid = action in ("good", "bad")
        reward = (1.0 if action == "good" else 0.0) if valid else -0.1
        done = len(self.actions) >= self.length
        info: dict[str, Any] = {"invalid_action": not valid}
        if done:
            info["success"] = all(a == "good" for a in self.actions)
        return StepResult(observation=self._observation(), reward=reward, terminated=done, info=info)

    async def fork(self) -> StepsEnv:
        clone = copy.deepcopy(self)
        OPEN.add(id(clone))
        return clone

    async def close(self) -> None:
        self.closed = True
        OPEN.discard(id(self))

    def _observation(self) -> Observation:
        history = " ".join(self.actions) or "-"
        padding = " pad" * self.pad * (len(self.actions) + 1)
        return Observation(text=f"start {self.start}; actions {history}{padding}", anchor=f"{self.start}:{history}")


class UnforkableStepsEnv(StepsEnv):
    async def fork(self) -> StepsEnv:
        return await Env.fork(self)  # raises NotForkable


class ScriptedPolicy:
    """A deterministic Policy: `choose(prompt_text, call_index)` names each response's action
    (default: always "good"); responses are its token ids plus the end-of-turn token, with
    log-probabilities -0.5, -0.51, -0.52, ... `version` is a plain attribute; `calls` records the
    number of prompts of every generate call, and `delay` makes each call sleep."""

    def __init__(
        self,
        tokenizer: Any,
        choose: Callable[[str, int], str] | Sequence[str] = ("good",),
        *,
        version: int = 0,
        delay: float = 0.0,
        fail_after: int | None = None,
    ):
        self.tokenizer = tokenizer
        self.version = version
        self.delay = delay
        self.fail_after = fail_after
        if callable(choose):
            self.choose = choose
        else:
            actions = list(choose)
            self.choose = lambda text, index: actions[index % len(actions)]
        self.counter = itertools.count()
        self.calls: list[int] = []
        self.prompts: list[list[int]] = []
        self.generations: list[Generation] = []

    async def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        self.calls.append(len(prompts))
        if self.fail_after is not None and len(self.calls) > self.fail_after:
            raise RuntimeError("the policy broke on purpose")
        if self.delay:
            await asyncio.sleep(self.delay)
        out = []
        for prompt in prompts:
            text = self.choose(self.tokenizer.decode(prompt), next(self.counter))
            ids = self.tokenizer.encode(text, add_special_tokens=False) + [self.tokenizer.eos_token_id]
            finish = "stop"
            if len(ids) > params.max_tokens:
                ids, finish = ids[: params.max_tokens], "length"
            generation = Generation(
                token_ids=ids,
                logprobs=[-0.5 - 0.01 * i for i in range(len(ids))],
                text=self.tokenizer.decode(ids, skip_special_tokens=True),
                finish_reason=finish,
            )
            self.prompts.append(list(prompt))
            self.generations.append(generation)
            out.append(generation)
        return out
