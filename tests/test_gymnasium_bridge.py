"""The Gymnasium bridge both ways: `from_gymnasium` (text observations and actions for the
toy-text environments: parsing, invalid actions, anchors, seeding, termination, truncation,
fork) and `to_gymnasium` (passes Gymnasium's env checker cleanly; types, info, render, close)."""

from __future__ import annotations

import json
import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env, env_render_passive_checker
from support import play

import agentgym
from agentgym import Observation
from agentgym.gymnasium_bridge import GymnasiumAdapter, GymnasiumEnv


def latest_gym_id(name: str) -> str:
    """The newest registered version of a Gymnasium toy-text env (older ids raise as deprecated)."""
    specs = [spec for spec in gymnasium.registry.values() if spec.namespace is None and spec.name == name]
    return max(specs, key=lambda spec: spec.version or 0).id


FROZEN_LAKE, TAXI, CLIFF_WALKING = (latest_gym_id(name) for name in ("FrozenLake", "Taxi", "CliffWalking"))
ACTIONS = {
    FROZEN_LAKE: "left, down, right, up",
    TAXI: "south, north, east, west, pickup, dropoff",
    CLIFF_WALKING: "up, right, down, left",
}
# the default 4x4 FrozenLake map:  SFFF / FHFH / FFFH / HFFG
HOLE_PATH = ["down", "right"]
GOAL_PATH = ["down", "down", "right", "right", "down", "right"]


def gym_state(env: GymnasiumEnv) -> int:
    return int(env.gym_env.unwrapped.s)


def grid_lines(observation: Observation) -> list[str]:
    """The rendering's lines, without the 'Valid actions' line and FrozenLake's '(Action)' line."""
    lines = observation.text.splitlines()[:-1]
    return [line for line in lines if not line.strip().startswith("(")]


@pytest.fixture
async def lake():
    """Deterministic (non-slippery) FrozenLake."""
    env = agentgym.from_gymnasium(FROZEN_LAKE, is_slippery=False)
    yield env
    await env.close()


@pytest.fixture(params=[FROZEN_LAKE, TAXI, CLIFF_WALKING])
async def toy_text(request):
    env = agentgym.from_gymnasium(request.param)
    yield env
    await env.close()


# --- from_gymnasium: observations ----------------------------------------------------------


async def test_observation_lists_the_valid_actions_and_anchor_is_the_state(toy_text):
    observation = await toy_text.reset(seed=0)
    assert observation.text.endswith(f"\nValid actions: {ACTIONS[toy_text.gym_env.spec.id]}.")
    assert "\x1b" not in observation.text  # ANSI codes are gone
    assert observation.anchor == json.dumps(gym_state(toy_text))
    result = await toy_text.step("0")
    assert result.observation.anchor == json.dumps(gym_state(toy_text))


async def test_frozen_lake_shows_the_agent_in_brackets(lake):
    assert grid_lines(await lake.reset(seed=0)) == ["[S]FFF", "FHFH", "FFFH", "HFFG"]
    result = await lake.step("right")
    assert grid_lines(result.observation) == ["S[F]FF", "FHFH", "FFFH", "HFFG"]
    assert result.observation.anchor == "1"


async def test_taxi_shows_the_taxi_in_brackets():
    env = agentgym.from_gymnasium(TAXI)
    first = await env.reset(seed=0)
    row, column, _, _ = env.gym_env.unwrapped.decode(gym_state(env))
    assert (row, column) == (3, 0)  # an empty cell, so the taxi renders as "[ ]"
    after_north = (await env.step("north")).observation
    for observation, taxi_row in [(first, 3), (after_north, 2)]:
        lines = grid_lines(observation)
        assert [index for index, line in enumerate(lines) if "[ ]" in line] == [taxi_row + 1]  # + the top border
        assert lines[taxi_row + 1].startswith("|[ ]")


async def test_cliff_walking_shows_the_agent():
    env = agentgym.from_gymnasium(CLIFF_WALKING)
    lines = grid_lines(await env.reset(seed=0))
    assert lines[3].split()[0] == "x" and lines[2].split()[0] == "o"
    lines = grid_lines((await env.step("up")).observation)
    assert lines[2].split()[0] == "x" and lines[3].split()[0] == "o"


# --- from_gymnasium: actions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("I go right", 2),
        ("<answer>down</answer>", 1),
        ("2", 2),
        ("  0\n", 0),
        ("LEFT!", 0),
        ("Up is risky, left is slow. <answer>down</answer>", 1),
        ("<answer>left</answer> no wait <ANSWER> up </ANSWER>", 3),
    ],
)
async def test_text_actions_parse(lake, text, index):
    await lake.reset(seed=0)
    result = await lake.step(text)
    assert not result.invalid_action
    assert result.info["action_index"] == index


@pytest.mark.parametrize("text", ["left or right", "4", "-1", "jump", "", "<answer></answer>", "leftover", "upward"])
async def test_unparseable_actions_are_penalised_and_change_nothing(lake, text):
    await lake.reset(seed=0)
    before = await lake.step("right")
    result = await lake.step(text)
    assert result.invalid_action and result.info == {"invalid_action": True}
    assert result.reward == pytest.approx(-0.1)
    assert not result.terminated and not result.truncated
    assert result.observation.text.startswith("Invalid action")
    assert result.observation.anchor == before.observation.anchor == "1"
    assert gym_state(lake) == 1
    assert grid_lines(result.observation)[-4:] == ["S[F]FF", "FHFH", "FFFH", "HFFG"]


async def test_invalid_action_penalty_is_configurable():
    env = agentgym.from_gymnasium(FROZEN_LAKE, invalid_action_penalty=0.5)
    await env.reset(seed=0)
    assert (await env.step("fly")).reward == -0.5


# --- from_gymnasium: episodes --------------------------------------------------------------


async def test_falling_in_a_hole_terminates(lake):
    await lake.reset(seed=0)
    steps = await play(lake, HOLE_PATH)
    assert steps[-1][1:5] == ("5", 0.0, True, False)
    assert "[H]" in steps[-1][0]


async def test_reaching_the_goal_terminates_with_reward(lake):
    await lake.reset(seed=0)
    steps = await play(lake, GOAL_PATH)
    assert len(steps) == len(GOAL_PATH)
    assert [step[3] for step in steps] == [False] * 5 + [True]
    assert steps[-1][1:5] == ("15", 1.0, True, False)


async def test_gymnasium_time_limit_truncation_passes_through():
    env = agentgym.from_gymnasium(FROZEN_LAKE, is_slippery=False, max_episode_steps=3)
    await env.reset(seed=0)
    steps = await play(env, ["left"] * 5)
    assert [(step[3], step[4]) for step in steps] == [(False, False), (False, False), (False, True)]


async def test_same_seed_gives_the_same_slippery_episode():
    actions = ["down", "right", "right", "down", "down", "right"] * 5

    async def episode(seed: int) -> list:
        env = agentgym.from_gymnasium(FROZEN_LAKE)  # slippery: outcomes come from the seeded generator
        first = await env.reset(seed=seed)
        return [first.anchor, *await play(env, actions)]

    episodes = {seed: await episode(seed) for seed in range(5)}
    for seed in range(5):
        assert await episode(seed) == episodes[seed]
    assert len({json.dumps(trace) for trace in episodes.values()}) > 1  # the seed actually matters


async def test_fork_is_independent(lake):
    await lake.reset(seed=0)
    await lake.step("down")
    fork = await lake.fork()
    assert isinstance(fork, GymnasiumEnv) and fork.gym_env is not lake.gym_env

    assert (await play(fork, ["right"]))[-1][3]  # the fork falls in the hole at (1, 1) ...
    assert gym_state(lake) == 4  # ... the original is still at (1, 0)
    steps = await play(lake, GOAL_PATH[1:])
    assert steps[-1][1:4] == ("15", 1.0, True)


async def test_fork_continues_the_random_stream_identically():
    env = agentgym.from_gymnasium(FROZEN_LAKE)  # slippery
    await env.reset(seed=3)
    await env.step("right")
    fork = await env.fork()
    actions = ["down", "right"] * 10
    assert await play(env, actions) == await play(fork, actions)


# --- to_gymnasium --------------------------------------------------------------------------


ADAPTED = {
    "guess-number": lambda: agentgym.make("guess-number-v0"),
    "frozen-lake": lambda: agentgym.from_gymnasium(FROZEN_LAKE),
}


@pytest.fixture(params=sorted(ADAPTED))
def adapter(request):
    adapted = agentgym.to_gymnasium(ADAPTED[request.param](), render_mode="ansi")
    yield adapted
    adapted.close()


def test_adapter_passes_the_gymnasium_env_checker_without_warnings(adapter):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # check_env's render section also re-makes the env from a Gymnasium spec for every render
        # mode, which an adapter made outside `gymnasium.make` cannot have; run the render
        # check itself directly instead.
        check_env(adapter, skip_render_check=True)
        env_render_passive_checker(adapter)
    assert [str(warning.message) for warning in caught] == []


def test_adapter_reset_and_step_return_gymnasium_types(adapter):
    text, info = adapter.reset(seed=0)
    assert isinstance(text, str) and adapter.observation_space.contains(text)
    assert isinstance(info["observation"], Observation) and info["observation"].text == text

    step = adapter.step("1")
    assert [type(value) for value in step] == [str, float, bool, bool, dict]
    text, reward, terminated, truncated, info = step
    assert isinstance(info["observation"], Observation) and info["observation"].text == text
    assert info["invalid_action"] is False
    assert adapter.render() == text


def test_adapter_carries_the_agentgym_info_and_anchor():
    adapter = agentgym.to_gymnasium(agentgym.make("guess-number-v0"))
    try:
        _, info = adapter.reset(options={"secret": 42})
        assert info["observation"].anchor == "open:1-100"
        _, reward, terminated, _, info = adapter.step("50")
        assert (reward, terminated, info["observation"].anchor) == (0.0, False, "open:1-49")
        _, reward, _, _, info = adapter.step("no idea")
        assert reward < 0 and info["invalid_action"] is True
        assert adapter.render() is None  # no render_mode
    finally:
        adapter.close()


def test_adapter_close_stops_its_thread_and_is_idempotent():
    adapter = agentgym.to_gymnasium(agentgym.make("guess-number-v0"))
    adapter.reset(seed=0)
    thread = adapter._loop.thread
    assert thread.is_alive()
    adapter.close()
    assert not thread.is_alive()
    adapter.close()


async def test_adapter_works_inside_a_running_event_loop():
    """Synchronous Gymnasium code called from async code (a notebook) must not deadlock."""
    adapter = agentgym.to_gymnasium(agentgym.make("guess-number-v0"))
    try:
        text, _ = adapter.reset(options={"secret": 7})
        assert "between 1 and 100" in text
        assert adapter.step("7")[2] is True
    finally:
        adapter.close()


def test_adapter_rejects_unknown_render_modes():
    with pytest.raises(ValueError, match="render_mode"):
        GymnasiumAdapter(agentgym.make("guess-number-v0"), render_mode="human")
