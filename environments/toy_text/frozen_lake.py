"""FrozenLake as a text game: `frozenlake-v0` (4x4), `frozenlake-8x8-v0`, `frozenlake-slippery-v0`.

Built on Gymnasium's FrozenLake (`FrozenLakeEnv`, the dynamics and rewards of FrozenLake-v1)
through agentgym's bridge (`GymnasiumEnv`), as RAGEN and verl-agent use FrozenLake for multi-turn
agent RL. Unlike Gymnasium's fixed default map, every episode gets a fresh random map:
`reset(seed=n)` seeds the generator of `RandomMapFrozenLake` (the bridge passes the seed on to
Gymnasium), which seeds `gymnasium.envs.toy_text.frozen_lake.generate_random_map(size, p=0.8)`
(a map with a path from start to goal) and the lake's slips; the start is the top-left cell and
the goal the bottom-right one. `reset(options={"map": [...rows]})` plays a
given map instead.

Observation text (legend): a header naming the size and the ice ("firm" or "slippery"), then
the map, one line per row, row 0 at the top:
    `@` you, `S` start, `F` frozen ice (safe), `H` hole, `G` goal;
then a sentence naming your position and the cell under `@`, the legend, and the valid actions.

Actions: left, down, right, up (`agentgym.actions.parse_choice`: the one action word in the text
or its last <answer> block, or its index 0-3). Moving off the map leaves you in place. On the
slippery lake a move goes the chosen way with probability 1/3 and to each side (perpendicular)
with probability 1/3.

Rewards (Gymnasium's): +1 for reaching G (terminated, success), 0 for falling into a hole
(terminated, failure), 0 for any other move; an unparseable action costs 0.1 and changes nothing.

Anchor: the map and your position, e.g. `{"map": "SFFF/FHFH/FFFH/HFFG", "position": 0}` (the
Gymnasium observation of `RandomMapFrozenLake`, which is the full state).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium.envs.toy_text.frozen_lake import FrozenLakeEnv, generate_random_map

from agentgym.environments.grid import (
    DIRECTIONS,
    Cell,
    cells_of,
    describe,
    extract_grid,
    first_move,
    grid_graph,
    walks,
)
from agentgym.gymnasium_bridge import KNOWN_ACTION_NAMES, GymnasiumEnv
from agentgym.types import Observation

ACTIONS = KNOWN_ACTION_NAMES["FrozenLake"]
CELLS = {"S": "the start", "F": "frozen ice", "H": "a hole", "G": "the goal"}
LEGEND = "@ you, S start, F frozen ice (safe), H hole (falling in ends the episode), G goal"
SLIPPERY_RULE = (
    "The ice is slippery: a move goes the way you chose with probability 1/3 and to each side "
    "(at a right angle to it) with probability 1/3."
)

_SLIPPERY_HEADER = re.compile(r"^Frozen lake, \d+x\d+, slippery ice", re.MULTILINE)


def system_prompt(size: int, slippery: bool) -> str:
    ice = SLIPPERY_RULE if slippery else "The ice is not slippery: every move goes the way you chose."
    return (
        f"You are on a frozen lake, a {size}x{size} grid shown as text, row 0 at the top. Walk from the "
        f"start S (top left) to the goal G (bottom right) without falling into a hole H. Legend: {LEGEND}. "
        f"Each turn, answer with one move: left, down, right or up, e.g. <answer>right</answer>. "
        f"A move off the edge leaves you where you are. {ice} Reaching the goal gives reward 1; "
        "falling into a hole ends the episode with 0."
    )


class RandomMapFrozenLake(gymnasium.Env):
    """Gymnasium FrozenLake with a new random map for every episode (seeded by `reset`).

    Observation: `{"map": rows joined by "/", "position": row * size + column}`, the full state.
    The map's last row and column hold the goal; `info["success"]` is set on terminal steps.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, size: int = 4, slippery: bool = False, frozen_probability: float = 0.8):
        if size < 2:
            raise ValueError(f"size must be at least 2, got {size}")
        self.size, self.slippery, self.frozen_probability = size, slippery, frozen_probability
        self.action_space = gymnasium.spaces.Discrete(4)
        map_length = size * size + size - 1
        self.observation_space = gymnasium.spaces.Dict({
            "map": gymnasium.spaces.Text(min_length=map_length, max_length=map_length, charset="SFHG/"),
            "position": gymnasium.spaces.Discrete(size * size),
        })
        self.lake: FrozenLakeEnv | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        rows = options.pop("map", None)
        if options:
            raise ValueError(f"unknown options {sorted(options)}; FrozenLake accepts only 'map'")
        if rows is None:
            rows = generate_random_map(self.size, self.frozen_probability, seed=self._child_seed())
        elif len(rows) != self.size or any(len(row) != self.size or set(row) - set(CELLS) for row in rows):
            raise ValueError(f"map must be {self.size} rows of {self.size} characters from S, F, H, G; got {rows}")
        self.lake = FrozenLakeEnv(desc=list(rows), is_slippery=self.slippery)
        position, info = self.lake.reset(seed=self._child_seed())
        return self._observation(position), info

    def step(self, action: int) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        position, reward, terminated, truncated, info = self.lake.step(action)
        if terminated:
            info = {**info, "success": reward > 0}
        return self._observation(position), float(reward), terminated, truncated, info

    @property
    def rows(self) -> list[str]:
        return [row.tobytes().decode() for row in self.lake.desc]

    def _observation(self, position: int) -> dict[str, Any]:
        return {"map": "/".join(self.rows), "position": int(position)}

    def _child_seed(self) -> int:
        return int(self.np_random.integers(2**31))


def render_lake(gym_env: gymnasium.Env) -> str:
    """The observation text of the lake's current state (see the module's legend)."""
    game: RandomMapFrozenLake = gym_env.unwrapped
    rows = game.rows
    r, c = divmod(int(game.lake.s), game.size)
    under = rows[r][c]
    rows[r] = rows[r][:c] + "@" + rows[r][c + 1 :]
    outcome = {"H": ": you fell in.", "G": ": you made it!"}.get(under, ".")
    return "\n".join([
        f"Frozen lake, {game.size}x{game.size}, {'slippery' if game.slippery else 'firm'} ice, row 0 at the top:",
        *rows,
        f"You (@) are at {describe((r, c))}, on {under} ({CELLS[under]}){outcome}",
        f"Legend: {LEGEND}.",
    ])


class FrozenLake(GymnasiumEnv):
    """FrozenLake on a random `size`x`size` map per episode, as text (see the module docstring)."""

    def __init__(
        self,
        size: int = 4,
        slippery: bool = False,
        frozen_probability: float = 0.8,
        invalid_action_penalty: float = 0.1,
    ):
        super().__init__(
            RandomMapFrozenLake(size, slippery, frozen_probability),
            ACTIONS,
            invalid_action_penalty=invalid_action_penalty,
            render_text=render_lake,
        )
        self.system_prompt = system_prompt(size, slippery)


class FrozenLakeSolver:
    """The expert, reading only the text: on firm ice, a shortest path to G around the holes
    (breadth-first search on the parsed map); on slippery ice (as the header says), the move that
    maximises the probability of reaching G (value iteration on the parsed map with the slip
    model the system prompt states)."""

    def reset(self, observation: Observation, system_prompt: str) -> None:
        pass

    def act(self, observation: Observation) -> str:
        grid = extract_grid(observation.text, "SFHG@")
        (you,) = cells_of(grid, "@")
        if _SLIPPERY_HEADER.search(observation.text):
            cleaned = tuple(line.replace("@", "F") for line in grid)  # the @ cell is ice, or the episode would be over
            return ACTIONS[_slippery_policy(cleaned)[you]]
        return first_move(walks(grid_graph(grid, "SFG@", ACTIONS), you), cells_of(grid, "G")) or "right"


@lru_cache(maxsize=256)
def _slippery_policy(grid: tuple[str, ...], discount: float = 0.99, sweeps: int = 500) -> dict[Cell, int]:
    """The best action index at every cell of a slippery lake, by value iteration."""
    rows, cols = len(grid), len(grid[0])
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    index = {cell: i for i, cell in enumerate(cells)}
    transition = np.zeros((len(cells), len(ACTIONS), len(cells)))
    for cell in cells:
        for a in range(len(ACTIONS)):
            for slip in ((a - 1) % 4, a, (a + 1) % 4):  # Gymnasium's slip model: the action and its two neighbours
                dr, dc = DIRECTIONS[ACTIONS[slip]]
                r, c = min(max(cell[0] + dr, 0), rows - 1), min(max(cell[1] + dc, 0), cols - 1)
                transition[index[cell], a, index[(r, c)]] += 1 / 3
    reward = np.array([1.0 if grid[r][c] == "G" else 0.0 for r, c in cells])
    terminal = np.array([grid[r][c] in "HG" for r, c in cells])
    value = np.zeros(len(cells))
    for _ in range(sweeps):
        next_value = np.where(terminal, 0.0, value)
        value = (transition @ (reward + discount * next_value)).max(axis=1)
    best = (transition @ (reward + discount * np.where(terminal, 0.0, value))).argmax(axis=1)
    return {cell: int(best[index[cell]]) for cell in cells}
