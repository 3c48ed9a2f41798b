"""Reading the agent's move from its raw text: the action grammar of the chess endgames.

The grammar: if the text contains `<answer>...</answer>`, only the last such block is read
(`agentgym.actions.answer_text`); otherwise the whole text is. It is split into words made of
letters, digits and the signs `= + # -` (any other character separates words), and each word
that reads as a legal move of the current position is collected, in either notation:

- SAN, standard algebraic notation: `Kd2`, `Qe7+`, `Rxa8#`, `Qh1e4` (piece letters K, Q, R in
  upper case; the check, mate and capture signs are optional and not checked);
- UCI, from-square then to-square: `e1e2` (either case).

The action is the move when exactly one legal move is named (naming the same move twice, or in
both notations, is fine). A text that names no legal move, or two different ones, is an invalid
action; `InvalidMove` says why, in words meant for the agent.
"""

from __future__ import annotations

import re

import chess

from agentgym.actions import answer_text

_WORD = re.compile(r"[A-Za-z0-9=+#-]+")
_MOVE_SHAPE = re.compile(
    r"[KQRBN]?[a-h]?[1-8]?[x:-]?[a-h][1-8](?:=?[QRBN])?[+#]*|[O0]-[O0](?:-[O0])?[+#]*|[a-h][1-8][a-h][1-8][qrbn]?",
    re.IGNORECASE,
)
"""Words shaped like a move (legal or not), named in the feedback when no legal move is found."""


class InvalidMove(ValueError):
    """The text names no legal move, or more than one; the message is feedback for the agent."""


def read_move(text: str, board: chess.Board) -> chess.Move:
    """The one legal move of `board` that `text` names, by the module's grammar.

    Raises:
        InvalidMove: no legal move is named, or several different ones are.
    """
    named: dict[chess.Move, str] = {}
    illegal: list[str] = []
    for word in _WORD.findall(answer_text(text)):
        move = _legal_move(word, board)
        if move is not None:
            named.setdefault(move, word)
        elif _MOVE_SHAPE.fullmatch(word):
            illegal.append(word)
    if len(named) == 1:
        return next(iter(named))
    if named:
        raise InvalidMove(
            f"your answer names {len(named)} different legal moves ({', '.join(named.values())}); give exactly one"
        )
    if illegal:
        raise InvalidMove(f"{illegal[0]} is not a legal move in this position")
    raise InvalidMove("your answer contains no move")


def _legal_move(word: str, board: chess.Board) -> chess.Move | None:
    for parse in (board.parse_san, lambda uci: board.parse_uci(uci.lower())):
        try:
            move = parse(word)
        except ValueError:
            continue
        if board.is_legal(move):  # a null move ("--", "0000") parses but is never legal
            return move
    return None
