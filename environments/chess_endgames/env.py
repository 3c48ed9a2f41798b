"""`ChessEndgameEnv`: checkmate a lone king with king and queen (`chess-kqk-v0`) or king and rook
(`chess-krk-v0`), playing moves as text against a defender.

Episode: `reset` draws a starting position from the seeded generator (see
`positions.random_position`: the agent plays White, to move, and its piece is not attacked), or
takes `options={"fen": FEN}` (any legal position of this ending with the agent's side to move;
it may be Black). Each step reads one move from the action text (grammar: `moves`), plays it,
and, unless the game has ended, plays the defender's reply (`opponents`: Stockfish when
installed, else the perfect built-in defender). The game ends by the rules of chess, with
threefold repetition and the fifty-move rule applied automatically (`positions.game_end`).

Rewards, per step (`info["result"]` names how a game ended):

| event                                                       | reward                    | episode                   |
|-------------------------------------------------------------|---------------------------|---------------------------|
| the agent's move mates                                      | +1                        | terminated, success True  |
| a draw: stalemate, the piece taken (insufficient material), | `draw_reward` (0)         | terminated, success False |
|   threefold repetition, or the fifty-move rule              |                           |                           |
| invalid action: no legal move named, or several             | -`invalid_penalty` (-0.1) | goes on, position kept    |
| any other legal move                                        | 0                         | goes on                   |

The registered time limit (30 turns for KQK, 50 for KRK; invalid actions count as turns)
truncates the episode; perfect play mates within 10 (KQK) or 16 (KRK) moves from any start.

Observation: `observation.observation_text` (board diagram, FEN, whose move, the opponent's
last move, optionally the legal moves). Anchor: the FEN without its two move counters (piece
placement, side to move, castling, en passant), i.e. the position itself.

Forking copies the position and its move history; a Stockfish opponent of the copy takes its
own lease on the shared engine, and `close` gives it back.
"""

from __future__ import annotations

import copy
from typing import Any

try:
    import chess
except ModuleNotFoundError as error:  # the registry wraps this in a RegistrationError
    raise ModuleNotFoundError(
        f"the chess endgames need python-chess: pip install 'agentgym[games]' ({error})", name=error.name
    ) from error

from agentgym.env import SyncEnv
from agentgym.environments.chess_endgames.moves import InvalidMove, read_move
from agentgym.environments.chess_endgames.observation import observation_text
from agentgym.environments.chess_endgames.opponents import make_opponent
from agentgym.environments.chess_endgames.positions import PIECE_TYPES, game_end, position_from_fen, random_position
from agentgym.types import Observation, StepResult


class ChessEndgameEnv(SyncEnv):
    """King and `piece` ("Q" or "R") against a lone king; see the module docstring. Forkable.

    Args:
        piece: the agent's piece besides its king: "Q" (KQK) or "R" (KRK).
        opponent: "auto" (Stockfish if installed, else built in), "stockfish" or "builtin".
        engine_path: the Stockfish binary (default: `stockfish` on PATH, or /usr/games/stockfish).
        engine_depth: Stockfish's search depth in plies (one thread, cleared hash: deterministic).
        list_legal_moves: list the agent's legal moves in each observation.
        draw_reward: the reward of a draw.
        invalid_penalty: subtracted for an invalid action.
    """

    def __init__(
        self,
        piece: str = "Q",
        opponent: str = "auto",
        engine_path: str | None = None,
        engine_depth: int = 8,
        list_legal_moves: bool = True,
        draw_reward: float = 0.0,
        invalid_penalty: float = 0.1,
    ):
        if piece not in PIECE_TYPES:
            raise ValueError(f"piece must be one of {sorted(PIECE_TYPES)}, got {piece!r}")
        self.piece = piece
        self.opponent = make_opponent(opponent, piece, engine_path, engine_depth)
        self.list_legal_moves = list_legal_moves
        self.draw_reward, self.invalid_penalty = draw_reward, invalid_penalty
        self.board = chess.Board(None)
        self.agent = chess.WHITE
        self.last_reply: str | None = None

    @property
    def system_prompt(self) -> str:  # type: ignore[override]
        piece = chess.piece_name(PIECE_TYPES[self.piece])
        limit = self.spec.max_turns if self.spec is not None else None
        return (
            f"You are playing a chess endgame: you have a king and a {piece}, your opponent has a lone king, "
            f"and you must checkmate it. Standard chess rules apply. Your opponent is {self.opponent.description}.\n"
            "Each observation shows the board as a diagram (rank 8 at the top, file a on the left; upper-case letters "
            "are White's pieces and lower-case Black's: K king, Q queen, R rook, '.' an empty square), the position in "
            "FEN, whose move it is and the opponent's last move"
            + (", and lists your legal moves in SAN" if self.list_legal_moves else "")
            + ".\nAnswer with exactly one legal move, in SAN (e.g. Qe7+ or Kd2) or UCI (from-square then to-square, e.g. "
            "e1d2), inside an answer block: <answer>Kd2</answer>. Without an answer block the move is the one legal "
            "move your text names; naming no legal move, or several, is invalid.\n"
            f"Rewards: +1 for checkmate; {self.draw_reward:g} for a draw (stalemate, your {piece} captured, threefold "
            f"repetition or the fifty-move rule), and either ends the game; -{self.invalid_penalty:g} for an invalid or "
            "illegal move, which leaves the position unchanged; 0 for any other move."
            + (f" You have at most {limit} turns, invalid ones included." if limit else "")
        )

    def reset_sync(self, *, seed: int | None, options: dict[str, Any] | None) -> Observation:
        options = dict(options or {})
        fen = options.pop("fen", None)
        if options:
            raise ValueError(f"unknown options {sorted(options)}; the chess endgames accept only 'fen'")
        self.board = random_position(self.piece, self.np_random) if fen is None else position_from_fen(fen, self.piece)
        self.agent = self.board.turn
        self.last_reply = None
        return self._observation("A new game: checkmate the lone king.")

    def step_sync(self, action: str) -> StepResult:
        try:
            move = read_move(action, self.board)
        except InvalidMove as error:
            feedback = f"Invalid move: {error}. The position is unchanged; answer with exactly one legal move."
            return StepResult(
                observation=self._observation(feedback), reward=-self.invalid_penalty, info={"invalid_action": True}
            )
        event = f"You played {self.board.san(move)}"
        self.board.push(move)
        end = game_end(self.board)
        if end is None:
            reply = self.opponent.reply(self.board)
            self.last_reply = self.board.san(reply)
            event += f"; {chess.COLOR_NAMES[not self.agent].title()} answered {self.last_reply}"
            self.board.push(reply)
            end = game_end(self.board)
        if end is None:
            return StepResult(observation=self._observation(event + "."), info={"invalid_action": False})
        won = end == "checkmate"
        event += ": checkmate, you win!" if won else f": the game is drawn ({end})."
        return StepResult(
            observation=self._observation(event),
            reward=1.0 if won else self.draw_reward,
            terminated=True,
            info={"invalid_action": False, "success": won, "result": end},
        )

    def fork_sync(self) -> ChessEndgameEnv:
        clone = copy.copy(self)
        clone.board = self.board.copy()
        clone._np_random = copy.deepcopy(self._np_random)
        clone.opponent = self.opponent.fork()
        return clone

    def close_sync(self) -> None:
        self.opponent.close()

    def _observation(self, event: str) -> Observation:
        text = observation_text(
            self.board,
            self.agent,
            PIECE_TYPES[self.piece],
            event,
            self.last_reply,
            over=game_end(self.board) is not None,
            list_moves=self.list_legal_moves,
        )
        return Observation(text=text, anchor=" ".join(self.board.fen().split()[:4]))
