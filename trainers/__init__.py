"""Advantage estimators (GRPO, GiGPO, ArCHer, IGPO), the PPO-clip loss and the training loop.

| module | job |
|---|---|
| `steps` | the flat table of steps every estimator reads |
| `advantages` | GRPO, GiGPO and IGPO's advantages, vectorised |
| `igpo` | IGPO's information-gain turn rewards from the current policy |
| `archer` | ArCHer's utterance-level critics, target networks and replay buffer |
| `loss` | token-level PPO-clip with k3 KL and an entropy bonus |
| `trainer` | one training step and its exact checkpoint |
| `warm_start` | expert data for behaviour cloning; text for a tiny tokenizer |
| `tracking` | metrics.jsonl, TensorBoard, the learning curve |
| `config` | the YAML config of `agentgym train` |
| `launch` | a whole run: rollouts, training, weight sync, checkpoints |

torch is imported by `igpo`, `archer`, `loss`, `trainer` and `launch` only; the estimators
need numpy alone.
"""

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
from agentgym.trainers.config import ConfigError, TrainConfig, load_config
from agentgym.trainers.steps import StepTable, trainable_trajectories

__all__ = [
    "ConfigError",
    "GiGPOAdvantages",
    "StepGroupStats",
    "StepTable",
    "TrainConfig",
    "anchor_groups",
    "discounted_returns",
    "episode_returns",
    "gigpo_advantages",
    "grpo_advantages",
    "igpo_advantages",
    "load_config",
    "step_group_stats",
    "trainable_trajectories",
]
