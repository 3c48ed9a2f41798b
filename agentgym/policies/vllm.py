"""`VLLMPolicy`: in-process vLLM (AsyncLLMEngine) behind the Policy contract.

vLLM is imported when a `VLLMPolicy` is built, never when agentgym is imported; it needs the
`vllm` extra and, in practice, a GPU. Requests from concurrent episodes go straight to vLLM,
which batches them continuously. The sampled token ids and their log-probabilities come from
vLLM's `RequestOutput` (token ids, never re-tokenized text); see `agentgym.policies.openai` on
which distribution vLLM's log-probabilities are taken from.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from agentgym.policies.base import Generation, SamplingParams


def _load_weights_on_worker(worker: Any, weights: list[tuple[str, Any]]) -> None:
    """Runs inside each vLLM worker: load (name, tensor) pairs into its model."""
    worker.model_runner.model.load_weights(weights=weights)


class VLLMPolicy:
    """A vLLM engine in this process.

    Args:
        model: a model name or path, as for `vllm.AsyncEngineArgs(model=...)`.
        **engine_kwargs: further `AsyncEngineArgs` (dtype, gpu_memory_utilization, ...).
    """

    def __init__(self, model: str, **engine_kwargs: Any):
        try:
            from vllm import AsyncEngineArgs, AsyncLLMEngine
        except ImportError as error:
            raise ModuleNotFoundError(
                "VLLMPolicy needs vLLM: pip install 'agentgym[vllm]' (on a machine with a supported GPU)", name="vllm"
            ) from error
        self.engine = AsyncLLMEngine.from_engine_args(AsyncEngineArgs(model=model, **engine_kwargs))
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(engine_kwargs.get("tokenizer", model))
        self.version = 0

    async def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        import asyncio

        return list(await asyncio.gather(*(self._one(prompt, params) for prompt in prompts)))

    async def _one(self, prompt: list[int], params: SamplingParams) -> Generation:
        from vllm import SamplingParams as VLLMSamplingParams
        from vllm.inputs import TokensPrompt

        stop = {*params.stop_token_ids}
        if self.tokenizer.eos_token_id is not None:
            stop.add(self.tokenizer.eos_token_id)
        sampling = VLLMSamplingParams(
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k if params.top_k else -1,
            seed=params.seed,
            logprobs=0,
            stop_token_ids=sorted(stop),
            skip_special_tokens=False,
        )
        final = None
        async for output in self.engine.generate(TokensPrompt(prompt_token_ids=prompt), sampling, uuid.uuid4().hex):
            final = output
        assert final is not None
        completion = final.outputs[0]
        token_ids = list(completion.token_ids)
        logprobs = [step[token].logprob for step, token in zip(completion.logprobs, token_ids, strict=True)]
        return Generation(
            token_ids=token_ids,
            logprobs=logprobs,
            text=self.tokenizer.decode(token_ids, skip_special_tokens=True),
            finish_reason="length" if completion.finish_reason == "length" else "stop",
        )

    async def update_weights(self, weights: Iterable[tuple[str, Any]]) -> None:
        """Load new (name, tensor) weights into every worker and bump `version`."""
        await self.engine.collective_rpc(_load_weights_on_worker, args=(list(weights),))
        await self.engine.reset_prefix_cache()
        self.version += 1
