"""Maze: walk to the goal through a maze generated per seed (LMRL-Gym's Maze task, in its
fully and partially observed variants; Abdulhai et al. 2023, arXiv 2311.18232).

The maze: a randomized depth-first search (the "recursive backtracker") carves a perfect maze,
with exactly one path between any two open cells, through a `rows` x `columns` lattice of
rooms. Its text grid is (2 rows + 1) x (2 columns + 1) cells: rooms at odd coordinates, the cell
between two rooms open when they are joined, every other cell wall. Start and goal are two
distinct open cells drawn at random, as LMRL-Gym draws them from all open positions.

Legend: `#` wall, `_` open floor, `P` you, `G` the goal.

Variants (the moves and rewards are the same):

- `maze-v0`, fully observed: each observation shows the whole grid with `P` and `G`.
- `maze-partial-v0`, partially observed: each observation only says which of the four
  neighbouring cells are open (`Open: down, left. Walls: up, right.`) and whether the goal is
  one of them (`The goal is one step right.`). As in LMRL-Gym's partially observed maze, your
  position is never shown; unlike it, neither is the goal's (on a maze that is new every
  episode, a coordinate without your own is no help), so the task is to explore.

Actions are moves in the grammar of `agentgym.environments.grid`. Rewards are LMRL-Gym's
`standard_reward`:

| event | reward |
|---|---|
| a move that does not reach the goal (walking into a wall included: you stay) | -1 |
| the move that reaches the goal (`terminated`, `info["success"]`) | 0 |
| text that names no move (`info["invalid_action"]`, you stay) | -4 |

Turn limits, for the default 5 x 5 rooms (49 open cells): `maze-v0` 50 turns, since a
shortest path between two of 49 cells of a tree has at most 48 moves; `maze-partial-v0` 100
turns (LMRL-Gym's own maze episodes are capped at 100 steps), since a depth-first exploration
of the whole tree takes at most 2 x 48 = 96 moves. Both anchors are the full grid with `P` and
`G`: the true state, also where the partial observation cannot tell two cells apart.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import numpy as np

from agentgym.env import Env
from agentgym.environments.grid import (
    BLOCKED_BY_WALL,
    DIRECTION_NAMES,
    FLOOR,
    INVALID_MOVE,
    MOVE_FORMAT,
    MOVED,
    OPPOSITE,
    PLAYER,
    WALL,
    Cell,
    cells_of,
    extract_grid,
    grid_graph,
    invalid_move,
    parse_direction,
    path_to,
    render,
    step,
    walks,
)
from agentgym.registration import register as register_env
from agentgym.types import Observation, StepResult

GOAL = "G"
SYMBOLS = WALL + FLOOR + PLAYER + GOAL
LEGEND = f"{WALL} wall, {FLOOR} open floor, {PLAYER} you, {GOAL} goal"

STEP_REWARD, GOAL_REWARD = -1.0, 0.0

_SYSTEM_PROMPT = {
    False: (
        "You are in a maze, shown as a text grid: {legend}. Each turn you move one cell up, "
        "down, left or right; walls block you. Reach the goal in as few moves as you can: every "
        "move that does not reach it costs -1 reward, the move that reaches it gets 0. {move_format}"
    ),
    True: (
        "You are in a maze, but you only see the four cells next to you: each observation says "
        "which directions are open, which are walls, and whether the goal is one step away. "
        "Your position is not shown, so remember where you have been. Each turn you move one "
        "cell up, down, left or right; walls block you. Find the goal in as few moves as you "
        "can: every move that does not reach it costs -1 reward, the move that reaches it gets "
        "0. {move_format}"
    ),
}


def generate_maze(rng: np.random.Generator, rows: int, columns: int) -> frozenset[Cell]:
    """The open cells of a perfect maze over `rows` x `columns` rooms (see the module),
    carved by a randomized depth-first search that draws everything from `rng`."""
    start = (2 * int(rng.integers(rows)) + 1, 2 * int(rng.integers(columns)) + 1)
    open_cells, path = {start}, [start]
    while path:
        room = path[-1]
        unvisited = [
            direction
            for direction in DIRECTION_NAMES
            if 0 < (ahead := step(step(room, direction), direction))[0] < 2 * rows
            and 0 < ahead[1] < 2 * columns
            and ahead not in open_cells
        ]
        if not unvisited:
            path.pop()
            continue
        direction = unvisited[rng.integers(len(unvisited))]
        between = step(room, direction)
        open_cells |= {between, step(between, direction)}
        path.append(step(between, direction))
    return frozenset(open_cells)


class MazeEnv(Env):
    """A maze generated per seed; `partial` picks the partially observed variant (see the
    module). Forkable. Arguments: the maze's `rows` and `columns` of rooms, and the penalty
    for text that names no move (LMRL-Gym's 4)."""

    def __init__(self, rows: int = 5, columns: int = 5, partial: bool = False, invalid_penalty: float = 4.0):
        if rows < 1 or columns < 1 or rows * columns < 2:
            raise ValueError(f"a maze needs at least 2 rooms, got rows={rows}, columns={columns}")
        self.rows, self.columns, self.partial = rows, columns, partial
        self.invalid_penalty = invalid_penalty
        self.system_prompt = _SYSTEM_PROMPT[partial].format(legend=LEGEND, move_format=MOVE_FORMAT)

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        if options:
            raise ValueError(f"unknown options {sorted(options)}; maze accepts none")
        self.open_cells = generate_maze(self.np_random, self.rows, self.columns)
        cells = sorted(self.open_cells)
        start, goal = self.np_random.choice(len(cells), size=2, replace=False)
        self.position, self.goal = cells[start], cells[goal]
        if self.partial:
            intro = "You are in a maze and see only the cells next to you. Find the goal."
        else:
            intro = f"Reach the goal. Legend: {LEGEND}."
        return self._observation(intro)

    async def step(self, action: str) -> StepResult:
        direction = parse_direction(action)
        if direction is None:
            return invalid_move(self._observation(INVALID_MOVE), self.invalid_penalty)
        ahead = step(self.position, direction)
        if ahead not in self.open_cells:
            feedback = BLOCKED_BY_WALL.format(direction=direction)
        else:
            self.position, feedback = ahead, MOVED.format(direction=direction)
        reached = self.position == self.goal
        if reached:
            feedback += " You reached the goal!"
        return StepResult(
            observation=self._observation(feedback),
            reward=GOAL_REWARD if reached else STEP_REWARD,
            terminated=reached,
            info={"invalid_action": False, "success": reached},
        )

    async def fork(self) -> MazeEnv:
        return copy.deepcopy(self)

    def _grid(self) -> str:
        height, width = 2 * self.rows + 1, 2 * self.columns + 1
        return render(height, width, lambda cell: _symbol(cell, self.open_cells, self.position, self.goal))

    def _observation(self, feedback: str) -> Observation:
        grid = self._grid()
        if not self.partial:
            return Observation(text=f"{feedback}\n{grid}", anchor=grid)
        return Observation(text=f"{feedback}\n{_surroundings(self.open_cells, self.position, self.goal)}", anchor=grid)


def _symbol(cell: Cell, open_cells: frozenset[Cell], position: Cell, goal: Cell) -> str:
    if cell == position:
        return PLAYER
    if cell == goal:
        return GOAL
    return FLOOR if cell in open_cells else WALL


def _surroundings(open_cells: frozenset[Cell], position: Cell, goal: Cell) -> str:
    """What the partially observed variant shows: the open and walled directions, and the goal
    if it is next to you."""
    open_ways = [direction for direction in DIRECTION_NAMES if step(position, direction) in open_cells]
    walls = [direction for direction in DIRECTION_NAMES if direction not in open_ways]
    text = f"Open: {', '.join(open_ways) or 'none'}. Walls: {', '.join(walls) or 'none'}."
    near_goal = [direction for direction in open_ways if step(position, direction) == goal]
    return text + (f" The goal is one step {near_goal[0]}." if near_goal else "")


class MazeSolver:
    """The expert for the fully observed maze: a breadth-first search over the grid in each
    observation, from `P` to `G`, and the first move of that shortest path."""

    def reset(self, observation: Observation, system_prompt: str) -> None:
        pass

    def act(self, observation: Observation) -> str:
        rows = extract_grid(observation.text, SYMBOLS)
        (position,), (goal,) = cells_of(rows, PLAYER), cells_of(rows, GOAL)
        graph = grid_graph(rows, FLOOR + PLAYER + GOAL)
        return f"<answer>{path_to(walks(graph, position), goal)[0]}</answer>"


_OPEN = re.compile(r"Open: ([a-z, ]+)\.")
_GOAL_NEAR = re.compile(r"The goal is one step (\w+)\.")
_MOVED = re.compile(MOVED.format(direction=r"(\w+)").replace(".", r"\."))


class MazeExplorer:
    """The expert for the partially observed maze: a depth-first exploration from the local
    observations. It keeps its own position relative to the start (moving only when the
    feedback says it moved), steps onto the goal as soon as it is one step away, otherwise
    enters an open neighbouring cell it has not visited, and backtracks when there is none.
    On a perfect maze of n open cells it reaches the goal within 2(n - 1) moves."""

    def reset(self, observation: Observation, system_prompt: str) -> None:
        self.position: Cell = (0, 0)
        self.visited = {self.position}
        self.trail: list[str] = []  # the moves from the start to here, for backtracking

    def act(self, observation: Observation) -> str:
        moved = _MOVED.search(observation.text)
        if moved:
            self.position = step(self.position, moved.group(1))
            self.visited.add(self.position)
        goal = _GOAL_NEAR.search(observation.text)
        if goal:
            return f"<answer>{goal.group(1)}</answer>"
        open_ways = _OPEN.search(observation.text).group(1).split(", ")  # type: ignore[union-attr]
        fresh = [direction for direction in open_ways if step(self.position, direction) not in self.visited]
        if fresh:
            self.trail.append(fresh[0])
            return f"<answer>{fresh[0]}</answer>"
        back = OPPOSITE[self.trail.pop()] if self.trail else open_ways[0]
        return f"<answer>{back}</answer>"


def register() -> None:
    register_env(
        "maze-v0",
        "agentgym.environments.maze:MazeEnv",
        max_turns=50,
        description="Maze generated per seed, fully observed: reach the goal (LMRL-Gym)",
        capabilities={"fork": True},
    )
    register_env(
        "maze-partial-v0",
        "agentgym.environments.maze:MazeEnv",
        max_turns=100,
        description="Maze generated per seed, partially observed: explore to find the goal (LMRL-Gym)",
        capabilities={"fork": True},
        partial=True,
    )
