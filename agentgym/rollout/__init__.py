"""Rollouts: the agent loop, groups of episodes, decoupled workers, and trajectory storage.

- `prompts`: each turn's chat messages and prompt token ids (system prompt, history window).
- `episode`: one episode against one environment, recorded turn by turn (`Episode`, `play`).
- `groups`: the G episodes of a task, independent or branched from a forked state (`GroupPlayer`).
- `envs`: where environments come from, in process (`LocalEnvs`) or on servers (`RemoteEnvs`).
- `engine`: `RolloutEngine`, N episodes in flight, a bounded queue of finished groups,
  bounded staleness, fault accounting.
- `lockstep`: the verl-agent / RAGEN lockstep loop, as a baseline.
- `storage`: Parquet (one row per turn) and JSON Lines (`agentgym.rollout.storage`, which
  imports pyarrow when used).

Importing this package loads neither torch, transformers, pyarrow nor the network client.
"""

from agentgym.rollout.engine import RolloutEngine, RolloutError, RolloutFinished, RolloutStats
from agentgym.rollout.envs import EnvSource, LocalEnvs, RemoteEnvs
from agentgym.rollout.episode import Episode, EpisodeLimits, failure_kind, failure_reason, play
from agentgym.rollout.groups import GroupPlayer
from agentgym.rollout.lockstep import lockstep_batch, lockstep_rollout
from agentgym.rollout.prompts import HistoryTurn, PromptBuilder
from agentgym.rollout.types import Group, Task, Trajectory, Turn

__all__ = [
    "EnvSource",
    "Episode",
    "EpisodeLimits",
    "Group",
    "GroupPlayer",
    "HistoryTurn",
    "LocalEnvs",
    "PromptBuilder",
    "RemoteEnvs",
    "RolloutEngine",
    "RolloutError",
    "RolloutFinished",
    "RolloutStats",
    "Task",
    "Trajectory",
    "Turn",
    "failure_kind",
    "failure_reason",
    "lockstep_batch",
    "lockstep_rollout",
    "play",
]
