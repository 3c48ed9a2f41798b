"""Advantage estimators (GRPO, GiGPO, ArCHer, IGPO), losses and the training loop."""

from agentgym.trainers.advantages import (
    GiGPOAdvantages,
    StepGroupStats,
    anchor_groups,
    discounted_returns,
    episode_returns,
    gigpo_advantages,
    grpo_advantages,
    igpo_advantages,
    step_group_stats,
)
from agentgym.trainers.steps import StepTable

__all__ = [
    "GiGPOAdvantages",
    "StepGroupStats",
    "StepTable",
    "anchor_groups",
    "discounted_returns",
    "episode_returns",
    "gigpo_advantages",
    "grpo_advantages",
    "igpo_advantages",
    "step_group_stats",
]
