"""Sokoban: the expert solves every seed (in process and served), random play does not; rooms
are solvable within the turn limit and generated fast; the solver is move-optimal; rules,
rewards, invalid actions, seeding, fork and anchors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from support import play, replay

import agentgym
from agentgym.agents import EpisodeReport, RandomAgent, play_episode, play_from
from agentgym.environments.grid import breadth_first
from agentgym.environments.sokoban import PRESETS
from agentgym.environments.sokoban.board import Board, Outcome
from agentgym.environments.sokoban.generator import RoomSpec, generate
from agentgym.environments.sokoban.solver import SokobanSolver, push_distances, solve

MOVES = ["up", "down", "left", "right"]
ONE_PUSH = "#####\n#PXO#\n#####"
TWO_BOXES = """
#######
#PXO__#
#__XO_#
#######
"""


# --- the expert and the baseline -----------------------------------------------------------


async def test_expert_solves_every_seed_and_random_does_worse(run_agent):
    expert = await run_agent("sokoban-v0", lambda seed: SokobanSolver(), range(100))
    random = await run_agent("sokoban-v0", lambda seed: RandomAgent(MOVES, seed), range(100))
    assert expert.success_rate == 1.0
    assert min(e.total_reward for e in expert.episodes) >= 10.9 - 0.1 * 14 - 1e-9  # solved within 15 moves
    assert random.success_rate < 0.2 and random.mean_return < 0  # measured: 0.07 and -0.70


async def test_the_easy_preset_is_solvable_in_few_moves_and_random_moves_solve_some(run_agent):
    expert = await run_agent("sokoban-easy-v0", lambda seed: SokobanSolver(), range(100))
    random = await run_agent("sokoban-easy-v0", lambda seed: RandomAgent(MOVES, seed), range(100))
    assert expert.success_rate == 1.0
    assert max(e.turns for e in expert.episodes) <= 3  # optimal solutions of 1-3 moves
    assert 0.2 < random.success_rate < 0.7  # measured: about 0.4 (the demo's room for learning)


@pytest.mark.parametrize("env_id", ["sokoban-8x8-2box-v0", "sokoban-10x10-3box-v0"])
async def test_expert_solves_the_harder_presets(run_agent, env_id):
    expert = await run_agent(env_id, lambda seed: SokobanSolver(), range(15))
    random = await run_agent(env_id, lambda seed: RandomAgent(MOVES, seed), range(15))
    assert expert.success_rate == 1.0
    assert random.success_rate == 0.0


async def test_expert_solves_through_a_served_environment(run_agent):
    report = await run_agent("sokoban-v0", lambda seed: SokobanSolver(), range(20), remote=True)
    assert report.success_rate == 1.0


async def test_expert_replans_when_the_board_is_not_what_it_planned_for():
    env = agentgym.make("sokoban-v0", max_turns=None)
    expert = SokobanSolver()
    observation = await env.reset(options={"level": "#######\n#_____#\n#_X_O_#\n#P____#\n#######"})
    expert.reset(observation, env.system_prompt)
    assert expert.act(observation) == "<answer>up</answer>"
    await env.step("up")
    observation = (await env.step("down")).observation  # someone else undoes the expert's move
    report = await play_from(env, expert, observation, EpisodeReport(seed=None))
    assert report.success and report.actions == ["<answer>up</answer>", "<answer>right</answer>", "<answer>right</answer>"]


# --- generation ----------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", list(PRESETS))
def test_presets_generate_puzzles_whose_optimal_solution_fits_the_turn_limit(env_id):
    max_turns, kwargs = PRESETS[env_id]
    spec = RoomSpec(**kwargs)
    assert spec.max_solution_moves <= max_turns == agentgym.spec(env_id).max_turns
    for seed in range(10):
        puzzle = generate(np.random.default_rng(seed), spec)
        solution = solve(puzzle.board)
        assert solution is not None and len(solution) == puzzle.optimal_moves
        assert spec.min_solution_moves <= puzzle.optimal_moves <= max_turns
        assert not puzzle.board.boxes & puzzle.board.targets
        assert (puzzle.board.height, puzzle.board.width, len(puzzle.board.boxes)) == (
            spec.height, spec.width, spec.num_boxes,
        )  # fmt: skip
        assert _replay(puzzle.board, solution).solved


def test_generating_a_6x6_room_takes_well_under_50_ms():
    spec = RoomSpec(**PRESETS["sokoban-v0"][1])
    generate(np.random.default_rng(0), spec)  # warm up
    start = time.perf_counter()
    for seed in range(100):
        generate(np.random.default_rng(seed), spec)
    mean = (time.perf_counter() - start) / 100
    assert mean < 0.01, f"{mean * 1000:.1f} ms per room"  # measured: about 1 ms


@pytest.mark.parametrize(
    "kwargs",
    [{"height": 2}, {"num_boxes": 0}, {"min_solution_moves": 0}, {"min_solution_moves": 9, "max_solution_moves": 8},
     {"floor_share": 0}, {"height": 4, "width": 4, "num_boxes": 3}],
)  # fmt: skip
def test_impossible_room_specs_are_refused_when_the_env_is_made(kwargs):
    with pytest.raises(ValueError):
        agentgym.make("sokoban-v0", **kwargs)


# --- the solver ----------------------------------------------------------------------------


def _replay(board: Board, moves: list[str]) -> Board:
    for move in moves:
        board = board.move(move)[0]
    return board


def _shortest_by_brute_force(board: Board) -> int | None:
    """Moves of a shortest solution by plain breadth-first search over whole boards."""
    reached = breadth_first([board], lambda b: [(move, b.move(move)[0]) for move in MOVES])
    return min((link.distance for b, link in reached.items() if b.solved), default=None)


@pytest.mark.parametrize("kwargs", [{}, {"height": 7, "width": 7, "num_boxes": 2, "max_solution_moves": 14}])
def test_solver_is_move_optimal_against_brute_force(kwargs):
    spec = RoomSpec(**kwargs)
    for seed in range(12):
        board = generate(np.random.default_rng(seed), spec).board
        solution = solve(board)
        assert _replay(board, solution).solved
        assert len(solution) == _shortest_by_brute_force(board)


def test_solver_walks_around_to_push_and_returns_nothing_on_a_solved_board():
    board = Board.parse("#######\n#_____#\n#_X_O_#\n#P____#\n#######")
    solution = solve(board)
    assert solution == ["up", "right", "right"]  # walk up beside the box, then push twice
    assert solve(_replay(board, solution)) == []


@pytest.mark.parametrize(
    "level",
    [
        "#####\n#OPX#\n#####",  # the box is at the end of a corridor
        "######\n#X__P#\n#___O#\n######",  # a box in a corner without a target
        "######\n#O__O#\n#_XX_#\n#_XX_#\n#OOP_#\n######",  # a 2x2 block of boxes off targets
    ],
)
def test_solver_reports_unsolvable_boards(level):
    assert solve(Board.parse(level)) is None


def test_dead_squares_are_missing_from_push_distances():
    distances = push_distances(Board.parse("######\n#X__P#\n#___O#\n######"))
    assert (1, 1) not in distances and (1, 4) not in distances  # corners
    assert (2, 1) not in distances  # against a wall, and no push can take it off that wall
    assert distances == {(2, 4): 0, (2, 3): 1, (2, 2): 2}


# --- board, rules and rewards --------------------------------------------------------------


@pytest.mark.parametrize(
    "text, targets",
    [
        ("#######\n#__XO*#\n#OP_X_#\n#######", {(1, 4), (1, 5), (2, 1)}),
        ("#######\n#__XO*#\n#_S_X_#\n#######", {(1, 4), (1, 5), (2, 2)}),
    ],
)
def test_the_text_grid_round_trips_every_symbol(text, targets):
    board = Board.parse(f"Some feedback.\n{text}\nBoxes on targets: 1 of 3.")
    assert board.render() == text
    assert board.player == (2, 2) and board.boxes == {(1, 3), (1, 5), (2, 4)}
    assert board.targets == targets and board.boxes_on_targets == 1


@pytest.mark.parametrize("text", ["no grid here", "###\n#X#\n###", "####\n#PX#\n####", "####\n#P#\n####"])
def test_parsing_a_bad_grid_raises(text):
    with pytest.raises(ValueError):
        Board.parse(text)


@pytest.mark.parametrize(
    "move, outcome, player",
    [("right", Outcome.PUSHED, (1, 2)), ("down", Outcome.WALKED, (2, 1)), ("up", Outcome.HIT_WALL, (1, 1))],
)
def test_one_move(move, outcome, player):
    board = Board.parse(TWO_BOXES)
    after, what = board.move(move)
    assert (what, after.player) == (outcome, player)
    assert (after.boxes != board.boxes) == (outcome is Outcome.PUSHED)


def test_a_box_against_a_box_does_not_move():
    board = Board.parse("######\n#PXX_#\n#__OO#\n######")
    assert board.move("right") == (board, Outcome.BOX_STUCK)


async def test_rewards_follow_gym_sokoban():
    env = agentgym.make("sokoban-v0")
    await env.reset(options={"level": TWO_BOXES})
    onto = await env.step("right")  # the first box onto a target; the other is still off
    off = await env.step("right")  # ... and off it again
    wall = await env.step("up")
    assert [onto.reward, off.reward, wall.reward] == pytest.approx([0.9, -1.1, -0.1])
    assert "It is on a target now." in onto.observation.text and "It left its target." in off.observation.text
    assert [r.info["outcome"] for r in (onto, off, wall)] == ["pushed a box", "pushed a box", "hit a wall"]
    assert not any(r.terminated or r.info["success"] for r in (onto, off, wall))

    await env.reset(options={"level": ONE_PUSH})
    solved = await env.step("<answer>right</answer>")
    assert solved.reward == pytest.approx(10.9) and solved.terminated and solved.info["success"]
    assert "solved" in solved.observation.text


async def test_invalid_moves_are_penalised_and_change_nothing():
    env = agentgym.make("sokoban-v0")
    first = await env.reset(seed=2)
    for action in ["hello", "", "up or down", "<answer>north</answer>", "7", "uppercut"]:
        result = await env.step(action)
        assert result.invalid_action and result.reward == pytest.approx(-0.1)
        assert not result.terminated and not result.info["success"]
        assert result.observation.text.startswith("Invalid move: ")
        assert result.observation.anchor == first.anchor


@pytest.mark.parametrize(
    "text, move",
    [("up", "up"), ("I push it <answer>Left</answer>", "left"), ("<answer>up</answer> then <answer>down</answer>", "down"),
     ("3", "right"), ("go DOWN now", "down")],
)  # fmt: skip
async def test_the_move_grammar(text, move):
    env = agentgym.make("sokoban-v0")
    await env.reset(options={"level": "#####\n#___#\n#_P_#\n#XO_#\n#####"})
    result = await env.step(text)
    assert not result.invalid_action
    assert result.observation.text.startswith(f"You moved {move}")


# --- seeding, fork, anchor, prompt ---------------------------------------------------------


async def test_same_seed_and_actions_give_identical_episodes_and_seeds_differ():
    actions = ["left", "up", "right", "down", "down", "left", "oops", "right"]
    runs = [await replay(agentgym.make("sokoban-v0"), 11, actions) for _ in range(2)]
    assert runs[0] == runs[1]
    boards = set()
    for seed in range(10):
        boards.add((await agentgym.make("sokoban-v0").reset(seed=seed)).anchor)
    assert len(boards) == 10


async def test_fork_is_independent():
    env = agentgym.make("sokoban-v0", max_turns=None)
    await env.reset(seed=4)
    await env.step("left")
    branch = await env.fork()
    original = await play(env, ["up", "up", "right"])
    forked = await play(branch, ["down", "down", "left"])
    assert original != forked
    _, steps = await replay(agentgym.make("sokoban-v0", max_turns=None), 4, ["left", "up", "up", "right"])
    assert steps[1:] == original  # the branch did not touch env


async def test_the_anchor_is_the_board_whatever_the_history():
    env = agentgym.make("sokoban-v0", max_turns=None)
    start = await env.reset(options={"level": "######\n#____#\n#_PX_#\n#__O_#\n######"})
    assert start.anchor == Board.parse(start.text).render() and start.anchor in start.text
    up, bump, invalid, down, up_again = [await env.step(move) for move in ["up", "up", "nonsense", "down", "up"]]
    assert up.observation.anchor != start.anchor
    assert up.observation.anchor == bump.observation.anchor == invalid.observation.anchor == up_again.observation.anchor
    assert len({up.observation.text, bump.observation.text, invalid.observation.text}) == 3  # the feedback differs
    assert down.observation.anchor == start.anchor


async def test_system_prompt_states_legend_rules_rewards_and_format():
    env = agentgym.make("sokoban-v0")
    for fragment in ["# wall", "* box on a target", "S you on a target", "-0.1", "+10", "<answer>left</answer>"]:
        assert fragment in env.system_prompt
    observation = await env.reset(seed=0)
    assert observation.metadata["optimal_moves"] >= 3
    report = await play_episode(env, SokobanSolver(), seed=0)
    assert report.turns == observation.metadata["optimal_moves"]
