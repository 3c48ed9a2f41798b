"""A whole training run from a `TrainConfig`: `agentgym train CONFIG.yaml`.

The data path: a `RolloutEngine` plays groups of episodes with an `HFPolicy` (or a
`VLLMPolicy`) against the environment (in process, served by a child `agentgym serve`, or at a
server URL) while the `Trainer` trains on the previous batch; after each step the new weights
are synced to the policy (`update_weights`: in place for HF, a weight reload for vLLM) and the
engine only hands out groups sampled by weights at most `rollout.max_staleness` updates old.

The output directory gets: config.yaml (the resolved config), metrics.jsonl and tensorboard/
(one row per step: reward, success, KL, entropy, clip fraction, advantage statistics, time per
phase), checkpoints/step-NNNNNN.pt (exact: see `Trainer.state_dict`), curve.png,
trajectories.jsonl (the last batch's first few episodes, decoded) and model/ (the final
weights and tokenizer, loadable with `from_pretrained`). `resume=True` continues from the
newest checkpoint there.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

import agentgym
from agentgym.policies.base import SamplingParams
from agentgym.rollout.engine import RolloutEngine
from agentgym.rollout.envs import EnvSource, LocalEnvs, RemoteEnvs
from agentgym.rollout.episode import EpisodeLimits
from agentgym.rollout.prompts import PromptBuilder
from agentgym.rollout.storage import write_jsonl
from agentgym.rollout.types import Group, Task
from agentgym.server.spawn import ServerProcess
from agentgym.trainers.config import NoCheckpoint, OutputDirInUse, TrainConfig
from agentgym.trainers.steps import trainable_trajectories
from agentgym.trainers.tracking import MetricsLog, plot_curve
from agentgym.trainers.trainer import Trainer
from agentgym.trainers.warm_start import environment_corpus, expert_pairs

__all__ = ["TrainResult", "behaviour_clone", "latest_checkpoint", "load_model", "train"]

WARM_START_SEED_OFFSET = 10_000_000
"""Expert episodes for behaviour cloning use seeds from here on, away from the training tasks'."""


@dataclass
class TrainResult:
    """What a run left behind: its output directory, the per-step metrics, and the paths of
    the curve (None when no step ran), the last checkpoint and the final model."""

    output_dir: Path
    rows: list[dict[str, Any]]
    curve: Path | None
    checkpoint: Path | None
    model_dir: Path


async def load_model(config: TrainConfig, *, rebuild: bool = True) -> tuple[Any, Any]:
    """(model, tokenizer) for `config.model`: "tiny" builds (once per recipe: environment,
    expert, seed and size) a small random model whose tokenizer is trained on the environment's
    text into `<output_dir>/tiny-model`; anything else is a Hugging Face name or path.

    Raises:
        ValueError: `rebuild` is false (a resumed run) and the tiny model's recipe changed: its
            tokenizer would no longer match the checkpoint's weights.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentgym.policies.hf import dtype_kwarg

    path: str | Path = config.model.name
    if config.model.name == "tiny":
        from agentgym.policies.tiny import build_tiny_model

        path = config.output_dir / "tiny-model"
        expert = config.warm_start.expert if config.warm_start else None
        recipe = {
            "env": config.env.id, "env_kwargs": config.env.kwargs, "expert": expert, "seed": config.seed,
            **config.model.tiny.model_dump(),
        }
        recipe_file = path / "agentgym-tiny.json"
        if not recipe_file.exists() or json.loads(recipe_file.read_text()) != recipe:
            if not rebuild:
                raise ValueError(f"the tiny model's recipe changed since {path} was built; resume with the run's config")
            corpus = await environment_corpus(
                config.env.id, config.env.kwargs, seeds=range(WARM_START_SEED_OFFSET - 32, WARM_START_SEED_OFFSET), expert=expert
            )
            build_tiny_model(path, corpus=corpus, seed=config.seed, **config.model.tiny.model_dump())
            recipe_file.write_text(json.dumps(recipe))
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), **{dtype_kwarg(): torch.float32})
    return model, tokenizer


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest checkpoints/step-*.pt of a run, or None."""
    found = sorted((Path(output_dir) / "checkpoints").glob("step-*.pt"))
    return found[-1] if found else None


def _save_checkpoint(trainer: Trainer, directory: Path, keep: int, env_steps: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step-{trainer.step:06d}.pt"
    partial = path.with_suffix(".tmp")
    torch.save({"trainer": trainer.state_dict(), "env_steps": env_steps}, partial)
    partial.replace(path)  # a crash mid-write never leaves a truncated checkpoint behind
    for old in sorted(directory.glob("step-*.pt"))[:-keep]:
        old.unlink()
    return path


def _tasks(config: TrainConfig, start: int) -> Iterator[Task]:
    """The endless task stream: one group per seed, seed_offset + start, + start + 1, ...
    (modulo `num_tasks` when the config sets a fixed pool)."""
    pool = config.env.num_tasks
    for index in itertools.count(start):
        seed = config.env.seed_offset + (index % pool if pool else index)
        yield Task(env_id=config.env.id, seed=seed, env_kwargs=config.env.kwargs)


def _policy(config: TrainConfig, trainer: Trainer) -> Any:
    """The rollout policy, holding the trainer's current weights (`rollout.backend`)."""
    if config.rollout.backend == "vllm":
        from agentgym.policies.vllm import VLLMPolicy

        weights = config.output_dir / "policy-weights"
        trainer.model.save_pretrained(weights)
        trainer.tokenizer.save_pretrained(weights)
        # log-probabilities after temperature, as the trainer scores them; bf16 weights
        options = {"logprobs_mode": "processed_logprobs", "dtype": "bfloat16", **config.rollout.vllm}
        policy = VLLMPolicy(str(weights), **options)
    else:
        from agentgym.policies.hf import HFPolicy

        policy = HFPolicy(
            copy.deepcopy(trainer.model).eval(),
            trainer.tokenizer,
            device=str(trainer.device),
            dtype=trainer.autocast_dtype,
            seed=config.seed + trainer.step,
        )
    policy.version = trainer.step
    return policy


async def _sync_weights(policy: Any, trainer: Trainer) -> None:
    """The trainer's weights into the policy backend (in place for HF, a reload into the vLLM
    engine); the policy's version goes up by one per sync (one per weight change, so ArCHer's
    critic-only steps never make queued rollouts stale)."""
    await policy.update_weights(list(trainer.model.state_dict().items()))  # (name, tensor) pairs: both backends


RUN_OUTPUTS = (
    "checkpoints", "tensorboard", "metrics.jsonl", "curve.png", "trajectories.jsonl", "model", "server.log", "policy-weights"
)
"""What a run writes into its output directory (besides config.yaml and tiny-model/)."""


async def train(
    config: TrainConfig, *, resume: bool = False, overwrite: bool = False, console: Console | None = None
) -> TrainResult:
    """Run training as `config` says (module doc); returns what it wrote. `overwrite` first
    deletes a previous run's outputs in the output directory.

    Raises:
        NoCheckpoint: `resume` and no checkpoint in the output directory.
        OutputDirInUse: neither `resume` nor `overwrite`, and the directory holds checkpoints.
        RuntimeError: every episode fails (the environment is broken or unreachable), or the
            served environment's process exited.
        agentgym.rollout.engine.RolloutError: the rollout stopped on an error (e.g. the policy
            failed); environment failures only drop the episodes they hit.
    """
    console = console or Console(stderr=True)
    out = Path(config.output_dir)
    if not config.env.url:
        agentgym.spec(config.env.id)  # an unknown id fails here, with suggestions, before any work
    checkpoint = latest_checkpoint(out) if resume else None
    if resume and checkpoint is None:
        raise NoCheckpoint(f"--resume: no checkpoint in {out / 'checkpoints'}")
    if not resume and latest_checkpoint(out) is not None and not overwrite:
        raise OutputDirInUse(
            f"{out} holds another run's checkpoints: pass --resume to continue it, --overwrite to replace "
            "it, or set another output_dir"
        )
    if not resume:  # a fresh run: nothing of an earlier (or interrupted) run stays beside it
        for name in RUN_OUTPUTS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    model, tokenizer = await load_model(config, rebuild=checkpoint is None)
    trainer = Trainer(config, model, tokenizer)
    prompts = PromptBuilder(tokenizer, history=config.rollout.history)
    env_steps = 0
    resume_step = None
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        trainer.load_state_dict(state["trainer"])
        env_steps, resume_step = int(state["env_steps"]), trainer.step
        console.print(f"resumed from {checkpoint} (step {trainer.step})")

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not config.logging.progress,
    )
    server = ServerProcess([config.env.id], out / "server.log") if config.env.serve else None
    last_groups: list[Group] = []
    with progress, MetricsLog(out, tensorboard=config.logging.tensorboard, resume_step=resume_step) as log:
        if config.warm_start is not None and not resume:
            await behaviour_clone(config, trainer, prompts, progress)
        try:
            source: EnvSource = LocalEnvs()
            if server is not None:
                await asyncio.to_thread(server.start)
                console.print(f"serving {config.env.id} at {server.url} (pid {server.pid}, log {server.log_path})")
                source = RemoteEnvs([server.url])
            elif config.env.url:
                source = RemoteEnvs([config.env.url])
            last_groups, env_steps = await _rl_loop(config, trainer, prompts, source, log, progress, env_steps, server)
        finally:
            if server is not None:
                await asyncio.to_thread(server.stop)

    checkpoint = await asyncio.to_thread(
        _save_checkpoint, trainer, out / "checkpoints", config.logging.keep_checkpoints, env_steps
    )
    model_dir = out / "model"
    trainer.model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    if last_groups and config.logging.save_trajectories:
        completed = [t for g in last_groups for t in g.completed]
        write_jsonl(completed[: config.logging.save_trajectories], out / "trajectories.jsonl")
    curve = plot_curve(log.rows, out / "curve.png", title=f"{config.algorithm} on {config.env.id}")
    return TrainResult(out, log.rows, curve, checkpoint, model_dir)


async def behaviour_clone(config: TrainConfig, trainer: Trainer, prompts: PromptBuilder, progress: Progress) -> None:
    """The `warm_start` section: the expert's episodes as (prompt, response) pairs, then
    supervised steps on them (`Trainer.clone_behaviour`), shown on `progress`."""
    section = config.warm_start
    if section is None:
        raise ValueError("the config has no warm_start section")
    end_token = trainer.tokenizer.eos_token_id
    pairs = await expert_pairs(
        config.env.id,
        config.env.kwargs,
        section.expert,
        prompts,
        seeds=range(WARM_START_SEED_OFFSET, WARM_START_SEED_OFFSET + section.episodes),
        max_turns=config.rollout.max_turns,
        end_token_id=end_token,
    )
    task = progress.add_task("behaviour cloning", total=section.steps, status=f"{len(pairs)} expert turns")
    losses = trainer.clone_behaviour(pairs, steps=section.steps, batch_size=section.batch_size, lr=section.lr)

    def run() -> None:  # in a worker thread: the event loop stays free
        for loss in losses:
            progress.update(task, advance=1, status=f"loss {loss:.3f}")

    await asyncio.to_thread(run)


async def _rl_loop(
    config: TrainConfig,
    trainer: Trainer,
    prompts: PromptBuilder,
    source: EnvSource,
    log: MetricsLog,
    progress: Progress,
    env_steps: int,
    server: ServerProcess | None,
) -> tuple[list[Group], int]:
    rollout = config.rollout
    policy = _policy(config, trainer)
    engine = RolloutEngine(
        policy,
        _tasks(config, trainer.step * rollout.groups_per_step),
        envs=source,
        prompts=prompts,
        group_size=rollout.group_size,
        max_in_flight=rollout.max_in_flight,
        queue_size=rollout.groups_per_step,
        max_staleness=rollout.max_staleness,
        limits=EpisodeLimits(
            max_turns=rollout.max_turns,
            max_response_tokens=rollout.max_response_tokens,
            max_context_tokens=getattr(policy, "max_positions", None),
        ),
        sampling=SamplingParams(temperature=rollout.temperature),
    )
    task = progress.add_task(f"{config.algorithm} steps", total=config.optim.steps, completed=trainer.step, status="")
    groups: list[Group] = []
    try:
        async with engine:
            while trainer.step < config.optim.steps:
                started = time.perf_counter()
                groups = await _next_batch(engine, rollout.groups_per_step, policy.version, rollout.group_size, server)
                waited = time.perf_counter() - started
                metrics = await asyncio.to_thread(trainer.train_step, groups)
                started = time.perf_counter()
                oldest = min(turn.policy_version for g in groups for t in trainable_trajectories(g) for turn in t.turns)
                lag = policy.version - oldest  # weight updates between sampling and this training step
                if "update/tokens" in metrics:  # not during ArCHer's critic warm-up: the weights did not change
                    await _sync_weights(policy, trainer)
                env_steps += int(metrics["rollout/env_steps"])
                metrics.update({
                    "rollout/env_steps_total": float(env_steps),
                    "rollout/policy_lag": float(lag),
                    "time/rollout_wait_s": waited,
                    "time/sync_s": time.perf_counter() - started,
                })
                log.write(metrics)
                progress.update(task, advance=1, status=_status(metrics))
                every = config.logging.checkpoint_every
                if every and trainer.step % every == 0 and trainer.step < config.optim.steps:
                    await asyncio.to_thread(
                        _save_checkpoint, trainer, config.output_dir / "checkpoints", config.logging.keep_checkpoints, env_steps
                    )
    finally:
        close = getattr(policy, "aclose", None)
        if close is not None:
            await close()
    return groups, env_steps


HEALTH_CHECK_S = 5.0
"""How often the loop checks, while it waits for a batch, that episodes can still complete."""


async def _next_batch(engine: RolloutEngine, size: int, version: int, group_size: int, server: ServerProcess | None) -> list[Group]:
    """The next batch, or an error instead of waiting forever: when the served environment's
    process exited, or when 2 x group_size episodes failed and none completed since this batch
    was requested (the environment broke, or its server went away)."""
    stats = engine.stats
    completed_before, failed_before = stats.episodes_completed, stats.episodes_failed
    batch = asyncio.ensure_future(engine.get_batch(size, current_version=version))
    try:
        while True:
            done, _ = await asyncio.wait({batch}, timeout=HEALTH_CHECK_S)
            if done:
                return batch.result()
            if server is not None and server.returncode is not None:
                raise RuntimeError(f"the environment server exited with code {server.returncode}; see {server.log_path}")
            failed = stats.episodes_failed - failed_before
            if stats.episodes_completed == completed_before and failed >= 2 * group_size:
                examples = "; ".join(stats.failure_examples.values())
                raise RuntimeError(f"every episode failed ({failed} since the last batch), e.g. {examples}")
    finally:
        if not batch.done():
            batch.cancel()


def _status(metrics: dict[str, float]) -> str:
    parts = [f"success {metrics.get('rollout/success', float('nan')):.2f}", f"return {metrics.get('rollout/return', float('nan')):.2f}"]
    if "update/kl" in metrics:
        parts.append(f"kl {metrics['update/kl']:.4f}")
    if "update/entropy" in metrics:
        parts.append(f"entropy {metrics['update/entropy']:.2f}")
    return " ".join(parts)
