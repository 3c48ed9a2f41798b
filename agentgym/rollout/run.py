"""Rollouts and evaluations from the command line: `agentgym eval` and `agentgym rollout`.

A policy is named by a spec: `hf:PATH_OR_NAME` (HFPolicy, in this process),
`openai:URL` (OpenAIPolicy, any OpenAI-compatible completions server; `--model` names the
served model, `--tokenizer` its tokenizer) or `vllm:MODEL` (VLLMPolicy, in process). An
environment is a registered id (played in this process) or a server URL `ws://host:port/ID`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentgym.policies.base import Policy, SamplingParams
from agentgym.registration import is_env_url, split_env_url
from agentgym.rollout.engine import RolloutEngine, RolloutStats
from agentgym.rollout.envs import EnvSource, LocalEnvs, RemoteEnvs
from agentgym.rollout.episode import EpisodeLimits
from agentgym.rollout.prompts import PromptBuilder
from agentgym.rollout.types import Task, Trajectory

POLICY_KINDS = ("hf", "openai", "vllm")


def load_policy(spec: str, *, model: str | None = None, tokenizer: str | None = None) -> Policy:
    """The policy a spec names (see the module docstring).

    Raises:
        ValueError: the spec names no known kind, or `openai:` lacks its model or tokenizer.
    """
    kind, _, target = spec.partition(":")
    if kind not in POLICY_KINDS or not target:
        raise ValueError(f"policy {spec!r} must be one of hf:PATH_OR_NAME, openai:URL, vllm:MODEL")
    if kind == "hf":
        from agentgym.policies.hf import HFPolicy

        return HFPolicy(target, tokenizer)
    if kind == "vllm":
        from agentgym.policies.vllm import VLLMPolicy

        return VLLMPolicy(target, **({"tokenizer": tokenizer} if tokenizer else {}))
    if model is None:
        raise ValueError("openai:URL needs --model, the name the server serves the model under")
    from agentgym.policies.openai import OpenAIPolicy

    return OpenAIPolicy(target, model, tokenizer or model)


def env_source(env: str) -> tuple[str, EnvSource]:
    """(environment id, where its environments come from) for an id or a `ws://host:port/ID` URL."""
    if is_env_url(env):
        server, env_id = split_env_url(env)
        return env_id, RemoteEnvs([server])
    return env, LocalEnvs()


@dataclass
class RolloutSummary:
    """What a run produced: every trajectory, and the engine's counters."""

    trajectories: list[Trajectory] = field(default_factory=list)
    stats: RolloutStats = field(default_factory=RolloutStats)

    @property
    def completed(self) -> list[Trajectory]:
        return [t for t in self.trajectories if t.status == "completed"]

    @property
    def success_rate(self) -> float:
        """Over completed episodes (failed ones are the environment's fault, reported apart)."""
        return sum(t.success for t in self.completed) / len(self.completed) if self.completed else 0.0

    @property
    def mean_reward(self) -> float:
        return sum(t.total_reward for t in self.completed) / len(self.completed) if self.completed else 0.0

    @property
    def mean_turns(self) -> float:
        return sum(len(t.turns) for t in self.completed) / len(self.completed) if self.completed else 0.0


async def run_rollout(
    env: str,
    policy: Policy,
    *,
    tasks: int,
    group_size: int = 1,
    concurrency: int = 16,
    seed: int = 0,
    limits: EpisodeLimits | None = None,
    sampling: SamplingParams | None = None,
    history: int | None = None,
    console: Console | None = None,
) -> RolloutSummary:
    """Play `tasks` tasks (seeds `seed`, `seed + 1`, ...) of `env`, `group_size` episodes each,
    `concurrency` episodes at a time, with a progress bar on `console`."""
    env_id, envs = env_source(env)
    engine = RolloutEngine(
        policy,
        [Task(env_id=env_id, seed=seed + index) for index in range(tasks)],
        envs=envs,
        prompts=PromptBuilder(policy.tokenizer, history=history),
        group_size=group_size,
        max_in_flight=concurrency,
        min_completed=0,
        limits=limits,
        sampling=sampling,
    )
    summary = RolloutSummary(stats=engine.stats)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console or Console(stderr=True), transient=True) as progress:
        bar = progress.add_task(f"{env_id}: episodes", total=tasks * group_size)
        async with engine:
            async for group in engine:
                summary.trajectories.extend(group.trajectories)
                progress.advance(bar, len(group.trajectories))
    return summary


def save(summary: RolloutSummary, path: str | Path) -> Path:
    """Write the trajectories: Parquet (one row per turn), or JSON Lines when `path` ends in .jsonl."""
    from agentgym.rollout import storage

    path = Path(path)
    if path.suffix == ".jsonl":
        return storage.write_jsonl(summary.trajectories, path, tokens=True)
    return storage.write_parquet(summary.trajectories, path)


def summary_rows(summary: RolloutSummary) -> list[tuple[str, Any]]:
    """(label, value) lines for the printed report."""
    stats = summary.stats
    rows: list[tuple[str, Any]] = [
        ("episodes", len(summary.trajectories)),
        ("completed", stats.episodes_completed),
        ("failed (environment faults, not scored)", stats.episodes_failed),
        ("success rate", f"{summary.success_rate:.3f}"),
        ("mean reward", f"{summary.mean_reward:.3f}"),
        ("mean turns", f"{summary.mean_turns:.2f}"),
    ]
    rows += [(f"  failed: {kind}", f"{count} (e.g. {stats.failure_examples.get(kind, '')[:80]})") for kind, count in stats.failures.items()]
    rows += [(f"  truncated: {kind}", count) for kind, count in stats.truncations.items()]
    return rows
