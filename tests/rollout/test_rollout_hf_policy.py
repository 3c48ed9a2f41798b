"""End to end: the rollout engine with the real `HFPolicy` on the tiny local chat model."""

from __future__ import annotations

import pytest
from rollout_support import StepsEnv

from agentgym.policies.base import SamplingParams
from agentgym.rollout import EpisodeLimits, PromptBuilder, RolloutEngine, Task
from agentgym.rollout.prompts import HistoryTurn
from agentgym.types import Observation

pytest.importorskip("torch", reason="HFPolicy needs torch (pip install 'agentgym[train]')")
pytest.importorskip("transformers", reason="HFPolicy needs transformers (pip install 'agentgym[train]')")


async def test_engine_with_hf_policy_records_the_sampled_tokens_and_their_logprobs(tiny_model_dir):
    from agentgym.policies.hf import HFPolicy, score

    limits = EpisodeLimits(max_response_tokens=6, max_context_tokens=400)
    source = [Task(env_id="rollouttest/steps-v0", seed=seed, env_kwargs={"length": 2}) for seed in range(3)]
    async with HFPolicy(tiny_model_dir, device="cpu", seed=0, batch_window_ms=2.0) as policy:
        engine = RolloutEngine(
            policy,
            source,
            prompts=PromptBuilder(policy.tokenizer, history=1),
            group_size=2,
            max_in_flight=4,
            max_staleness=1,
            limits=limits,
            sampling=SamplingParams(temperature=0.8),
        )
        async with engine:
            groups = [await engine.get()]
            await policy.update_weights(policy.model.state_dict())  # new weights: version 1
            groups += [group async for group in engine]
        assert policy.version == 1 and policy.requests_run >= 6

        stats = engine.stats
        assert stats.episodes_failed == 0 and stats.groups_consumed + stats.groups_dropped_stale == 3
        assert len(groups) == stats.groups_consumed
        builder = PromptBuilder(policy.tokenizer, history=1)
        for group in groups:
            for trajectory in group.completed:
                assert len(trajectory.turns) == 2 and trajectory.terminated
                history = []
                for turn in trajectory.turns:
                    assert 1 <= len(turn.response_ids) <= limits.max_response_tokens
                    assert turn.finish_reason == ("stop" if turn.response_ids[-1] in policy.end_token_ids else "length")
                    assert turn.response_text == policy.tokenizer.decode(turn.response_ids, skip_special_tokens=True)
                    assert turn.prompt_ids == builder.build(
                        StepsEnv.system_prompt, history, Observation(text=turn.observation)
                    )
                    # the recorded log-probabilities are the model's, at the sampling temperature
                    rescored = score(policy.model, turn.prompt_ids, turn.response_ids, temperature=0.8)
                    assert rescored == pytest.approx(turn.response_logprobs, abs=1e-4)
                    assert turn.policy_version in (0, 1)
                    history.append(HistoryTurn(turn.observation, turn.response_text))
