"""The lockstep baseline records what the engine records, with one batched call per turn."""

from __future__ import annotations

from rollout_support import ScriptedPolicy

from agentgym.rollout import LocalEnvs, PromptBuilder, Task, lockstep_batch, lockstep_rollout
from agentgym.rollout.episode import EpisodeLimits

LIMITS = EpisodeLimits(max_response_tokens=16)


async def test_lockstep_steps_every_episode_together_with_one_policy_call_per_turn(tokenizer):
    policy = ScriptedPolicy(tokenizer, version=2)
    tasks = [Task(env_id="rollouttest/steps-v0", seed=s, env_kwargs={"length": 2 + s}) for s in range(3)]
    groups = await lockstep_batch(policy, LocalEnvs(), PromptBuilder(tokenizer), tasks, group_size=2, limits=LIMITS)
    assert [g.task for g in groups] == tasks
    assert policy.calls == [6, 6, 4, 2]  # all 6 episodes, then those still running
    for group, task in zip(groups, tasks, strict=True):
        assert len(group.completed) == 2 and all(len(t.turns) == task.env_kwargs["length"] for t in group.trajectories)
        assert all(t.episode_id.startswith(group.group_id) and t.task == task for t in group.trajectories)
        assert all(
            turn.policy_version == 2 and turn.response_ids[-1] == tokenizer.eos_token_id
            for t in group.trajectories
            for turn in t.turns
        )


async def test_lockstep_records_failures_like_the_engine(tokenizer):
    tasks = [
        Task(env_id="rollouttest/steps-v0", seed=s, env_kwargs={"fail_seeds": [1], "fail_at": 2}) for s in range(2)
    ]
    groups = await lockstep_batch(
        ScriptedPolicy(tokenizer), LocalEnvs(), PromptBuilder(tokenizer), tasks, group_size=2, limits=LIMITS
    )
    assert len(groups[0].completed) == 2
    assert [t.failure for t in groups[1].failed] == ["env_error: RuntimeError: failing on purpose at step 2"] * 2


async def test_lockstep_rollout_plays_batch_after_batch(tokenizer):
    tasks = [Task(env_id="rollouttest/steps-v0", seed=s) for s in range(5)]
    batches = [
        batch
        async for batch in lockstep_rollout(
            ScriptedPolicy(tokenizer),
            LocalEnvs(),
            PromptBuilder(tokenizer),
            tasks,
            group_size=2,
            tasks_per_batch=2,
            limits=LIMITS,
        )
    ]
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [g.task.seed for b in batches for g in b] == list(range(5))
