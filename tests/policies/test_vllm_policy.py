"""VLLMPolicy: a clear error without vLLM; a real generation where vLLM and a GPU exist."""

from __future__ import annotations

import importlib.util

import pytest

from agentgym.policies import SamplingParams

HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here, so the missing-vLLM error cannot occur")
def test_without_vllm_the_error_names_the_extra() -> None:
    from agentgym.policies.vllm import VLLMPolicy

    with pytest.raises(ModuleNotFoundError, match=r"agentgym\[vllm\]"):
        VLLMPolicy("any-model")


@pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not installed (the vllm extra needs a supported GPU; CI has none)")
async def test_vllm_generates_token_ids_with_logprobs(tmp_path) -> None:
    from agentgym.policies.tiny import build_tiny_model
    from agentgym.policies.vllm import VLLMPolicy

    policy = VLLMPolicy(str(build_tiny_model(tmp_path / "tiny")), dtype="float32", enforce_eager=True)
    prompt = policy.tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    [generation] = await policy.generate([list(prompt)], SamplingParams(max_tokens=8, temperature=1.0, seed=0))
    assert 1 <= len(generation.token_ids) == len(generation.logprobs) <= 8
    assert all(logprob <= 0.0 for logprob in generation.logprobs)
