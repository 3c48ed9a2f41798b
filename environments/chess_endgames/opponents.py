"""The defender: the side with the lone king, which replies to each of the agent's moves.

Two opponents, both deterministic (a move depends only on the position and its history):

- `StockfishDefender`: the Stockfish engine, when a `stockfish` binary is installed (e.g. apt
  `stockfish`), searching to a fixed depth on one thread (see `engine` for how one process is
  shared).
- `TablebaseDefender` (built in): perfect defence from the retrograde tablebase. It takes the
  attacker's piece whenever it can (a draw), and otherwise picks the move that postpones mate
  longest (ties: python-chess's move order). The strongest possible defender, so the agent
  must play accurately, and mate is still always forced within 10 (KQK) / 16 (KRK) moves.

`make_opponent("auto", ...)` picks Stockfish when it is installed and the built-in defender
otherwise; "stockfish" and "builtin" choose explicitly.
"""

from __future__ import annotations

import os
import shutil
from typing import Protocol

import chess

from agentgym.environments.chess_endgames.engine import EngineLease
from agentgym.environments.chess_endgames.positions import PIECE_TYPES
from agentgym.environments.chess_endgames.tablebase import index, solve

OPPONENTS = ("auto", "stockfish", "builtin")
_DEBIAN_PATH = "/usr/games/stockfish"  # Debian's package installs here, often outside PATH


class Opponent(Protocol):
    description: str
    """How the system prompt names this opponent."""

    def reply(self, board: chess.Board) -> chess.Move:
        """The defender's move in `board` (the defender is to move and has a legal move)."""

    def fork(self) -> Opponent:
        """An independent opponent with the same behaviour (for `Env.fork`)."""

    def close(self) -> None:
        """Free resources; safe to call more than once."""


class TablebaseDefender:
    """Perfect defence from the tablebase of king + `piece` against king (see the module)."""

    def __init__(self, piece: str):
        self.piece = piece
        self.description = "a built-in defender that plays perfectly (it postpones mate as long as possible)"

    def reply(self, board: chess.Board) -> chess.Move:
        table = solve(self.piece).attacker_to_move
        attacker = not board.turn
        king = board.king(attacker)
        piece = next(iter(board.pieces(PIECE_TYPES[self.piece], attacker)))
        best, longest = None, -1
        for move in board.legal_moves:
            if move.to_square == piece:
                return move
            plies = int(table[index(king, piece, move.to_square)])
            plies = 1_000 if plies < 0 else plies  # not lost: better than any mate
            if plies > longest:
                best, longest = move, plies
        assert best is not None, f"the defender has no legal move in {board.fen()}"
        return best

    def fork(self) -> TablebaseDefender:
        return self

    def close(self) -> None:
        pass


class StockfishDefender:
    """Stockfish at `path`, searching `depth` plies per move on one thread."""

    def __init__(self, path: str, depth: int):
        if depth < 1:
            raise ValueError(f"engine_depth must be at least 1, got {depth}")
        self.path, self.depth = path, depth
        self.description = f"the Stockfish chess engine (depth {depth})"
        self._lease = EngineLease(path)

    def reply(self, board: chess.Board) -> chess.Move:
        return self._lease.best_move(board, self.depth)

    def fork(self) -> StockfishDefender:
        return StockfishDefender(self.path, self.depth)

    def close(self) -> None:
        self._lease.release()


def find_stockfish() -> str | None:
    """The path of an installed Stockfish binary (on PATH, or Debian's /usr/games), or None."""
    found = shutil.which("stockfish")
    if found is None and os.access(_DEBIAN_PATH, os.X_OK):
        found = _DEBIAN_PATH
    return found


def make_opponent(kind: str, piece: str, engine_path: str | None, engine_depth: int) -> Opponent:
    """The defender named by `kind` (one of `OPPONENTS`; see the module docstring).

    Raises:
        ValueError: an unknown kind, or "stockfish" when no binary is found.
    """
    if kind not in OPPONENTS:
        raise ValueError(f"unknown opponent {kind!r}; choose one of {OPPONENTS}")
    if kind == "builtin":
        return TablebaseDefender(piece)
    path = engine_path or find_stockfish()
    if path is not None:
        return StockfishDefender(path, engine_depth)
    if kind == "stockfish":
        raise ValueError(
            "opponent='stockfish' needs a Stockfish binary: install it (apt-get install stockfish) or pass engine_path"
        )
    return TablebaseDefender(piece)
