"""The main job on embedded defaults: a tiny policy learns easy Sokoban on CPU, end to end.

`agentgym demo` builds a small random chat model and a tokenizer offline, starts
`agentgym serve sokoban-easy-v0` in a separate process, warms the model up by behaviour cloning
a little of the expert solver's play, then trains it with GiGPO against the served environment
(rollout workers and the trainer running side by side) on a fixed pool of 8 rooms, and prints
the success rate at the start and the end. The KL penalty to the warm-started model and the
learning-rate warm-up keep the tiny model's answer format intact while RL changes its moves. It writes the learning curve (curve.png), a few trajectories
(trajectories.jsonl), the metrics (metrics.jsonl, tensorboard/), checkpoints and the final model
into the output directory. About 5 minutes on 2 CPU cores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from agentgym.trainers.config import TrainConfig
from agentgym.trainers.launch import train

DEMO_CONFIG: dict[str, Any] = {
    "algorithm": "gigpo",
    "seed": 0,
    "env": {"id": "sokoban-easy-v0", "serve": True, "num_tasks": 8},
    "model": {"name": "tiny", "tiny": {"hidden_size": 64, "layers": 2, "heads": 4, "vocab_size": 512}},
    "rollout": {"group_size": 8, "groups_per_step": 8, "max_in_flight": 64, "max_turns": 6, "max_response_tokens": 8, "history": 0},
    "optim": {"steps": 30, "lr": 3e-4, "warmup_steps": 16, "epochs": 2, "mini_batches": 4, "micro_batch_size": 64},
    "loss": {"kl_coef": 0.05, "entropy_coef": 0.0},
    "warm_start": {
        "expert": "agentgym.environments.sokoban.solver:SokobanSolver",
        "episodes": 128,
        "steps": 100,
        "batch_size": 32,
        "lr": 3e-3,
    },
    "logging": {"checkpoint_every": 10, "save_trajectories": 8},
}
"""The demo's training config (the same schema as `agentgym train CONFIG.yaml`)."""

WINDOW = 5
"""Steps averaged for the 'first' and 'last' success rates."""


async def run_demo(output_dir: Path, console: Console, *, steps: int | None = None) -> int:
    """Train as `DEMO_CONFIG` says into `output_dir`; prints a summary; returns the exit code."""
    data = {**DEMO_CONFIG, "output_dir": str(output_dir)}
    if steps is not None:
        data["optim"] = {**DEMO_CONFIG["optim"], "steps": steps}
    config = TrainConfig.model_validate(data)
    console.print(
        f"[bold]agentgym demo[/]: GiGPO on {config.env.id} (served in its own process) with a tiny model, "
        f"{config.optim.steps} steps of {config.rollout.groups_per_step}x{config.rollout.group_size} episodes; "
        f"output in {output_dir}"
    )
    result = await train(config, overwrite=True, console=console)  # the demo owns its output directory
    success = [row["rollout/success"] for row in result.rows if "rollout/success" in row]
    window = min(WINDOW, max(1, len(success) // 2))
    first = sum(success[:window]) / window
    last = sum(success[-window:]) / window
    table = Table(title="agentgym demo", show_header=False)
    table.add_column("")
    table.add_column("")
    table.add_row(f"success, first {window} steps", f"{first:.2f}")
    table.add_row(f"success, last {window} steps", f"{last:.2f}")
    table.add_row("environment steps", f"{result.rows[-1]['rollout/env_steps_total']:.0f}")
    table.add_row("learning curve", str(result.curve))
    table.add_row("trajectories", str(result.output_dir / "trajectories.jsonl"))
    table.add_row("metrics", str(result.output_dir / "metrics.jsonl"))
    table.add_row("model", str(result.model_dir))
    console.print(table)
    console.print("[green]success rose[/]" if last > first else "[yellow]success did not rise in this run[/]")
    return 0
