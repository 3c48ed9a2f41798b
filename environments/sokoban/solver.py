"""Move-optimal Sokoban solving, and the expert agent built on it.

`solve` runs A* over the states reached right after each push, (player cell, box cells),
where an edge is "walk by a shortest path to a cell next to a box, then push it": its cost is
the walk's length plus one, so a path's cost is its number of moves and the first solution A*
pops is move-optimal. The heuristic is the sum, over boxes, of the fewest pushes that bring
that box alone onto some target around the walls (each move pushes at most one box one cell,
so it never overestimates, and it drops by at most one per push, so it is consistent).
Two deadlocks are pruned: a box pushed onto a cell from which no target can be reached (a
"dead square", e.g. a corner without a target), and a box frozen in a 2x2 block of walls and
boxes that is not entirely on targets.
"""

from __future__ import annotations

import heapq
import itertools

from agentgym.environments.grid import (
    DIRECTION_NAMES,
    OPPOSITE,
    Cell,
    Graph,
    breadth_first,
    move_graph,
    path_to,
    step,
    walks,
)
from agentgym.environments.sokoban.board import Board
from agentgym.types import Observation

State = tuple[Cell, frozenset[Cell]]
"""(player, boxes): a board's changing part."""


def push_distances(board: Board) -> dict[Cell, int]:
    """For each cell from which a lone box can be pushed onto some target (walls only, other
    boxes ignored), the fewest pushes that takes; cells missing from the result are dead."""

    def came_from(cell: Cell):  # the cells a box is pushed from to arrive at `cell`
        for direction in DIRECTION_NAMES:
            previous = step(cell, OPPOSITE[direction])
            if not board.is_wall(previous) and not board.is_wall(step(previous, OPPOSITE[direction])):
                yield direction, previous

    return {cell: link.distance for cell, link in breadth_first(board.targets, came_from).items()}


def solve(board: Board, max_expansions: int = 1_000_000) -> list[str] | None:
    """A shortest solution of `board` as a list of moves ([] if it is solved already), or None
    when it has none, or none was found after expanding `max_expansions` states."""
    distances = push_distances(board)
    if any(box not in distances for box in board.boxes):
        return None
    graph = move_graph(board.floor)
    start: State = (board.player, board.boxes)
    best_cost = {start: 0}
    came_by: dict[State, tuple[State, Cell, str]] = {}  # state -> (previous state, cell pushed from, push direction)
    tie = itertools.count()  # breaks ties in FIFO order; states themselves are never compared
    # Entries (estimated total, -cost, tie, state): among equal estimates, the deepest first.
    queue = [(sum(distances[box] for box in board.boxes), 0, next(tie), start)]
    for _ in range(max_expansions):
        if not queue:
            return None
        _, negated_cost, _, state = heapq.heappop(queue)
        cost = -negated_cost
        if cost > best_cost[state]:
            continue  # a stale entry: the state was reached more cheaply since
        player, boxes = state
        if boxes == board.targets:
            return _moves(graph, came_by, state)
        reach = walks(graph, player, boxes)
        for box in boxes:
            for direction in DIRECTION_NAMES:
                stand, destination = step(box, OPPOSITE[direction]), step(box, direction)
                if stand not in reach or destination in boxes or destination not in distances:
                    continue
                moved = boxes - {box} | {destination}
                if _frozen(board, destination, moved):
                    continue
                following: State = (box, moved)
                following_cost = cost + reach[stand].distance + 1
                if following_cost < best_cost.get(following, following_cost + 1):
                    best_cost[following] = following_cost
                    came_by[following] = (state, stand, direction)
                    estimate = following_cost + sum(distances[cell] for cell in moved)
                    heapq.heappush(queue, (estimate, -following_cost, next(tie), following))
    return None


def _frozen(board: Board, cell: Cell, boxes: frozenset[Cell]) -> bool:
    """True if the box on `cell` completes a 2x2 block of walls and boxes (none of which can
    ever move again) with some box in it off target."""
    for vertical, horizontal in (("up", "left"), ("up", "right"), ("down", "left"), ("down", "right")):
        block = (cell, step(cell, vertical), step(cell, horizontal), step(step(cell, vertical), horizontal))
        if all(board.is_wall(c) or c in boxes for c in block) and any(c in boxes and c not in board.targets for c in block):
            return True
    return False


def _moves(graph: Graph, came_by: dict[State, tuple[State, Cell, str]], state: State) -> list[str]:
    """The moves along the chain of pushes that ends in `state`."""
    segments: list[list[str]] = []
    while state in came_by:
        previous, stand, direction = came_by[state]
        player, boxes = previous
        segments.append([*path_to(walks(graph, player, boxes), stand), direction])
        state = previous
    return [move for segment in reversed(segments) for move in segment]


class SokobanSolver:
    """The expert agent: reads the board from each observation's text grid, plans a
    move-optimal solution with `solve`, and replans whenever the board is not the one its plan
    expected (so it also recovers from someone else's moves). Plays `up` on an unsolvable board."""

    def reset(self, observation: Observation, system_prompt: str) -> None:
        self.plan: list[str] = []
        self.expected: Board | None = None

    def act(self, observation: Observation) -> str:
        board = Board.parse(observation.text)
        if board != self.expected or not self.plan:
            self.plan = solve(board) or ["up"]
        move = self.plan.pop(0)
        self.expected = board.move(move)[0]
        return f"<answer>{move}</answer>"
