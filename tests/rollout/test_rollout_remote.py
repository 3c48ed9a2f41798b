"""Rollouts against environments served over the wire (a real server on a loopback port),
including a server that goes away mid-run."""

from __future__ import annotations

import asyncio
import itertools

from rollout_support import ScriptedPolicy

from agentgym.rollout import EpisodeLimits, GroupPlayer, PromptBuilder, RemoteEnvs, RolloutEngine, Task

LIMITS = EpisodeLimits(max_response_tokens=16)
ENV = "rollouttest/steps-v0"


async def test_the_engine_plays_served_environments_and_closes_their_sessions(tokenizer, serve):
    served = await serve([ENV])
    source = (Task(env_id=ENV, seed=seed, env_kwargs={"delay": 0.005}) for seed in range(6))
    engine = RolloutEngine(
        ScriptedPolicy(tokenizer), source, envs=RemoteEnvs([served.url]), group_size=3, max_in_flight=6, limits=LIMITS
    )
    async with engine:
        groups = [group async for group in engine]
    assert len(groups) == 6 and all(len(g.completed) == 3 for g in groups)
    assert engine.stats.episodes_failed == 0
    for group in groups:  # same seed, same first observation, over the wire too
        assert len({t.turns[0].observation for t in group.trajectories}) == 1
        assert all(t.terminated and len(t.turns) == 3 and t.turns[0].env_latency_s >= 0.005 for t in group.trajectories)
    assert served.sessions == 0  # every session was closed


async def test_branching_forks_served_environments(tokenizer, serve):
    served = await serve([ENV])
    policy = ScriptedPolicy(tokenizer, lambda text, index: ["good", "bad", "nonsense"][index % 3])
    envs = RemoteEnvs([served.url])
    try:
        player = GroupPlayer(policy, envs, PromptBuilder(tokenizer), limits=LIMITS)
        group = await player.play_group(Task(env_id=ENV, seed=3, env_kwargs={"length": 3}), 3, branch_at=1)
    finally:
        await envs.close()
    assert len(group.completed) == 3
    assert all(t.branch_turn == 1 and t.turns[1].observation.endswith("actions good") for t in group.trajectories)
    assert len({t.turns[2].observation for t in group.trajectories}) == 3  # each fork followed its own actions
    assert served.sessions == 0


async def test_a_lost_server_fails_its_episodes_with_the_reason_and_the_engine_finishes(tokenizer, serve):
    served = await serve([ENV])
    source = (Task(env_id=ENV, seed=seed, env_kwargs={"delay": 0.02, "length": 4}) for seed in range(12))
    envs = RemoteEnvs([served.url], retries=1)
    engine = RolloutEngine(ScriptedPolicy(tokenizer), source, envs=envs, group_size=2, max_in_flight=4, limits=LIMITS)
    consumed = []
    async with engine:
        consumed.append(await engine.get())
        await served.stop()  # the server goes away with episodes in flight
        async for group in engine:
            consumed.append(group)
    stats = engine.stats
    assert engine.done and stats.tasks_started == 12
    assert stats.episodes_failed > 0 and stats.episodes_completed >= 2
    assert stats.episodes_failed + stats.episodes_completed == 24
    # in-flight requests that the closing socket cuts fail as connection_lost; episodes that start
    # afterwards find the server draining (503) or gone, which EnvPool reports as server_busy:
    # which of the two a run sees depends on timing, but every failure is one of them
    assert set(stats.failures) <= {"connection_lost", "server_busy"}, stats.failures
    assert sum(stats.failures.values()) == stats.episodes_failed
    for kind, example in stats.failure_examples.items():
        assert example.startswith(f"{kind}: ")
    # groups without a completed episode were dropped, never handed out
    assert stats.groups_consumed + stats.groups_dropped_incomplete == 12
    for group in consumed:
        assert group.completed and all(t.status == "completed" for t in group.completed)
        assert all(t.failure for t in group.failed)


async def test_a_refused_session_fails_the_episode(tokenizer, serve):
    served = await serve([ENV], max_sessions=2)
    source = itertools.islice((Task(env_id=ENV, seed=s, env_kwargs={"delay": 0.05}) for s in itertools.count()), 2)
    engine = RolloutEngine(
        ScriptedPolicy(tokenizer), source, envs=RemoteEnvs([served.url]), group_size=3, max_in_flight=6, limits=LIMITS
    )
    async with engine:
        groups = [group async for group in engine]
    assert engine.stats.failures["server_busy"] == 4  # 2 sessions at a time; the other 4 were refused
    assert sum(len(g.completed) for g in groups) == 2
    await asyncio.sleep(0)
    assert served.sessions == 0
