"""Helpers for trainer tests: load the tiny model, play real rollout groups with it."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any


def load_tiny(tiny_dir: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32), AutoTokenizer.from_pretrained(tiny_dir)


def play_groups(model: Any, tokenizer: Any, env_id: str, seeds: range, *, group_size: int = 4, max_turns: int = 3) -> list:
    """Real groups: the tiny model plays `env_id` in process, one group per seed."""
    from agentgym.policies.base import SamplingParams
    from agentgym.policies.hf import HFPolicy
    from agentgym.rollout.engine import RolloutEngine
    from agentgym.rollout.episode import EpisodeLimits
    from agentgym.rollout.prompts import PromptBuilder
    from agentgym.rollout.types import Task

    async def run() -> list:
        policy = HFPolicy(copy.deepcopy(model).eval(), tokenizer, seed=0)
        engine = RolloutEngine(
            policy,
            [Task(env_id=env_id, seed=seed) for seed in seeds],
            prompts=PromptBuilder(tokenizer, history=1),
            group_size=group_size,
            limits=EpisodeLimits(max_turns=max_turns, max_response_tokens=6),
            sampling=SamplingParams(temperature=1.0),
        )
        groups = []
        async with engine:
            async for group in engine:
                groups.append(group)
        await policy.aclose()
        return sorted(groups, key=lambda g: g.task.seed)

    return asyncio.run(run())
