"""The Env contract as `agentgym.make` delivers it: seeding, invalid actions, the episode protocol
(ResetNeeded / EpisodeEnded, terminated vs truncated), fork, close, type checks and SyncEnv threading."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from support import CountingEnv, play, replay

import agentgym
from agentgym import (
    EnvContractError,
    EpisodeEnded,
    NotForkable,
    Observation,
    ResetNeeded,
    StepResult,
    SyncEnv,
    TimeLimit,
)

GUESSES = ["50", "25", "75", "10", "90", "60", "40"]


@pytest.fixture
async def guess():
    """guess-number-v0 as `make` builds it (default time limit: 10 turns)."""
    env = agentgym.make("guess-number-v0")
    yield env
    await env.close()


@pytest.fixture
async def guess3():
    """guess-number-v0 with a 3-turn time limit."""
    env = agentgym.make("guess-number-v0", max_turns=3)
    yield env
    await env.close()


# --- seeding -------------------------------------------------------------------------------


async def test_same_seed_and_actions_give_identical_episodes():
    runs = [await replay(agentgym.make("guess-number-v0"), 123, GUESSES) for _ in range(2)]
    assert runs[0] == runs[1]
    assert len(runs[0][1]) >= 3


async def test_reset_with_the_same_seed_replays_on_one_instance(guess):
    first = await replay(guess, 7, GUESSES)
    assert await replay(guess, 7, GUESSES) == first


async def test_different_seeds_give_different_secrets(guess):
    secrets = []
    for seed in range(8):
        await guess.reset(seed=seed)
        secrets.append(guess.unwrapped.secret)
    assert all(1 <= secret <= 100 for secret in secrets)
    assert len(set(secrets)) >= 5, secrets


async def test_binary_search_solves_every_seed(guess):
    """The hints are truthful: following them finds the secret within log2(100) guesses."""
    for seed in range(5):
        await guess.reset(seed=seed)
        low, high = 1, 100
        for _ in range(7):
            middle = (low + high) // 2
            result = await guess.step(f"<answer>{middle}</answer>")
            if result.terminated:
                break
            if "higher" in result.observation.text:
                low = middle + 1
            else:
                assert "lower" in result.observation.text
                high = middle - 1
            assert result.observation.anchor == f"open:{low}-{high}"
        assert result.terminated and result.reward == 1.0
        assert middle == guess.unwrapped.secret


# --- invalid actions -----------------------------------------------------------------------


@pytest.mark.parametrize("action", ["hello", "", "<answer>fifty</answer>", "0", "101", "-5", "1000000"])
async def test_invalid_action_is_a_penalised_step_that_changes_nothing(guess, action):
    await guess.reset(seed=3, options={"secret": 42})
    await guess.step("30")  # narrows the open interval, so "unchanged" is not the initial state
    before = guess.unwrapped.open_low, guess.unwrapped.open_high, guess.unwrapped.secret

    result = await guess.step(action)

    assert isinstance(result, StepResult)
    assert result.info["invalid_action"] is True and result.invalid_action
    assert result.reward < 0
    assert not result.terminated and not result.truncated
    assert "Invalid guess" in result.observation.text
    assert result.observation.anchor == "open:31-100"
    assert (guess.unwrapped.open_low, guess.unwrapped.open_high, guess.unwrapped.secret) == before
    assert (await guess.step("42")).terminated  # the episode carries on as if nothing happened


async def test_valid_actions_are_flagged_valid(guess):
    await guess.reset(options={"secret": 42})
    result = await guess.step("I'd say 41")
    assert result.info["invalid_action"] is False
    assert result.reward == 0.0 and "higher" in result.observation.text


# --- the episode protocol ------------------------------------------------------------------


async def test_step_before_reset_raises_reset_needed(guess):
    with pytest.raises(ResetNeeded, match="reset"):
        await guess.step("50")


async def test_step_after_termination_raises_episode_ended(guess):
    await guess.reset(options={"secret": 42})
    result = await guess.step("42")
    assert result.terminated and not result.truncated and result.reward == 1.0
    with pytest.raises(EpisodeEnded):
        await guess.step("42")


async def test_time_limit_truncates_on_the_last_turn(guess3):
    await guess3.reset(options={"secret": 100})
    results = [await guess3.step("1") for _ in range(3)]
    assert [(r.terminated, r.truncated) for r in results] == [(False, False), (False, False), (False, True)]
    with pytest.raises(EpisodeEnded):
        await guess3.step("1")


async def test_invalid_actions_count_as_turns(guess3):
    await guess3.reset(options={"secret": 100})
    results = [await guess3.step("nonsense") for _ in range(3)]
    assert results[-1].truncated and results[-1].invalid_action


async def test_reset_after_the_end_starts_a_fresh_episode(guess3):
    await guess3.reset(options={"secret": 100})
    for _ in range(3):
        await guess3.step("1")
    observation = await guess3.reset(options={"secret": 5})
    assert observation.anchor == "open:1-100"
    results = [await guess3.step("1") for _ in range(2)]  # the turn count restarted too
    assert not any(r.done for r in results)
    final = await guess3.step("5")
    assert final.terminated and final.truncated  # solved on the limit: both flags, as documented


async def test_reset_mid_episode_discards_it(guess):
    await guess.reset(options={"secret": 42})
    await guess.step("10")
    observation = await guess.reset(options={"secret": 42})
    assert observation.anchor == "open:1-100"


async def test_non_string_action_raises_type_error(guess):
    await guess.reset(options={"secret": 42})
    for action in (42, None, b"42", ["42"]):
        with pytest.raises(TypeError, match="str"):
            await guess.step(action)  # type: ignore[arg-type]
    assert (await guess.step("42")).terminated  # nothing was applied


# --- fork ----------------------------------------------------------------------------------


async def test_fork_is_independent_and_continues_identically(guess):
    await guess.reset(seed=11)
    await play(guess, ["50", "25"])
    fork = await guess.fork()
    secret = guess.unwrapped.secret
    assert fork.unwrapped is not guess.unwrapped

    # stepping the fork to the end leaves the original untouched
    solved = await fork.step(str(secret))
    assert solved.terminated
    assert guess.unwrapped.secret == secret
    again = await guess.fork()

    # from the fork point, the same actions give the same outcomes
    assert await play(guess, ["60", "12", str(secret)]) == await play(again, ["60", "12", str(secret)])


async def test_fork_continues_the_random_stream(guess):
    await guess.reset(seed=5)
    fork = await guess.fork()
    secrets = []
    for env in (guess, fork):
        await env.reset()  # no seed: continues the generator's stream
        secrets.append(env.unwrapped.secret)
    assert secrets[0] == secrets[1]


async def test_fork_through_wrappers_keeps_the_turn_count(guess3):
    await guess3.reset(options={"secret": 100})
    await play(guess3, ["1", "2"])
    fork = await guess3.fork()
    assert isinstance(fork.env, TimeLimit) and fork.env.turns == 2
    assert (await fork.step("3")).truncated
    with pytest.raises(EpisodeEnded):
        await fork.step("4")
    assert (await guess3.step("3")).truncated  # the original's own count, unaffected by the fork


async def test_fork_of_an_ended_episode_stays_ended(guess):
    await guess.reset(options={"secret": 42})
    await guess.step("42")
    fork = await guess.fork()
    with pytest.raises(EpisodeEnded):
        await fork.step("1")


async def test_env_without_fork_raises_not_forkable(scratch_registry):
    scratch_registry("test/counting-v0", CountingEnv)
    env = agentgym.make("test/counting-v0")
    await env.reset()
    with pytest.raises(NotForkable, match="CountingEnv"):
        await env.fork()
    with pytest.raises(NotForkable):
        await CountingEnv().fork()


# --- close ---------------------------------------------------------------------------------


async def test_async_with_closes():
    env = CountingEnv()
    async with env as entered:
        assert entered is env
        await env.reset()
    assert env.closed == 1


async def test_async_with_closes_through_wrappers_even_on_error(scratch_registry):
    scratch_registry("test/counting-v0", CountingEnv, max_turns=5)
    env = agentgym.make("test/counting-v0")
    with pytest.raises(RuntimeError, match="boom"):
        async with env:
            await env.reset()
            raise RuntimeError("boom")
    assert env.unwrapped.closed == 1


# --- contract enforcement ------------------------------------------------------------------


class WrongTypesEnv(CountingEnv):
    """Breaks the contract: `step` returns a dict; with `bad_reset`, `reset` returns a string."""

    def __init__(self, bad_reset: bool = False):
        super().__init__()
        self.bad_reset = bad_reset

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        observation = await super().reset(seed=seed, options=options)
        return "count 0" if self.bad_reset else observation  # type: ignore[return-value]

    async def step(self, action: str) -> StepResult:
        return {"observation": "count 1", "reward": 1.0}  # type: ignore[return-value]


async def test_step_returning_the_wrong_type_raises_env_contract_error(scratch_registry):
    scratch_registry("test/wrong-types-v0", WrongTypesEnv)
    env = agentgym.make("test/wrong-types-v0")
    await env.reset()
    with pytest.raises(EnvContractError, match="StepResult"):
        await env.step("go")


async def test_reset_returning_the_wrong_type_raises_env_contract_error(scratch_registry):
    scratch_registry("test/wrong-types-v0", WrongTypesEnv, bad_reset=True)
    env = agentgym.make("test/wrong-types-v0")
    with pytest.raises(EnvContractError, match="Observation"):
        await env.reset()
    with pytest.raises(ResetNeeded):  # a failed reset did not start an episode
        await env.step("go")


# --- SyncEnv -------------------------------------------------------------------------------


class SlowSyncEnv(SyncEnv):
    """A synchronous env whose step blocks for 0.3 s; records the thread each call ran in."""

    STEP_SECONDS = 0.3

    def __init__(self):
        self.threads: dict[str, int] = {}
        self.closed = False

    def reset_sync(self, *, seed: int | None, options: dict[str, Any] | None) -> Observation:
        self.threads["reset"] = threading.get_ident()
        return Observation(text=f"seeded {self.np_random.integers(1000)}")

    def step_sync(self, action: str) -> StepResult:
        self.threads["step"] = threading.get_ident()
        time.sleep(self.STEP_SECONDS)
        return StepResult(observation=Observation(text=f"you said {action}"), reward=1.0)

    def close_sync(self) -> None:
        self.threads["close"] = threading.get_ident()
        self.closed = True


async def test_sync_env_step_does_not_block_the_event_loop():
    env = SlowSyncEnv()
    await env.reset(seed=0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # let the ticker start
    result = await env.step("hi")
    ticks_during_step = ticks
    task.cancel()

    assert result.observation.text == "you said hi"
    assert ticks_during_step >= 10, f"the loop ran only {ticks_during_step} ticks during a 0.3 s step"


async def test_sync_env_calls_run_off_the_loop_thread():
    env = SlowSyncEnv()
    loop_thread = threading.get_ident()
    observation = await env.reset(seed=1)
    await env.step("hi")
    await env.close()
    assert env.closed
    assert set(env.threads) == {"reset", "step", "close"}
    assert all(thread != loop_thread for thread in env.threads.values())
    assert observation.text == (await SlowSyncEnv().reset(seed=1)).text  # seeded before reset_sync


async def test_sync_envs_step_concurrently():
    envs = [SlowSyncEnv() for _ in range(2)]
    for env in envs:
        await env.reset()
    started = time.perf_counter()
    await asyncio.gather(*(env.step("go") for env in envs))
    elapsed = time.perf_counter() - started
    assert elapsed < 2 * SlowSyncEnv.STEP_SECONDS * 0.9, f"two 0.3 s steps took {elapsed:.2f} s: serialised"


async def test_sync_env_without_fork_sync_raises_not_forkable():
    env = SlowSyncEnv()
    await env.reset()
    with pytest.raises(NotForkable, match="fork_sync"):
        await env.fork()
