"""Policy backends for rollouts: Hugging Face transformers, OpenAI-compatible servers, vLLM.

`HFPolicy` (and its re-scoring functions `score`, `score_batch`, `response_logprobs`) live in
`agentgym.policies.hf` and are imported on first use, so importing this package never imports
torch or transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentgym.policies.base import Generation, Policy, SamplingParams

if TYPE_CHECKING:
    from agentgym.policies.hf import HFPolicy

__all__ = ["Generation", "HFPolicy", "Policy", "SamplingParams"]


def __getattr__(name: str) -> Any:
    if name == "HFPolicy":
        from agentgym.policies.hf import HFPolicy

        return HFPolicy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
