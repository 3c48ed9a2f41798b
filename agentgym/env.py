"""The environment contract: `Env` (async) and `SyncEnv` (for synchronous code).

One `Env` instance holds one episode's state. The same class runs in-process (`agentgym.make`),
behind a server and through a remote client without any change to its code.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from gymnasium.utils import seeding

from agentgym.errors import NotForkable
from agentgym.types import EnvSpec, Observation, StepResult


def _not_forkable(env: Env, method: str) -> NotForkable:
    return NotForkable(
        f"{type(env).__name__} does not support fork(); implement `{method}` (often "
        "`return copy.deepcopy(self)`) and register it with Capabilities(fork=True)"
    )


class Env(ABC):
    """An asynchronous, multi-turn, text-first environment.

    The episode protocol:

    - `await reset(seed=..., options=...)` starts a new episode and returns its first
      `Observation`. It may be called at any time, also mid-episode, and discards the old one.
    - `await step(action)` applies one turn. `action` is the model's raw text for that turn,
      unparsed: the environment parses it. An action that cannot be parsed or applied is *not*
      an error: it is a normal step that leaves the state as it was (unless the task says
      otherwise), returns feedback in the observation text, a penalty in the reward and
      `info["invalid_action"] = True`. Only a broken caller raises: calling `step` before the
      first `reset` raises `ResetNeeded`, and after the episode ended `EpisodeEnded`
      (`agentgym.make` enforces both through the `EpisodeGuard` wrapper, so implementations do
      not need to check).
    - `terminated` means the task reached a terminal state (solved, failed, dead): no reward
      can follow. `truncated` means the episode was cut for a reason outside the task, first
      of all a time limit (`TimeLimit`, applied by `make` from `EnvSpec.max_turns`): the
      state still has a future. Both may be true at once; either ends the episode.
    - Seeding: `reset(seed=n)` reseeds `self.np_random`; then the same seed and the same
      sequence of actions give the same observations, rewards and ends. `reset(seed=None)`
      keeps the generator's current stream (seeded from OS entropy on first use). All
      randomness of an environment must come from `self.np_random`.
    - `await fork()` returns an independent copy of the environment in its current state: the
      copy continues the same episode, and stepping either never changes the other (their
      random streams continue identically from the fork point). Environments that cannot copy
      their state raise `NotForkable` (the default) and declare `Capabilities(fork=False)`.
    - `await close()` frees resources (browsers, sandboxes, files). It is idempotent. `async with
      env:` closes on exit.

    Subclasses implement `reset` (calling `await super().reset(seed=seed)` first, as in
    Gymnasium) and `step`, and optionally `fork` and `close`.
    """

    spec: EnvSpec | None = None
    """The spec this environment was made from; set by `agentgym.make`, None otherwise."""

    system_prompt: str = ""
    """Instructions for the policy: the task's rules and the exact action format. Rollouts put
    it in the system message. Set it on the class, or in `__init__` when it depends on the
    constructor's arguments; it does not change during an episode."""

    _np_random: np.random.Generator | None = None

    @property
    def np_random(self) -> np.random.Generator:
        """The environment's random generator; seeded by `reset(seed=...)`."""
        if self._np_random is None:
            self._np_random, _ = seeding.np_random()
        return self._np_random

    @property
    def unwrapped(self) -> Env:
        """The innermost environment, below every wrapper."""
        return self

    @abstractmethod
    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        """Start a new episode and return its first observation.

        The base implementation only reseeds `np_random` when `seed` is given; subclasses call
        it first and then build the episode. `options` are per-episode settings defined by
        each environment (e.g. a task index or difficulty); unknown options should raise
        `ValueError`.
        """
        if seed is not None:
            self._np_random, _ = seeding.np_random(seed)
        return None  # type: ignore[return-value]

    @abstractmethod
    async def step(self, action: str) -> StepResult:
        """Apply the model's raw text `action` for one turn and return the outcome."""

    async def fork(self) -> Env:
        """Return an independent copy of this environment in its current state.

        Raises:
            NotForkable: the environment cannot copy its state (the default).
        """
        raise _not_forkable(self, "async def fork(self)")

    async def close(self) -> None:  # noqa: B027 (a no-op by default, not abstract: most envs hold nothing to free)
        """Free the environment's resources. Safe to call more than once."""

    async def __aenter__(self) -> Env:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        env_id = f" {self.spec.id}" if self.spec is not None else ""
        return f"<{type(self).__name__}{env_id}>"


class SyncEnv(Env):
    """Base class for environments written as ordinary synchronous code.

    Implement `reset_sync`, `step_sync` and optionally `fork_sync` and `close_sync`; the async
    API runs each of them in a worker thread (the event loop's default executor), so a slow
    synchronous environment never blocks the event loop or other episodes. One instance is
    never called from two threads at once as long as its caller awaits each call before the
    next, which the Env protocol requires.
    """

    @abstractmethod
    def reset_sync(self, *, seed: int | None, options: dict[str, Any] | None) -> Observation:
        """Start a new episode; `self.np_random` is already seeded when this runs."""

    @abstractmethod
    def step_sync(self, action: str) -> StepResult:
        """Apply one turn; the same contract as `Env.step`."""

    def fork_sync(self) -> SyncEnv:
        """Return an independent copy; raise `NotForkable` if the state cannot be copied."""
        raise _not_forkable(self, "def fork_sync(self)")

    def close_sync(self) -> None:
        """Free resources; safe to call more than once."""

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        return await asyncio.to_thread(self.reset_sync, seed=seed, options=options)

    async def step(self, action: str) -> StepResult:
        return await asyncio.to_thread(self.step_sync, action)

    async def fork(self) -> Env:
        return await asyncio.to_thread(self.fork_sync)

    async def close(self) -> None:
        await asyncio.to_thread(self.close_sync)
