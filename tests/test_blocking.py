"""BlockingEnv: the synchronous wrapper for scripts and notebooks."""

import asyncio

import pytest

import agentgym
from agentgym import BlockingEnv, EpisodeEnded


def test_blocking_env_plays_forks_and_closes():
    env = BlockingEnv(agentgym.make("guess-number-v0"))
    with env:
        first = env.reset(seed=4, options={"secret": 30})
        assert "between 1 and 100" in first.text
        assert env.step("50").observation.text.startswith("50 is too high")
        branch = env.fork()
        assert branch.step("30").terminated
        # the original is untouched by the fork's winning step
        assert env.step("20").observation.text.startswith("20 is too low")
        with pytest.raises(EpisodeEnded):
            branch.step("30")
    assert not env._loop.thread.is_alive()


async def test_blocking_env_works_inside_a_running_loop():
    """In a notebook the calling thread already runs a loop; BlockingEnv must not need it."""
    with BlockingEnv(agentgym.make("guess-number-v0")) as env:
        env.reset(seed=0, options={"secret": 7})
        assert env.step("7").reward == 1.0
    await asyncio.sleep(0)
