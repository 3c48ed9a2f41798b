"""Chess endgames: checkmate a lone king with king and queen (KQK) or king and rook (KRK).

The family of LMRL-Gym's chess-endgame task (Abdulhai et al., 2023), played through text: the
agent answers with moves in SAN or UCI and a defender replies. Modules:

- `env`: the environment (`ChessEndgameEnv`), its rewards and observation contract.
- `positions`: random starting positions, positions from a FEN, and how a game ends.
- `moves`: reading a move from the model's text (the action grammar).
- `observation`: the observation text (board diagram, FEN, legal moves).
- `opponents` and `engine`: the defender, Stockfish when installed, else a perfect built-in one.
- `tablebase`: retrograde analysis of KQK and KRK (distance to mate of every position).
- `solver`: the expert agent, which reads only the observation's FEN.

Needs the `chess` package (python-chess): `pip install 'agentgym[games]'`. This module
imports nothing heavy, so `agentgym list` works without it.
"""

from __future__ import annotations

from agentgym.registration import register as register_env

ENTRY_POINT = "agentgym.environments.chess_endgames.env:ChessEndgameEnv"

PRESETS: dict[str, tuple[str, str, int]] = {"chess-kqk-v0": ("Q", "queen", 30), "chess-krk-v0": ("R", "rook", 50)}
"""id -> (the attacker's piece, its name, max turns)."""


def register() -> None:
    for env_id, (piece, name, max_turns) in PRESETS.items():
        register_env(
            env_id,
            ENTRY_POINT,
            max_turns=max_turns,
            description=f"Chess endgame: checkmate a lone king with king and {name} (SAN or UCI moves)",
            capabilities={"fork": True},
            piece=piece,
        )
