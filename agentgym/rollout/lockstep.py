"""The lockstep rollout loop of verl-agent and RAGEN, kept as a baseline for the benchmark.

A batch of tasks (G episodes each) is played turn by turn in lockstep: every turn builds the
prompts of all running episodes, makes one batched policy call, then steps every environment
and waits for all of them before the next turn; the batch ends when its last episode ends, and
only then does the next batch start. The slowest environment step of each turn sets the pace of
the whole batch, which is what `RolloutEngine` avoids.

It records exactly what the engine records (the same `Episode` bookkeeping), so the two can be
compared on the same policy and environments.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence

from agentgym.policies.base import Policy, SamplingParams
from agentgym.rollout.envs import EnvSource
from agentgym.rollout.episode import Episode, EpisodeLimits
from agentgym.rollout.groups import new_group_id, start_episode, with_seed
from agentgym.rollout.prompts import PromptBuilder
from agentgym.rollout.types import Group, Task


async def lockstep_batch(
    policy: Policy,
    envs: EnvSource,
    prompts: PromptBuilder,
    tasks: Sequence[Task],
    *,
    group_size: int,
    limits: EpisodeLimits | None = None,
    sampling: SamplingParams | None = None,
) -> list[Group]:
    """Play `group_size` episodes of each task in lockstep; one `Group` per task, in order."""
    limits = limits or EpisodeLimits()
    params = limits.sampling(sampling or SamplingParams())
    tasks = [with_seed(task) for task in tasks]
    group_ids = [new_group_id() for _ in tasks]
    starts = [
        start_episode(envs, task, prompts, limits, episode_id=f"{group_id}/{i}", group_id=group_id)
        for task, group_id in zip(tasks, group_ids, strict=True)
        for i in range(group_size)
    ]
    episodes: list[Episode] = []
    try:
        results = await asyncio.gather(*starts, return_exceptions=True)
        episodes = [result for result in results if isinstance(result, Episode)]  # closed below, whatever happens
        for result in results:
            if isinstance(result, BaseException):
                raise result
        while True:
            running = [(episode, prompt) for episode in episodes if (prompt := episode.next_prompt()) is not None]
            if not running:
                break
            version = policy.version
            generations = await policy.generate([prompt for _, prompt in running], params)  # one batched call
            if len(generations) != len(running):
                raise ValueError(f"the policy returned {len(generations)} generations for {len(running)} prompts")
            # every environment steps, and the turn waits for the slowest
            await asyncio.gather(
                *(episode.apply(gen, version) for (episode, _), gen in zip(running, generations, strict=True))
            )
    finally:
        await asyncio.gather(*(episode.close() for episode in episodes))
    return [
        Group(
            group_id=group_id,
            task=task,
            trajectories=[e.trajectory for e in episodes[k * group_size : (k + 1) * group_size]],
        )
        for k, (task, group_id) in enumerate(zip(tasks, group_ids, strict=True))
    ]


async def lockstep_rollout(
    policy: Policy,
    envs: EnvSource,
    prompts: PromptBuilder,
    tasks: Iterable[Task],
    *,
    group_size: int,
    tasks_per_batch: int,
    limits: EpisodeLimits | None = None,
    sampling: SamplingParams | None = None,
) -> AsyncIterator[list[Group]]:
    """Batches of `tasks_per_batch` tasks from `tasks`, played one batch after another with
    `lockstep_batch`; yields each batch's groups."""
    batch: list[Task] = []
    for task in tasks:
        batch.append(task)
        if len(batch) == tasks_per_batch:
            yield await lockstep_batch(
                policy, envs, prompts, batch, group_size=group_size, limits=limits, sampling=sampling
            )
            batch = []
    if batch:
        yield await lockstep_batch(
            policy, envs, prompts, batch, group_size=group_size, limits=limits, sampling=sampling
        )
