"""The Gymnasium bridge, both ways.

- `from_gymnasium(env_or_id)` turns a Gymnasium environment with a discrete action space and a
  text rendering (`render_mode="ansi"`, e.g. FrozenLake, Taxi, CliffWalking) into an agentgym
  `Env` whose actions are text, parsed by `agentgym.actions.parse_choice`.
- `to_gymnasium(env)` turns any agentgym `Env` into a `gymnasium.Env` with text observation and
  action spaces, for code written against Gymnasium.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium
import numpy as np

from agentgym.actions import parse_choice
from agentgym.blocking import LoopThread
from agentgym.env import Env, SyncEnv
from agentgym.errors import NotForkable
from agentgym.types import Observation, StepResult

KNOWN_ACTION_NAMES: dict[str, tuple[str, ...]] = {
    "FrozenLake": ("left", "down", "right", "up"),
    "Taxi": ("south", "north", "east", "west", "pickup", "dropoff"),
    "CliffWalking": ("up", "right", "down", "left"),
}
"""Action names, by Gymnasium environment name, in the order of their Discrete indices."""

_HIGHLIGHTED = re.compile(r"\x1b\[[0-9;]*m([^\x1b]+)\x1b\[0m")
_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


def ansi_to_text(rendering: str) -> str:
    """Plain text from an ANSI rendering: coloured or highlighted runs are put in [brackets]
    (FrozenLake's agent, Taxi's taxi and passenger), other escape codes are dropped."""
    return _ANSI_CODE.sub("", _HIGHLIGHTED.sub(r"[\1]", rendering)).strip("\n")


def _state_key(observation: Any) -> str:
    """A canonical string of a Gymnasium observation, used as the agentgym anchor."""
    return json.dumps(_to_builtin(observation), sort_keys=True)


def _to_builtin(value: Any) -> Any:
    """NumPy scalars and arrays (common in Gymnasium infos) as plain Python values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(key): _to_builtin(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_builtin(item) for item in value]
    return value


class GymnasiumEnv(SyncEnv):
    """An agentgym view of a Gymnasium environment with a `Discrete` action space.

    Observation text: the text rendering, then a line listing the valid actions. Anchor: the
    Gymnasium observation itself (the exact state for the toy-text environments). An action that
    names no single valid choice costs `invalid_action_penalty` and leaves the state unchanged.
    Forkable when the Gymnasium environment can be deep-copied (the toy-text ones can).
    """

    def __init__(
        self,
        gym_env: gymnasium.Env,
        action_names: Sequence[str],
        *,
        invalid_action_penalty: float = 0.1,
        render_text: Callable[[gymnasium.Env], str] | None = None,
    ):
        if not isinstance(gym_env.action_space, gymnasium.spaces.Discrete):
            raise ValueError(f"only Discrete action spaces have a text form; got {gym_env.action_space}")
        if len(action_names) != gym_env.action_space.n:
            raise ValueError(
                f"action_names has {len(action_names)} names but the action space has {gym_env.action_space.n} actions"
            )
        if render_text is None and gym_env.render_mode != "ansi":
            raise ValueError(
                f"the Gymnasium environment renders as {gym_env.render_mode!r}; make it with render_mode='ansi' "
                "or pass render_text=callable(gym_env) -> str"
            )
        self.gym_env = gym_env
        self.action_names = tuple(action_names)
        self.invalid_action_penalty = invalid_action_penalty
        self.render_text = render_text or (lambda env: ansi_to_text(env.render()))
        self._state: Any = None

    def _observation(self, prefix: str = "") -> Observation:
        text = f"{prefix}{self.render_text(self.gym_env)}\nValid actions: {', '.join(self.action_names)}."
        return Observation(text=text, anchor=_state_key(self._state))

    def reset_sync(self, *, seed: int | None, options: dict[str, Any] | None) -> Observation:
        self._state, _ = self.gym_env.reset(seed=seed, options=options)
        return self._observation()

    def step_sync(self, action: str) -> StepResult:
        index = parse_choice(action, self.action_names)
        if index is None:
            shown = action if len(action) <= 60 else action[:57] + "..."
            return StepResult(
                observation=self._observation(f"Invalid action {shown!r}; the state is unchanged.\n"),
                reward=-self.invalid_action_penalty,
                info={"invalid_action": True},
            )
        self._state, reward, terminated, truncated, info = self.gym_env.step(index)
        return StepResult(
            observation=self._observation(),
            reward=float(reward),
            terminated=bool(terminated),
            truncated=bool(truncated),
            info={**_to_builtin(info), "invalid_action": False, "action_index": index},
        )

    def fork_sync(self) -> GymnasiumEnv:
        try:
            return copy.deepcopy(self)
        except Exception as error:
            raise NotForkable(f"{self.gym_env} cannot be deep-copied: {error}") from error

    def close_sync(self) -> None:
        self.gym_env.close()


def from_gymnasium(
    env_or_id: gymnasium.Env | str,
    *,
    action_names: Sequence[str] | None = None,
    invalid_action_penalty: float = 0.1,
    render_text: Callable[[gymnasium.Env], str] | None = None,
    **make_kwargs: Any,
) -> GymnasiumEnv:
    """Wrap a Gymnasium environment (or build one from its Gymnasium id) as an agentgym Env.

    Args:
        env_or_id: a `gymnasium.Env`, or an id for `gymnasium.make` (made with render_mode="ansi").
        action_names: the text name of each discrete action; known for FrozenLake, Taxi and
            CliffWalking, otherwise required (or the actions are named by their indices).
        invalid_action_penalty: subtracted from the reward of an unparseable action. Make it at
            least the cost of a wasted move (Taxi, CliffWalking: 1), or nonsense beats playing.
        render_text: builds the observation text from the Gymnasium env (default: its ANSI
            rendering with highlighted cells in [brackets]).
        **make_kwargs: passed to `gymnasium.make` when `env_or_id` is an id.
    """
    if isinstance(env_or_id, str):
        make_kwargs.setdefault("render_mode", "ansi")
        gym_env = gymnasium.make(env_or_id, **make_kwargs)
    else:
        gym_env = env_or_id
    if action_names is None:
        name = gym_env.spec.name if gym_env.spec is not None else type(gym_env.unwrapped).__name__.removesuffix("Env")
        action_names = KNOWN_ACTION_NAMES.get(name) or [str(i) for i in range(gym_env.action_space.n)]
    return GymnasiumEnv(
        gym_env, action_names, invalid_action_penalty=invalid_action_penalty, render_text=render_text
    )


class AnyText(gymnasium.spaces.Text):
    """A Text space that admits every character (Gymnasium's default charset is alphanumeric
    only, which real observations never are); sampling still draws from the default charset."""

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length


class GymnasiumAdapter(gymnasium.Env[str, str]):
    """A `gymnasium.Env` view of an agentgym `Env`.

    Observations and actions are strings (`AnyText` spaces). `info` carries the agentgym
    `Observation` under `"observation"` (images, tools, anchor) besides the env's own info.
    `render()` (render_mode="ansi") returns the last observation's text.
    """

    # Gymnasium's checker (and its recording wrappers) expect a frame rate whenever a render mode
    # exists; 4 is what Gymnasium's own text (toy-text) environments declare.
    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self, env: Env, *, max_observation_chars: int = 1 << 20, max_action_chars: int = 4096, render_mode: str | None = None
    ):
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.env = env
        self.render_mode = render_mode
        self.observation_space = AnyText(max_length=max_observation_chars)
        self.action_space = AnyText(max_length=max_action_chars, min_length=1)
        self._loop = LoopThread("agentgym-gymnasium-loop")
        self._last_text: str | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        observation = self._loop.run(self.env.reset(seed=seed, options=options))
        self._last_text = observation.text
        return observation.text, {"observation": observation}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        result = self._loop.run(self.env.step(action))
        self._last_text = result.observation.text
        info = {**result.info, "observation": result.observation}
        return result.observation.text, result.reward, result.terminated, result.truncated, info

    def render(self) -> str | None:
        return self._last_text if self.render_mode == "ansi" else None

    def close(self) -> None:
        if not self._loop.loop.is_closed():
            self._loop.run(self.env.close())
            self._loop.stop()
        super().close()


def to_gymnasium(env: Env, **kwargs: Any) -> GymnasiumAdapter:
    """Wrap an agentgym `Env` as a `gymnasium.Env`; see `GymnasiumAdapter` for the options."""
    return GymnasiumAdapter(env, **kwargs)
