"""The training loop's guard against waiting forever: a server lost in the middle of a run."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from trainer_support import load_tiny

from agentgym.policies.base import SamplingParams
from agentgym.policies.hf import HFPolicy
from agentgym.rollout.engine import RolloutEngine
from agentgym.rollout.envs import RemoteEnvs
from agentgym.rollout.episode import EpisodeLimits
from agentgym.rollout.prompts import PromptBuilder
from agentgym.rollout.types import Task
from agentgym.server.spawn import ServerProcess
from agentgym.trainers import launch


async def test_a_server_lost_mid_run_stops_the_wait_with_a_reason(tiny_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(launch, "HEALTH_CHECK_S", 0.5)
    model, tokenizer = load_tiny(tiny_dir)
    policy = HFPolicy(copy.deepcopy(model).eval(), tokenizer, seed=0)
    server = ServerProcess(["sokoban-easy-v0"], tmp_path / "server.log")
    server.start()
    tasks = (Task(env_id="sokoban-easy-v0", seed=seed) for seed in range(10_000))
    engine = RolloutEngine(
        policy, tasks, envs=RemoteEnvs([server.url]), prompts=PromptBuilder(tokenizer, history=0), group_size=2,
        max_in_flight=4, queue_size=2, limits=EpisodeLimits(max_turns=2, max_response_tokens=4),
        sampling=SamplingParams(temperature=1.0),
    )
    try:
        async with engine:
            first = await launch._next_batch(engine, 1, policy.version, 2, None)  # the server is up: a batch
            assert first[0].completed
            server.stop()  # as if a remote server (env.url) went away: no process to watch
            with pytest.raises(RuntimeError, match="every episode failed .* since the last batch"):
                for _ in range(20):  # groups finished before the stop are handed out first
                    await launch._next_batch(engine, 1, policy.version, 2, None)
    finally:
        server.stop()
        await policy.aclose()
