"""Retrograde analysis of king + queen or king + rook against a lone king (KQK, KRK).

A position is the attacker's king square `a`, its piece's square `p` and the defender's king
square `d`, numbered as in python-chess (0 = a1, 1 = b1, ..., 63 = h8), together with the side
to move. Colours play no part (there are no pawns and no castling in these endings), so one
table serves White and Black. `index(a, p, d) = (a * 64 + p) * 64 + d`.

The tables give the distance to mate in plies (half-moves) with best play from both sides:
`attacker_to_move[i]` (odd: the attacker mates on that ply) and `defender_to_move[i]` (even;
0 = the defender is checkmated now). -1 marks an impossible position, or one that is not lost
for the defender (he can take the piece or is stalemated). This is the classic backward
induction of endgame tablebases (Thompson, "Retrograde analysis of certain endgames", ICCA
Journal 1986); the known results it reproduces are a longest mate of 10 moves (19 plies) for
KQK and 16 moves (31 plies) for KRK.

The whole table is computed with numpy over all 64**3 square triples (under a second per
ending on one core) and kept in memory once per process by `solve`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

SQUARES = 64
POSITIONS = SQUARES**3

_KING_STEPS = [(df, dr) for df in (-1, 0, 1) for dr in (-1, 0, 1) if (df, dr) != (0, 0)]
_PIECE_STEPS = {
    "Q": _KING_STEPS,
    "R": [(1, 0), (-1, 0), (0, 1), (0, -1)],
}
PIECES = tuple(_PIECE_STEPS)
"""The attacker's piece, as its SAN letter: "Q" (KQK) or "R" (KRK)."""


def index(a: int | np.ndarray, p: int | np.ndarray, d: int | np.ndarray) -> int | np.ndarray:
    """The table index of attacker king `a`, attacker piece `p`, defender king `d`."""
    return (a * SQUARES + p) * SQUARES + d


@dataclass(frozen=True)
class Tablebase:
    """Distances to mate in plies for one ending (see the module docstring); -1: not lost."""

    piece: str
    attacker_to_move: np.ndarray
    defender_to_move: np.ndarray


def _king_distance() -> np.ndarray:
    files, ranks = np.arange(SQUARES) % 8, np.arange(SQUARES) // 8
    return np.maximum(abs(files[:, None] - files[None, :]), abs(ranks[:, None] - ranks[None, :]))


def _king_targets() -> np.ndarray:
    """`targets[s, k]`: the square one king step k from s, or -1 off the board."""
    targets = np.full((SQUARES, len(_KING_STEPS)), -1)
    for square in range(SQUARES):
        for k, (df, dr) in enumerate(_KING_STEPS):
            file, rank = square % 8 + df, square // 8 + dr
            if 0 <= file < 8 and 0 <= rank < 8:
                targets[square, k] = rank * 8 + file
    return targets


def _lines(piece: str) -> tuple[np.ndarray, np.ndarray]:
    """`aligned[p, t]`: t is on one of the piece's lines from p; `between[p, t, b]`: b lies
    strictly between p and t on that line (a blocker)."""
    aligned = np.zeros((SQUARES, SQUARES), dtype=bool)
    between = np.zeros((SQUARES, SQUARES, SQUARES), dtype=bool)
    for square in range(SQUARES):
        for df, dr in _PIECE_STEPS[piece]:
            file, rank, path = square % 8, square // 8, []
            while 0 <= file + df < 8 and 0 <= rank + dr < 8:
                file, rank = file + df, rank + dr
                target = rank * 8 + file
                aligned[square, target] = True
                between[square, target, path] = True
                path.append(target)
    return aligned, between


def _analyse(piece: str) -> Tablebase:
    distance, king_targets = _king_distance(), _king_targets()
    aligned, between = _lines(piece)
    every = np.arange(POSITIONS)
    a, p, d = every // SQUARES**2, every // SQUARES % SQUARES, every % SQUARES
    legal = (a != p) & (p != d) & (distance[a, d] > 1)
    check = legal & aligned[p, d] & ~between[p, d, a]

    # Attacker moves, as (from, to) index pairs into the defender-to-move table.
    ids = np.flatnonzero(legal & ~check)
    aa, pp, dd = a[ids], p[ids], d[ids]
    attacker_edges = []
    for k in range(len(_KING_STEPS)):
        target = king_targets[aa, k]
        ok = (target >= 0) & (target != pp)
        ok[ok] = distance[target[ok], dd[ok]] > 1
        attacker_edges.append((ids[ok], index(target[ok], pp[ok], dd[ok])))
    for target in range(SQUARES):  # the piece slides; either king blocks it
        ok = aligned[pp, target] & ~between[pp, target, aa] & ~between[pp, target, dd] & (target != aa) & (target != dd)
        attacker_edges.append((ids[ok], index(aa[ok], target, dd[ok])))
    attacker_from, attacker_to = (np.concatenate(part) for part in zip(*attacker_edges, strict=True))

    # Defender moves: king steps to squares the attacker does not control (the defender's own
    # square does not block the piece's line). Taking the piece when it is unprotected draws.
    ids = np.flatnonzero(legal)
    defender_edges, can_capture = [], np.zeros(POSITIONS, dtype=bool)
    for k in range(len(_KING_STEPS)):
        target = king_targets[d[ids], k]
        on_board = target >= 0
        source, target = ids[on_board], target[on_board]
        aa, pp = a[source], p[source]
        safe = distance[target, aa] > 1
        can_capture[source[safe & (target == pp) & (distance[pp, aa] > 1)]] = True
        ok = safe & (target != pp) & ~(aligned[pp, target] & ~between[pp, target, aa])
        defender_edges.append((source[ok], index(aa[ok], pp[ok], target[ok])))
    defender_from, defender_to = (np.concatenate(part) for part in zip(*defender_edges, strict=True))
    defender_moves = np.bincount(defender_from, minlength=POSITIONS)

    # Backward induction, one ply at a time, from the checkmates.
    attacker_dtm = np.full(POSITIONS, -1, dtype=np.int8)
    defender_dtm = np.full(POSITIONS, -1, dtype=np.int8)
    defender_dtm[check & (defender_moves == 0) & ~can_capture] = 0
    ply = 0
    while True:
        ply += 1
        if ply % 2:  # the attacker mates in `ply` when one move reaches a loss in ply - 1
            reaches = np.bincount(attacker_from, weights=defender_dtm[attacker_to] == ply - 1, minlength=POSITIONS)
            new = (reaches > 0) & (attacker_dtm < 0)
            attacker_dtm[new] = ply
        else:  # the defender is mated in `ply` once every move reaches a won position
            won = np.bincount(defender_from, weights=attacker_dtm[defender_to] >= 0, minlength=POSITIONS)
            new = (defender_dtm < 0) & legal & ~can_capture & (defender_moves > 0) & (won == defender_moves)
            defender_dtm[new] = ply
            if not new.any():
                break
    return Tablebase(piece, attacker_dtm, defender_dtm)


_cache: dict[str, Tablebase] = {}
_cache_lock = threading.Lock()


def solve(piece: str) -> Tablebase:
    """The tablebase for king + `piece` ("Q" or "R") against a king, computed once per process."""
    if piece not in _PIECE_STEPS:
        raise ValueError(f"no tablebase for piece {piece!r}; choose one of {PIECES}")
    with _cache_lock:
        if piece not in _cache:
            _cache[piece] = _analyse(piece)
        return _cache[piece]
