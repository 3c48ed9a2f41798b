"""Rollout benchmark: the decoupled `RolloutEngine` vs the lockstep loop, side by side.

Both play the same tasks with the same policy and the same environment, in the same process:

* the environment (`bench/lognormal-sleep-v0`, registered by this module) sleeps in every step
  for a lognormal time, median 50 ms and p99 2 s by default (the heavy tail of web and code
  environments), and ends after --turns steps;
* the policy is fast and scripted: one simulated accelerator that runs one batched forward pass
  at a time, costing --forward-ms plus --per-seq-ms per sequence; requests that arrive while it
  is busy join the next batch (continuous batching). Every response is the same few tokens;
* decoupled: `RolloutEngine` with --in-flight episodes in flight, one policy request per
  episode turn, groups consumed as they finish;
* lockstep (verl-agent / RAGEN style, `agentgym.rollout.lockstep`): batches of --in-flight
  episodes; each turn one batched policy call, then every environment steps and the turn waits
  for the slowest; the next batch starts when the last episode of this one ended.

Both run --episodes episodes (groups of --group-size) per repeat, timed from start to the last
trajectory (the decoupled engine's drain at the end is included), alternating the two modes for
--repeats repeats. The table shows the median trajectories/s of each, their ratio, and the
median and p99 of the step latencies the environments actually slept, as a check.

    python benchmarks/rollout/bench_rollout.py            # the recorded run (about 2 minutes)
    python benchmarks/rollout/bench_rollout.py --quick    # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

import agentgym
from agentgym import Env, Observation, StepResult
from agentgym.policies.base import Generation, SamplingParams
from agentgym.rollout import EpisodeLimits, LocalEnvs, PromptBuilder, RolloutEngine, Task, lockstep_rollout

ENV_ID = "bench/lognormal-sleep-v0"
Z99 = 2.3263478740408408  # the standard normal's 99th percentile

console = Console(width=160)


# --- the environment ---------------------------------------------------------------------------


class LatencyLog:
    """The latency generator shared by every environment of a run, and what they slept."""

    rng = np.random.default_rng(0)
    slept: list[float] = []

    @classmethod
    def restart(cls, seed: int) -> None:
        cls.rng, cls.slept = np.random.default_rng(seed), []


class LognormalSleepEnv(Env):
    """Each step sleeps a lognormal time (median `median_s`, 99th percentile `p99_s`); the
    episode terminates after `turns` steps. Latencies come from one generator per run, not
    from the task seed, so the G episodes of a group do not share their delays."""

    system_prompt = "Answer with a number between 1 and 9, e.g. <answer>5</answer>."

    def __init__(self, turns: int = 5, median_s: float = 0.05, p99_s: float = 2.0):
        self.turns, self.mu = turns, math.log(median_s)
        self.sigma = (math.log(p99_s) - self.mu) / Z99
        self.step_count = 0

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        self.step_count = 0
        return Observation(text=f"Task {seed}: step 0 of {self.turns}.")

    async def step(self, action: str) -> StepResult:
        delay = float(LatencyLog.rng.lognormal(self.mu, self.sigma))
        LatencyLog.slept.append(delay)
        await asyncio.sleep(delay)
        self.step_count += 1
        done = self.step_count >= self.turns
        return StepResult(
            observation=Observation(text=f"Step {self.step_count} of {self.turns}: you said {action.strip()}."),
            reward=1.0 if done else 0.0,
            terminated=done,
            info={"success": done} if done else {},
        )


agentgym.register(ENV_ID, LognormalSleepEnv, description="benchmark: lognormal step latency (median 50 ms, p99 2 s)")


# --- the policy --------------------------------------------------------------------------------


class SimulatedAcceleratorPolicy:
    """A fast scripted policy on one simulated accelerator: one batched forward at a time, of
    `forward_s + per_seq_s * batch` seconds; requests arriving meanwhile join the next batch."""

    def __init__(self, tokenizer: Any, *, forward_s: float, per_seq_s: float):
        self.tokenizer = tokenizer
        self.version = 0
        self.forward_s, self.per_seq_s = forward_s, per_seq_s
        ids = tokenizer.encode("<answer>5</answer>", add_special_tokens=False) + [tokenizer.eos_token_id]
        self._generation = Generation(
            token_ids=ids, logprobs=[-0.1] * len(ids), text="<answer>5</answer>", finish_reason="stop"
        )
        self._pending: list[asyncio.Future[None]] = []
        self._busy = False
        self.batches: list[int] = []

    async def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        for _ in prompts[1:]:  # every prompt is one sequence of the batch
            self._pending.append(asyncio.get_running_loop().create_future())
        if not self._busy:
            self._busy = True  # before the task starts, so a second caller does not start another
            asyncio.ensure_future(self._run())
        await future
        return [self._generation.model_copy() for _ in prompts]

    async def _run(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                self.batches.append(len(batch))
                await asyncio.sleep(self.forward_s + self.per_seq_s * len(batch))
                for future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._busy = False


# --- the two loops -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    episodes: int
    in_flight: int
    group_size: int
    turns: int
    repeats: int
    median_ms: float
    p99_ms: float
    forward_ms: float
    per_seq_ms: float


def make_tasks(options: Options, offset: int) -> list[Task]:
    kwargs = {"turns": options.turns, "median_s": options.median_ms / 1000, "p99_s": options.p99_ms / 1000}
    return [
        Task(env_id=ENV_ID, seed=offset + i, env_kwargs=kwargs) for i in range(options.episodes // options.group_size)
    ]


async def run_decoupled(policy: Any, prompts: PromptBuilder, tasks: list[Task], options: Options) -> tuple[float, int]:
    engine = RolloutEngine(
        policy,
        tasks,
        envs=LocalEnvs(),
        prompts=prompts,
        group_size=options.group_size,
        max_in_flight=options.in_flight,
        queue_size=16,
        limits=EpisodeLimits(max_response_tokens=16),
    )
    started = time.perf_counter()
    trajectories = 0
    async with engine:
        async for group in engine:
            trajectories += len(group.completed)
    return time.perf_counter() - started, trajectories


async def run_lockstep(policy: Any, prompts: PromptBuilder, tasks: list[Task], options: Options) -> tuple[float, int]:
    started = time.perf_counter()
    trajectories = 0
    batches = lockstep_rollout(
        policy,
        LocalEnvs(),
        prompts,
        tasks,
        group_size=options.group_size,
        tasks_per_batch=max(1, options.in_flight // options.group_size),
        limits=EpisodeLimits(max_response_tokens=16),
    )
    async for groups in batches:
        trajectories += sum(len(group.completed) for group in groups)
    return time.perf_counter() - started, trajectories


async def benchmark(options: Options, tokenizer: Any) -> dict[str, Any]:
    prompts = PromptBuilder(tokenizer)
    runs: dict[str, list[dict[str, float]]] = {"lockstep": [], "decoupled": []}
    for repeat in range(options.repeats):
        order = ("lockstep", "decoupled") if repeat % 2 == 0 else ("decoupled", "lockstep")
        for mode in order:
            LatencyLog.restart(seed=1000 + repeat)
            policy = SimulatedAcceleratorPolicy(
                tokenizer, forward_s=options.forward_ms / 1000, per_seq_s=options.per_seq_ms / 1000
            )
            tasks = make_tasks(options, offset=repeat * 100_000)
            loop = run_lockstep if mode == "lockstep" else run_decoupled
            seconds, done = await loop(policy, prompts, tasks, options)
            slept = np.array(LatencyLog.slept)
            run = {
                "seconds": seconds,
                "trajectories": done,
                "trajectories_per_s": done / seconds,
                "step_p50_ms": float(np.median(slept) * 1000),
                "step_p99_ms": float(np.percentile(slept, 99) * 1000),
                "policy_batches": len(policy.batches),
                "mean_batch": float(np.mean(policy.batches)),
            }
            runs[mode].append(run)
            console.print(
                f"repeat {repeat + 1}/{options.repeats} {mode:9s} {done} trajectories in {seconds:6.2f} s "
                f"= {run['trajectories_per_s']:6.2f}/s (policy batches {run['policy_batches']}, mean size {run['mean_batch']:.1f})"
            )
    return runs


def summarise(runs: dict[str, list[dict[str, float]]], options: Options) -> dict[str, Any]:
    def median(mode: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[mode])

    summary = {mode: {key: median(mode, key) for key in runs[mode][0]} for mode in runs}
    summary["ratio"] = summary["decoupled"]["trajectories_per_s"] / summary["lockstep"]["trajectories_per_s"]
    table = Table(title=f"Rollout throughput, median of {options.repeats} repeats ({options.episodes} episodes each)")
    table.add_column("loop")
    table.add_column("trajectories/s (median)", justify="right")
    table.add_column("seconds (median)", justify="right")
    table.add_column("runs (traj/s)", justify="right")
    table.add_column("env step p50 / p99 ms", justify="right")
    table.add_column("accelerator batches, mean size", justify="right")
    table.add_column("ratio", justify="right")
    for mode in ("lockstep", "decoupled"):
        row = summary[mode]
        table.add_row(
            "lockstep (verl-agent/RAGEN)" if mode == "lockstep" else "decoupled RolloutEngine",
            f"{row['trajectories_per_s']:.2f}",
            f"{row['seconds']:.2f}",
            ", ".join(f"{run['trajectories_per_s']:.2f}" for run in runs[mode]),
            f"{row['step_p50_ms']:.0f} / {row['step_p99_ms']:.0f}",
            f"{row['policy_batches']:.0f}, {row['mean_batch']:.1f}",
            "1.00x" if mode == "lockstep" else f"{summary['ratio']:.2f}x",
        )
    console.print(table)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--episodes", type=int, default=192, help="episodes per repeat and mode (192: three lockstep batches)"
    )
    parser.add_argument(
        "--in-flight", type=int, default=64, help="environments at once: N in flight / the lockstep batch (64)"
    )
    parser.add_argument("--group-size", type=int, default=8, help="G, episodes per task (8)")
    parser.add_argument("--turns", type=int, default=5, help="steps per episode (5)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each mode, alternating (3)")
    parser.add_argument("--median-ms", type=float, default=50.0, help="median environment step latency (50 ms)")
    parser.add_argument("--p99-ms", type=float, default=2000.0, help="99th percentile of the step latency (2000 ms)")
    parser.add_argument(
        "--forward-ms", type=float, default=5.0, help="simulated policy: seconds per batched call (5 ms)"
    )
    parser.add_argument(
        "--per-seq-ms", type=float, default=0.1, help="simulated policy: extra per sequence in a batch (0.1 ms)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 32 episodes, 16 in flight, 3 turns, 1 repeat"
    )
    parser.add_argument("--json", type=Path, help="write the runs and the summary to this file")
    args = parser.parse_args()
    if args.quick:
        args.episodes, args.in_flight, args.turns, args.repeats = 32, 16, 3, 1
    options = Options(
        args.episodes,
        args.in_flight,
        args.group_size,
        args.turns,
        args.repeats,
        args.median_ms,
        args.p99_ms,
        args.forward_ms,
        args.per_seq_ms,
    )
    if options.episodes % options.group_size or options.in_flight % options.group_size:
        parser.error("--episodes and --in-flight must be multiples of --group-size")

    from transformers import AutoTokenizer

    from agentgym.policies.tiny import build_tiny_model

    with tempfile.TemporaryDirectory() as directory:
        tokenizer = AutoTokenizer.from_pretrained(build_tiny_model(directory))
    console.print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"options: {asdict(options)}"
    )
    runs = asyncio.run(benchmark(options, tokenizer))
    summary = summarise(runs, options)
    if args.json:
        args.json.write_text(json.dumps({"options": asdict(options), "runs": runs, "summary": summary}, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
