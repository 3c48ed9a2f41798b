"""Groups: the G episodes of one task (the GRPO / GiGPO group), each in its own environment.

`play_group` plays G independent episodes of a task: each resets its own environment with the
task's seed and options, so all G start from the same state and differ only by what the policy
samples (a task without a seed gets one drawn for its group, recorded in the group's task).

With `branch_at=k` the group branches instead: one prefix episode is played for k turns, its
environment is forked G times (`env.fork()`), and each fork continues on its own. Every branch
trajectory starts with a copy of the k prefix turns and records `parent_episode_id` (the
prefix's episode id) and `branch_turn=k`; a trainer that wants each state's loss once trains
the prefix turns of one branch only. If the prefix episode ends or fails before turn k there is
nothing to branch from: the group then holds that one trajectory.

`slots`, when given, is entered around every episode's work (an `asyncio.Semaphore` bounds the
episodes in flight); a group's episodes need not hold slots at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

from agentgym.policies.base import Policy, SamplingParams
from agentgym.rollout.envs import EnvSource, close_quietly
from agentgym.rollout.episode import EnvFailure, Episode, EpisodeLimits, failure_reason, play
from agentgym.rollout.prompts import PromptBuilder
from agentgym.rollout.types import Group, Task, Trajectory

T = TypeVar("T")


def new_group_id() -> str:
    """A fresh group id; its episodes are `<group_id>/<i>` (and `<group_id>/prefix`)."""
    return uuid.uuid4().hex[:16]


def with_seed(task: Task) -> Task:
    """`task` itself when it has a seed; otherwise a copy with a freshly drawn seed, so that
    the episodes of its group start from one state."""
    return task if task.seed is not None else task.model_copy(update={"seed": secrets.randbits(31)})


async def start_episode(
    envs: EnvSource, task: Task, prompts: PromptBuilder, limits: EpisodeLimits, *, episode_id: str, group_id: str
) -> Episode:
    """Make an environment for `task` and reset it. A failure to make or reset the environment
    gives a failed episode (not an exception); the caller closes the episode."""
    try:
        env = await envs.make(task)
    except Exception as error:  # the environment could not be made (server down or full, bad kwargs)
        return Episode.failed(task, failure_reason(error), prompts, limits, episode_id=episode_id, group_id=group_id)
    try:
        return await Episode.start(env, task, prompts, limits, episode_id=episode_id, group_id=group_id)
    except BaseException:
        await close_quietly(env)
        raise


async def gather_or_cancel(coroutines: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run `coroutines` concurrently and return their results in order. If one raises, the
    others are cancelled and awaited (their environments closed) before the error propagates."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:  # also when we are cancelled ourselves
        for task in tasks:
            task.cancel()  # a no-op for the finished ones
        cancelled_again = False
        while pending := [task for task in tasks if not task.done()]:
            try:  # the children close their environments; wait for them, even if cancelled again
                await asyncio.wait(pending)
            except asyncio.CancelledError:
                cancelled_again = True
        errors = [task.exception() for task in tasks if not task.cancelled()]  # retrieved, even when we are cancelled
        if cancelled_again:
            raise asyncio.CancelledError()
    for error in errors:  # the first error itself, not the CancelledError of a sibling
        if error is not None:
            raise error
    return [task.result() for task in tasks]


class GroupPlayer:
    """Plays groups of episodes with one policy, environment source, prompt builder and limits.

    Args:
        policy: the policy that samples every response.
        envs: where each episode's environment comes from.
        prompts: builds each turn's prompt.
        limits: the per-episode limits.
        sampling: how responses are sampled (`max_tokens` comes from `limits`).
        slots: entered around each episode's work, e.g. an `asyncio.Semaphore(N)`.
    """

    def __init__(
        self,
        policy: Policy,
        envs: EnvSource,
        prompts: PromptBuilder,
        *,
        limits: EpisodeLimits | None = None,
        sampling: SamplingParams | None = None,
        slots: Any = None,
    ):
        self.policy = policy
        self.envs = envs
        self.prompts = prompts
        self.limits = limits or EpisodeLimits()
        self.params = self.limits.sampling(sampling or SamplingParams())
        self.slots = slots

    def _slot(self) -> Any:
        return self.slots if self.slots is not None else contextlib.nullcontext()

    async def play_group(
        self, task: Task, size: int, *, branch_at: int | None = None, group_id: str | None = None
    ) -> Group:
        """Play the `size` episodes of `task` (branching at turn `branch_at` when given)."""
        if size < 1:
            raise ValueError(f"a group needs at least one episode, got size={size}")
        if branch_at is not None and branch_at < 1:
            raise ValueError(f"branch_at must be at least 1 turn, got {branch_at}")
        task, group_id = with_seed(task), group_id or new_group_id()
        if branch_at is None:
            episodes = [self.play_episode(task, episode_id=f"{group_id}/{i}", group_id=group_id) for i in range(size)]
            trajectories = await gather_or_cancel(episodes)
        else:
            trajectories = await self._play_branches(task, size, branch_at, group_id)
        return Group(group_id=group_id, task=task, trajectories=trajectories)

    async def play_episode(self, task: Task, *, episode_id: str, group_id: str) -> Trajectory:
        """Make an environment for `task`, play one episode in it, close it."""
        async with self._slot():
            episode = await self._start(task, episode_id=episode_id, group_id=group_id)
            try:
                return await play(episode, self.policy, self.params)
            finally:
                await episode.close()

    async def _start(self, task: Task, *, episode_id: str, group_id: str) -> Episode:
        return await start_episode(self.envs, task, self.prompts, self.limits, episode_id=episode_id, group_id=group_id)

    async def _play_branches(self, task: Task, size: int, branch_at: int, group_id: str) -> list[Trajectory]:
        branches: list[Episode] = []
        try:
            async with self._slot():
                prefix = await self._start(task, episode_id=f"{group_id}/prefix", group_id=group_id)
                try:
                    await play(prefix, self.policy, self.params, until_turn=branch_at)
                    if prefix.done:  # ended or failed before the fork point: nothing to branch from
                        return [prefix.trajectory]
                    for i in range(size):
                        branches.append(await self._fork(prefix, episode_id=f"{group_id}/{i}"))
                finally:
                    await prefix.close()
            return await gather_or_cancel([self._continue(branch) for branch in branches])
        finally:  # on cancellation, branches that never ran still hold environments
            await asyncio.gather(*(branch.close() for branch in branches))

    async def _fork(self, prefix: Episode, *, episode_id: str) -> Episode:
        try:
            return await prefix.fork(episode_id=episode_id)
        except EnvFailure as failure:
            trajectory = prefix.trajectory.model_copy(
                update={
                    "episode_id": episode_id,
                    "turns": [turn.model_copy(deep=True) for turn in prefix.trajectory.turns],
                    "parent_episode_id": prefix.trajectory.episode_id,
                    "branch_turn": len(prefix.trajectory.turns),
                }
            )
            episode = Episode(None, trajectory, self.prompts, self.limits)
            episode.fail(failure.reason)
            return episode

    async def _continue(self, branch: Episode) -> Trajectory:
        if branch.done:
            return branch.trajectory
        async with self._slot():
            try:
                return await play(branch, self.policy, self.params)
            finally:
                await branch.close()
