"""An OpenAI-compatible completions endpoint for any agentgym `Policy`.

`POST /v1/completions` takes token-id (or text) prompts and answers in the OpenAI completions
format with vLLM's token-id extension, so `OpenAIPolicy` (or any OpenAI client) can use a
policy running elsewhere, e.g. an `HFPolicy` on a CPU box: `agentgym serve-policy hf:PATH`.
`GET /v1/models` lists the one model. Bad requests get 400 with an OpenAI-style error body.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentgym.policies.base import Policy, SamplingParams

POLICY = web.AppKey("policy", object)
MODEL_NAME = web.AppKey("model_name", str)


class CompletionRequest(BaseModel):
    """The fields agentgym uses; other OpenAI fields are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    prompt: list[int] | str
    max_tokens: int = Field(default=16, ge=1)
    temperature: float = Field(default=1.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=0, ge=-1)
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)
    logprobs: int | None = Field(default=None, ge=0, le=0, description="only the sampled token's log-prob is offered")
    stop_token_ids: list[int] = Field(default_factory=list)
    return_tokens_as_token_ids: bool = False


def create_completions_app(policy: Policy, model_name: str) -> web.Application:
    app = web.Application()
    app[POLICY] = policy
    app[MODEL_NAME] = model_name
    app.add_routes([web.post("/v1/completions", completions), web.get("/v1/models", models)])
    return app


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error"}}, status=status)


async def models(request: web.Request) -> web.Response:
    name = request.app[MODEL_NAME]
    return web.json_response({"object": "list", "data": [{"id": name, "object": "model", "owned_by": "agentgym"}]})


async def completions(request: web.Request) -> web.Response:
    policy: Any = request.app[POLICY]
    try:
        body = CompletionRequest.model_validate_json(await request.read())
    except ValidationError as error:
        return _error(400, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5]))
    if body.model is not None and body.model != request.app[MODEL_NAME]:
        return _error(404, f"model {body.model!r} is not served here; this server serves {request.app[MODEL_NAME]!r}")
    prompt = body.prompt if isinstance(body.prompt, list) else policy.tokenizer.encode(body.prompt, add_special_tokens=False)
    params = SamplingParams(
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=max(body.top_k, 0),
        seed=body.seed,
        stop_token_ids=tuple(body.stop_token_ids),
    )
    [generation] = await policy.generate([prompt], params)
    if body.return_tokens_as_token_ids:
        tokens = [f"token_id:{token}" for token in generation.token_ids]
    else:
        tokens = [policy.tokenizer.decode([token]) for token in generation.token_ids]
    choice = {
        "index": 0,
        "text": generation.text,
        "finish_reason": generation.finish_reason,
        "logprobs": None
        if body.logprobs is None
        else {"tokens": tokens, "token_logprobs": generation.logprobs, "top_logprobs": None, "text_offset": None},
    }
    return web.json_response(
        {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": request.app[MODEL_NAME],
            "choices": [choice],
            "usage": {
                "prompt_tokens": len(prompt),
                "completion_tokens": len(generation.token_ids),
                "total_tokens": len(prompt) + len(generation.token_ids),
            },
        }
    )
