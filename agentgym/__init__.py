"""agentgym: multi-turn RL environments for LLM agents.

The public API: the `Env` contract and its value types, the registry (`register`, `make`,
`spec`, `list_envs`), the wrappers, and the Gymnasium bridge.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

from agentgym.blocking import BlockingEnv
from agentgym.env import Env, SyncEnv
from agentgym.errors import (
    AgentGymError,
    EnvContractError,
    EpisodeEnded,
    NotForkable,
    RegistrationError,
    ResetNeeded,
    UnknownEnvironment,
)
from agentgym.gymnasium_bridge import from_gymnasium, to_gymnasium
from agentgym.registration import list_envs, make, register, spec
from agentgym.types import Capabilities, EnvSpec, Observation, StepResult, Tool
from agentgym.wrappers import EpisodeGuard, RecordEpisode, TimeLimit, Wrapper

try:
    __version__ = _distribution_version("agentgym")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "AgentGymError",
    "BlockingEnv",
    "Capabilities",
    "Env",
    "EnvContractError",
    "EnvSpec",
    "EpisodeEnded",
    "EpisodeGuard",
    "NotForkable",
    "Observation",
    "RecordEpisode",
    "RegistrationError",
    "ResetNeeded",
    "StepResult",
    "SyncEnv",
    "TimeLimit",
    "Tool",
    "UnknownEnvironment",
    "Wrapper",
    "__version__",
    "from_gymnasium",
    "list_envs",
    "make",
    "register",
    "spec",
    "to_gymnasium",
]
