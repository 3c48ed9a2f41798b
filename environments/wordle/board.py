"""Wordle's per-letter feedback and its text form (the board), shared by the environment, which
writes it, and the solver, which reads it back.

Feedback rules (the standard ones): a letter is `green` when the secret has it at that position;
otherwise `yellow` when the secret has an unmatched copy of it elsewhere, `gray` when not. Copies
are counted: greens claim their copies first, then the remaining copies go to yellows from left
to right, and any further copy of that letter in the guess is gray. With secret "abbey", the guess
"babes" scores b yellow, a yellow, b green, e green, s gray; the guess "bobby" scores b yellow,
o gray, b green, b gray, y green (the secret has two b's: one green, one yellow, the third gray).

Board line format, one per guess made (letters upper-case, feedback in the letter's order):

    1. CRANE -> C gray, R yellow, A green, N gray, E gray
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

GREEN, YELLOW, GRAY = "green", "yellow", "gray"
COLOURS = (GRAY, YELLOW, GREEN)
"""Indexed by a colour's digit in `pattern_code` (gray 0, yellow 1, green 2)."""

LEGEND = (
    "green = right letter in the right spot; yellow = the word has this letter elsewhere; "
    "gray = the word has no (more) copies of this letter"
)

_LINE = re.compile(r"^\d+\. ([A-Z]+) -> (.+)$", re.MULTILINE)
_MARK = re.compile(r"([A-Z]) (green|yellow|gray)")


def score(guess: str, secret: str) -> tuple[str, ...]:
    """The colour of each letter of `guess` against `secret` (equal lengths, lower-case)."""
    colours = [GREEN if g == s else GRAY for g, s in zip(guess, secret, strict=True)]
    unmatched = Counter(s for s, colour in zip(secret, colours, strict=True) if colour != GREEN)
    for index, letter in enumerate(guess):
        if colours[index] != GREEN and unmatched[letter] > 0:
            colours[index] = YELLOW
            unmatched[letter] -= 1
    return tuple(colours)


def pattern_code(colours: Sequence[str]) -> int:
    """`colours` as one base-3 integer: the digit of letter i (gray 0, yellow 1, green 2) times 3**i."""
    return sum(COLOURS.index(colour) * 3**index for index, colour in enumerate(colours))


def board_line(number: int, guess: str, colours: Sequence[str]) -> str:
    """One line of the board for the `number`-th guess."""
    marks = ", ".join(f"{letter.upper()} {colour}" for letter, colour in zip(guess, colours, strict=True))
    return f"{number}. {guess.upper()} -> {marks}"


def parse_board(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Every (guess, colours) pair whose board line appears in `text`, in order; guesses lower-case."""
    board = []
    for word, marks in _LINE.findall(text):
        colours = tuple(colour for _, colour in _MARK.findall(marks))
        if len(colours) == len(word):
            board.append((word.lower(), colours))
    return board
