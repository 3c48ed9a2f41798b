"""HFPolicy on the tiny local chat model: token exactness of recorded log-probabilities against
one-pass re-scoring, batching of concurrent requests, stopping, sampling, weight updates and
input errors."""

from __future__ import annotations

import asyncio
import copy
import math
import subprocess
import sys
import time
from collections import Counter

import pytest

torch = pytest.importorskip("torch", reason="HFPolicy needs torch: pip install 'agentgym[train]'")
pytest.importorskip("transformers", reason="HFPolicy needs transformers: pip install 'agentgym[train]'")

from agentgym.policies import Generation, HFPolicy, Policy, SamplingParams  # noqa: E402
from agentgym.policies.hf import response_logprobs, score, score_batch  # noqa: E402
from agentgym.policies.tiny import build_tiny_model  # noqa: E402

TOLERANCE = 1e-5

MESSAGES = [
    "hi",
    "You moved up. You cannot move: a wall is in the way. Push every box onto a target. " * 3,
    "I am thinking of an integer between 1 and 100. Guess it.",
    "north south east west " * 6,
    "yes",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
    "the player is on the floor next to a box",
    "up",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-chat-model"))


@pytest.fixture(scope="module")
def policy(model_dir) -> HFPolicy:
    """Shared by the tests that do not change it (each test runs in its own event loop: the
    policy starts a batcher in each)."""
    return HFPolicy(model_dir, batch_window_ms=20)


@pytest.fixture
def fresh_policy(model_dir) -> HFPolicy:
    return HFPolicy(model_dir, batch_window_ms=20)


def chat_prompt(tokenizer, message: str) -> list[int]:
    encoded = tokenizer.apply_chat_template(
        [{"role": "user", "content": message}], add_generation_prompt=True, tokenize=True
    )
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


@pytest.fixture(scope="module")
def prompts(policy) -> list[list[int]]:
    result = [chat_prompt(policy.tokenizer, message) for message in MESSAGES]
    assert len({len(p) for p in result}) > 4, "the prompts must have different lengths, so the batch is padded"
    return result


def max_error(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max((abs(x - y) for x, y in zip(a, b, strict=True)), default=0.0)


def test_construction_and_protocol(policy, model_dir):
    assert isinstance(policy, Policy)
    assert policy.version == 0
    assert policy.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert next(policy.model.parameters()).dtype == (torch.bfloat16 if torch.cuda.is_available() else torch.float32)
    im_end = policy.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert policy.tokenizer.eos_token_id == im_end
    assert im_end in policy.end_token_ids


# ---------------------------------------------------------------------------------------------
# Token exactness: recorded log-probs == one forward pass over prompt + response, no padding
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(max_tokens=24, temperature=1.0, seed=1),
        SamplingParams(max_tokens=24, temperature=0.7, seed=2),
        SamplingParams(max_tokens=24, temperature=0.7, top_p=0.9, top_k=40, seed=3),
        SamplingParams(max_tokens=24, temperature=0.0),
    ],
    ids=["t1.0", "t0.7", "t0.7-top_p-top_k", "greedy"],
)
async def test_token_exactness_in_a_left_padded_batch(fresh_policy, prompts, params):
    if fresh_policy.device.type != "cpu":
        pytest.skip("exactness within 1e-5 is promised for float32 on CPU")
    generations = await fresh_policy.generate(prompts, params)
    assert fresh_policy.batches_run == 1, "all prompts of one call run as one padded batch"
    assert [len(g.token_ids) for g in generations] == [len(g.logprobs) for g in generations]

    for prompt, generation in zip(prompts, generations, strict=True):
        assert generation.token_ids, "a response has at least one token"
        assert all(math.isfinite(lp) and lp <= 0 for lp in generation.logprobs)
        rescored = score(fresh_policy.model, prompt, generation.token_ids, params.temperature)  # one pass, no padding
        assert max_error(rescored, generation.logprobs) < TOLERANCE

    # the batched re-scoring (padded on both sides) agrees too
    batched = score_batch(fresh_policy.model, prompts, [g.token_ids for g in generations], params.temperature)
    for rescored, generation in zip(batched, generations, strict=True):
        assert max_error(rescored, generation.logprobs) < TOLERANCE


async def test_exactness_for_concurrent_requests_with_different_params(fresh_policy, prompts):
    """Rows with different temperatures, budgets and stop tokens share a batch; finished rows
    leave it (the KV cache is compacted) and the others stay exact."""
    budgets = [3, 30, 7, 18, 1, 25, 12, 30]
    temperatures = [1.0, 0.7, 0.0, 1.3, 1.0, 0.5, 0.0, 1.0]
    params = [
        SamplingParams(max_tokens=b, temperature=t, seed=i)
        for i, (b, t) in enumerate(zip(budgets, temperatures, strict=True))
    ]
    results = await asyncio.gather(*(fresh_policy.generate([p], sp) for p, sp in zip(prompts, params, strict=True)))
    assert fresh_policy.batches_run == 1
    for prompt, sp, (generation,) in zip(prompts, params, results, strict=True):
        assert len(generation.token_ids) <= sp.max_tokens
        rescored = score(fresh_policy.model, prompt, generation.token_ids, sp.temperature)
        assert max_error(rescored, generation.logprobs) < TOLERANCE


def test_score_batch_matches_single_scoring_and_is_differentiable(policy, prompts):
    responses = [[5, 6, 7], [], [8] * 10, [9, 10]]
    batch_prompts = prompts[:4]
    batched = score_batch(policy.model, batch_prompts, responses, [1.0, 0.5, 0.7, 0.0])
    for prompt, response, temperature, values in zip(
        batch_prompts, responses, [1.0, 0.5, 0.7, 0.0], batched, strict=True
    ):
        assert len(values) == len(response)
        assert max_error(values, score(policy.model, prompt, response, temperature)) < TOLERANCE
    # temperature 0 (greedy) is scored as temperature 1
    assert score(policy.model, prompts[0], [5, 6], 0.0) == score(policy.model, prompts[0], [5, 6], 1.0)

    logprobs, mask = response_logprobs(policy.model, batch_prompts, responses, 1.0)
    assert logprobs.shape == mask.shape == (4, 10)
    assert mask.sum().item() == sum(len(r) for r in responses)
    assert logprobs.requires_grad
    (logprobs * mask).sum().backward()
    assert policy.model.get_output_embeddings().weight.grad is not None
    policy.model.zero_grad(set_to_none=True)


# ---------------------------------------------------------------------------------------------
# Greedy, seeds, sampling
# ---------------------------------------------------------------------------------------------


async def test_greedy_is_deterministic_and_matches_transformers_generate(policy, prompts):
    params = SamplingParams(max_tokens=16, temperature=0)
    first = await policy.generate(prompts, params)
    second = await policy.generate(prompts[::-1], params)
    assert [g.token_ids for g in first] == [g.token_ids for g in second[::-1]]
    # each row of the padded batch decodes what the model decodes for that prompt alone
    for prompt, generation in zip(prompts[:3], first[:3], strict=True):
        reference = policy.model.generate(
            torch.tensor([prompt], device=policy.device),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long, device=policy.device),
            do_sample=False,
            max_new_tokens=len(generation.token_ids),
            eos_token_id=None,
        )
        assert reference[0, len(prompt) :].tolist() == generation.token_ids


async def test_seed_reproduces_a_call_whatever_shares_its_batch(policy, prompts):
    params = SamplingParams(max_tokens=20, temperature=1.0, seed=1234)
    alone = await policy.generate(prompts[:2], params)
    again, _ = await asyncio.gather(
        policy.generate(prompts[:2], params),
        policy.generate(prompts[2:], SamplingParams(max_tokens=20, temperature=0.8)),
    )
    assert [g.token_ids for g in again] == [g.token_ids for g in alone]
    # identical prompts in one call get different streams; another seed gives other tokens
    twins = await policy.generate([prompts[0], prompts[0]], params)
    assert twins[0].token_ids == alone[0].token_ids
    assert twins[1].token_ids != twins[0].token_ids
    other = await policy.generate(prompts[:2], SamplingParams(max_tokens=20, temperature=1.0, seed=99))
    assert [g.token_ids for g in other] != [g.token_ids for g in alone]
    # unseeded sampling differs between calls
    a, b = await asyncio.gather(*(policy.generate(prompts[:2], SamplingParams(max_tokens=20)) for _ in range(2)))
    assert [g.token_ids for g in a] != [g.token_ids for g in b]


async def test_top_k_1_and_a_tiny_top_p_are_greedy(policy, prompts):
    greedy = await policy.generate(prompts, SamplingParams(max_tokens=10, temperature=0))
    top_k = await policy.generate(prompts, SamplingParams(max_tokens=10, temperature=1.0, top_k=1, seed=5))
    top_p = await policy.generate(prompts, SamplingParams(max_tokens=10, temperature=1.0, top_p=1e-6, seed=6))
    assert [g.token_ids for g in top_k] == [g.token_ids for g in greedy] == [g.token_ids for g in top_p]
    # log-probs stay those of the untruncated tempered distribution (not 0 after truncation)
    for g, t in zip(greedy, top_k, strict=True):
        assert max_error(g.logprobs, t.logprobs) < TOLERANCE
        assert all(lp < -1e-3 for lp in t.logprobs)


async def test_sampling_follows_the_truncated_distribution(policy, prompts):
    """Many one-token samples: frequencies match the top-k renormalised softmax; top-p keeps to
    its nucleus."""
    prompt = prompts[2]
    temperature, k, n = 0.5, 4, 4000
    with torch.inference_mode():
        logits = policy.model(torch.tensor([prompt], device=policy.device)).logits[0, -1].float() / temperature
    values, ids = logits.topk(k)
    expected = dict(zip(ids.tolist(), torch.softmax(values, -1).tolist(), strict=True))
    generations = await policy.generate(
        [prompt] * n, SamplingParams(max_tokens=1, temperature=temperature, top_k=k, seed=7)
    )
    counts = Counter(g.token_ids[0] for g in generations)
    assert set(counts) <= set(expected)
    for token, probability in expected.items():
        sd = math.sqrt(probability * (1 - probability) / n)
        assert abs(counts[token] / n - probability) < 5 * sd + 1e-3, (token, counts[token] / n, probability)

    probs = torch.softmax(logits, -1)
    sorted_probs, sorted_ids = probs.sort(descending=True)
    nucleus = set(sorted_ids[: int((sorted_probs.cumsum(0) < 0.5).sum()) + 1].tolist())
    generations = await policy.generate(
        [prompt] * 500, SamplingParams(max_tokens=1, temperature=temperature, top_p=0.5, seed=8)
    )
    sampled = {g.token_ids[0] for g in generations}
    assert sampled <= nucleus and len(sampled) > 1


# ---------------------------------------------------------------------------------------------
# Stopping
# ---------------------------------------------------------------------------------------------


async def test_max_tokens_gives_length(policy, prompts):
    generations = await policy.generate(prompts[:3], SamplingParams(max_tokens=7, temperature=1.0, seed=0))
    for generation in generations:
        assert generation.finish_reason == "length"
        assert len(generation.token_ids) == len(generation.logprobs) == 7
        assert generation.text == policy.tokenizer.decode(generation.token_ids, skip_special_tokens=True)


async def test_stop_token_ids_end_the_response_and_are_kept(policy, prompts):
    params = SamplingParams(max_tokens=30, temperature=1.0, seed=11)
    (free,) = await policy.generate([prompts[1]], params)
    stop = free.token_ids[5]
    first = free.token_ids.index(stop)
    (stopped,) = await policy.generate([prompts[1]], params.model_copy(update={"stop_token_ids": (stop,)}))
    assert stopped.finish_reason == "stop"
    assert stopped.token_ids == free.token_ids[: first + 1]
    assert stopped.token_ids[-1] == stop
    assert max_error(stopped.logprobs, free.logprobs[: first + 1]) < TOLERANCE


async def test_the_chat_templates_end_token_ends_the_response(model_dir, prompts):
    """The tokenizer's eos token is an end token without being asked for: a tokenizer whose eos
    is a token this model does produce makes the response end there, with the token kept."""
    base = HFPolicy(model_dir)
    params = SamplingParams(max_tokens=30, temperature=1.0, seed=21)
    (free,) = await base.generate([prompts[3]], params)
    end = free.token_ids[4]
    tokenizer = copy.deepcopy(base.tokenizer)
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(end)
    assert tokenizer.eos_token_id == end
    policy = HFPolicy(base.model, tokenizer)
    assert end in policy.end_token_ids
    (stopped,) = await policy.generate([prompts[3]], params)
    assert stopped.finish_reason == "stop"
    assert stopped.token_ids == free.token_ids[: free.token_ids.index(end) + 1]


# ---------------------------------------------------------------------------------------------
# Batching and the event loop
# ---------------------------------------------------------------------------------------------


async def test_concurrent_callers_are_batched_and_get_their_own_results(fresh_policy, prompts):
    requests = [
        (prompts[i % len(prompts)], SamplingParams(max_tokens=4 + i, temperature=0 if i % 2 else 0.9, seed=i))
        for i in range(16)
    ]
    results = await asyncio.gather(*(fresh_policy.generate([p], sp) for p, sp in requests))
    assert fresh_policy.requests_run == 16
    assert fresh_policy.batches_run < 16, "16 concurrent callers should share batches"
    for (prompt, sp), (generation,) in zip(requests, results, strict=True):
        (alone,) = await fresh_policy.generate([prompt], sp)
        assert generation.token_ids == alone.token_ids
        assert len(generation.token_ids) == sp.max_tokens
        assert max_error(generation.logprobs, alone.logprobs) < TOLERANCE


async def test_max_batch_size_splits_batches(model_dir, prompts):
    policy = HFPolicy(model_dir, batch_window_ms=20, max_batch_size=3)
    generations = await policy.generate(prompts, SamplingParams(max_tokens=3, temperature=0))
    assert len(generations) == len(prompts)
    assert policy.batches_run == math.ceil(len(prompts) / 3)
    reference = await HFPolicy(policy.model, policy.tokenizer).generate(
        prompts, SamplingParams(max_tokens=3, temperature=0)
    )
    assert [g.token_ids for g in generations] == [g.token_ids for g in reference]


async def test_the_event_loop_keeps_running_during_generation(policy, prompts):
    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    await policy.generate(prompts, SamplingParams(max_tokens=150, temperature=1.0))
    elapsed = time.perf_counter() - start
    done.set()
    await task
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert elapsed > 0.1
    assert len(ticks) > 5, f"the loop ticked {len(ticks)} times in {elapsed:.2f}s of generation"
    assert max(gaps) < max(0.25, elapsed / 4), f"the loop stalled for {max(gaps):.3f}s"


async def test_a_cancelled_caller_does_not_disturb_the_others(policy, prompts):
    params = SamplingParams(max_tokens=5, temperature=0)
    victim = asyncio.create_task(policy.generate([prompts[0]], params))
    survivor = asyncio.create_task(policy.generate([prompts[1]], params))
    await asyncio.sleep(0)
    victim.cancel()
    (generation,) = await survivor
    assert len(generation.token_ids) == 5
    with pytest.raises(asyncio.CancelledError):
        await victim


async def test_aclose_stops_the_batcher_and_a_later_call_restarts_it(model_dir, prompts):
    async with HFPolicy(model_dir) as policy:
        (first,) = await policy.generate([prompts[0]], SamplingParams(max_tokens=3, temperature=0))
    assert not policy._states and policy._executor is None
    (second,) = await policy.generate([prompts[0]], SamplingParams(max_tokens=3, temperature=0))
    assert second.token_ids == first.token_ids
    await policy.aclose()


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------


async def test_new_weights_bump_the_version_and_change_outputs(fresh_policy, prompts):
    params = SamplingParams(max_tokens=12, temperature=0)
    before = await fresh_policy.generate(prompts[:3], params)
    original = {name: tensor.clone() for name, tensor in fresh_policy.model.state_dict().items()}
    # a small step, as a trainer takes (large random steps blow the logits up, and float32
    # rounding differences between cached decoding and one-pass scoring grow with them)
    torch.manual_seed(0)
    perturbed = {name: tensor + 0.05 * torch.randn_like(tensor) for name, tensor in original.items()}

    await fresh_policy.update_weights(perturbed)
    assert fresh_policy.version == 1
    after = await fresh_policy.generate(prompts[:3], params)
    assert [g.token_ids for g in after] != [g.token_ids for g in before]
    (again,) = await fresh_policy.generate(prompts[:1], params)
    assert max_error(score(fresh_policy.model, prompts[0], again.token_ids), again.logprobs) < TOLERANCE

    fresh_policy.load_state_dict(original)  # the synchronous form
    assert fresh_policy.version == 2
    restored = await fresh_policy.generate(prompts[:3], params)
    assert [g.token_ids for g in restored] == [g.token_ids for g in before]

    donor = copy.deepcopy(fresh_policy.model)  # a whole model, with an explicit version
    await fresh_policy.update_weights(donor, version=10)
    assert fresh_policy.version == 10


async def test_update_weights_waits_for_the_running_batch(fresh_policy, prompts):
    """A batch never mixes weights: an update issued mid-generation applies after it."""
    params = SamplingParams(max_tokens=40, temperature=0)
    reference = await fresh_policy.generate(prompts[:2], params)
    zeros = {name: torch.zeros_like(tensor) for name, tensor in fresh_policy.model.state_dict().items()}
    running = asyncio.create_task(fresh_policy.generate(prompts[:2], params))
    while fresh_policy.batches_run == 1 and not fresh_policy._lock.locked():
        await asyncio.sleep(0.001)
    await fresh_policy.update_weights(zeros)
    assert [g.token_ids for g in await running] == [g.token_ids for g in reference]
    assert fresh_policy.version == 1


# ---------------------------------------------------------------------------------------------
# Errors and packaging
# ---------------------------------------------------------------------------------------------


async def test_bad_input_gives_clear_errors(policy, prompts):
    params = SamplingParams(max_tokens=4)
    with pytest.raises(TypeError, match="list of prompts"):
        await policy.generate(prompts[0], params)  # one prompt, not a list of prompts
    with pytest.raises(TypeError, match="SamplingParams"):
        await policy.generate(prompts, {"max_tokens": 4})
    with pytest.raises(ValueError, match="empty"):
        await policy.generate([[]], params)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        await policy.generate([[1, 2, policy.vocab_size]], params)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        await policy.generate([[1, -1]], params)
    with pytest.raises(TypeError, match="ints"):
        await policy.generate([[1, 2.5]], params)
    with pytest.raises(ValueError, match="stop_token_ids"):
        await policy.generate([[1, 2]], SamplingParams(stop_token_ids=(10**9,)))
    with pytest.raises(ValueError, match="context"):
        await policy.generate([[1] * policy.max_positions], params)
    with pytest.raises(ValueError):
        SamplingParams(temperature=-1.0)
    with pytest.raises(ValueError):
        SamplingParams(top_p=0.0)
    assert await policy.generate([], params) == []
    # the policy still serves after the errors
    (generation,) = await policy.generate([prompts[0]], params)
    assert isinstance(generation, Generation)


def test_bad_constructor_arguments(policy, model_dir):
    with pytest.raises(ValueError, match="batch_window_ms"):
        HFPolicy(policy.model, policy.tokenizer, batch_window_ms=-1)
    with pytest.raises(ValueError, match="max_batch_size"):
        HFPolicy(policy.model, policy.tokenizer, max_batch_size=0)
    with pytest.raises(TypeError, match="tokenizer"):
        HFPolicy(policy.model)
    with pytest.raises(ValueError, match="dtype"):
        HFPolicy(model_dir, dtype="float33")
    with pytest.raises(ValueError, match="temperatures"):
        score_batch(policy.model, [[1, 2]], [[3]], [1.0, 1.0])


async def test_generation_failure_reaches_the_callers_and_the_policy_recovers(fresh_policy, prompts, monkeypatch):
    def boom(batch):
        raise RuntimeError("simulated out of memory")

    monkeypatch.setattr(fresh_policy, "_decode", boom)
    with pytest.raises(RuntimeError, match="simulated"):
        await fresh_policy.generate(prompts[:2], SamplingParams(max_tokens=3))
    monkeypatch.undo()
    assert len(await fresh_policy.generate(prompts[:2], SamplingParams(max_tokens=3))) == 2


def test_importing_agentgym_policies_does_not_import_torch():
    code = (
        "import sys, agentgym, agentgym.policies\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "from agentgym.policies import HFPolicy\n"
        "assert HFPolicy.__module__ == 'agentgym.policies.hf'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
