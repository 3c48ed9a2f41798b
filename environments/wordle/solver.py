"""The Wordle expert: keep the answers consistent with the board and guess to maximise the
expected information (the entropy of the feedback pattern over those candidates).

It reads only the observation text (the board lines, parsed by `board.parse_board`) and the
public word lists shipped with the package, so it plays a served environment unchanged. The
feedback of every (guess, answer) pair is computed once per process as a NumPy matrix of base-3
pattern codes (`board.pattern_code`), vectorised over all pairs; each turn is then a few array
operations. Guesses are drawn from the answer list; among equally informative guesses one that
could itself be the secret wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from agentgym.types import Observation

from .board import parse_board, pattern_code
from .words import WORD_LENGTH, answers

_PATTERNS = 3**WORD_LENGTH


def feedback_codes(guesses: Sequence[str], targets: Sequence[str]) -> np.ndarray:
    """`codes[g, t]` = `pattern_code(score(guesses[g], targets[t]))`, vectorised over all pairs."""
    guess = np.array([[ord(c) for c in word] for word in guesses], dtype=np.uint8)[:, None, :]
    target = np.array([[ord(c) for c in word] for word in targets], dtype=np.uint8)[None, :, :]
    green = guess == target  # (guesses, targets, positions)
    codes = np.zeros(green.shape[:2], dtype=np.int32)
    for i in range(WORD_LENGTH):
        # unmatched copies of guess letter i in the target, and earlier non-green copies of it in the guess
        available = sum((target[:, :, j] == guess[:, :, i]) & ~green[:, :, j] for j in range(WORD_LENGTH))
        claimed = sum((guess[:, :, k] == guess[:, :, i]) & ~green[:, :, k] for k in range(i))
        yellow = ~green[:, :, i] & (available > claimed)
        codes += 3**i * (2 * green[:, :, i] + yellow)
    return codes


@lru_cache(maxsize=1)
def pattern_matrix() -> np.ndarray:
    """`feedback_codes(answers(), answers())` as uint8 (codes are below 3**5), computed once per process."""
    return feedback_codes(answers(), answers()).astype(np.uint8)


class WordleSolver:
    """Entropy-maximising Wordle player over the shipped answer list (an `Agent`)."""

    def reset(self, observation: Observation, system_prompt: str) -> None:
        pass

    def act(self, observation: Observation) -> str:
        board = parse_board(observation.text)
        consistent = np.ones(len(answers()), dtype=bool)
        if board:
            codes = feedback_codes([guess for guess, _ in board], answers())
            for row, (_, colours) in zip(codes, board, strict=True):
                consistent &= row == pattern_code(colours)
        candidates = tuple(int(index) for index in np.flatnonzero(consistent))
        return f"<answer>{answers()[best_guess(candidates)]}</answer>"


@lru_cache(maxsize=4096)
def best_guess(candidates: tuple[int, ...]) -> int:
    """The index (into `answers()`) of the most informative guess against `candidates`; with
    one or two candidates left, the first of them; with none (a secret outside the answer
    list), the first answer."""
    if len(candidates) <= 2:
        return candidates[0] if candidates else 0
    patterns = pattern_matrix()[:, candidates].astype(np.int64)  # (guesses, candidates)
    rows = np.arange(patterns.shape[0])[:, None] * _PATTERNS
    counts = np.bincount((rows + patterns).ravel(), minlength=patterns.shape[0] * _PATTERNS)
    counts = counts.reshape(patterns.shape[0], _PATTERNS)
    probabilities = counts / len(candidates)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(probabilities * np.log2(probabilities), axis=1)
    is_candidate = np.zeros(patterns.shape[0])
    is_candidate[list(candidates)] = 1e-6  # tie-break towards a guess that may win now
    return int(np.argmax(entropy + is_candidate))

