"""The Sokoban environment: push every box onto a target, one move per turn.

Each episode is a new room from `generator.generate` (solvable by construction within the
preset's turn limit), or the board of `reset(options={"level": TEXT_GRID})`. Observations show
the board as a text grid in `board.LEGEND` (the full state, so the anchor is the grid itself),
under one line of feedback on the last move and above a count of boxes on targets. Actions are
moves in the grammar of `agentgym.environments.grid`.

Rewards follow gym-sokoban's, as RAGEN and verl-agent use them:

| event | reward |
|---|---|
| every move (also into a wall or a blocked box) | -0.1 |
| a box pushed onto a target | +1 |
| a box pushed off a target | -1 |
| the last box onto its target (solved: `terminated`, `info["success"]`) | +10 |
| text that names no move (`info["invalid_action"]`, nothing changes) | -`invalid_penalty` (0.1) |

Solving with a push gets the sum of its events: -0.1 + 1 + 10 = 10.9.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from agentgym.env import Env
from agentgym.environments.grid import BLOCKED_BY_WALL, INVALID_MOVE, MOVE_FORMAT, MOVED, invalid_move, parse_direction
from agentgym.environments.sokoban.board import LEGEND, Board, Outcome
from agentgym.environments.sokoban.generator import RoomSpec, generate
from agentgym.types import Observation, StepResult

STEP_PENALTY = -0.1
BOX_ON_TARGET = 1.0
BOX_OFF_TARGET = -1.0
SOLVED_BONUS = 10.0

SYSTEM_PROMPT = (
    "You are playing Sokoban. The board is a text grid: {legend}. Each turn you move one cell "
    "up, down, left or right. Walking into a box pushes it one cell the same way, if the cell "
    "beyond it is free (floor or target); you cannot pull boxes, push two boxes at once, or walk "
    "through walls. Your goal is to get every box onto a target. Rewards: -0.1 per move, +1 for "
    "each box you push onto a target, -1 for each box you push off a target, +10 when every box "
    "is on a target. {move_format}"
)


class SokobanEnv(Env):
    """Sokoban on generated rooms (see the module docstring). Forkable.

    The constructor's arguments are `generator.RoomSpec`'s (checked at once) and the penalty
    for text that names no move. Options for `reset`: `level`, a text grid in `board.LEGEND`
    to play instead of a generated room.
    """

    def __init__(
        self,
        height: int = 6,
        width: int = 6,
        num_boxes: int = 1,
        min_solution_moves: int = 1,
        max_solution_moves: int = 15,
        floor_share: float = 0.7,
        invalid_penalty: float = 0.1,
    ):
        self.room = RoomSpec(height, width, num_boxes, min_solution_moves, max_solution_moves, floor_share)
        self.invalid_penalty = invalid_penalty
        self.system_prompt = SYSTEM_PROMPT.format(legend=LEGEND, move_format=MOVE_FORMAT)

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        options = dict(options or {})
        level = options.pop("level", None)
        if options:
            raise ValueError(f"unknown options {sorted(options)}; sokoban accepts only 'level'")
        if level is not None:
            self.board, metadata = Board.parse(level), {}
        else:
            puzzle = await asyncio.to_thread(generate, self.np_random, self.room)  # 10x10 rooms: up to ~0.5 s
            self.board, metadata = puzzle.board, {"optimal_moves": puzzle.optimal_moves}
        return self._observation(f"Push every box onto a target. Legend: {LEGEND}.", metadata)

    async def step(self, action: str) -> StepResult:
        direction = parse_direction(action)
        if direction is None:
            return invalid_move(self._observation(INVALID_MOVE), self.invalid_penalty)
        on_targets = self.board.boxes_on_targets
        self.board, outcome = self.board.move(direction)
        change = self.board.boxes_on_targets - on_targets
        reward = STEP_PENALTY + BOX_ON_TARGET * max(change, 0) + BOX_OFF_TARGET * max(-change, 0)
        feedback = _FEEDBACK[outcome].format(direction=direction)
        if change:
            feedback += " It is on a target now." if change > 0 else " It left its target."
        if self.board.solved:
            reward += SOLVED_BONUS
            feedback += " Every box is on a target: solved!"
        return StepResult(
            observation=self._observation(feedback),
            reward=reward,
            terminated=self.board.solved,
            info={"invalid_action": False, "outcome": outcome.value, "success": self.board.solved},
        )

    async def fork(self) -> SokobanEnv:
        return copy.deepcopy(self)

    def _observation(self, feedback: str, metadata: dict[str, Any] | None = None) -> Observation:
        grid = self.board.render()
        status = f"Boxes on targets: {self.board.boxes_on_targets} of {len(self.board.boxes)}."
        return Observation(text=f"{feedback}\n{grid}\n{status}", anchor=grid, metadata=metadata or {})


_FEEDBACK = {
    Outcome.WALKED: MOVED,
    Outcome.PUSHED: "You moved {direction} and pushed a box.",
    Outcome.HIT_WALL: BLOCKED_BY_WALL,
    Outcome.BOX_STUCK: "You cannot move {direction}: the box there is blocked.",
}
