"""The expert agent of the chess endgames: the fastest mate, from the tablebase.

It reads only the `FEN:` line of the observation (the environment's internals are never
touched, so it plays a served environment just as well), looks every legal move up in the
retrograde tablebase (`tablebase`) and plays the one after which mate comes soonest. Against
any defence it mates within 10 moves (KQK) or 16 moves (KRK), the proven maxima.
"""

from __future__ import annotations

import re

import chess

from agentgym.environments.chess_endgames.positions import PIECE_TYPES
from agentgym.environments.chess_endgames.tablebase import index, solve
from agentgym.types import Observation

_FEN_LINE = re.compile(r"^FEN: (.+)$", re.MULTILINE)
_LETTERS = {piece_type: letter for letter, piece_type in PIECE_TYPES.items()}


def fastest_mate(board: chess.Board) -> chess.Move:
    """The legal move of the side to move (king and queen or rook against a lone king) after
    which mate comes soonest; the first in python-chess's move order among equals.

    Raises:
        ValueError: the position is not king and queen or rook against a lone king, with the
            stronger side to move.
    """
    attacker = board.turn
    squares = [square for square in chess.SquareSet(board.occupied_co[attacker]) if square != board.king(attacker)]
    if (
        len(squares) != 1
        or board.piece_type_at(squares[0]) not in _LETTERS
        or chess.popcount(board.occupied_co[not attacker]) != 1
    ):
        raise ValueError(
            f"{board.fen()} is not king and queen or rook against a lone king, with the stronger side to move"
        )
    piece_type = board.piece_type_at(squares[0])
    table = solve(_LETTERS[piece_type]).defender_to_move

    def plies_to_mate(move: chess.Move) -> int:
        board.push(move)  # (castling moves the rook too)
        piece = next(iter(board.pieces(piece_type, attacker)))
        plies = int(table[index(board.king(attacker), piece, board.king(not attacker))])
        board.pop()
        return plies if plies >= 0 else 10_000  # not a forced mate: stalemate, or the piece hangs

    return min(board.legal_moves, key=plies_to_mate)


class ChessEndgameSolver:
    """Plays `fastest_mate` on the observation's FEN, answering `<answer>MOVE</answer>` in SAN
    (`notation="san"`) or UCI (`notation="uci"`)."""

    def __init__(self, notation: str = "san"):
        if notation not in ("san", "uci"):
            raise ValueError(f"notation must be 'san' or 'uci', got {notation!r}")
        self.notation = notation

    def reset(self, observation: Observation, system_prompt: str) -> None:
        pass

    def act(self, observation: Observation) -> str:
        found = _FEN_LINE.search(observation.text)
        if found is None:
            raise ValueError("the observation has no 'FEN:' line")
        board = chess.Board(found.group(1))
        move = fastest_mate(board)
        return f"<answer>{board.san(move) if self.notation == 'san' else move.uci()}</answer>"
