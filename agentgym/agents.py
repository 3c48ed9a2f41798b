"""Text-level agents for scripted play: expert solvers, random baselines and evaluation.

An `Agent` reads observations and writes the action text, through the public Env API only, so
the same agent plays an in-process environment and a served one. Environments report a
solved task with `info["success"] = True` on the step that ends the episode (and False when an
episode ends unsolved), which `play_episode` reads.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentgym.env import Env
from agentgym.types import Observation


class Agent(Protocol):
    """Something that plays an episode from text: `reset` once, then `act` each turn."""

    def reset(self, observation: Observation, system_prompt: str) -> None:
        """Start an episode from its first observation."""

    def act(self, observation: Observation) -> str:
        """The action text for the current observation."""


class RandomAgent:
    """Picks uniformly among fixed action texts (seeded): the baseline solvers must beat."""

    def __init__(self, actions: Sequence[str], seed: int | None = None):
        if not actions:
            raise ValueError("RandomAgent needs at least one action")
        self.actions = list(actions)
        self.rng = random.Random(seed)

    def reset(self, observation: Observation, system_prompt: str) -> None:
        pass

    def act(self, observation: Observation) -> str:
        return self.rng.choice(self.actions)


@dataclass
class EpisodeReport:
    seed: int | None
    turns: int = 0
    total_reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    success: bool = False
    invalid_actions: int = 0
    actions: list[str] = field(default_factory=list)


async def play_episode(
    env: Env, agent: Agent, *, seed: int | None = None, options: dict[str, Any] | None = None, max_turns: int = 10_000
) -> EpisodeReport:
    """Reset `env` and play one episode with `agent`; stops when it ends or after `max_turns` turns."""
    observation = await env.reset(seed=seed, options=options)
    agent.reset(observation, env.system_prompt)
    return await play_from(env, agent, observation, EpisodeReport(seed=seed), max_turns=max_turns)


async def play_from(
    env: Env, agent: Agent, observation: Observation, report: EpisodeReport, *, max_turns: int = 10_000
) -> EpisodeReport:
    """Play on from `observation` (the env's current one, e.g. right after a fork), adding to `report`."""
    while report.turns < max_turns:
        action = agent.act(observation)
        result = await env.step(action)
        report.turns += 1
        report.total_reward += result.reward
        report.invalid_actions += int(result.invalid_action)
        report.actions.append(action)
        observation = result.observation
        if result.done:
            report.terminated, report.truncated = result.terminated, result.truncated
            report.success = bool(result.info.get("success", False))
            break
    return report


@dataclass
class EvaluationReport:
    episodes: list[EpisodeReport]

    @property
    def success_rate(self) -> float:
        return sum(e.success for e in self.episodes) / len(self.episodes) if self.episodes else 0.0

    @property
    def mean_return(self) -> float:
        return sum(e.total_reward for e in self.episodes) / len(self.episodes) if self.episodes else 0.0

    @property
    def mean_turns(self) -> float:
        return sum(e.turns for e in self.episodes) / len(self.episodes) if self.episodes else 0.0


async def evaluate(
    make_env: Callable[[], Env | Awaitable[Env]],
    make_agent: Callable[[int], Agent],
    seeds: Sequence[int],
    *,
    concurrency: int = 16,
    options: dict[str, Any] | None = None,
) -> EvaluationReport:
    """Play one episode per seed (`make_agent(seed)` builds each agent), `concurrency` at a
    time, each in a fresh environment that is closed afterwards."""
    limit = asyncio.Semaphore(concurrency)

    async def one(seed: int) -> EpisodeReport:
        async with limit:
            env = make_env()
            if isinstance(env, Awaitable):
                env = await env
            async with env:
                return await play_episode(env, make_agent(seed), seed=seed, options=options)

    return EvaluationReport(list(await asyncio.gather(*(one(seed) for seed in seeds))))
