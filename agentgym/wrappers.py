"""Wrappers: environments that delegate to an inner one and change one aspect of it.

`agentgym.make` applies `TimeLimit` (from `EnvSpec.max_turns`) and, outermost, `EpisodeGuard`.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from agentgym.env import Env
from agentgym.errors import EnvContractError, EpisodeEnded, ResetNeeded
from agentgym.types import EnvSpec, Observation, StepResult


class Wrapper(Env):
    """Delegates every call to `self.env`. Subclasses override what they change.

    Forking a wrapper forks the inner environment and copies the wrapper around it; a wrapper
    with mutable state overrides `_rewrap` to copy that state too.
    """

    def __init__(self, env: Env):
        self.env = env

    @property
    def spec(self) -> EnvSpec | None:  # type: ignore[override]
        return self.env.spec

    @property
    def np_random(self) -> np.random.Generator:
        return self.env.np_random

    @property
    def system_prompt(self) -> str:  # type: ignore[override]
        return self.env.system_prompt

    @property
    def unwrapped(self) -> Env:
        return self.env.unwrapped

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        return await self.env.reset(seed=seed, options=options)

    async def step(self, action: str) -> StepResult:
        return await self.env.step(action)

    async def fork(self) -> Env:
        return self._rewrap(await self.env.fork())

    async def close(self) -> None:
        await self.env.close()

    def _rewrap(self, forked_inner: Env) -> Wrapper:
        clone = copy.copy(self)
        clone.env = forked_inner
        return clone

    def __repr__(self) -> str:
        return f"<{type(self).__name__}{self.env!r}>"


class EpisodeGuard(Wrapper):
    """Enforces the episode protocol and the return types of the wrapped environment.

    Raises `ResetNeeded` on a step before the first reset, `EpisodeEnded` on a step after the
    episode ended, `TypeError` when the action is not a string, and `EnvContractError` when the
    environment returns something other than an `Observation` / `StepResult`.
    """

    def __init__(self, env: Env):
        super().__init__(env)
        self._has_reset = False
        self._ended = False

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        observation = await self.env.reset(seed=seed, options=options)
        if not isinstance(observation, Observation):
            raise EnvContractError(
                f"{self.unwrapped!r}.reset returned {type(observation).__name__}, not an Observation"
            )
        self._has_reset, self._ended = True, False
        return observation

    async def step(self, action: str) -> StepResult:
        if not isinstance(action, str):
            raise TypeError(f"an action is the model's text (str), got {type(action).__name__}")
        if not self._has_reset:
            raise ResetNeeded("step() called before reset(); call `await env.reset()` first")
        if self._ended:
            raise EpisodeEnded("step() called after the episode ended; call `await env.reset()` to start a new one")
        result = await self.env.step(action)
        if not isinstance(result, StepResult):
            raise EnvContractError(f"{self.unwrapped!r}.step returned {type(result).__name__}, not a StepResult")
        self._ended = result.done
        return result


class TimeLimit(Wrapper):
    """Truncates the episode after `max_turns` steps (a time limit is truncation, not
    termination). The step that reaches the limit returns `truncated=True`."""

    def __init__(self, env: Env, max_turns: int):
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {max_turns}")
        super().__init__(env)
        self.max_turns = max_turns
        self.turns = 0

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        self.turns = 0
        return await self.env.reset(seed=seed, options=options)

    async def step(self, action: str) -> StepResult:
        result = await self.env.step(action)
        self.turns += 1
        if self.turns >= self.max_turns and not result.truncated:
            # unless the env says otherwise, an episode cut by the limit did not reach its goal
            result = result.model_copy(update={"truncated": True, "info": {"success": False, **result.info}})
        return result


class Turn(BaseModel):
    """One recorded step: the action sent and the result it got."""

    action: str
    result: StepResult


class Transcript(BaseModel):
    """One episode as `RecordEpisode` saw it."""

    env_id: str | None = None
    seed: int | None = None
    options: dict[str, Any] | None = None
    first_observation: Observation
    turns: list[Turn] = Field(default_factory=list)

    @property
    def total_reward(self) -> float:
        return sum(turn.result.reward for turn in self.turns)

    @property
    def done(self) -> bool:
        return bool(self.turns) and self.turns[-1].result.done


class RecordEpisode(Wrapper):
    """Keeps the transcript of every episode played through it.

    `transcripts` lists every episode, the current one last. With `path`, each episode is also
    appended to that JSON Lines file (one `Transcript` per line, images base64-encoded) when it
    ends, or when a new reset or close abandons it unfinished.
    """

    def __init__(self, env: Env, path: str | Path | None = None):
        super().__init__(env)
        self.path = Path(path) if path is not None else None
        self.transcripts: list[Transcript] = []
        self._saved = True

    @property
    def current(self) -> Transcript | None:
        return self.transcripts[-1] if self.transcripts else None

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await asyncio.to_thread(self._save_current)  # file I/O off the event loop
        observation = await self.env.reset(seed=seed, options=options)
        env_id = self.spec.id if self.spec is not None else None
        self.transcripts.append(Transcript(env_id=env_id, seed=seed, options=options, first_observation=observation))
        self._saved = False
        return observation

    async def step(self, action: str) -> StepResult:
        result = await self.env.step(action)
        if self.current is not None:
            self.current.turns.append(Turn(action=action, result=result))
            if result.done:
                await asyncio.to_thread(self._save_current)  # file I/O off the event loop
        return result

    async def close(self) -> None:
        await asyncio.to_thread(self._save_current)  # file I/O off the event loop
        await self.env.close()

    def _rewrap(self, forked_inner: Env) -> Wrapper:
        clone = super()._rewrap(forked_inner)
        clone.transcripts = [transcript.model_copy(deep=True) for transcript in self.transcripts]
        clone.path = None  # a fork is a branch; only the original writes to the file
        clone._saved = True
        return clone

    def _save_current(self) -> None:
        if self._saved or self.path is None or self.current is None:
            self._saved = True
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(self.current.model_dump_json() + "\n")
        self._saved = True
