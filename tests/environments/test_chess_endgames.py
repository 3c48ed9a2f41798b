"""chess-kqk-v0 and chess-krk-v0: the tablebase solver mates on (nearly) every seed, against the
built-in defender, against Stockfish (when installed) and through a served environment; random
legal moves almost never mate. Also the action grammar, draws, determinism, fork, anchors and
the Stockfish process lifetime."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import numpy as np
import pytest
from support import replay, run_python

chess = pytest.importorskip("chess", reason="the chess endgames need python-chess: pip install 'agentgym[games]'")

import agentgym  # noqa: E402
from agentgym.environments.chess_endgames.moves import InvalidMove, read_move  # noqa: E402
from agentgym.environments.chess_endgames.opponents import find_stockfish  # noqa: E402
from agentgym.environments.chess_endgames.positions import game_end, random_position  # noqa: E402
from agentgym.environments.chess_endgames.solver import ChessEndgameSolver  # noqa: E402
from agentgym.environments.chess_endgames.tablebase import index, solve  # noqa: E402

LONGEST_MATE = {"chess-kqk-v0": 10, "chess-krk-v0": 16}  # moves, with perfect play from the worst start
SEEDS = range(100)
needs_stockfish = pytest.mark.skipif(
    find_stockfish() is None, reason="Stockfish is not installed (apt-get install stockfish); its opponent is untested"
)
OPPONENTS = ["builtin", pytest.param("stockfish", marks=needs_stockfish)]


class RandomMover:
    """The baseline: a uniformly random move among the legal moves the observation lists."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def reset(self, observation, system_prompt: str) -> None:
        pass

    def act(self, observation) -> str:
        listed = re.search(r"^Your legal moves: (.+)$", observation.text, re.MULTILINE)
        return self.rng.choice(listed.group(1).split())


def solver_move(observation) -> str:
    return ChessEndgameSolver().act(observation)


# --- the tablebase ------------------------------------------------------------------------


@pytest.mark.parametrize("piece, longest", [("Q", 10), ("R", 16)])
def test_tablebase_reproduces_the_known_longest_mates(piece, longest):
    table = solve(piece)
    assert table.attacker_to_move.max() == 2 * longest - 1  # in plies, the attacker moving first


def _table_index(board) -> int:
    """The tablebase index of a board where White has king and queen or rook, Black a lone king."""
    piece = next(s for s in chess.SquareSet(board.occupied_co[chess.WHITE]) if s != board.king(chess.WHITE))
    return index(board.king(chess.WHITE), piece, board.king(chess.BLACK))


@pytest.mark.parametrize("piece", ["Q", "R"])
def test_tablebase_agrees_with_python_chess_one_ply_deep(piece):
    """Each sampled position's value is 1 + the best value over its legal moves (python-chess's
    move generator), and 0 exactly at checkmate: the backward induction is consistent."""
    table, rng = solve(piece), np.random.default_rng(7)
    piece_type = chess.QUEEN if piece == "Q" else chess.ROOK
    checked = 0
    while checked < 300:
        a, p, d = (int(square) for square in rng.choice(64, size=3, replace=False))
        board = chess.Board(None)
        board.set_piece_map(
            {a: chess.Piece(chess.KING, True), p: chess.Piece(piece_type, True), d: chess.Piece(chess.KING, False)}
        )
        board.turn = [chess.WHITE, chess.BLACK][checked % 2]
        if not board.is_valid():
            continue
        checked += 1
        after = []
        for move in board.legal_moves:
            board.push(move)
            captured = chess.popcount(board.occupied) == 2  # a draw
            own = table.defender_to_move if board.turn == chess.BLACK else table.attacker_to_move
            after.append(-1 if captured else int(own[_table_index(board)]))
            board.pop()
        if board.turn == chess.WHITE:
            assert table.attacker_to_move[_table_index(board)] == 1 + min(v for v in after if v >= 0)
        elif board.is_checkmate():
            assert table.defender_to_move[_table_index(board)] == 0
        else:
            expected = -1 if not after or min(after) < 0 else 1 + max(after)
            assert table.defender_to_move[_table_index(board)] == expected


# --- solver against random ----------------------------------------------------------------


@pytest.mark.parametrize("env_id", sorted(LONGEST_MATE))
async def test_solver_mates_and_random_moves_do_not(run_agent, env_id):
    solver = await run_agent(env_id, lambda seed: ChessEndgameSolver(), SEEDS, opponent="builtin")
    rand = await run_agent(env_id, RandomMover, SEEDS, opponent="builtin")
    assert solver.success_rate >= 0.95
    assert max(episode.turns for episode in solver.episodes) <= LONGEST_MATE[env_id]  # perfect play
    assert sum(episode.invalid_actions for episode in solver.episodes) == 0
    assert rand.success_rate <= 0.1
    assert rand.mean_return < solver.mean_return - 0.8


@needs_stockfish
@pytest.mark.parametrize("env_id", sorted(LONGEST_MATE))
async def test_solver_mates_against_stockfish(run_agent, env_id):
    report = await run_agent(env_id, lambda seed: ChessEndgameSolver(), SEEDS, opponent="stockfish")
    assert report.success_rate >= 0.95
    assert max(episode.turns for episode in report.episodes) <= LONGEST_MATE[env_id]


@pytest.mark.parametrize("env_id, notation", [("chess-kqk-v0", "uci"), ("chess-krk-v0", "san")])
async def test_solver_mates_through_a_served_environment(run_agent, env_id, notation):
    report = await run_agent(
        env_id, lambda seed: ChessEndgameSolver(notation), range(20), remote=True, opponent="builtin"
    )
    assert report.success_rate == 1.0


# --- the action grammar -------------------------------------------------------------------

START = "4k3/8/8/8/8/8/8/4K2Q w - - 0 1"  # White Ke1 Qh1, Black Ke8


@pytest.mark.parametrize(
    "text, uci",
    [
        ("Qe4", "h1e4"),
        ("Qe4+", "h1e4"),  # the check sign is optional and not checked
        ("Qh1e4", "h1e4"),  # long SAN
        ("e1d2", "e1d2"),  # UCI
        ("E1D2", "e1d2"),  # UCI in upper case
        ("<answer>Kd2</answer>", "e1d2"),
        ("Kf1 looks slow. <answer>Qh5+</answer>", "h1h5"),  # only the last answer block counts
        ("1. Kd2!", "e1d2"),  # numbering and annotation signs separate words
        ("Kd2 (e1d2)", "e1d2"),  # the same move in both notations
        ("the king on d5 should go Kd1", "e1d1"),  # d5 is no legal move here, Kd1 is
    ],
)
def test_san_and_uci_moves_are_read(text, uci):
    assert read_move(text, chess.Board(START)).uci() == uci


@pytest.mark.parametrize(
    "text, feedback",
    [
        ("Kd2 or Ke2", "names 2 different legal moves (Kd2, Ke2)"),
        ("Qe8", "Qe8 is not a legal move"),  # the queen cannot reach e8 (and e8 holds the king)
        ("e1e3", "e1e3 is not a legal move"),
        ("kd2", "kd2 is not a legal move"),  # SAN piece letters are upper case
        ("resign", "no move"),
        ("0000", "no move"),  # the null move is never legal
        ("<answer></answer> Kd2", "no move"),
    ],
)
def test_invalid_moves_are_explained(text, feedback):
    with pytest.raises(InvalidMove, match=re.escape(feedback)):
        read_move(text, chess.Board(START))


async def test_an_invalid_action_is_penalised_and_leaves_the_position():
    async with agentgym.make("chess-kqk-v0", opponent="builtin") as env:
        first = await env.reset(options={"fen": START})
        for action in ("Qz9", "Kd2 Ke2", "Ke7"):
            result = await env.step(action)
            assert result.invalid_action and result.reward == pytest.approx(-0.1)
            assert not result.done
            assert result.observation.text.startswith("Invalid move:")
            assert result.observation.anchor == first.anchor
            assert "FEN: 4k3/8/8/8/8/8/8/4K2Q w - - 0 1" in result.observation.text
        result = await env.step("<answer>Kd2</answer>")
        assert not result.invalid_action and result.reward == 0.0
        assert result.observation.text.startswith("You played Kd2; Black answered K")


# --- game ends ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env_id, fen, actions, reward, result",
    [
        ("chess-kqk-v0", "k7/8/1K6/8/8/8/7Q/8 w - - 0 1", ["Qh8#"], 1.0, "checkmate"),
        ("chess-kqk-v0", "k7/8/1K6/8/8/8/8/2Q5 w - - 0 1", ["Qc7"], 0.0, "stalemate"),
        ("chess-krk-v0", "8/8/8/8/8/2k5/1R6/6K1 w - - 0 1", ["Kg2"], 0.0, "insufficient material"),  # Kxb2
        ("chess-kqk-v0", "k7/8/1K6/8/8/8/7Q/8 w - - 99 80", ["Kc6"], 0.0, "fifty-move rule"),
        ("chess-kqk-v0", "k7/8/2K5/8/8/8/8/6Q1 w - - 0 1", ["Qh1", "Qg1", "Qh1", "Qg1"], 0.0, "threefold repetition"),
    ],
)
async def test_mate_and_draws_end_the_episode(env_id, fen, actions, reward, result):
    async with agentgym.make(env_id, opponent="builtin") as env:
        await env.reset(options={"fen": fen})
        for action in actions:
            step = await env.step(action)
        assert step.terminated and not step.truncated
        assert step.reward == reward
        assert step.info["result"] == result and step.info["success"] == (result == "checkmate")
        assert "Your legal moves" not in step.observation.text
        assert "The game is over." in step.observation.text


async def test_the_turn_limit_truncates():
    async with agentgym.make("chess-krk-v0", opponent="builtin", max_turns=3) as env:
        await env.reset(seed=0)
        results = [await env.step("nonsense") for _ in range(3)]
    assert [r.truncated for r in results] == [False, False, True]
    assert not results[-1].terminated


def test_game_end_detects_repetition_only_on_the_third_occurrence():
    board = chess.Board("k7/8/2K5/8/8/8/8/6Q1 w - - 0 1")
    for uci in ("g1h1", "a8b8", "h1g1", "b8a8", "g1h1", "a8b8", "h1g1"):
        board.push_uci(uci)
        assert game_end(board) is None
    board.push_uci("b8a8")
    assert game_end(board) == "threefold repetition"


# --- starting positions, options, prompt --------------------------------------------------


@pytest.mark.parametrize("piece", ["Q", "R"])
def test_random_positions_meet_their_contract(piece):
    rng, seen = np.random.default_rng(0), set()
    for _ in range(200):
        board = random_position(piece, rng)
        seen.add(board.board_fen())
        piece_square = next(iter(board.pieces(chess.QUEEN if piece == "Q" else chess.ROOK, chess.WHITE)))
        assert board.turn == chess.WHITE and board.is_valid() and game_end(board) is None
        assert chess.popcount(board.occupied) == 3 and chess.popcount(board.occupied_co[chess.BLACK]) == 1
        assert not board.is_attacked_by(chess.BLACK, piece_square)
    assert len(seen) > 190


@pytest.mark.parametrize(
    "options, message",
    [
        ({"level": 2}, "unknown options"),
        ({"fen": "not a fen"}, "FEN"),
        ({"fen": "4k3/8/8/8/8/8/8/4K2R w - - 0 1"}, "king and a queen"),  # a rook in the KQK game
        ({"fen": "4k3/8/8/8/8/8/8/4K2Q b - - 0 1"}, "king and a queen"),  # the lone king to move
        ({"fen": "k7/1Q6/1K6/8/8/8/8/8 w - - 0 1"}, "not a legal position"),  # White to move, Black in check
    ],
)
async def test_bad_reset_options_are_rejected(options, message):
    async with agentgym.make("chess-kqk-v0", opponent="builtin") as env:
        with pytest.raises(ValueError, match=message):
            await env.reset(options=options)


async def test_a_fen_may_give_the_agent_black():
    async with agentgym.make("chess-krk-v0", opponent="builtin") as env:
        first = await env.reset(options={"fen": "8/8/8/3k4/8/8/3r4/K7 b - - 0 1"})
        assert "You play Black (king and rook) against White's lone king. Black to move." in first.text
        result = await env.step(solver_move(first))
        assert not result.invalid_action and "White answered K" in result.observation.text


async def test_legal_move_listing_and_the_prompt_follow_the_options():
    async with agentgym.make("chess-krk-v0", opponent="builtin", list_legal_moves=False) as env:
        observation = await env.reset(seed=3)
        assert "Your legal moves" not in observation.text and "lists your legal moves" not in env.system_prompt
        assert "at most 50 turns" in env.system_prompt and "king and a rook" in env.system_prompt
    async with agentgym.make("chess-krk-v0", opponent="builtin") as env:
        observation = await env.reset(seed=3)
        board = chess.Board(re.search(r"^FEN: (.+)$", observation.text, re.MULTILINE).group(1))
        listed = re.search(r"^Your legal moves: (.+)$", observation.text, re.MULTILINE).group(1).split()
        assert sorted(listed) == sorted(board.san(move) for move in board.legal_moves)
        assert "lists your legal moves" in env.system_prompt and "built-in defender" in env.system_prompt


# --- determinism, fork, anchor ------------------------------------------------------------


@pytest.mark.parametrize("opponent", OPPONENTS)
async def test_same_seed_and_actions_replay_identically(opponent):
    async with agentgym.make("chess-krk-v0", opponent=opponent) as env:
        observation = await env.reset(seed=11)
        actions = []
        for _ in range(4):  # a mix of the solver's moves and an invalid one
            actions += [solver_move(observation), "castle!"]
            observation = (await env.step(actions[-2])).observation
            await env.step(actions[-1])
        first = await replay(env, 11, actions)
        second = await replay(env, 11, actions)
        other_seed = await env.reset(seed=12)
    assert first == second
    assert other_seed.text != first[0].text


@pytest.mark.parametrize("opponent", OPPONENTS)
async def test_fork_is_independent(opponent):
    env = agentgym.make("chess-kqk-v0", opponent=opponent)
    observation = await env.reset(seed=5)
    prefix = []
    for _ in range(2):
        prefix.append(solver_move(observation))
        observation = (await env.step(prefix[-1])).observation
    fork = await env.fork()
    board = chess.Board(re.search(r"^FEN: (.+)$", observation.text, re.MULTILINE).group(1))
    king_move = next(board.san(m) for m in board.legal_moves if board.piece_type_at(m.from_square) == chess.KING)
    forked = await fork.step(king_move)
    original = await env.step(solver_move(observation))
    assert not forked.invalid_action and not original.invalid_action
    assert forked.observation.anchor != original.observation.anchor
    async with agentgym.make("chess-kqk-v0", opponent=opponent) as fresh:  # each went on like a fresh replay
        _, steps = await replay(fresh, 5, [*prefix, king_move])
        assert steps[-1][0] == forked.observation.text
        _, steps = await replay(fresh, 5, [*prefix, solver_move(observation)])
        assert steps[-1][0] == original.observation.text
    await fork.close()
    assert not (await env.step(solver_move(original.observation))).invalid_action  # the original still plays
    await env.close()


async def test_anchor_is_the_position_not_its_history():
    async with agentgym.make("chess-kqk-v0", opponent="builtin") as env:
        start = await env.reset(options={"fen": START})
        played = (await env.step("Kd2")).observation
        fen = re.search(r"^FEN: (.+)$", played.text, re.MULTILINE).group(1)
        restarted = await env.reset(options={"fen": fen.rsplit(" ", 2)[0] + " 0 1"})  # same position, no history
    assert restarted.anchor == played.anchor == " ".join(fen.split()[:4])
    assert restarted.text != played.text  # the counters and the last move differ
    assert start.anchor != played.anchor


# --- Stockfish process lifetime and a missing package ---------------------------------------


def _stockfish_children() -> int:
    pids = " ".join(
        Path(f"/proc/self/task/{task}/children").read_text() for task in os.listdir("/proc/self/task")
    ).split()
    return sum(
        Path(f"/proc/{pid}/comm").read_text().strip() == "stockfish" for pid in pids if Path(f"/proc/{pid}").exists()
    )


@needs_stockfish
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="counts child processes through Linux's /proc")
async def test_one_shared_stockfish_process_quits_with_its_last_env():
    before = _stockfish_children()
    envs = [agentgym.make("chess-kqk-v0", opponent="stockfish") for _ in range(2)]
    observations = [
        (await env.step(solver_move(await env.reset(seed=seed)))).observation for seed, env in enumerate(envs)
    ]
    fork = await envs[0].fork()
    await fork.step(solver_move(observations[0]))
    assert _stockfish_children() == before + 1
    for env in (*envs, fork):
        await env.close()
        await env.close()  # idempotent
    assert _stockfish_children() == before


@needs_stockfish
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
async def test_a_forked_process_starts_its_own_engine():
    env = agentgym.make("chess-kqk-v0", opponent="stockfish")
    first = await env.step(solver_move(await env.reset(seed=2)))  # the parent's engine runs now
    action = solver_move(first.observation)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child steps synchronously (no event loop) and reports its observation
        try:
            os.write(write_end, env.unwrapped.step_sync(action).observation.text.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child_text = pipe.read().decode()
    os.waitpid(pid, 0)
    parent = await env.step(action)
    await env.close()
    assert child_text == parent.observation.text


def test_without_python_chess_making_an_env_says_what_to_install(tmp_path):
    code = (
        "import sys; sys.modules['chess'] = None\n"
        "import agentgym\n"
        "from agentgym.errors import RegistrationError\n"
        "assert 'chess-krk-v0' in [spec.id for spec in agentgym.list_envs()]\n"
        "try:\n    agentgym.make('chess-krk-v0')\n"
        "except RegistrationError as error:\n    print(error)\n"
    )
    output = run_python(code, cwd=tmp_path).stdout
    assert "pip install 'agentgym[games]'" in output
