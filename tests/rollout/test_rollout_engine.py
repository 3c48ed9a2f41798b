"""RolloutEngine: decoupled production, bounded queue, staleness bound, fault accounting and a
clean start/stop."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from rollout_support import ScriptedPolicy

from agentgym.rollout import EpisodeLimits, RolloutEngine, RolloutError, RolloutFinished, Task

LIMITS = EpisodeLimits(max_response_tokens=16)


def tasks(n: int | None, **env_kwargs):
    seeds = itertools.count() if n is None else range(n)
    return (Task(env_id="rollouttest/steps-v0", seed=seed, env_kwargs=env_kwargs) for seed in seeds)


def other_tasks() -> set[asyncio.Task]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


async def test_every_task_becomes_one_group_of_g_episodes(tokenizer):
    before = other_tasks()
    policy = ScriptedPolicy(tokenizer)
    async with RolloutEngine(policy, tasks(6), group_size=3, max_in_flight=4, limits=LIMITS) as engine:
        groups = [group async for group in engine]
        with pytest.raises(RolloutFinished):
            await engine.get()
    assert sorted(g.task.seed for g in groups) == list(range(6))
    assert all(len(g.completed) == 3 for g in groups)
    stats = engine.stats
    assert (stats.tasks_started, stats.groups_produced, stats.groups_consumed) == (6, 6, 6)
    assert (stats.episodes_completed, stats.episodes_failed) == (18, 0)
    assert stats.turns == 18 * 3 and stats.in_flight == 0
    assert 3 < stats.peak_in_flight <= 4  # episodes of different groups overlap, never more than N
    assert other_tasks() == before  # nothing left running


async def test_a_slow_episode_holds_back_only_itself(tokenizer):
    slow = Task(env_id="rollouttest/steps-v0", seed=0, env_kwargs={"delay": 0.5})
    fast = [Task(env_id="rollouttest/steps-v0", seed=s, env_kwargs={"delay": 0.01}) for s in range(1, 9)]
    engine = RolloutEngine(ScriptedPolicy(tokenizer), [slow, *fast], group_size=1, max_in_flight=4, limits=LIMITS)
    async with engine:
        order = [group.task.seed async for group in engine]
    # the slow episode started first and ended last; the fast ones kept its 3 siblings' slots busy
    # meanwhile (a lockstep batch would have waited for it every turn)
    assert order[-1] == 0 and sorted(order[:-1]) == list(range(1, 9))


async def test_groups_older_than_the_staleness_bound_are_dropped_and_counted(tokenizer):
    policy = ScriptedPolicy(tokenizer)
    engine = RolloutEngine(
        policy, tasks(24, delay=0.002), group_size=2, max_in_flight=8, queue_size=8, max_staleness=1, limits=LIMITS
    )
    consumed = []
    async with engine:
        while True:
            current = policy.version
            try:
                group = await engine.get(current_version=current)
            except RolloutFinished:
                break
            consumed.append((current, group))
            await asyncio.sleep(0.03)  # a training step...
            policy.version += 1  # ...then new weights
    assert consumed
    for current, group in consumed:
        oldest = min(t.policy_version for trajectory in group.trajectories for t in trajectory.turns)
        assert oldest >= current - 1
    stats = engine.stats
    assert stats.groups_dropped_stale > 0
    assert stats.groups_consumed == len(consumed)
    assert stats.groups_produced == stats.groups_consumed + stats.groups_dropped_stale == 24


async def test_staleness_uses_the_policy_version_by_default(tokenizer):
    policy = ScriptedPolicy(tokenizer)
    engine = RolloutEngine(policy, tasks(3), group_size=1, max_in_flight=3, max_staleness=0, limits=LIMITS)
    async with engine:
        while engine.stats.groups_produced < 3:
            await asyncio.sleep(0.01)
        policy.version = 5  # everything queued was sampled by version 0
        with pytest.raises(RolloutFinished):
            await engine.get()
    assert engine.stats.groups_dropped_stale == 3 and engine.stats.groups_consumed == 0


async def test_failed_episodes_are_counted_with_their_reason_and_never_completed(tokenizer):
    # every 3rd environment fails at its 2nd step; tasks with seed 4 fail in every episode
    source = tasks(8, fail_every=3, fail_at=2, fail_seeds=[4])
    async with RolloutEngine(ScriptedPolicy(tokenizer), source, group_size=4, max_in_flight=6, limits=LIMITS) as engine:
        groups = [group async for group in engine]
    stats = engine.stats
    assert stats.episodes_failed > 4 and stats.episodes_completed > 0
    assert stats.episodes_failed + stats.episodes_completed == 32
    assert stats.failures == {"env_error": stats.episodes_failed}
    assert stats.failure_examples["env_error"] == "env_error: RuntimeError: failing on purpose at step 2"
    # the all-failed group of seed 4 is dropped; the others come with their failures apart
    assert stats.groups_dropped_incomplete == 1 and 4 not in {g.task.seed for g in groups}
    assert len(groups) == stats.groups_consumed == 7
    assert sum(len(g.failed) for g in groups) == stats.episodes_failed - 4
    for group in groups:
        assert all(t.status == "completed" and t.failure is None for t in group.completed)
        assert all(t.status == "failed" and t.failure.startswith("env_error:") for t in group.failed)
        assert len(group.completed) + len(group.failed) == 4
        assert all(len(t.turns) == 3 for t in group.completed)


async def test_a_full_queue_stops_intake(tokenizer):
    engine = RolloutEngine(
        ScriptedPolicy(tokenizer), tasks(None), group_size=1, max_in_flight=2, queue_size=1, limits=LIMITS
    )
    async with engine:
        await asyncio.sleep(0.3)  # nobody consumes
        assert engine.stats.groups_produced == 1
        assert engine.stats.tasks_started <= 1 + 2  # queue_size + max_in_flight
        started = engine.stats.tasks_started
        await engine.get()
        await asyncio.sleep(0.1)
        assert engine.stats.tasks_started > started  # consuming lets production go on


async def test_stop_mid_run_cancels_the_workers_and_closes_every_environment(tokenizer):
    before = other_tasks()
    engine = RolloutEngine(
        ScriptedPolicy(tokenizer), tasks(None, delay=0.01), group_size=4, max_in_flight=8, limits=LIMITS
    )
    async with engine:
        for _ in range(3):
            await engine.get()
    # the fixture asserts that no environment is left open
    assert other_tasks() == before
    assert engine.stats.in_flight == 0 and engine.done
    with pytest.raises(RolloutFinished):
        await engine.get()
    await engine.stop()  # idempotent
    with pytest.raises(RuntimeError):
        await engine.start()


async def test_a_policy_error_stops_production_and_reaches_the_consumer(tokenizer):
    before = other_tasks()
    engine = RolloutEngine(
        ScriptedPolicy(tokenizer, fail_after=10), tasks(None), group_size=2, max_in_flight=4, limits=LIMITS
    )
    async with engine:
        with pytest.raises(RolloutError) as raised:
            while True:
                await engine.get()
        assert isinstance(raised.value.__cause__, RuntimeError)
        with pytest.raises(RolloutError):
            await engine.get()
    assert other_tasks() == before


async def test_an_async_task_source_and_a_batch_get(tokenizer):
    async def source():
        for seed in range(5):
            await asyncio.sleep(0)
            yield Task(env_id="rollouttest/steps-v0", seed=seed)

    async with RolloutEngine(
        ScriptedPolicy(tokenizer), source(), group_size=2, max_in_flight=4, limits=LIMITS
    ) as engine:
        first = await engine.get_batch(3)
        rest = await engine.get_batch(3)
        assert await engine.get_batch(3) == []
    assert len(first) == 3 and len(rest) == 2


async def test_the_engine_branches_groups(tokenizer):
    source = tasks(3, length=4)
    async with RolloutEngine(
        ScriptedPolicy(tokenizer), source, group_size=3, max_in_flight=4, branch_at=2, limits=LIMITS
    ) as engine:
        groups = [group async for group in engine]
    assert len(groups) == 3
    for group in groups:
        assert all(t.branch_turn == 2 and t.parent_episode_id == f"{group.group_id}/prefix" for t in group.trajectories)
    assert engine.stats.turns == 3 * (2 + 3 * 2)  # the prefix's turns count once


async def test_a_task_source_that_yields_something_else_is_an_error(tokenizer):
    async with RolloutEngine(ScriptedPolicy(tokenizer), ["nope"], limits=LIMITS) as engine:  # type: ignore[list-item]
        with pytest.raises(RolloutError, match="not a Task"):
            await engine.get()


def test_bad_settings_are_refused(tokenizer):
    policy = ScriptedPolicy(tokenizer)
    for kwargs in (
        {"group_size": 0},
        {"max_in_flight": 0},
        {"max_staleness": -1},
        {"group_size": 2, "min_completed": 3},
    ):
        with pytest.raises(ValueError):
            RolloutEngine(policy, [], **kwargs)
