"""The observation text of the chess endgames.

Line by line: what just happened (the agent's move and the reply, an invalid action's feedback,
or the game's end); who plays what and whose move it is; the opponent's last move in SAN; the
board as a diagram; the position in FEN; and, when enabled and the game goes on, the agent's
legal moves in SAN. The diagram legend:

- rank 8 at the top and rank 1 at the bottom (White's side), files a to h from left to right,
  labelled around the board;
- upper case for White's pieces, lower case for Black's (FEN letters): K/k king, Q/q queen,
  R/r rook; `.` an empty square.

For example:

    You play White (king and queen) against Black's lone king. White to move.
    Black's last move: none yet.
    Board (rank 8 at the top, file a on the left; upper case = White, lower case = Black; K king, Q queen, R rook, . empty):
       a b c d e f g h
    8  . . . . k . . .  8
    ...
    1  . . . . K . . Q  1
       a b c d e f g h
    FEN: 4k3/8/8/8/8/8/8/4K2Q w - - 0 1
    Your legal moves: Kd1 Kd2 ...
"""

from __future__ import annotations

import chess

_FILES = "   a b c d e f g h"
_LEGEND = "Board (rank 8 at the top, file a on the left; upper case = White, lower case = Black; K king, Q queen, R rook, . empty):"


def diagram(board: chess.Board) -> str:
    """The board as text: rank 8 first, files a-h left to right, labelled on all sides."""
    rows = [_FILES]
    for rank in range(7, -1, -1):
        squares = (board.piece_at(chess.square(file, rank)) for file in range(8))
        cells = " ".join(piece.symbol() if piece else "." for piece in squares)
        rows.append(f"{rank + 1}  {cells}  {rank + 1}")
    rows.append(_FILES)
    return "\n".join(rows)


def observation_text(
    board: chess.Board,
    agent: chess.Color,
    piece: chess.PieceType,
    event: str,
    last_reply: str | None,
    *,
    over: bool,
    list_moves: bool,
) -> str:
    """The whole observation for `board`, where the agent plays `agent` with king and `piece`
    (see the module docstring).

    `event` is the first line, `last_reply` the opponent's last move in SAN (None before the
    first one), `over` says the game has ended, `list_moves` adds the agent's legal moves.
    """
    own, other = chess.COLOR_NAMES[agent].title(), chess.COLOR_NAMES[not agent].title()
    status = "The game is over." if over else f"{chess.COLOR_NAMES[board.turn].title()} to move."
    lines = [
        event,
        f"You play {own} (king and {chess.piece_name(piece)}) against {other}'s lone king. {status}",
        f"{other}'s last move: {last_reply or 'none yet'}.",
        _LEGEND,
        diagram(board),
        f"FEN: {board.fen()}",
    ]
    if list_moves and not over:
        lines.append("Your legal moves: " + " ".join(sorted(board.san(move) for move in board.legal_moves)))
    return "\n".join(lines)
