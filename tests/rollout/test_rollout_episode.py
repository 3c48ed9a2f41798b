"""The agent loop: what each turn records, the limits, and environment failures."""

from __future__ import annotations

import pytest
from rollout_support import ScriptedPolicy, StepsEnv

import agentgym
from agentgym.errors import ConnectionLost
from agentgym.policies.base import SamplingParams
from agentgym.rollout import Episode, EpisodeLimits, PromptBuilder, Task, play
from agentgym.rollout.episode import failure_kind, failure_reason
from agentgym.rollout.prompts import HistoryTurn

LIMITS = EpisodeLimits(max_response_tokens=16)
StepsSystem = StepsEnv.system_prompt


async def run(tokenizer, task: Task, policy=None, *, limits=LIMITS, history=None, **make_kwargs):
    policy = policy or ScriptedPolicy(tokenizer)
    prompts = PromptBuilder(tokenizer, history=history)
    env = agentgym.make(task.env_id, **{**task.env_kwargs, **make_kwargs})
    episode = await Episode.start(env, task, prompts, limits, episode_id="e", group_id="g")
    try:
        trajectory = await play(episode, policy, limits.sampling(SamplingParams()))
    finally:
        await episode.close()
    return trajectory, policy, env


async def test_each_turn_records_exactly_what_the_policy_saw_and_produced(tokenizer):
    policy = ScriptedPolicy(tokenizer, ["good", "bad", "nonsense"], version=7)
    task = Task(env_id="rollouttest/steps-v0", seed=3, env_kwargs={"delay": 0.01})
    trajectory, policy, env = await run(tokenizer, task, policy)

    assert trajectory.status == "completed" and trajectory.terminated and not trajectory.truncated
    assert len(trajectory.turns) == 3 == len(policy.generations)
    assert env.unwrapped.actions == ["good", "bad", "nonsense"]  # the decoded response text is the action
    builder, history = PromptBuilder(tokenizer), []
    first = env.unwrapped.start
    for index, (turn, prompt, generation) in enumerate(
        zip(trajectory.turns, policy.prompts, policy.generations, strict=True)
    ):
        assert turn.index == index
        assert turn.prompt_ids == prompt  # token in
        assert turn.response_ids == generation.token_ids  # token out, never re-tokenized
        assert turn.response_logprobs == generation.logprobs
        assert turn.response_ids[-1] == tokenizer.eos_token_id
        assert turn.response_text == generation.text
        assert turn.policy_version == 7
        assert turn.env_latency_s >= 0.01
        actions = " ".join(env.unwrapped.actions[:index]) or "-"
        assert turn.observation == f"start {first}; actions {actions}"
        assert turn.anchor == f"{first}:{actions}"
        observation = agentgym.Observation(text=turn.observation)
        assert turn.prompt_ids == builder.build(StepsSystem, history, observation)
        history.append(HistoryTurn(turn.observation, generation.text))
    assert [t.reward for t in trajectory.turns] == [1.0, 0.0, -0.1]
    assert [t.invalid for t in trajectory.turns] == [False, False, True]
    assert trajectory.total_reward == pytest.approx(0.9)
    assert trajectory.success is False
    assert trajectory.policy_versions == (7, 7)


async def test_the_version_is_read_per_turn(tokenizer):
    policy = ScriptedPolicy(tokenizer)

    def choose(text, index):
        policy.version += 1  # new weights arrive while the episode runs
        return "good"

    policy.choose = choose
    trajectory, _, _ = await run(tokenizer, Task(env_id="rollouttest/steps-v0", seed=1), policy)
    assert [t.policy_version for t in trajectory.turns] == [0, 1, 2]
    assert trajectory.policy_versions == (0, 2)


async def test_success_and_termination_come_from_the_environment(tokenizer):
    trajectory, _, _ = await run(tokenizer, Task(env_id="rollouttest/steps-v0", seed=1))
    assert trajectory.terminated and trajectory.success and trajectory.truncation is None


async def test_the_environment_time_limit_is_truncation_time_limit(tokenizer):
    trajectory, _, _ = await run(tokenizer, Task(env_id="rollouttest/steps-limited-v0", seed=1))
    assert len(trajectory.turns) == 2
    assert trajectory.truncated and not trajectory.terminated and trajectory.truncation == "time_limit"
    assert trajectory.status == "completed"


async def test_the_rollout_turn_limit_is_truncation_max_turns(tokenizer):
    limits = EpisodeLimits(max_turns=2, max_response_tokens=16)
    trajectory, _, env = await run(
        tokenizer, Task(env_id="rollouttest/steps-v0", seed=1, env_kwargs={"length": 9}), limits=limits
    )
    assert len(trajectory.turns) == 2 and env.unwrapped.actions == ["good", "good"]
    assert trajectory.truncated and trajectory.truncation == "max_turns" and not trajectory.terminated


async def test_a_prompt_that_leaves_no_room_for_a_response_ends_the_episode_as_context_overflow(tokenizer):
    limits = EpisodeLimits(max_response_tokens=16, max_context_tokens=160)
    task = Task(env_id="rollouttest/steps-v0", seed=1, env_kwargs={"length": 50, "pad": 5})
    trajectory, policy, env = await run(tokenizer, task, limits=limits)
    assert trajectory.status == "completed"
    assert trajectory.truncated and trajectory.truncation == "context_overflow" and not trajectory.terminated
    assert 0 < len(trajectory.turns) < 50
    assert len(env.unwrapped.actions) == len(trajectory.turns)  # the overflowing turn was never played
    for turn in trajectory.turns:
        assert len(turn.prompt_ids) + limits.max_response_tokens <= 160
    # the prompt that did not fit: the next one
    builder = PromptBuilder(tokenizer)
    history = [HistoryTurn(t.observation, t.response_text) for t in trajectory.turns]
    nxt = builder.build(
        StepsSystem,
        history,
        agentgym.Observation(
            text=f"start {env.unwrapped.start}; actions {' '.join(env.unwrapped.actions)}"
            + " pad" * 5 * (len(history) + 1)
        ),
    )
    assert len(nxt) + 16 > 160


async def test_a_first_prompt_that_overflows_gives_an_episode_without_turns(tokenizer):
    limits = EpisodeLimits(max_response_tokens=16, max_context_tokens=20)
    trajectory, policy, _ = await run(tokenizer, Task(env_id="rollouttest/steps-v0", seed=1), limits=limits)
    assert trajectory.turns == [] and trajectory.truncation == "context_overflow" and policy.calls == []


async def test_a_response_longer_than_the_limit_is_cut_by_the_policy(tokenizer):
    limits = EpisodeLimits(max_response_tokens=2)
    trajectory, _, env = await run(
        tokenizer,
        Task(env_id="rollouttest/steps-v0", seed=1),
        ScriptedPolicy(tokenizer, ["nonsense words"]),
        limits=limits,
    )
    assert all(len(t.response_ids) == 2 and t.finish_reason == "length" for t in trajectory.turns)


def test_two_response_limits_that_disagree_are_refused():
    limits = EpisodeLimits(max_response_tokens=16)
    assert limits.sampling(SamplingParams(temperature=0.5)).max_tokens == 16
    assert limits.sampling(SamplingParams(max_tokens=16)).max_tokens == 16
    with pytest.raises(ValueError, match="disagrees"):
        limits.sampling(SamplingParams(max_tokens=32))
    with pytest.raises(ValueError):
        EpisodeLimits(max_response_tokens=16, max_context_tokens=16)


async def test_an_environment_error_fails_the_episode_with_its_reason(tokenizer):
    task = Task(env_id="rollouttest/steps-v0", seed=5, env_kwargs={"fail_seeds": [5], "fail_at": 2})
    trajectory, _, env = await run(tokenizer, task)
    assert trajectory.status == "failed"
    assert trajectory.failure == "env_error: RuntimeError: failing on purpose at step 2"
    assert failure_kind(trajectory.failure) == "env_error"
    assert len(trajectory.turns) == 1  # the turn that failed is not recorded as a turn
    assert not trajectory.terminated and not trajectory.truncated


async def test_an_environment_that_hangs_fails_with_env_timeout(tokenizer):
    limits = EpisodeLimits(max_response_tokens=16, env_timeout_s=0.05)
    trajectory, _, _ = await run(
        tokenizer, Task(env_id="rollouttest/steps-v0", seed=1, env_kwargs={"delay": 1.0}), limits=limits
    )
    assert trajectory.status == "failed" and trajectory.failure == "env_timeout: no answer within 0.05 s"


async def test_a_failed_reset_fails_the_episode(tokenizer):
    # guess-number refuses unknown options with ValueError
    task = Task(env_id="guess-number-v0", seed=1, options={"bogus": 1})
    trajectory, policy, _ = await run(tokenizer, task)
    assert trajectory.status == "failed" and trajectory.failure.startswith("env_error: ValueError: unknown options")
    assert trajectory.turns == [] and policy.calls == []


async def test_a_policy_error_is_not_an_environment_fault_and_propagates(tokenizer):
    with pytest.raises(RuntimeError, match="the policy broke"):
        await run(tokenizer, Task(env_id="rollouttest/steps-v0", seed=1), ScriptedPolicy(tokenizer, fail_after=1))


def test_failure_reasons_name_their_kind():
    assert failure_reason(ConnectionLost("socket closed")) == "connection_lost: socket closed"
    assert failure_reason(TimeoutError(), timeout_s=2) == "env_timeout: no answer within 2 s"
    assert failure_reason(KeyError("x")) == "env_error: KeyError: 'x'"
    assert failure_kind(None) is None
