"""Guess the number: the reference environment.

The environment picks a secret integer in [low, high] from its seeded generator. Each turn the
agent names a number; the feedback says whether the secret is higher or lower. Reward: +1 and
`terminated` for the right number, 0 for a wrong one, -`invalid_penalty` for a turn that names
no number in range (`info["invalid_action"]`). The anchor is the interval the hints have left
open, so two episodes of the same task that have learnt the same thing share an anchor. Every
step reports the secret, as a decimal string, in `info["ground_truth"]` (`GROUND_TRUTH_KEY`),
for trainers such as IGPO; it is never in the observation.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from agentgym.actions import answer_text
from agentgym.env import Env
from agentgym.registration import register as register_env
from agentgym.types import GROUND_TRUTH_KEY, Observation, StepResult

_INTEGER = re.compile(r"-?\d+")
_RANGE = re.compile(r"between (-?\d+) and (-?\d+)")
_HINT = re.compile(r"(-?\d+) is too (low|high)")


class GuessNumberEnv(Env):
    """Find the secret in [low, high] from higher/lower hints. Forkable.

    Options for `reset`: `secret` fixes the secret number (for tests and demos).
    """

    def __init__(self, low: int = 1, high: int = 100, invalid_penalty: float = 0.1):
        if low >= high:
            raise ValueError(f"low must be below high, got low={low}, high={high}")
        self.low, self.high = low, high
        self.invalid_penalty = invalid_penalty
        self.system_prompt = (
            f"I am thinking of a secret integer between {low} and {high}. Each turn, guess it by "
            "answering with one integer, e.g. <answer>42</answer>; I tell you whether the secret "
            "is higher or lower. You win when you name it; use as few guesses as you can."
        )

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        options = dict(options or {})
        secret = options.pop("secret", None)
        if options:
            raise ValueError(f"unknown options {sorted(options)}; guess-number accepts only 'secret'")
        if secret is not None and not self.low <= secret <= self.high:
            raise ValueError(f"secret {secret} is outside [{self.low}, {self.high}]")
        self.secret = int(self.np_random.integers(self.low, self.high + 1)) if secret is None else int(secret)
        self.open_low, self.open_high = self.low, self.high
        return self._observation(f"I am thinking of an integer between {self.low} and {self.high}. Guess it.")

    async def step(self, action: str) -> StepResult:
        match = _INTEGER.search(answer_text(action))
        guess = int(match.group()) if match else None
        if guess is None or not self.low <= guess <= self.high:
            return StepResult(
                observation=self._observation(
                    f"Invalid guess: answer with one integer between {self.low} and {self.high}."
                ),
                reward=-self.invalid_penalty,
                info={"invalid_action": True, GROUND_TRUTH_KEY: str(self.secret)},
            )
        if guess == self.secret:
            return StepResult(
                observation=self._observation(f"{guess} is right!"),
                reward=1.0,
                terminated=True,
                info={"invalid_action": False, "success": True, GROUND_TRUTH_KEY: str(self.secret)},
            )
        if guess < self.secret:
            self.open_low = max(self.open_low, guess + 1)
            hint = f"{guess} is too low: the number is higher."
        else:
            self.open_high = min(self.open_high, guess - 1)
            hint = f"{guess} is too high: the number is lower."
        return StepResult(
            observation=self._observation(hint), info={"invalid_action": False, GROUND_TRUTH_KEY: str(self.secret)}
        )

    async def fork(self) -> GuessNumberEnv:
        return copy.deepcopy(self)

    def _observation(self, text: str) -> Observation:
        return Observation(text=text, anchor=f"open:{self.open_low}-{self.open_high}")


class GuessNumberSolver:
    """The expert: guesses at `split` of the interval the hints leave open (0.5: binary
    search, at most ceil(log2(high - low + 1)) guesses). Reads only the observation text."""

    def __init__(self, split: float = 0.5):
        if not 0.0 <= split <= 1.0:
            raise ValueError(f"split must be in [0, 1], got {split}")
        self.split = split

    def reset(self, observation: Observation, system_prompt: str) -> None:
        low, high = _RANGE.search(observation.text).groups()  # type: ignore[union-attr]
        self.low, self.high = int(low), int(high)

    def act(self, observation: Observation) -> str:
        hint = _HINT.search(observation.text)
        if hint and hint.group(2) == "low":
            self.low = int(hint.group(1)) + 1
        elif hint:
            self.high = int(hint.group(1)) - 1
        return f"<answer>{self.low + int((self.high - self.low) * self.split)}</answer>"


def register() -> None:
    register_env(
        "guess-number-v0",
        "agentgym.environments.guess_number:GuessNumberEnv",
        max_turns=10,
        description="Guess a secret integer from higher/lower hints (the reference environment)",
        capabilities={"fork": True},
    )
