"""`OpenAIPolicy`: a policy served by any OpenAI-compatible completions server (vLLM, SGLang).

Prompts go out as token ids (`"prompt": [ids]`) to `POST {base_url}/v1/completions`, and the
answer must name the sampled tokens by id: vLLM does with `"return_tokens_as_token_ids": true`
(sent with every request), writing each token as `"token_id:<id>"` in `logprobs.tokens`. A
server that answers with token strings instead is refused with a clear error rather than
re-tokenized, since re-tokenizing text does not give back the sampled ids.

Log-probabilities are the server's `logprobs.token_logprobs`. vLLM's default is the raw model
distribution (before temperature); agentgym's contract (`SamplingParams`) is the tempered one, so
with temperature != 1 start vLLM with `--logprobs-mode processed_logprobs`, or let the trainer
recompute them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from agentgym.errors import AgentGymError
from agentgym.policies.base import Generation, SamplingParams


class PolicyServerError(AgentGymError):
    """The completions server refused a request or answered in a form agentgym cannot use."""

    error_type = "policy_server_error"


class OpenAIPolicy:
    """Generates through `POST {base_url}/v1/completions`, one request per prompt, at most
    `max_concurrency` at a time (the server batches them).

    Args:
        base_url: the server's root, e.g. "http://127.0.0.1:8000" (a trailing /v1 is accepted).
        model: the model name the server serves.
        tokenizer: the model's tokenizer (a name or path for `AutoTokenizer`, or an object):
            the rollout builds prompts with its chat template, and its end-of-turn token is sent
            as a stop token.
        version: the policy version recorded in trajectories; bump it (`policy.version += 1`)
            after the server loaded new weights.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        tokenizer: Any,
        *,
        api_key: str | None = None,
        version: int = 0,
        max_concurrency: int = 256,
        timeout_s: float = 600.0,
    ):
        if isinstance(tokenizer, str):
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        self.tokenizer = tokenizer
        self.version = version
        self.model = model
        self.url = base_url.rstrip("/").removesuffix("/v1") + "/v1/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._limit = asyncio.Semaphore(max_concurrency)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return list(await asyncio.gather(*(self._complete(prompt, params) for prompt in prompts)))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _request(self, prompt: list[int], params: SamplingParams) -> dict[str, Any]:
        stop = sorted({*params.stop_token_ids, *([self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else [])})
        request: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "logprobs": 0,
            "return_tokens_as_token_ids": True,
            "stop_token_ids": stop,
            "skip_special_tokens": False,
            "include_stop_str_in_output": True,
        }
        if params.top_k:
            request["top_k"] = params.top_k
        if params.seed is not None:
            request["seed"] = params.seed
        return request

    async def _complete(self, prompt: list[int], params: SamplingParams) -> Generation:
        async with self._limit:
            assert self._session is not None
            try:
                async with self._session.post(self.url, json=self._request(prompt, params)) as response:
                    body = await response.json(content_type=None)
                    if response.status >= 400:
                        raise PolicyServerError(f"{self.url} answered {response.status}: {body}")
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
                raise PolicyServerError(f"request to {self.url} failed: {error}") from error
        return self._generation(body)

    def _generation(self, body: dict[str, Any]) -> Generation:
        try:
            choice = body["choices"][0]
            tokens, logprobs = choice["logprobs"]["tokens"], choice["logprobs"]["token_logprobs"]
        except (KeyError, IndexError, TypeError) as error:
            raise PolicyServerError(f"the answer has no choices[0].logprobs: {str(body)[:300]}") from error
        if not all(isinstance(token, str) and token.startswith("token_id:") for token in tokens):
            raise PolicyServerError(
                "the server named sampled tokens by text, not id; it must support vLLM's "
                "return_tokens_as_token_ids (vLLM >= 0.5.4 does)"
            )
        token_ids = [int(token.removeprefix("token_id:")) for token in tokens]
        return Generation(
            token_ids=token_ids,
            logprobs=[float(value) for value in logprobs],
            text=self.tokenizer.decode(token_ids, skip_special_tokens=True),
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
        )
