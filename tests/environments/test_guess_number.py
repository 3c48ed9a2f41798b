"""guess-number-v0: its expert solves every seed (in process and served); random guessing does not."""

from agentgym.agents import RandomAgent
from agentgym.environments.guess_number import GuessNumberSolver

SEEDS = range(100)


async def test_expert_solves_every_seed_and_random_does_worse(run_agent):
    expert = await run_agent("guess-number-v0", lambda seed: GuessNumberSolver(), SEEDS)
    random = await run_agent("guess-number-v0", lambda seed: RandomAgent([str(n) for n in range(1, 101)], seed), SEEDS)
    assert expert.success_rate == 1.0
    assert max(e.turns for e in expert.episodes) <= 7  # ceil(log2(100))
    assert random.success_rate < 0.3


async def test_expert_solves_through_a_served_environment(run_agent):
    report = await run_agent("guess-number-v0", lambda seed: GuessNumberSolver(), range(20), remote=True)
    assert report.success_rate == 1.0
