"""What the grid games share: directions, the move grammar, text grids, positions in words and
breadth-first search. Used by Sokoban and Maze, and by the toy-text games (FrozenLake, Taxi,
CliffWalking), whose moves Gymnasium names in its own order.

Coordinates are `Cell`s, `(row, column)`, row 0 at the top, column 0 at the left; texts write
them as "row R, column C" (`describe` writes, `parse_cell` reads them back). A text grid is one
line per row, one character per cell, every line the same length; each game defines its own
legend (Sokoban and Maze over the shared symbols below).

The move grammar is `agentgym.actions.parse_choice` over the four direction names: the model's
text (or the content of its last `<answer>...</answer>` block) must name exactly one of `up`,
`down`, `left`, `right` as a whole word (case-insensitive), or be the bare index 0-3 in that
order. "I go <answer>Left</answer>" is left; "up or down" is ambiguous, hence invalid.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar

from agentgym.actions import parse_choice
from agentgym.types import Observation, StepResult

Cell = tuple[int, int]
Node = TypeVar("Node", bound=Hashable)

DIRECTIONS: dict[str, Cell] = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
"""Each move's name and its (row, column) offset, in the order of the index grammar."""

DIRECTION_NAMES: tuple[str, ...] = tuple(DIRECTIONS)
OPPOSITE: dict[str, str] = {"up": "down", "down": "up", "left": "right", "right": "left"}

MOVE_FORMAT = (
    "Each turn, answer with exactly one move: up, down, left or right, e.g. <answer>left</answer>. "
    "Only the last <answer> block is read; naming two different moves is invalid."
)
"""The action format, as system prompts state it."""

WALL, FLOOR, PLAYER = "#", "_", "P"
"""The symbols Sokoban and Maze use, with the same meaning: a wall, an empty floor cell, the player."""

MOVED = "You moved {direction}."
BLOCKED_BY_WALL = "You cannot move {direction}: a wall is in the way."
INVALID_MOVE = f"Invalid move: {MOVE_FORMAT}"
"""Feedback on a move, as Sokoban and Maze word it (`.format(direction=...)` for the first two)."""

CELL_IN_WORDS = re.compile(r"row (\d+), column (\d+)")


def parse_direction(text: str) -> str | None:
    """The direction the model's `text` names by the module's grammar, or None if it names none."""
    index = parse_choice(text, DIRECTION_NAMES)
    return None if index is None else DIRECTION_NAMES[index]


def invalid_move(observation: Observation, penalty: float) -> StepResult:
    """The step for text that names no move: `observation` (nothing changed), reward `-penalty`,
    `info["invalid_action"]`, no success."""
    return StepResult(observation=observation, reward=-penalty, info={"invalid_action": True, "success": False})


def step(cell: Cell, direction: str) -> Cell:
    """The cell next to `cell` in `direction`."""
    row_offset, column_offset = DIRECTIONS[direction]
    return cell[0] + row_offset, cell[1] + column_offset


def describe(cell: Cell) -> str:
    """`cell` in words: "row R, column C"."""
    return f"row {cell[0]}, column {cell[1]}"


def parse_cell(text: str) -> Cell:
    """The first "row R, column C" in `text`.

    Raises:
        ValueError: `text` names no cell.
    """
    match = CELL_IN_WORDS.search(text)
    if match is None:
        raise ValueError(f"no 'row R, column C' in {text!r}")
    return int(match.group(1)), int(match.group(2))


def render(height: int, width: int, symbol: Callable[[Cell], str]) -> str:
    """The text grid whose cell `(row, column)` shows `symbol((row, column))`."""
    return "\n".join("".join(symbol((row, column)) for column in range(width)) for row in range(height))


def extract_grid(text: str, alphabet: str) -> list[str]:
    """The rows of the text grid inside `text`: the first run of two or more consecutive lines
    made only of `alphabet` characters (surrounding whitespace ignored).

    Raises:
        ValueError: there is no such run, or its lines differ in length.
    """
    runs: list[list[str]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if line and all(character in alphabet for character in line):
            runs[-1].append(line)
        elif runs[-1]:
            runs.append([])
    rows = next((run for run in runs if len(run) >= 2), None)
    if rows is None:
        raise ValueError(f"no text grid over {alphabet!r} in {text!r}")
    if len({len(row) for row in rows}) != 1:
        raise ValueError(f"the grid's rows differ in length: {rows}")
    return rows


def cells_of(rows: Sequence[str], symbols: str) -> list[Cell]:
    """Every cell of `rows` showing one of `symbols`, in reading order."""
    return [(r, c) for r, row in enumerate(rows) for c, symbol in enumerate(row) if symbol in symbols]


class Reached(NamedTuple):
    """How `breadth_first` first reached a node: from `previous` by `move`, `distance` moves
    from a start (a start itself: previous and move None, distance 0)."""

    previous: Any
    move: str | None
    distance: int


def breadth_first(starts: Iterable[Node], neighbours: Callable[[Node], Iterable[tuple[str, Node]]]) -> dict[Node, Reached]:
    """Breadth-first search from the nodes `starts` over `neighbours(node)`, which yields
    `(move, next)` pairs: every node reached, with how it was first reached (its distance is to
    the nearest start). Iterating the result visits the nodes in order of distance."""
    reached: dict[Node, Reached] = {start: Reached(None, None, 0) for start in starts}
    frontier = deque(reached)
    while frontier:
        node = frontier.popleft()
        distance = reached[node].distance + 1
        for move, following in neighbours(node):
            if following not in reached:
                reached[following] = Reached(node, move, distance)
                frontier.append(following)
    return reached


def path_to(reached: dict[Node, Reached], goal: Node) -> list[str]:
    """The moves from the search's nearest start to `goal`, one of the nodes it reached."""
    moves: list[str] = []
    while (link := reached[goal]).previous is not None:
        moves.append(link.move)  # type: ignore[arg-type]
        goal = link.previous
    return moves[::-1]


def first_move(reached: dict[Node, Reached], goals: Collection[Node]) -> str | None:
    """The first move on a shortest path from the search's start to the nearest of `goals` (the
    first the search reached); None when it reached none, or the start is one."""
    goal = next((node for node in reached if node in goals), None)
    moves = [] if goal is None else path_to(reached, goal)
    return moves[0] if moves else None


Graph = dict[Cell, tuple[tuple[str, Cell], ...]]
"""The moves between open cells: for each cell, its (direction, neighbouring open cell) pairs."""


def move_graph(cells: Collection[Cell], directions: Sequence[str] = DIRECTION_NAMES) -> Graph:
    """The graph of single moves among `cells`, each cell's moves in the order of `directions`
    (the order in which a search tries them, so it decides between equally short paths)."""
    return {
        cell: tuple((direction, ahead) for direction in directions if (ahead := step(cell, direction)) in cells)
        for cell in cells
    }


def grid_graph(rows: Sequence[str], symbols: str, directions: Sequence[str] = DIRECTION_NAMES) -> Graph:
    """The graph of single moves among the cells of `rows` that show one of `symbols`."""
    return move_graph(set(cells_of(rows, symbols)), directions)


def walks(graph: Graph, start: Cell, blocked: Collection[Cell] = ()) -> dict[Cell, Reached]:
    """`breadth_first` from `start` through the cells of `graph`, never entering `blocked` ones."""
    return breadth_first([start], lambda cell: [link for link in graph[cell] if link[1] not in blocked])
