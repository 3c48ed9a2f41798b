"""`HFPolicy`: a transformers causal LM on CPU or GPU that batches requests from concurrent episodes.

How a request travels:

1. `generate()` validates its prompts and parameters in the caller's coroutine (bad input raises
   there, at once), draws the request's random numbers (see *Seeds*) and puts one request per
   prompt on the policy's queue.
2. A batcher task (one per event loop, started on first use) waits for the first request, then
   keeps collecting for up to `batch_window_ms` after that request arrived, or until
   `max_batch_size` requests are waiting, and hands the batch to a single worker thread. While a
   batch runs, new requests queue up; the next batch starts as soon as the worker is free (their
   window has usually passed by then). The event loop never runs model code: torch releases the
   GIL inside its kernels, so environments and other coroutines keep running during generation.
3. The worker runs one batched generation with a KV cache: prompts are left-padded, the
   attention mask hides the padding, and position ids count real tokens only (a padded row sees
   exactly the positions it would see alone). Each row stops at the chat template's end-of-turn
   token, at one of its own `stop_token_ids` (the token is kept as the last response token,
   finish_reason "stop") or after `max_tokens` (finish_reason "length"). Finished rows are dropped
   from the batch and its KV cache once a quarter of the batch has finished, so one long response
   does not make the batch pay for the short ones.

Why an explicit decoding loop and not `model.generate`: requests in one batch come from different
callers and carry different `SamplingParams` (temperature, top-p, top-k, max_tokens, stop tokens,
seed); `generate` takes one generation config per batch and draws from torch's global RNG, so a
seeded request's output would depend on the other requests that shared its batch. The loop below
is a handful of tensor ops per generated token, vectorised over the batch (one `model()` call,
one sampling step, one host sync to see whether rows finished), with every sampling parameter a
per-row tensor. It uses the model's own forward and its default (dynamic) KV cache through
public API only, so any `AutoModelForCausalLM` works. A static, preallocated cache would save the
cache's per-step concatenation (~30% of decoding time for a 3M-parameter model at batch 64 on CPU),
but it attends over its whole preallocated length at every step, which costs more than it saves
when `max_tokens` is large and responses are short, and it cannot drop finished rows.

Sampling and log-probabilities (the contract in `SamplingParams`): at each step the logits are
cast to float32 and divided by the row's temperature; the recorded log-probability is
log_softmax(logits / temperature) of the sampled token, computed before top-k / top-p truncation.
Truncation then masks the tempered distribution (top-k keeps the k largest logits, ties at the
k-th included; top-p keeps the smallest set of most likely tokens whose mass reaches top_p) and a
token is drawn by inverting the cumulative distribution, in vocabulary order, with one uniform
number per row and step. `temperature=0` means greedy (argmax of the logits); its log-probabilities
are those of temperature 1, log_softmax(logits), since logits / 0 is no distribution (`score` with
temperature 0 computes the same). The same computation in one forward pass is `score` /
`response_logprobs` below, which the trainer uses to re-score recorded responses: on CPU in
float32 they reproduce a generation's log-probabilities to ~1e-6, padded batch or not.

Seeds: the uniform numbers of a call with `seed=s` are
`torch.rand(len(prompts), max_tokens, generator=torch.Generator().manual_seed(s % 2**64))`, row i
for prompt i. So identical prompts in one call still get different responses, while the same call
(same seed, prompts, parameters and weights) gives the same responses whichever other requests
share its batch. (Padding changes the float rounding of a batch's logits in the last
bits, which can flip a sampled token only when a uniform number falls within rounding distance of
a boundary of the cumulative distribution; in practice never.) Unseeded requests draw from the
policy's own generator, seeded by the `seed` constructor argument.
"""

from __future__ import annotations

import array
import asyncio
import inspect
import math
import os
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentgym.policies.base import Generation, SamplingParams

if TYPE_CHECKING:
    import torch

__all__ = ["HFPolicy", "dtype_kwarg", "model_end_tokens", "response_logits", "response_logprobs", "score", "score_batch"]

_END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "</s>", "<|eot|>")
"""Well-known end-of-turn tokens; one counts as an end token when the chat template names it."""

_COMPACT_FRACTION = 4
"""Drop finished rows from the running batch once 1/_COMPACT_FRACTION of it has finished."""


def _torch() -> Any:
    try:
        import torch
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError(
            "HFPolicy needs torch and transformers: pip install 'agentgym[train]'", name="torch"
        ) from error
    return torch


# ---------------------------------------------------------------------------------------------
# Re-scoring: the same log-probabilities, one forward pass per batch
# ---------------------------------------------------------------------------------------------


def _forward_kwargs(model: Any) -> set[str]:
    try:
        return set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):  # pragma: no cover - exotic wrappers
        return set()


def _temperatures(temperature: float | Sequence[float], batch: int) -> list[float]:
    values = [float(temperature)] * batch if isinstance(temperature, (int, float)) else [float(t) for t in temperature]
    if len(values) != batch:
        raise ValueError(f"got {len(values)} temperatures for {batch} sequences")
    if any(not math.isfinite(t) or t < 0 for t in values):
        raise ValueError(f"temperatures must be finite and >= 0, got {values}")
    return [t if t > 0 else 1.0 for t in values]  # temperature 0 (greedy) is scored at temperature 1


def response_logits(
    model: Any,
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    temperature: float | Sequence[float] = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The temperature-scaled logits that predict each response token from its prompt and the
    response tokens before it: one forward pass for the whole batch, differentiable (call it
    under `torch.no_grad()` when no gradient is needed).

    Args:
        model: a causal LM (`AutoModelForCausalLM`); its device is used.
        prompts / responses: token ids, one pair per sequence; a response may be empty.
        temperature: one for all sequences, or one per sequence; 0 (greedy) is scored as 1.

    Returns:
        (logits, targets, mask): float32 logits / temperature of shape (batch, longest
        response, vocabulary), the response token ids (batch, longest response) and a float32
        mask, 1 on real response tokens and 0 on padding.

    The batch is laid out as [left padding | prompt | response | right padding], so every
    response starts in the same column and only the response positions' logits are computed
    (`logits_to_keep`): memory is batch x longest response x vocabulary floats.
    """
    torch = _torch()
    if len(prompts) != len(responses):
        raise ValueError(f"got {len(prompts)} prompts and {len(responses)} responses")
    batch = len(prompts)
    temps = _temperatures(temperature, batch)
    device = next(model.parameters()).device
    width_r = max((len(r) for r in responses), default=0)
    if batch == 0 or width_r == 0:
        vocab = model.get_output_embeddings().weight.shape[0] if hasattr(model, "get_output_embeddings") else 0
        empty = torch.zeros(batch, 0, device=device)
        return torch.zeros(batch, 0, vocab, device=device), empty.long(), empty
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    width_p = max(len(p) for p in prompts)

    pad = 0
    rows = [
        [pad] * (width_p - len(p)) + list(p) + list(r) + [pad] * (width_r - len(r))
        for p, r in zip(prompts, responses, strict=True)
    ]
    attention = [
        [0] * (width_p - len(p)) + [1] * (len(p) + len(r)) + [0] * (width_r - len(r))
        for p, r in zip(prompts, responses, strict=True)
    ]
    input_ids = torch.tensor(rows, dtype=torch.long, device=device)
    attention_mask = torch.tensor(attention, dtype=torch.long, device=device)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp_(min=0)

    # the logits that predict response token j sit in column width_p - 1 + j
    keep = torch.arange(width_p - 1, width_p - 1 + width_r, device=device)
    kwargs = _forward_kwargs(model)
    if "logits_to_keep" in kwargs:
        logits = model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, logits_to_keep=keep
        ).logits
    else:
        logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids).logits[:, keep]

    scaled = logits.float() / torch.tensor(temps, dtype=torch.float32, device=device)[:, None, None]
    return scaled, input_ids[:, width_p:], attention_mask[:, width_p:].float()


def response_logprobs(
    model: Any,
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    temperature: float | Sequence[float] = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of each response token given its prompt and the response tokens before
    it, under log_softmax(logits / temperature), as `HFPolicy` records them (see
    `response_logits` for the arguments; differentiable).

    Returns:
        (logprobs, mask): float32 tensors of shape (batch, longest response); mask is 1 on real
        response tokens and 0 on padding (where logprobs are 0).
    """
    logits, targets, mask = response_logits(model, prompts, responses, temperature)
    logprobs = logits.log_softmax(dim=-1).gather(-1, targets[..., None]).squeeze(-1)
    return logprobs * mask, mask


def score_batch(
    model: Any,
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    temperature: float | Sequence[float] = 1.0,
) -> list[list[float]]:
    """`response_logprobs` as plain lists, one per response (no gradient)."""
    torch = _torch()
    with torch.inference_mode():
        logprobs, _ = response_logprobs(model, prompts, responses, temperature)
        values = logprobs.cpu().tolist()
    return [row[: len(response)] for row, response in zip(values, responses, strict=True)]


def score(model: Any, prompt_ids: Sequence[int], response_ids: Sequence[int], temperature: float = 1.0) -> list[float]:
    """The log-probabilities of one response given its prompt: one forward pass over
    prompt + response, no padding (see `response_logprobs`)."""
    return score_batch(model, [prompt_ids], [response_ids], temperature)[0]


# ---------------------------------------------------------------------------------------------
# The policy
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Request:
    prompt: list[int]
    params: SamplingParams
    uniforms: Any  # float32 CPU tensor (max_tokens,), or None for greedy
    future: asyncio.Future[Generation]
    enqueued: float


@dataclass(eq=False)
class _LoopState:
    """The batcher of one event loop: its queue, wake-up event and task."""

    loop: asyncio.AbstractEventLoop
    pending: deque[_Request] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class HFPolicy:
    """A Hugging Face causal LM that batches `generate()` calls from concurrent episodes.

    Args:
        model: a model name or path for `AutoModelForCausalLM.from_pretrained`, or a loaded
            model (then `tokenizer` is required).
        tokenizer: a tokenizer, a name or path for `AutoTokenizer`, or None to load it from
            `model` (a name or path). It needs a chat template; its eos token is an end token.
        device: "cuda" when available, else "cpu", by default; a loaded model is moved there
            only when `device` is given.
        dtype: float32 on CPU and bfloat16 on CUDA by default (a loaded model keeps its own
            dtype unless `dtype` is given); a torch dtype or its name ("float32", "bfloat16").
        batch_window_ms: how long the batcher waits, after the first request of a batch
            arrived, for more requests to join it.
        max_batch_size: at most this many sequences per batch (longer request lists are split).
        end_token_ids: extra end tokens for every request, besides the tokenizer's eos token,
            the model's generation-config eos tokens and the end-of-turn tokens (<|im_end|>,
            <|eot_id|>, ...) that the chat template names.
        seed: seeds the generator that unseeded requests draw from.
        version: the initial weight version.
        **model_kwargs: passed to `from_pretrained` (e.g. attn_implementation, revision).

    Attributes:
        tokenizer, model, version (int, bumped by `load_state_dict` / `update_weights`),
        end_token_ids, device, and counters: `batches_run`, `requests_run`, `tokens_generated`.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        device: str | Any | None = None,
        dtype: str | Any | None = None,
        batch_window_ms: float = 5.0,
        max_batch_size: int = 64,
        end_token_ids: Iterable[int] = (),
        seed: int | None = None,
        version: int = 0,
        **model_kwargs: Any,
    ):
        torch = _torch()
        if not (isinstance(batch_window_ms, (int, float)) and math.isfinite(batch_window_ms) and batch_window_ms >= 0):
            raise ValueError(f"batch_window_ms must be a finite number >= 0, got {batch_window_ms!r}")
        if not isinstance(max_batch_size, int) or isinstance(max_batch_size, bool) or max_batch_size < 1:
            raise ValueError(f"max_batch_size must be an int >= 1, got {max_batch_size!r}")
        explicit_device = device is not None
        device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
        if isinstance(dtype, str):
            if not isinstance(getattr(torch, dtype, None), torch.dtype):
                raise ValueError(f"unknown dtype {dtype!r}; use e.g. 'float32', 'bfloat16' or 'float16'")
            dtype = getattr(torch, dtype)

        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            from transformers import AutoModelForCausalLM, AutoTokenizer

            name = str(model)
            if dtype is None:
                dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
            tokenizer = AutoTokenizer.from_pretrained(name) if tokenizer is None else tokenizer
            model = AutoModelForCausalLM.from_pretrained(name, **{dtype_kwarg(): dtype}, **model_kwargs)
            model = model.to(device)
        else:
            if tokenizer is None:
                raise TypeError("HFPolicy(model=<a loaded model>) needs tokenizer=... as well")
            if model_kwargs:
                raise TypeError(f"model loading options {sorted(model_kwargs)} only apply when model is a name or path")
            if not explicit_device:
                device = next(model.parameters()).device
            if explicit_device:
                model = model.to(device)
            if dtype is not None:
                model = model.to(dtype)
        if isinstance(tokenizer, (str, bytes)) or hasattr(tokenizer, "__fspath__"):
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer))

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = device
        self.version = version
        self.batch_window_ms = float(batch_window_ms)
        self.max_batch_size = max_batch_size
        output_embeddings = self.model.get_output_embeddings()
        self.vocab_size = int(
            output_embeddings.weight.shape[0] if output_embeddings is not None else self.model.config.vocab_size
        )
        self.max_positions: int | None = getattr(self.model.config, "max_position_embeddings", None)
        self.end_token_ids: tuple[int, ...] = tuple(
            sorted({*model_end_tokens(self.model, tokenizer), *map(int, end_token_ids)})
        )
        if not self.end_token_ids:
            raise ValueError("found no end-of-turn token: the tokenizer has no eos token; pass end_token_ids=...")
        pad = getattr(tokenizer, "pad_token_id", None)
        self._pad_id = int(pad if pad is not None else self.end_token_ids[0])
        kwargs = _forward_kwargs(self.model)
        self._keep_kwarg = (
            "logits_to_keep"
            if "logits_to_keep" in kwargs
            else ("num_logits_to_keep" if "num_logits_to_keep" in kwargs else None)
        )

        self._rng = torch.Generator()
        self._rng.manual_seed((seed if seed is not None else int.from_bytes(os.urandom(8), "little")) % 2**64)
        self._lock = threading.Lock()  # one batch or one weight update at a time
        self._executor: ThreadPoolExecutor | None = None
        self._states: dict[asyncio.AbstractEventLoop, _LoopState] = {}
        self.batches_run = 0
        self.requests_run = 0
        self.tokens_generated = 0

    # -- weights --------------------------------------------------------------------------------

    def load_state_dict(
        self, state_dict: Mapping[str, Any], *, strict: bool = True, version: int | None = None
    ) -> None:
        """Load new weights (waiting for a running batch to finish first) and bump `version`
        (or set it to `version`). Blocks the caller; from async code use `update_weights`."""
        torch = _torch()
        with self._lock, torch.no_grad():
            self.model.load_state_dict(dict(state_dict), strict=strict)
            self.version = self.version + 1 if version is None else version

    async def update_weights(self, weights: Any, *, strict: bool = True, version: int | None = None) -> None:
        """Load new weights from a model, a state dict or (name, tensor) pairs, in the worker
        thread after the running batch, and bump `version`. Requests queued meanwhile use the
        new weights; a batch never mixes weights."""
        if hasattr(weights, "state_dict") and callable(weights.state_dict):
            weights = weights.state_dict()
        elif not isinstance(weights, Mapping):
            weights = dict(weights)
        await asyncio.get_running_loop().run_in_executor(
            self._worker(), lambda: self.load_state_dict(weights, strict=strict, version=version)
        )

    # -- generation -----------------------------------------------------------------------------

    async def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        """One `Generation` per prompt, in order; concurrent calls are batched together."""
        torch = _torch()
        if not isinstance(params, SamplingParams):
            raise TypeError(f"params must be a SamplingParams, got {type(params).__name__}")
        prompts = self._check_prompts(prompts, params)
        if not prompts:
            return []

        # the request's random numbers, drawn now so a batch's composition never changes them
        uniforms: list[Any] = [None] * len(prompts)
        if params.temperature > 0:
            if params.seed is not None:
                generator = torch.Generator()
                generator.manual_seed(params.seed % 2**64)
            else:
                generator = self._rng
            uniforms = list(torch.rand(len(prompts), params.max_tokens, generator=generator))

        state = self._loop_state()
        now = state.loop.time()
        requests = [
            _Request(p, params, u, state.loop.create_future(), now) for p, u in zip(prompts, uniforms, strict=True)
        ]
        state.pending.extend(requests)
        state.wakeup.set()
        try:
            return list(await asyncio.gather(*(request.future for request in requests)))
        except BaseException:
            for request in requests:
                request.future.cancel()  # the batcher skips cancelled requests
            raise

    def _check_prompts(self, prompts: Any, params: SamplingParams) -> list[list[int]]:
        if not isinstance(prompts, (list, tuple)):
            raise TypeError(f"prompts must be a list of token-id lists, got {type(prompts).__name__}")
        checked: list[list[int]] = []
        for index, prompt in enumerate(prompts):
            if not isinstance(prompt, (list, tuple)):
                raise TypeError(
                    f"prompts[{index}] must be a list of token ids, got {type(prompt).__name__} "
                    "(generate takes a list of prompts: generate([ids], params))"
                )
            if not prompt:
                raise ValueError(f"prompts[{index}] is empty; a prompt needs at least one token")
            try:  # a C loop: long prompts are checked without slowing the event loop down
                ids = array.array("q", prompt)
            except (TypeError, OverflowError) as error:
                raise TypeError(f"prompts[{index}] must hold ints (token ids): {error}") from None
            low, high = min(ids), max(ids)
            if low < 0 or high >= self.vocab_size:
                raise ValueError(
                    f"prompts[{index}] has token id {low if low < 0 else high}, outside the vocabulary [0, {self.vocab_size})"
                )
            if self.max_positions is not None and len(prompt) >= self.max_positions:
                raise ValueError(
                    f"prompts[{index}] has {len(prompt)} tokens; the model's context is {self.max_positions} "
                    "and the response needs at least one position"
                )
            checked.append(ids.tolist())
        bad_stop = [t for t in params.stop_token_ids if not 0 <= t < self.vocab_size]
        if bad_stop:
            raise ValueError(f"stop_token_ids {bad_stop} are outside the vocabulary [0, {self.vocab_size})")
        return checked

    def _worker(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfpolicy")
        return self._executor

    def _loop_state(self) -> _LoopState:
        """The batcher of the running event loop (each loop that calls `generate` gets its own;
        they share the worker thread, so batches still run one at a time)."""
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None or state.task is None or state.task.done():
            for old in [old for old in self._states if old.is_closed()]:
                del self._states[old]
            state = _LoopState(loop)
            state.task = loop.create_task(self._batcher(state), name="hfpolicy-batcher")
            self._states[loop] = state
        return state

    async def _batcher(self, state: _LoopState) -> None:
        loop, pending, window = state.loop, state.pending, self.batch_window_ms / 1000.0
        while True:
            # 1. wait for a first request, then for the window (from its arrival) or a full batch
            while not pending:
                state.wakeup.clear()
                await state.wakeup.wait()
            deadline = pending[0].enqueued + window
            while len(pending) < self.max_batch_size and (remaining := deadline - loop.time()) > 0:
                state.wakeup.clear()
                try:
                    await asyncio.wait_for(state.wakeup.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            batch: list[_Request] = []
            while pending and len(batch) < self.max_batch_size:
                request = pending.popleft()
                if not request.future.done():  # cancelled callers are skipped
                    batch.append(request)
            if not batch:
                continue
            # 2. generate in the worker thread; the loop stays free
            try:
                results = await loop.run_in_executor(self._worker(), self._run_batch, batch)
            except asyncio.CancelledError:
                for request in batch:
                    request.future.cancel()
                raise
            except BaseException as error:  # noqa: BLE001 - the callers get the error
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(error)
                continue
            # 3. decode the text here, not in the worker: a fast tokenizer is not safe to share
            # between threads while the rollout encodes prompts with it
            token_lists, logprob_lists, stopped = results
            texts = self.tokenizer.batch_decode(token_lists, skip_special_tokens=True)
            for request, ids, lps, text, stop in zip(batch, token_lists, logprob_lists, texts, stopped, strict=True):
                if not request.future.done():
                    request.future.set_result(
                        Generation(token_ids=ids, logprobs=lps, text=text, finish_reason="stop" if stop else "length")
                    )

    async def aclose(self) -> None:
        """Stop this event loop's batcher (its waiting callers get CancelledError) and the
        worker thread. A later `generate` starts them again."""
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None and state.task is not None:
            state.task.cancel()
            for request in state.pending:
                request.future.cancel()
            await asyncio.gather(state.task, return_exceptions=True)
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)

    async def __aenter__(self) -> HFPolicy:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the batched decoding loop (worker thread) ------------------------------------------------

    def _run_batch(self, batch: list[_Request]) -> tuple[list[list[int]], list[list[float]], list[bool]]:
        torch = _torch()
        with self._lock, torch.inference_mode():
            tokens, logprobs, lengths, stopped = self._decode(batch)
            self.batches_run += 1
            self.requests_run += len(batch)
            self.tokens_generated += sum(lengths)
        token_lists = [row[:n] for row, n in zip(tokens.tolist(), lengths, strict=True)]
        logprob_lists = [row[:n] for row, n in zip(logprobs.tolist(), lengths, strict=True)]
        return token_lists, logprob_lists, stopped

    def _decode(self, batch: list[_Request]) -> tuple[Any, Any, list[int], list[bool]]:
        torch = _torch()
        device, size = self.device, len(batch)
        lengths_in = [len(r.prompt) for r in batch]
        width = max(lengths_in)

        # per-row budgets and sampling parameters, as tensors
        max_new = [
            r.params.max_tokens if self.max_positions is None else min(r.params.max_tokens, self.max_positions - n)
            for r, n in zip(batch, lengths_in, strict=True)
        ]
        steps = max(max_new)
        temps = [r.params.temperature for r in batch]
        greedy = torch.tensor([t == 0 for t in temps], device=device)
        temperature = torch.tensor([t if t > 0 else 1.0 for t in temps], dtype=torch.float32, device=device)
        top_k = torch.tensor([min(r.params.top_k, self.vocab_size) for r in batch], device=device)
        top_p = torch.tensor([r.params.top_p for r in batch], dtype=torch.float32, device=device)
        budget = torch.tensor(max_new, device=device)
        stop_sets = [sorted({*self.end_token_ids, *r.params.stop_token_ids}) for r in batch]
        stop_width = max(len(s) for s in stop_sets)
        stop_ids = torch.tensor([s + [-1] * (stop_width - len(s)) for s in stop_sets], device=device)
        uniforms = torch.zeros(size, steps, dtype=torch.float32)
        for i, r in enumerate(batch):
            if r.uniforms is not None:
                uniforms[i, : max_new[i]] = r.uniforms[: max_new[i]]
        uniforms = uniforms.to(device)
        sampler = _Sampler(
            all_greedy=all(t == 0 for t in temps),
            top_k_max=max((min(r.params.top_k, self.vocab_size) for r in batch if r.params.temperature > 0), default=0),
            any_top_p=any(r.params.top_p < 1.0 and r.params.temperature > 0 for r in batch),
        )

        # the prompts, left-padded; positions count real tokens only
        input_ids = torch.tensor(
            [[self._pad_id] * (width - n) + r.prompt for r, n in zip(batch, lengths_in, strict=True)], device=device
        )
        attention_mask = torch.tensor([[0] * (width - n) + [1] * n for n in lengths_in], device=device)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp_(min=0)
        next_position = torch.tensor(lengths_in, device=device)

        # outputs, indexed by original row
        out_tokens = torch.full((size, steps), self._pad_id, dtype=torch.long, device=device)
        out_logprobs = torch.zeros(size, steps, dtype=torch.float32, device=device)
        lengths = [0] * size
        stopped = [False] * size

        rows = torch.arange(size, device=device)  # original row of each live batch row
        alive = torch.ones(size, dtype=torch.bool, device=device)
        cache = None
        keep = {self._keep_kwarg: 1} if self._keep_kwarg else {}
        for step in range(steps):
            # 1. one forward pass: the prompt the first time, then one token per row with the cache
            output = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=cache,
                use_cache=True,
                **keep,
            )
            cache = output.past_key_values
            logits = output.logits[:, -1, :].float()
            # 2. sample, and record log softmax(logits / T) of the sampled token
            token, logprob = sampler(logits, temperature, greedy, top_k, top_p, uniforms[rows, step])
            out_tokens[rows, step] = token
            out_logprobs[rows, step] = logprob
            # 3. rows that produced an end token or used up their budget are done
            is_stop = (token[:, None] == stop_ids).any(-1)
            done = alive & (is_stop | (budget <= step + 1))
            if bool(done.any()):
                for i, s in zip(rows[done].tolist(), is_stop[done].tolist(), strict=True):
                    lengths[i], stopped[i] = step + 1, s
                alive = alive & ~done
                live = int(alive.sum())
                if live == 0:
                    break
                if alive.numel() - live >= max(1, alive.numel() // _COMPACT_FRACTION) and hasattr(
                    cache, "batch_select_indices"
                ):
                    index = alive.nonzero().squeeze(1)
                    cache.batch_select_indices(index)
                    rows, alive, token = rows[index], alive[index], token[index]
                    attention_mask, next_position = attention_mask[index], next_position[index]
                    temperature, greedy, top_k, top_p = temperature[index], greedy[index], top_k[index], top_p[index]
                    budget, stop_ids = budget[index], stop_ids[index]
            # 4. the next input: the sampled token at the next position
            input_ids = token[:, None]
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones(attention_mask.shape[0], 1)], dim=1)
            position_ids = next_position[:, None]
            next_position = next_position + 1
        return out_tokens.cpu(), out_logprobs.cpu(), lengths, stopped


@dataclass(frozen=True)
class _Sampler:
    """One sampling step for a batch, every parameter per row (see the module docstring)."""

    all_greedy: bool
    top_k_max: int
    any_top_p: bool

    def __call__(
        self, logits: Any, temperature: Any, greedy: Any, top_k: Any, top_p: Any, uniform: Any
    ) -> tuple[Any, Any]:
        torch = _torch()
        scaled = logits / temperature[:, None]
        logprobs = torch.log_softmax(scaled, dim=-1)
        if self.all_greedy:
            token = logits.argmax(-1)
        else:
            masked = scaled
            if self.top_k_max > 0:  # keep the k largest logits (k = 0: all)
                values = torch.topk(scaled, self.top_k_max, dim=-1).values
                kth = values.gather(1, (top_k.clamp(1, self.top_k_max) - 1)[:, None])
                kth = torch.where(top_k[:, None] > 0, kth, torch.full_like(kth, -math.inf))
                masked = masked.masked_fill(scaled < kth, -math.inf)
            probs = torch.softmax(masked, dim=-1)
            if self.any_top_p:  # keep the most likely tokens until their mass reaches top_p
                sorted_probs = probs.sort(dim=-1, descending=True).values
                mass_before = sorted_probs.cumsum(-1) - sorted_probs
                smallest_kept = sorted_probs.masked_fill(mass_before >= top_p[:, None], math.inf).amin(-1)
                smallest_kept = torch.where(top_p < 1.0, smallest_kept, torch.zeros_like(smallest_kept))
                probs = probs.masked_fill(probs < smallest_kept[:, None], 0.0)
            cdf = probs.cumsum(-1)
            target = (uniform * cdf[:, -1])[:, None]
            token = torch.searchsorted(cdf, target, right=True).squeeze(1).clamp_(max=logits.shape[-1] - 1)
            token = torch.where(greedy, logits.argmax(-1), token)
        return token, logprobs.gather(1, token[:, None]).squeeze(1)


def dtype_kwarg() -> str:
    """`from_pretrained` takes `dtype` in transformers >= 4.56 and `torch_dtype` before."""
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def model_end_tokens(model: Any, tokenizer: Any) -> set[int]:
    """The tokenizer's eos token, the generation config's eos tokens and the well-known
    end-of-turn tokens the chat template names."""
    ids: set[int] = set()
    if getattr(tokenizer, "eos_token_id", None) is not None:
        ids.add(int(tokenizer.eos_token_id))
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if config_eos is not None:
        ids.update(int(i) for i in (config_eos if isinstance(config_eos, (list, tuple)) else [config_eos]))
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = " ".join(str(t) for t in template.values())
    if isinstance(template, str):
        vocab = tokenizer.get_vocab()
        ids.update(vocab[token] for token in _END_OF_TURN_TOKENS if token in template and token in vocab)
    return ids
