"""CliffWalking as a text game: `cliffwalking-v0`.

Built on Gymnasium's CliffWalking (`CliffWalkingEnv`, CliffWalking-v1's dynamics and rewards,
after Sutton and Barto's example 6.6) through agentgym's bridge (`GymnasiumEnv`). The map is
fixed (4 rows by 12 columns, start at the bottom left, goal at the bottom right, the cliff
between them) and the walk is deterministic, so every seed plays the same episode.

Observation text (legend): the map, one line per row, row 0 at the top:
    `@` you, `S` start, `.` safe ground, `C` cliff, `G` goal;
then a sentence naming your position and the cell under `@`, the legend, and the valid actions.

Actions: up, right, down, left (`agentgym.actions.parse_choice`, or an index 0-3). Moving off the
map leaves you in place.

Rewards (Gymnasium's): -1 per move; stepping onto the cliff costs -100 and puts you back on the
start (the episode goes on); reaching G ends it (terminated, success). An unparseable action
costs 1, as much as a wasted move (so emitting nonsense never pays more than walking).

Anchor: your cell's index `row * 12 + column` (Gymnasium's observation; the map never changes,
so it is the full state).
"""

from __future__ import annotations

import gymnasium
from gymnasium.envs.toy_text.cliffwalking import CliffWalkingEnv

from agentgym.environments.grid import cells_of, describe, extract_grid, first_move, grid_graph, walks
from agentgym.gymnasium_bridge import KNOWN_ACTION_NAMES, GymnasiumEnv
from agentgym.types import Observation

from .success import SuccessOnTermination

ACTIONS = KNOWN_ACTION_NAMES["CliffWalking"]
CELLS = {"S": "the start", ".": "safe ground", "G": "the goal"}
LEGEND = "@ you, S start, . safe ground, C cliff (costs -100 and sends you back to S), G goal"

SYSTEM_PROMPT = (
    "You walk on a 4x12 grid shown as text, row 0 at the top. Go from the start S (bottom left) to "
    "the goal G (bottom right). The cells C between them are a cliff: stepping onto one costs -100 "
    f"and sends you back to S. Legend: {LEGEND}. Each turn, answer with one move: up, right, down or "
    "left, e.g. <answer>up</answer>. Every move costs -1, so take a short path that avoids the cliff; "
    "a move off the edge leaves you where you are."
)


def render_cliff(gym_env: gymnasium.Env) -> str:
    """The observation text of the walker's current state (see the module's legend)."""
    game: CliffWalkingEnv = gym_env.unwrapped
    rows, cols = game.shape
    start, goal = divmod(int(game.start_state_index), cols), (rows - 1, cols - 1)
    # Gymnasium's layout: the cliff is the bottom row between the start and the goal
    grid = [["C" if r == rows - 1 and 0 < c < cols - 1 else "." for c in range(cols)] for r in range(rows)]
    grid[start[0]][start[1]], grid[goal[0]][goal[1]] = "S", "G"
    you = divmod(int(game.s), cols)
    under = grid[you[0]][you[1]]
    grid[you[0]][you[1]] = "@"
    outcome = ": you made it!" if under == "G" else "."
    return "\n".join([
        f"Cliff walk, {rows}x{cols}, row 0 at the top:",
        *("".join(row) for row in grid),
        f"You (@) are at {describe(you)}, on {under} ({CELLS[under]}){outcome}",
        f"Legend: {LEGEND}.",
    ])


class CliffWalking(GymnasiumEnv):
    """Gymnasium's CliffWalking as text (see the module docstring)."""

    system_prompt = SYSTEM_PROMPT

    def __init__(self, invalid_action_penalty: float = 1.0):
        super().__init__(
            SuccessOnTermination(CliffWalkingEnv()),
            ACTIONS,
            invalid_action_penalty=invalid_action_penalty,
            render_text=render_cliff,
        )


class CliffWalkingSolver:
    """The expert, reading only the text: a shortest path to G that never steps onto the cliff
    (breadth-first search on the parsed map)."""

    def reset(self, observation: Observation, system_prompt: str) -> None:
        pass

    def act(self, observation: Observation) -> str:
        grid = extract_grid(observation.text, "S.CG@")
        (you,) = cells_of(grid, "@")
        return first_move(walks(grid_graph(grid, "S.G@", ACTIONS), you), cells_of(grid, "G")) or "up"
