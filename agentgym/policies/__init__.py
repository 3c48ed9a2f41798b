"""Policy backends for rollouts: Hugging Face transformers, OpenAI-compatible servers, vLLM."""

from agentgym.policies.base import Generation, Policy, SamplingParams

__all__ = ["Generation", "Policy", "SamplingParams"]
