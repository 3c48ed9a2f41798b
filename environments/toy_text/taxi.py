"""Taxi as a text game: `taxi-v0`.

Built on Gymnasium's Taxi (`TaxiEnv`, Taxi-v4's dynamics and rewards, after Dietterich 2000)
through agentgym's bridge (`GymnasiumEnv`). `reset(seed=n)` seeds Gymnasium's Taxi, which draws
the taxi's cell, the passenger's stop and a different destination stop.

Observation text (legend): Gymnasium's 5x5 map, row 0 at the top, column 0 at the left:
    `R`, `G`, `Y`, `B` the four stops, `T` the taxi (drawn over a stop it stands on),
    `|` a wall (no moving east or west through it), `:` an open side between two cells;
then three sentences stating the same in words: the taxi's position (and stop, and whether it
carries the passenger), where the passenger is ("waiting at Y (row 4, column 0)", "in the taxi",
or "delivered"), and the destination stop with its position. Then the legend and valid actions.

Actions: south, north, east, west, pickup, dropoff (`agentgym.actions.parse_choice`, or an index
0-5). Moving into a wall or off the map leaves the taxi in place.

Rewards (Gymnasium's): -1 per move (also a blocked one); +20 for dropping the passenger off at the
destination (terminated, success); -10 for a pickup or dropoff where it is not allowed; an
unparseable action costs 1, as much as a wasted move (so emitting nonsense never pays more than
moving).

Anchor: Gymnasium's encoded state `((row * 5 + column) * 5 + passenger) * 4 + destination`,
which is the full state (passenger 0-3 a stop, 4 in the taxi).
"""

from __future__ import annotations

import re

import gymnasium
from gymnasium.envs.toy_text.taxi import TaxiEnv

from agentgym.environments.grid import Cell, breadth_first, describe, first_move, parse_cell
from agentgym.gymnasium_bridge import KNOWN_ACTION_NAMES, GymnasiumEnv
from agentgym.types import Observation

from .success import SuccessOnTermination

ACTIONS = KNOWN_ACTION_NAMES["Taxi"]
STOPS = "RGYB"
"""The stops in Gymnasium's index order (`TaxiEnv.locs`)."""
IN_TAXI = len(STOPS)
LEGEND = "T taxi; R, G, Y, B the stops; | a wall that blocks moving east or west; : open"

SYSTEM_PROMPT = (
    "You drive a taxi on a 5x5 grid shown as text, row 0 at the top and column 0 at the left. A "
    "passenger waits at one of the four stops R, G, Y, B and wants to go to another one. Drive to "
    "the passenger, pick them up, drive to the destination and drop them off. Legend: "
    f"{LEGEND}. Each turn, answer with one action: south, north, east, west, pickup or dropoff, "
    "e.g. <answer>north</answer>. Rewards: -1 per turn, +20 for delivering the passenger, -10 for a "
    "pickup or dropoff in the wrong place."
)

_TAXI_LINE = re.compile(r"^Taxi: (row \d+, column \d+)", re.MULTILINE)
_PASSENGER_LINE = re.compile(r"^Passenger: (.*)$", re.MULTILINE)
_DESTINATION_LINE = re.compile(r"^Destination: .*$", re.MULTILINE)


def render_taxi(gym_env: gymnasium.Env) -> str:
    """The observation text of the taxi's current state (see the module's legend)."""
    game: TaxiEnv = gym_env.unwrapped
    row, col, passenger, destination = game.decode(game.s)
    grid = [line.tobytes().decode() for line in game.desc]
    line = grid[row + 1]
    grid[row + 1] = line[: 2 * col + 1] + "T" + line[2 * col + 2 :]
    stop = f", at stop {STOPS[game.locs.index((row, col))]}" if (row, col) in game.locs else ""
    load = "carrying the passenger" if passenger == IN_TAXI else "empty"
    if passenger == IN_TAXI:
        where = "in the taxi."
    elif passenger == destination:
        where = f"delivered at {STOPS[destination]}."
    else:
        where = f"waiting at {STOPS[passenger]} ({describe(game.locs[passenger])})."
    return "\n".join([
        "Taxi map, row 0 at the top:",
        *grid,
        f"Taxi: {describe((row, col))}{stop}, {load}.",
        f"Passenger: {where}",
        f"Destination: {STOPS[destination]} ({describe(game.locs[destination])}).",
        f"Legend: {LEGEND}.",
    ])


class Taxi(GymnasiumEnv):
    """Gymnasium's Taxi as text (see the module docstring)."""

    system_prompt = SYSTEM_PROMPT

    def __init__(self, invalid_action_penalty: float = 1.0):
        super().__init__(
            SuccessOnTermination(TaxiEnv()),
            ACTIONS,
            invalid_action_penalty=invalid_action_penalty,
            render_text=render_taxi,
        )


class TaxiSolver:
    """The expert, reading only the text: drive along a shortest path (breadth-first search on
    the parsed map and its walls) to the passenger, pick up, drive to the destination, drop off."""

    def reset(self, observation: Observation, system_prompt: str) -> None:
        pass

    def act(self, observation: Observation) -> str:
        text = observation.text
        rows = [line for line in text.splitlines() if line.startswith("|")]
        taxi = parse_cell(_TAXI_LINE.search(text).group(1))
        passenger = _PASSENGER_LINE.search(text).group(1)
        carrying = passenger.startswith("in the taxi")
        target = parse_cell(_DESTINATION_LINE.search(text).group() if carrying else passenger)
        if taxi == target:
            return "dropoff" if carrying else "pickup"
        reached = breadth_first([taxi], lambda cell: _moves(rows, cell))
        return first_move(reached, {target}) or "north"  # the map is connected


def _moves(rows: list[str], cell: Cell) -> list[tuple[str, Cell]]:
    """The open moves from `cell` on the map `rows` (a cell's character is at column 2c+1, its
    east side at 2c+2: `|` a wall, `:` open)."""
    r, c = cell
    moves = [("north", (r - 1, c))] if r > 0 else []
    if r < len(rows) - 1:
        moves.append(("south", (r + 1, c)))
    if rows[r][2 * c + 2] == ":":
        moves.append(("east", (r, c + 1)))
    if rows[r][2 * c] == ":":
        moves.append(("west", (r, c - 1)))
    return moves
