"""Learning benchmark: GiGPO vs GRPO vs ArCHer at equal environment steps, several seeds, two games.

Every run is the same `agentgym train` recipe (a tiny model built offline and warm-started by
behaviour cloning of the game's expert, once per game and seed and shared by the algorithms; the
environment served by `agentgym serve`; a fixed pool of rooms), differing only in `algorithm`
and `seed`; each run plays `steps x groups_per_step x group_size` episodes. The
script trains the runs one after another (each in its own output directory, so an interrupted
benchmark resumes where it stopped with --skip-done), then prints a table (success over the
last `--window` steps: mean over seeds, and per seed) and writes one PNG of the curves (success
against environment steps, mean over seeds) per game.

    python benchmarks/trainers/bench_learning.py --out benchmarks/trainers/results/learning
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from agentgym.rollout.prompts import PromptBuilder
from agentgym.trainers.config import TrainConfig
from agentgym.trainers.launch import behaviour_clone, load_model, train
from agentgym.trainers.tracking import read_metrics
from agentgym.trainers.trainer import Trainer

GAMES: dict[str, dict[str, Any]] = {
    "sokoban-easy-v0": {
        "env": {"id": "sokoban-easy-v0", "serve": True, "num_tasks": 8},
        "rollout": {"max_turns": 6, "history": 0},
        "warm_start": {"expert": "agentgym.environments.sokoban.solver:SokobanSolver"},
    },
    "frozenlake-v0": {
        "env": {"id": "frozenlake-v0", "serve": True, "num_tasks": 8},
        "rollout": {"max_turns": 10, "history": 0},
        "warm_start": {"expert": "agentgym.environments.toy_text.frozen_lake:FrozenLakeSolver"},
    },
}

BASE: dict[str, Any] = {
    "model": {"name": "tiny"},
    "rollout": {"group_size": 8, "groups_per_step": 4, "max_in_flight": 32, "max_response_tokens": 8},
    "optim": {"lr": 3e-4, "warmup_steps": 16, "epochs": 2, "mini_batches": 4, "micro_batch_size": 64},
    "loss": {"kl_coef": 0.05, "entropy_coef": 0.0},
    "warm_start": {"episodes": 128, "steps": 100, "batch_size": 32, "lr": 3e-3},
    "archer": {"critic": {"critic_lr": 1e-3, "critic_steps": 10, "critic_batch_size": 32, "warmup_iterations": 2}},
    "logging": {"checkpoint_every": 0, "progress": False, "tensorboard": False, "save_trajectories": 4},
}


PHASES = ("time/rollout_wait_s", "time/advantages_s", "time/update_s", "time/sync_s")
"""The timed phases of a step (their sum is the step's wall time, give or take logging)."""


def run_config(game: str, algorithm: str, seed: int, steps: int, out: Path, model: Path | None = None) -> TrainConfig:
    """The run's config; with `model`, that (warm-started) model and no warm start of its own."""
    data: dict[str, Any] = {key: dict(value) for key, value in BASE.items()}
    for section, values in GAMES[game].items():
        data[section] = {**data.get(section, {}), **values}
    data["optim"]["steps"] = steps
    data.update(algorithm=algorithm, seed=seed, output_dir=str(out / game / f"{algorithm}-seed{seed}"))
    if model is not None:
        data["model"] = {**data["model"], "name": str(model)}
        data.pop("warm_start")
    return TrainConfig.model_validate(data)


async def warm_model(game: str, seed: int, out: Path) -> Path:
    """One behaviour-cloned tiny model per (game, seed), shared by every algorithm's run of that
    seed, so that the algorithms start from the same weights."""
    directory = out / game / f"warm-seed{seed}"
    if (directory / "config.json").exists():
        return directory
    config = run_config(game, "grpo", seed, 1, out).model_copy(update={"output_dir": out / game / f"build-seed{seed}"})
    model, tokenizer = await load_model(config)
    trainer = Trainer(config, model, tokenizer)
    with Progress(transient=True) as progress:
        await behaviour_clone(config, trainer, PromptBuilder(tokenizer, history=config.rollout.history), progress)
    trainer.model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def final_success(rows: list[dict[str, Any]], window: int) -> float:
    values = [row["rollout/success"] for row in rows if "rollout/success" in row]
    return statistics.fmean(values[-window:]) if values else float("nan")


def plot(out: Path, game: str, runs: dict[str, list[list[dict[str, Any]]]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axis = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    for algorithm, seeds in runs.items():
        length = min(len(rows) for rows in seeds)
        success = np.array([[row["rollout/success"] for row in rows[:length]] for rows in seeds])
        steps = np.array([[row["rollout/env_steps_total"] for row in rows[:length]] for rows in seeds]).mean(0)
        mean = success.mean(0)
        kernel = np.ones(5) / 5
        smooth = np.convolve(mean, kernel, mode="valid") if length >= 10 else mean
        line = axis.plot(steps[len(steps) - len(smooth) :], smooth, linewidth=2, label=f"{algorithm} ({len(seeds)} seeds)")
        axis.fill_between(steps, success.min(0), success.max(0), color=line[0].get_color(), alpha=0.12)
    axis.set_xlabel("environment steps")
    axis.set_ylabel("training success rate (5-step mean)")
    axis.set_title(f"{game} (band: range over seeds)")
    axis.set_ylim(-0.02, 1.02)
    axis.grid(alpha=0.3)
    axis.legend()
    path = out / f"curves-{game}.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/trainers/results/learning"))
    parser.add_argument("--games", nargs="+", default=list(GAMES), choices=list(GAMES))
    parser.add_argument("--algorithms", nargs="+", default=["gigpo", "grpo", "archer"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--window", type=int, default=5, help="final steps averaged for the table")
    parser.add_argument("--skip-done", action="store_true", help="reuse finished runs' metrics")
    args = parser.parse_args()
    console = Console(stderr=True)

    results: dict[str, dict[str, list[list[dict[str, Any]]]]] = {}
    for game in args.games:
        for seed in range(args.seeds):
            model = await warm_model(game, seed, args.out)
            for algorithm in args.algorithms:
                config = run_config(game, algorithm, seed, args.steps, args.out, model)
                rows = read_metrics(config.output_dir / "metrics.jsonl")
                if not (args.skip_done and len(rows) >= args.steps):
                    console.print(f"[bold]{game} {algorithm} seed {seed}[/]")
                    rows = (await train(config, overwrite=True, console=console)).rows  # the script owns these directories
                results.setdefault(game, {}).setdefault(algorithm, []).append(rows)

    table = Table(title=f"training success, mean of the last {args.window} steps ({args.steps} steps)")
    for column in ("game", "algorithm", "success (mean of seeds)", "per seed", "env steps", "minutes per run"):
        table.add_column(column)
    summary = []
    for game, by_algorithm in results.items():
        for algorithm, seeds in by_algorithm.items():
            finals = [final_success(rows, args.window) for rows in seeds]
            first = [statistics.fmean([r["rollout/success"] for r in rows[: args.window]]) for rows in seeds]
            minutes = statistics.fmean(sum(r.get(key, 0) for r in rows for key in PHASES) / 60 for rows in seeds)
            env_steps = statistics.fmean(rows[-1]["rollout/env_steps_total"] for rows in seeds)
            table.add_row(game, algorithm, f"{statistics.fmean(finals):.3f}", " ".join(f"{f:.2f}" for f in finals), f"{env_steps:.0f}", f"{minutes:.1f}")
            summary.append({"game": game, "algorithm": algorithm, "final_success": finals, "first_success": first, "env_steps": env_steps})
        console.print(f"curves: {plot(args.out, game, by_algorithm)}")
    Console().print(table)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
