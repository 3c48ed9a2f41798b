"""The Policy contract: token ids in, token ids and their log-probabilities out.

A policy never sees text it has to re-tokenize: the rollout builds each prompt's token ids with
the tokenizer's chat template and keeps exactly the ids and log-probabilities the policy
returns, so the trainer's loss sees the tokens that were sampled (token-in/token-out).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class SamplingParams(BaseModel):
    """How to sample one response.

    `logprobs` returned by every backend are log softmax(logits / temperature) of the sampled
    token, before top-p / top-k truncation: the distribution a trainer re-scores with the same
    temperature. `stop_token_ids` end a response (the token is kept as its last token); the
    policy adds the chat template's end-of-turn token itself.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=1.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=0, ge=0, description="0: no top-k truncation")
    seed: int | None = None
    stop_token_ids: tuple[int, ...] = ()


class Generation(BaseModel):
    """One sampled response: exactly the ids the policy produced and their log-probabilities."""

    model_config = ConfigDict(extra="forbid")

    token_ids: list[int]
    logprobs: list[float]
    text: str = Field(description="token_ids decoded, special tokens skipped")
    finish_reason: Literal["stop", "length"] = Field(description="stop: an end token; length: max_tokens reached")


@runtime_checkable
class Policy(Protocol):
    """Something that continues token-id prompts.

    Attributes:
        tokenizer: a Hugging Face tokenizer with a chat template; the rollout builds prompts with it.
        version: the version of the weights; it increases whenever new weights are loaded, and
            every trajectory records the versions that produced it.
    """

    tokenizer: Any
    version: int

    async def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        """One `Generation` per prompt, in order. Concurrent calls may be batched together."""
        ...
