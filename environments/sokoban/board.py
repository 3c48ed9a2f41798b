"""A Sokoban board: its state, the rule for one move, and its text grid.

The text grid's legend (one character per cell):

| symbol | cell |
|---|---|
| `#` | wall |
| `_` | empty floor |
| `O` | empty target |
| `X` | box (not on a target) |
| `*` | box on a target |
| `P` | the player |
| `S` | the player standing on a target |

A move walks the player one cell. Walking into a box pushes it one cell further the same way
if that cell is floor or an empty target; a box blocked by a wall or another box does not move,
and neither does the player. Walls never move; boxes cannot be pulled. Cells outside the grid
count as walls. The board is solved when every box is on a target (there are as many targets
as boxes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from agentgym.environments.grid import (
    FLOOR,
    PLAYER,
    WALL,
    Cell,
    cells_of,
    extract_grid,
    render,
    step,
)

TARGET, BOX, BOX_ON_TARGET, PLAYER_ON_TARGET = "O", "X", "*", "S"
SYMBOLS = WALL + FLOOR + TARGET + BOX + BOX_ON_TARGET + PLAYER + PLAYER_ON_TARGET
LEGEND = (
    f"{WALL} wall, {FLOOR} floor, {TARGET} target, {BOX} box, {BOX_ON_TARGET} box on a target, "
    f"{PLAYER} you, {PLAYER_ON_TARGET} you on a target"
)


class Outcome(Enum):
    """What one move did."""

    WALKED = "walked"
    PUSHED = "pushed a box"
    HIT_WALL = "hit a wall"
    BOX_STUCK = "the box is blocked"


@dataclass(frozen=True)
class Board:
    """The full state of a Sokoban puzzle. Immutable: `move` returns a new board."""

    height: int
    width: int
    walls: frozenset[Cell]
    targets: frozenset[Cell]
    boxes: frozenset[Cell]
    player: Cell

    def __post_init__(self) -> None:
        if len(self.boxes) != len(self.targets) or not self.boxes:
            raise ValueError(f"a board needs as many targets as boxes, at least one; got {len(self.boxes)} boxes, {len(self.targets)} targets")
        if self.is_wall(self.player) or self.player in self.boxes:
            raise ValueError(f"the player's cell {self.player} is a wall or a box")
        if any(self.is_wall(cell) for cell in self.boxes | self.targets):
            raise ValueError("boxes and targets must stand on floor cells inside the grid")

    def is_wall(self, cell: Cell) -> bool:
        return cell in self.walls or not (0 <= cell[0] < self.height and 0 <= cell[1] < self.width)

    @property
    def floor(self) -> frozenset[Cell]:
        """Every cell of the grid that is not a wall."""
        return frozenset((r, c) for r in range(self.height) for c in range(self.width)) - self.walls

    @property
    def boxes_on_targets(self) -> int:
        return len(self.boxes & self.targets)

    @property
    def solved(self) -> bool:
        return self.boxes == self.targets

    def move(self, direction: str) -> tuple[Board, Outcome]:
        """The board after the player tries to move one cell in `direction`, and what happened."""
        ahead = step(self.player, direction)
        if self.is_wall(ahead):
            return self, Outcome.HIT_WALL
        if ahead not in self.boxes:
            return replace(self, player=ahead), Outcome.WALKED
        beyond = step(ahead, direction)
        if self.is_wall(beyond) or beyond in self.boxes:
            return self, Outcome.BOX_STUCK
        return replace(self, player=ahead, boxes=self.boxes - {ahead} | {beyond}), Outcome.PUSHED

    def render(self) -> str:
        """The board as a text grid in the module's legend."""
        return render(self.height, self.width, self._symbol)

    def _symbol(self, cell: Cell) -> str:
        if cell in self.walls:
            return WALL
        on_target = cell in self.targets
        if cell == self.player:
            return PLAYER_ON_TARGET if on_target else PLAYER
        if cell in self.boxes:
            return BOX_ON_TARGET if on_target else BOX
        return TARGET if on_target else FLOOR

    @classmethod
    def parse(cls, text: str) -> Board:
        """The board shown by the text grid inside `text` (e.g. an observation).

        Raises:
            ValueError: no grid, not exactly one player, or boxes and targets differ in number.
        """
        rows = extract_grid(text, SYMBOLS)
        players = cells_of(rows, PLAYER + PLAYER_ON_TARGET)
        if len(players) != 1:
            raise ValueError(f"a board shows exactly one player ({PLAYER} or {PLAYER_ON_TARGET}), found {len(players)}")
        return cls(
            height=len(rows),
            width=len(rows[0]),
            walls=frozenset(cells_of(rows, WALL)),
            targets=frozenset(cells_of(rows, TARGET + BOX_ON_TARGET + PLAYER_ON_TARGET)),
            boxes=frozenset(cells_of(rows, BOX + BOX_ON_TARGET)),
            player=players[0],
        )
