"""Groups: G episodes per task sharing its seed, and branching from a forked mid-episode state."""

from __future__ import annotations

import pytest
from rollout_support import ScriptedPolicy

from agentgym.rollout import GroupPlayer, LocalEnvs, PromptBuilder, Task
from agentgym.rollout.episode import EpisodeLimits

LIMITS = EpisodeLimits(max_response_tokens=16)


def player(tokenizer, policy=None, **kwargs) -> GroupPlayer:
    return GroupPlayer(
        policy or ScriptedPolicy(tokenizer), LocalEnvs(), PromptBuilder(tokenizer), limits=LIMITS, **kwargs
    )


async def test_the_episodes_of_a_group_share_the_task_and_its_seed_and_tasks_differ(tokenizer):
    groups = player(tokenizer)
    a = await groups.play_group(Task(env_id="rollouttest/steps-v0", seed=1), 4)
    b = await groups.play_group(Task(env_id="rollouttest/steps-v0", seed=2), 4)
    for group, seed in ((a, 1), (b, 2)):
        assert len(group.trajectories) == 4 and group.task.seed == seed
        assert [t.episode_id for t in group.trajectories] == [f"{group.group_id}/{i}" for i in range(4)]
        assert {t.group_id for t in group.trajectories} == {group.group_id}
        assert all(t.task == group.task for t in group.trajectories)
        assert len({t.turns[0].observation for t in group.trajectories}) == 1  # same seed: same first state
        assert all(t.parent_episode_id is None and t.branch_turn is None for t in group.trajectories)
    assert a.group_id != b.group_id
    assert a.trajectories[0].turns[0].observation != b.trajectories[0].turns[0].observation


async def test_a_task_without_a_seed_gets_one_seed_for_its_whole_group(tokenizer):
    group = await player(tokenizer).play_group(Task(env_id="rollouttest/steps-v0"), 3)
    assert group.task.seed is not None
    assert {t.task.seed for t in group.trajectories} == {group.task.seed}
    assert len({t.turns[0].observation for t in group.trajectories}) == 1


async def test_the_options_of_a_task_reach_reset(tokenizer):
    group = await player(tokenizer).play_group(Task(env_id="rollouttest/steps-v0", seed=1, options={"start": 123}), 2)
    assert all(t.turns[0].observation.startswith("start 123;") for t in group.trajectories)


async def test_branches_share_the_prefix_and_continue_independently(tokenizer):
    # the prefix takes "good" twice; then each branch takes its own action, by call order
    actions = ["good", "good", "bad", "good", "nonsense", "bad", "good", "nonsense"]
    policy = ScriptedPolicy(tokenizer, lambda text, index: actions[index] if index < len(actions) else "good")
    group = await player(tokenizer, policy).play_group(
        Task(env_id="rollouttest/steps-v0", seed=4, env_kwargs={"length": 4}), 3, branch_at=2
    )
    prefix_id = f"{group.group_id}/prefix"
    assert len(group.trajectories) == 3
    prefixes = [t.turns[:2] for t in group.trajectories]
    assert all(p == prefixes[0] for p in prefixes)  # identical prefix turns (ids, log-probs, versions)
    assert [t.response_text for t in prefixes[0]] == ["good", "good"]
    for i, trajectory in enumerate(group.trajectories):
        assert trajectory.episode_id == f"{group.group_id}/{i}"
        assert trajectory.parent_episode_id == prefix_id and trajectory.branch_turn == 2
        assert len(trajectory.turns) == 4 and trajectory.terminated
        assert [t.index for t in trajectory.turns] == [0, 1, 2, 3]
        # the state after the fork is the prefix's state
        assert trajectory.turns[2].observation.endswith("actions good good")
    # each branch's own actions show in its own observations only: forks are independent
    third = [t.turns[2].response_text for t in group.trajectories]
    fourth_obs = [t.turns[3].observation for t in group.trajectories]
    assert fourth_obs == [
        f"{o.rsplit('actions', 1)[0]}actions good good {a}" for o, a in zip(fourth_obs, third, strict=True)
    ]
    assert len(set(third)) > 1
    assert len(policy.generations) == 2 + 3 * 2  # the prefix is sampled once


async def test_a_prefix_that_ends_before_the_fork_point_is_the_whole_group(tokenizer):
    group = await player(tokenizer).play_group(
        Task(env_id="rollouttest/steps-v0", seed=1, env_kwargs={"length": 2}), 4, branch_at=3
    )
    assert len(group.trajectories) == 1
    (only,) = group.trajectories
    assert only.episode_id == f"{group.group_id}/prefix" and only.terminated and len(only.turns) == 2


async def test_an_environment_that_cannot_fork_fails_its_branches_with_the_reason(tokenizer):
    group = await player(tokenizer).play_group(Task(env_id="rollouttest/unforkable-v0", seed=1), 2, branch_at=1)
    assert len(group.failed) == 2 and not group.completed
    assert all(t.failure.startswith("not_forkable:") for t in group.failed)
    assert all(len(t.turns) == 1 and t.branch_turn == 1 for t in group.failed)


async def test_slots_bound_the_episodes_in_flight(tokenizer):
    import asyncio

    running, peak = 0, 0

    class Slots:
        def __init__(self):
            self.semaphore = asyncio.Semaphore(2)

        async def __aenter__(self):
            nonlocal running, peak
            await self.semaphore.acquire()
            running += 1
            peak = max(peak, running)

        async def __aexit__(self, *exc):
            nonlocal running
            running -= 1
            self.semaphore.release()

    groups = player(tokenizer, slots=Slots())
    group = await groups.play_group(Task(env_id="rollouttest/steps-v0", seed=1, env_kwargs={"delay": 0.01}), 5)
    assert len(group.completed) == 5 and peak == 2


async def test_group_size_and_branch_point_are_checked(tokenizer):
    with pytest.raises(ValueError):
        await player(tokenizer).play_group(Task(env_id="rollouttest/steps-v0"), 0)
    with pytest.raises(ValueError):
        await player(tokenizer).play_group(Task(env_id="rollouttest/steps-v0"), 2, branch_at=0)
