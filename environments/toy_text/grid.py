"""Grid geometry shared by the toy-text games' renderings and their solvers.

Positions are `(row, column)` with row 0 the top row and column 0 the left column; the texts
write them as "row R, column C" (`describe` writes, `POSITION` reads them back).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping

Position = tuple[int, int]

DELTAS: Mapping[str, Position] = {
    "up": (-1, 0), "north": (-1, 0),
    "down": (1, 0), "south": (1, 0),
    "left": (0, -1), "west": (0, -1),
    "right": (0, 1), "east": (0, 1),
}
"""The displacement of every move name the toy-text games use."""

POSITION = re.compile(r"row (\d+), column (\d+)")


def describe(position: Position) -> str:
    """`position` in words: "row R, column C"."""
    return f"row {position[0]}, column {position[1]}"


def parse_position(text: str) -> Position:
    """The first "row R, column C" in `text`.

    Raises:
        ValueError: `text` names no position.
    """
    match = POSITION.search(text)
    if match is None:
        raise ValueError(f"no 'row R, column C' in {text!r}")
    return int(match.group(1)), int(match.group(2))


def char_grid(text: str, alphabet: str) -> list[str]:
    """The lines of `text` made only of characters in `alphabet`: a rendered map, without the
    sentences around it."""
    return [line for line in text.splitlines() if line and set(line) <= set(alphabet)]


def find(grid: list[str], symbol: str) -> list[Position]:
    """Every position of `symbol` in `grid`, in reading order."""
    return [(r, c) for r, line in enumerate(grid) for c, char in enumerate(line) if char == symbol]


def first_move(
    start: Position,
    goals: Collection[Position],
    moves: Moves,
) -> str | None:
    """The name of the first move on a shortest path from `start` to any of `goals` (breadth-first
    search over `moves(position)` -> (move name, next position)); None when none is reachable or
    `start` is a goal."""
    first: dict[Position, str | None] = {start: None}
    queue = deque([start])
    while queue:
        position = queue.popleft()
        if position in goals:
            return first[position]
        for name, neighbour in moves(position):
            if neighbour not in first:
                first[neighbour] = first[position] or name
                queue.append(neighbour)
    return None


Moves = Callable[[Position], Iterable[tuple[str, Position]]]
"""A position's moves: (move name, the position it leads to) for each open one."""


def grid_moves(grid: list[str], blocked: str, names: Iterable[str]) -> Moves:
    """Moves by `names` (keys of `DELTAS`) between cells of `grid` whose symbol is not in `blocked`."""
    names = tuple(names)

    def moves(position: Position) -> Iterable[tuple[str, Position]]:
        for name in names:
            r, c = position[0] + DELTAS[name][0], position[1] + DELTAS[name][1]
            if 0 <= r < len(grid) and 0 <= c < len(grid[r]) and grid[r][c] not in blocked:
                yield name, (r, c)

    return moves
