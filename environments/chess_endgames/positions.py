"""Positions of the endgames: random starting positions, positions from a FEN, and game ends.

The attacker (the agent) has a king and one piece (queen or rook); the defender has a lone king.
"""

from __future__ import annotations

import chess
import numpy as np

PIECE_TYPES = {"Q": chess.QUEEN, "R": chess.ROOK}
"""The attacker's piece by its SAN letter."""


def random_position(piece: str, rng: np.random.Generator) -> chess.Board:
    """A position drawn uniformly (by rejection from `rng`) among those where White has king and
    `piece`, Black a lone king, White is to move, the position is legal (kings apart, Black not
    in check), the game is not over, and Black's king does not attack White's piece."""
    piece_type = PIECE_TYPES[piece]
    while True:
        king, attacker_piece, lone_king = (int(square) for square in rng.choice(64, size=3, replace=False))
        board = chess.Board(None)
        board.set_piece_map(
            {
                king: chess.Piece(chess.KING, chess.WHITE),
                attacker_piece: chess.Piece(piece_type, chess.WHITE),
                lone_king: chess.Piece(chess.KING, chess.BLACK),
            }
        )
        if board.is_valid() and not board.is_attacked_by(chess.BLACK, attacker_piece) and game_end(board) is None:
            return board


def position_from_fen(fen: str, piece: str) -> chess.Board:
    """The position of `fen`, checked to be one of this endgame with the agent to move: the side
    to move has exactly a king and `piece`, the other side a lone king, the position is legal
    and the game is not over.

    Raises:
        ValueError: the FEN is malformed or does not meet those conditions.
    """
    try:
        board = chess.Board(fen)
    except ValueError as error:
        raise ValueError(f"FEN {fen!r} is malformed: {error}") from None
    if not board.is_valid():
        raise ValueError(f"FEN {fen!r} is not a legal position ({board.status()!r})")
    if _material(board, board.turn) != sorted([chess.KING, PIECE_TYPES[piece]]):
        raise ValueError(
            f"FEN {fen!r}: the side to move (the agent) must have exactly a king and a {chess.piece_name(PIECE_TYPES[piece])}"
        )
    if _material(board, not board.turn) != [chess.KING]:
        raise ValueError(f"FEN {fen!r}: the side not to move (the defender) must have a lone king")
    if game_end(board) is not None:
        raise ValueError(f"FEN {fen!r}: the game is already over ({game_end(board)})")
    return board


def _material(board: chess.Board, color: chess.Color) -> list[chess.PieceType]:
    return sorted(piece.piece_type for piece in board.piece_map(mask=board.occupied_co[color]).values())


def game_end(board: chess.Board) -> str | None:
    """Why the game is over in `board`, or None if it goes on: "checkmate", "stalemate",
    "insufficient material", "threefold repetition" or "fifty-move rule". Repetition and the
    fifty-move rule end the game automatically, as soon as they occur (no claim is needed)."""
    if board.is_checkmate():
        return "checkmate"
    if board.is_stalemate():
        return "stalemate"
    if board.is_insufficient_material():
        return "insufficient material"
    if board.is_repetition(3):
        return "threefold repetition"
    if board.is_fifty_moves():
        return "fifty-move rule"
    return None
