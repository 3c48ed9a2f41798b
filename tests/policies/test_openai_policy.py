"""OpenAIPolicy against a real OpenAI-compatible completions server on loopback (agentgym's own
`create_completions_app`, backed by HFPolicy on the tiny local model): token ids and log-probs
arrive exactly as the backing policy produced them; bad answers and requests give clear errors."""

from __future__ import annotations

import pytest
from aiohttp import web

pytest.importorskip("torch", reason="HFPolicy needs torch: pip install 'agentgym[train]'")
pytest.importorskip("transformers", reason="HFPolicy needs transformers: pip install 'agentgym[train]'")

from agentgym.policies import HFPolicy, SamplingParams  # noqa: E402
from agentgym.policies.hf import score  # noqa: E402
from agentgym.policies.openai import OpenAIPolicy, PolicyServerError  # noqa: E402
from agentgym.policies.openai_server import create_completions_app  # noqa: E402
from agentgym.policies.tiny import build_tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-chat-model"))


@pytest.fixture
async def served(model_dir):
    """(base_url, backing HFPolicy) of a completions server on a free loopback port."""
    backing = HFPolicy(model_dir, seed=0)
    runner = web.AppRunner(create_completions_app(backing, "tiny"))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}", backing
    await runner.cleanup()
    await backing.aclose()


def prompt_ids(tokenizer, text: str) -> list[int]:
    encoded = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
    )
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


async def test_remote_generation_matches_the_backing_policy_token_for_token(served, model_dir) -> None:
    url, backing = served
    policy = OpenAIPolicy(url, "tiny", str(model_dir))
    prompts = [prompt_ids(policy.tokenizer, text) for text in ("hi", "Push every box onto a target.", "up")]
    greedy = SamplingParams(max_tokens=12, temperature=0.0)
    try:
        remote = await policy.generate(prompts, greedy)
        local = await backing.generate(prompts, greedy)
        assert [g.token_ids for g in remote] == [g.token_ids for g in local]
        sampled = await policy.generate(prompts[:1], SamplingParams(max_tokens=12, temperature=1.0))
    finally:
        await policy.close()
    for generation, expected in zip(remote, local, strict=True):
        assert generation.logprobs == pytest.approx(expected.logprobs, abs=1e-6)
        assert generation.text == expected.text and generation.finish_reason == expected.finish_reason
    # token-in/token-out across the wire: re-scoring the ids reproduces the sent log-probs
    [generation] = sampled
    assert score(backing.model, prompts[0], generation.token_ids, 1.0) == pytest.approx(generation.logprobs, abs=1e-5)


async def test_a_server_without_token_ids_or_with_another_model_is_refused_clearly(served, model_dir) -> None:
    url, _ = served
    wrong_model = OpenAIPolicy(url, "other-model", str(model_dir))
    try:
        with pytest.raises(PolicyServerError, match="404"):
            await wrong_model.generate([[1, 2, 3]], SamplingParams(max_tokens=2))
        with pytest.raises(PolicyServerError, match="named sampled tokens by text"):
            wrong_model._generation({"choices": [{"logprobs": {"tokens": ["up"], "token_logprobs": [-0.1]}}]})
    finally:
        await wrong_model.close()
    unreachable = OpenAIPolicy("http://127.0.0.1:9", "tiny", str(model_dir))
    try:
        with pytest.raises(PolicyServerError, match="failed"):
            await unreachable.generate([[1]], SamplingParams(max_tokens=1))
    finally:
        await unreachable.close()


async def test_the_completions_server_answers_bad_requests_with_400(served) -> None:
    import aiohttp

    url, _ = served
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/v1/completions", json={"prompt": [1, 2], "max_tokens": 0}) as response:
            assert response.status == 400
            assert "max_tokens" in (await response.json())["error"]["message"]
        async with http.get(f"{url}/v1/models") as response:
            assert (await response.json())["data"][0]["id"] == "tiny"
