"""Maze (fully and partially observed): the experts reach the goal on every seed (in process
and served), random walking does not; mazes are perfect; rewards, invalid actions, seeding,
fork and anchors."""

from __future__ import annotations

import numpy as np
import pytest
from support import play, replay

import agentgym
from agentgym.agents import RandomAgent, play_episode
from agentgym.environments.grid import (
    DIRECTION_NAMES,
    OPPOSITE,
    cells_of,
    extract_grid,
    grid_graph,
    move_graph,
    step,
    walks,
)
from agentgym.environments.maze import SYMBOLS, MazeExplorer, MazeSolver, generate_maze

MOVES = ["up", "down", "left", "right"]
EXPERTS = {"maze-v0": MazeSolver, "maze-partial-v0": MazeExplorer}


def shortest_distance(grid: str) -> int:
    rows = extract_grid(grid, SYMBOLS)
    return walks(grid_graph(rows, "_PG"), cells_of(rows, "P")[0])[cells_of(rows, "G")[0]].distance


def player_surroundings(grid: str) -> tuple[list[str], list[str]]:
    """The open and the walled directions around P in a full grid."""
    rows = extract_grid(grid, SYMBOLS)
    (player,) = cells_of(rows, "P")
    walled = [d for d in DIRECTION_NAMES if rows[step(player, d)[0]][step(player, d)[1]] == "#"]
    return [d for d in DIRECTION_NAMES if d not in walled], walled


# --- the experts and the baseline ----------------------------------------------------------


@pytest.mark.parametrize("env_id, random_at_most", [("maze-v0", 0.4), ("maze-partial-v0", 0.45)])  # measured: 0.21, 0.27
async def test_expert_reaches_the_goal_on_every_seed_and_random_does_worse(run_agent, env_id, random_at_most):
    expert = await run_agent(env_id, lambda seed: EXPERTS[env_id](), range(100))
    random = await run_agent(env_id, lambda seed: RandomAgent(MOVES, seed), range(100))
    assert expert.success_rate == 1.0
    assert random.success_rate <= random_at_most
    assert expert.mean_return > random.mean_return + 20


async def test_the_full_view_expert_takes_a_shortest_path():
    env = agentgym.make("maze-v0")
    for seed in range(20):
        distance = shortest_distance((await env.reset(seed=seed)).anchor)
        report = await play_episode(env, MazeSolver(), seed=seed)
        assert report.success and report.turns == distance


@pytest.mark.parametrize("env_id", list(EXPERTS))
async def test_expert_reaches_the_goal_through_a_served_environment(run_agent, env_id):
    report = await run_agent(env_id, lambda seed: EXPERTS[env_id](), range(20), remote=True)
    assert report.success_rate == 1.0


async def test_the_explorer_never_needs_more_than_a_full_traversal():
    env = agentgym.make("maze-partial-v0", max_turns=None, rows=7, columns=7)
    for seed in range(20):
        report = await play_episode(env, MazeExplorer(), seed=seed)
        assert report.success and report.turns <= 2 * (2 * 7 * 7 - 2)  # 2(n - 1) for n = 97 open cells


# --- generation ----------------------------------------------------------------------------


@pytest.mark.parametrize("rows, columns", [(5, 5), (3, 8), (1, 2)])
def test_mazes_are_perfect(rows, columns):
    for seed in range(10):
        open_cells = generate_maze(np.random.default_rng(seed), rows, columns)
        rooms = {(2 * r + 1, 2 * c + 1) for r in range(rows) for c in range(columns)}
        assert rooms <= open_cells
        assert all(0 < r < 2 * rows and 0 < c < 2 * columns for r, c in open_cells)  # a closed border
        assert len(open_cells) == 2 * rows * columns - 1  # rooms plus one passage per tree edge
        graph = move_graph(open_cells)
        assert set(walks(graph, min(open_cells))) == open_cells  # connected, hence a tree


async def test_different_seeds_give_different_mazes_and_positions():
    anchors = {(await agentgym.make("maze-v0").reset(seed=seed)).anchor for seed in range(20)}
    assert len(anchors) == 20


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError):
        agentgym.make("maze-v0", rows=1, columns=1)


# --- observations, rewards, invalid actions ------------------------------------------------


async def test_full_observation_shows_the_grid_and_partial_only_the_surroundings():
    full = await agentgym.make("maze-v0").reset(seed=3)
    partial = await agentgym.make("maze-partial-v0").reset(seed=3)
    assert full.anchor == partial.anchor  # the same maze, start and goal
    grid = full.anchor
    assert grid in full.text and full.text.count("\n") == grid.count("\n") + 1
    assert not any(symbol in partial.text for symbol in SYMBOLS)  # no grid, no position
    open_ways, walls = player_surroundings(grid)
    assert f"Open: {', '.join(open_ways)}. Walls: {', '.join(walls)}." in partial.text


async def test_rewards_are_lmrl_gyms():
    env = agentgym.make("maze-v0")
    observation = await env.reset(seed=1)
    expert = MazeSolver()
    wall = player_surroundings(observation.anchor)[1][0]
    bump = await env.step(wall)
    assert bump.reward == -1.0 and not bump.invalid_action and bump.observation.anchor == observation.anchor
    assert bump.observation.text.startswith(f"You cannot move {wall}: a wall is in the way.")
    rewards = []
    while not (result := await env.step(expert.act(observation))).done:
        rewards.append(result.reward)
        observation = result.observation
    assert set(rewards) <= {-1.0} and result.reward == 0.0
    assert result.terminated and result.info["success"] and "You reached the goal!" in result.observation.text


@pytest.mark.parametrize("env_id", list(EXPERTS))
async def test_invalid_moves_are_penalised_and_change_nothing(env_id):
    env = agentgym.make(env_id)
    first = await env.reset(seed=2)
    for action in ["hello", "", "left and right", "<answer>west</answer>", "4", "downward"]:
        result = await env.step(action)
        assert result.invalid_action and result.reward == -4.0
        assert not result.done and not result.info["success"]
        assert result.observation.text.startswith("Invalid move: ")
        assert result.observation.anchor == first.anchor


@pytest.mark.parametrize(
    "text, move",
    [("up", "up"), ("<answer>Down</answer>", "down"), ("<answer>up</answer> no, <answer>left</answer>", "left"), ("3", "right")],
)
async def test_the_move_grammar(text, move):
    env = agentgym.make("maze-partial-v0")
    await env.reset(seed=0)
    assert (await env.step(text)).observation.text.startswith((f"You moved {move}.", f"You cannot move {move}:"))


# --- seeding, fork, anchor -----------------------------------------------------------------


@pytest.mark.parametrize("env_id", list(EXPERTS))
async def test_same_seed_and_actions_give_identical_episodes(env_id):
    actions = ["left", "up", "right", "oops", "down", "down", "left", "right", "up"]
    runs = [await replay(agentgym.make(env_id), 8, actions) for _ in range(2)]
    assert runs[0] == runs[1]


async def test_fork_is_independent():
    env = agentgym.make("maze-v0")
    await env.reset(seed=6)
    await env.step("left")
    branch = await env.fork()
    original = await play(env, ["up", "up", "right", "down"])
    forked = await play(branch, ["down", "down", "left", "up"])
    assert original != forked
    _, steps = await replay(agentgym.make("maze-v0"), 6, ["left", "up", "up", "right", "down"])
    assert steps[1:] == original  # the branch did not touch env


async def test_the_anchor_is_the_true_state_even_where_the_partial_view_is_ambiguous():
    env = agentgym.make("maze-partial-v0", max_turns=None)
    start = await env.reset(seed=0)
    (way, *_), (wall, *_) = player_surroundings(start.anchor)
    bumped = await env.step(wall)
    there = await env.step(way)
    and_back = await env.step(OPPOSITE[way])
    assert bumped.observation.anchor == and_back.observation.anchor == start.anchor != there.observation.anchor
    # A corridor: many cells look alike ("Open: left, right.") but their anchors differ.
    corridor = {}
    for seed in range(5):
        env = agentgym.make("maze-partial-v0", max_turns=None)
        observation = await env.reset(seed=seed)
        expert = MazeExplorer()
        expert.reset(observation, env.system_prompt)
        for _ in range(30):
            result = await env.step(expert.act(observation))
            observation = result.observation
            corridor.setdefault(observation.text, set()).add(observation.anchor)
            if result.done:
                break
    assert max(len(anchors) for anchors in corridor.values()) > 5
