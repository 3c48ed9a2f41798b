"""Random Sokoban rooms that are solvable by construction, within a bound on the moves.

The method is reverse play, as in gym-sokoban (Schrader 2018), which RAGEN and verl-agent use:
start from a solved room (every box on a target) and play backwards, the player pulling boxes
instead of pushing them. Every backward move undoes a legal forward move, so replaying the
backward game in reverse solves the puzzle, in at most as many moves as the backward game took.

1. Carve the room: a random walk through the inside of a walled `height` x `width` rectangle
   turns cells into floor until `floor_share` of the inside is floor (one connected area).
2. Put `num_boxes` targets, with a box on each, and the player on random floor cells.
3. Play backwards with at most `max_solution_moves` moves: repeatedly pick one of the pulls
   the player can reach within the moves left, walk to it by a shortest path and pull; then
   walk to a random cell within the moves left. The backward game's length bounds the
   puzzle's optimal solution, so that solution always fits in `max_solution_moves`.
4. Keep the room if no box ended on a target and `solve` finds its optimal solution to take
   at least `min_solution_moves` moves (recorded as `Puzzle.optimal_moves`); else start over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agentgym.environments.grid import DIRECTION_NAMES, Cell, move_graph, step, walks
from agentgym.environments.sokoban.board import Board
from agentgym.environments.sokoban.solver import solve

MAX_ATTEMPTS = 1000


@dataclass(frozen=True)
class RoomSpec:
    """What to generate: a `height` x `width` room (border walls included) with `num_boxes`
    boxes, about `floor_share` of its inside floor, whose optimal solution takes between
    `min_solution_moves` and `max_solution_moves` moves. Checked on construction."""

    height: int = 6
    width: int = 6
    num_boxes: int = 1
    min_solution_moves: int = 1
    max_solution_moves: int = 15
    floor_share: float = 0.7

    def __post_init__(self) -> None:
        if self.height < 3 or self.width < 3 or self.num_boxes < 1 or not 0 < self.floor_share <= 1:
            raise ValueError(
                "need height and width >= 3, num_boxes >= 1 and 0 < floor_share <= 1; got "
                f"{self.height}, {self.width}, {self.num_boxes}, {self.floor_share}"
            )
        if not 1 <= self.min_solution_moves <= self.max_solution_moves:
            raise ValueError(
                f"need 1 <= min_solution_moves <= max_solution_moves, got {self.min_solution_moves} and {self.max_solution_moves}"
            )
        if self.floor_cells < self.num_boxes + 2:
            raise ValueError(f"a {self.height}x{self.width} room with floor_share {self.floor_share} has too little floor for {self.num_boxes} boxes")

    @property
    def floor_cells(self) -> int:
        return round(self.floor_share * (self.height - 2) * (self.width - 2))


@dataclass(frozen=True)
class Puzzle:
    """A generated board and the number of moves of its optimal solution."""

    board: Board
    optimal_moves: int


def generate(rng: np.random.Generator, spec: RoomSpec) -> Puzzle:
    """A random puzzle as `spec` asks (all randomness from `rng`), with no box on a target.

    Raises:
        RuntimeError: no such puzzle turned up in `MAX_ATTEMPTS` attempts (the spec is too
            tight for its room, e.g. many boxes and few moves).
    """
    height, width = spec.height, spec.width
    for _ in range(MAX_ATTEMPTS):
        floor = _carve(rng, height, width, spec.floor_cells)
        chosen = rng.choice(len(floor), size=spec.num_boxes + 1, replace=False)
        targets = frozenset(floor[i] for i in chosen[:-1])
        walls = frozenset((r, c) for r in range(height) for c in range(width)) - set(floor)
        solved = Board(height, width, walls, targets, boxes=targets, player=floor[chosen[-1]])
        board = _play_backwards(rng, solved, spec.max_solution_moves)
        if board.boxes & board.targets:
            continue
        solution = solve(board)
        if solution is None:  # reverse play leaves a solution; only the search limit hides it
            raise RuntimeError(f"the solver gave up on a generated board; make the room smaller:\n{board.render()}")
        if len(solution) >= spec.min_solution_moves:
            return Puzzle(board, len(solution))
    raise RuntimeError(f"no puzzle as {spec} asks turned up in {MAX_ATTEMPTS} attempts")


def _carve(rng: np.random.Generator, height: int, width: int, cells: int) -> list[Cell]:
    """`cells` connected floor cells inside the rectangle's border, carved by a random walk
    that turns at random (probability 0.35 per step) and at the border; in reading order."""
    position: Cell = (int(rng.integers(1, height - 1)), int(rng.integers(1, width - 1)))
    floor = {position}
    direction = DIRECTION_NAMES[rng.integers(4)]
    while len(floor) < cells:
        if rng.random() < 0.35:
            direction = DIRECTION_NAMES[rng.integers(4)]
        ahead = step(position, direction)
        if 1 <= ahead[0] < height - 1 and 1 <= ahead[1] < width - 1:
            position = ahead
            floor.add(position)
        else:
            direction = DIRECTION_NAMES[rng.integers(4)]
    return sorted(floor)


def _play_backwards(rng: np.random.Generator, board: Board, max_moves: int) -> Board:
    """`board` after a random backward game of at most `max_moves` moves (see the module)."""
    graph = move_graph(board.floor)
    moves_left = max_moves
    while True:
        reach = walks(graph, board.player, board.boxes)
        # A pull: stand next to a box, on its `direction` side, and step further that way.
        pulls = [
            (box, stand, direction)
            for box in sorted(board.boxes)
            for direction in DIRECTION_NAMES
            if (stand := step(box, direction)) in reach
            and reach[stand].distance < moves_left
            and not board.is_wall(step(stand, direction))
            and step(stand, direction) not in board.boxes
        ]
        if not pulls:
            break
        box, stand, direction = pulls[rng.integers(len(pulls))]
        moves_left -= reach[stand].distance + 1
        board = Board(
            board.height, board.width, board.walls, board.targets,
            boxes=board.boxes - {box} | {stand}, player=step(stand, direction),
        )  # fmt: skip
    ends = [cell for cell, link in walks(graph, board.player, board.boxes).items() if link.distance <= moves_left]
    return Board(board.height, board.width, board.walls, board.targets, board.boxes, player=ends[rng.integers(len(ends))])
