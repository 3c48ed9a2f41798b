"""`agentgym train`: a whole run end to end (tiny model, warm start, a served environment),
its outputs, resuming it, and clear errors for bad configs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import run_command

REPO = Path(__file__).resolve().parents[2]
AGENTGYM = [sys.executable, "-m", "agentgym.cli"]


def write_config(tmp_path: Path, **changes: object) -> Path:
    config = {
        "algorithm": "gigpo",
        "output_dir": str(tmp_path / "run"),
        "env": {"id": "sokoban-easy-v0", "serve": True},
        "model": {"name": "tiny", "device": "cpu"},
        "rollout": {"group_size": 4, "groups_per_step": 2, "max_in_flight": 8, "max_turns": 3, "max_response_tokens": 8, "history": 0},
        "optim": {"steps": 2, "lr": 1e-3, "micro_batch_size": 32},
        "warm_start": {"expert": "agentgym.environments.sokoban.solver:SokobanSolver", "episodes": 4, "steps": 3},
        "logging": {"checkpoint_every": 1, "progress": False},
        **changes,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_run_writes_everything_and_resumes(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    out = run_command(*AGENTGYM, "train", config, cwd=tmp_path, timeout=400)
    assert "trained gigpo for 2 steps" in out
    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2]
    for key in ("rollout/success", "rollout/return", "update/kl", "update/entropy", "update/clip_fraction", "advantage/mean", "time/update_s", "time/rollout_wait_s", "time/sync_s"):
        assert key in rows[0], key
    assert rows[1]["rollout/env_steps_total"] > rows[0]["rollout/env_steps_total"] > 0
    assert (run / "curve.png").read_bytes().startswith(b"\x89PNG")
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert (run / "model" / "config.json").exists() and (run / "model" / "tokenizer.json").exists()
    trajectories = [json.loads(line) for line in (run / "trajectories.jsonl").read_text().splitlines()]
    assert trajectories and all(t["task"]["env_id"] == "sokoban-easy-v0" for t in trajectories)
    assert sorted(p.name for p in (run / "checkpoints").glob("*.pt")) == ["step-000001.pt", "step-000002.pt"]
    assert "serving sokoban-easy-v0" not in out  # progress and notes go to stderr
    assert (run / "server.log").exists()  # the environment was served by a child `agentgym serve`

    run_command(*AGENTGYM, "train", config, "--resume", "--set", "optim.steps=3", cwd=tmp_path, timeout=400)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"optim": {"stepz": 3}}, "optim.stepz"),
        ({"algorithm": "ppo2"}, "algorithm"),
        ({"env": {"id": "sokoban-v0", "serve": True, "url": "ws://127.0.0.1:1"}}, "env.serve or env.url"),
        ({"env": {"id": "sokoban-v9"}}, "sokoban-v9"),
        ({"loss": {"clip_low": 1.5}}, "loss.clip_low"),
        ({"seed": -1}, "seed"),
        ({"model": {"device": "gpu"}}, "model.device"),
        ({"model": {"tiny": {"seed": 3}}}, "model.tiny.seed"),
        ({"algorithm": "archer", "archer": {"critic": {"gama": 0.9}}}, "archer.critic"),
        ({"model": {"tiny": {"hidden_size": 64, "heads": 3}}}, "heads"),
    ],
)
def test_bad_configs_fail_with_the_key_named(tmp_path: Path, changes: dict, message: str) -> None:
    config = write_config(tmp_path, **changes)
    completed = subprocess.run([*AGENTGYM, "train", str(config)], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert message in completed.stderr


def test_a_second_run_into_the_same_directory_is_refused_unless_overwritten(tmp_path: Path) -> None:
    config = write_config(tmp_path, optim={"steps": 1, "lr": 1e-3}, warm_start=None)
    run_command(*AGENTGYM, "train", config, cwd=tmp_path, timeout=400)
    completed = subprocess.run([*AGENTGYM, "train", str(config)], capture_output=True, text=True, timeout=200)
    assert completed.returncode == 2 and "--resume" in completed.stderr and "--overwrite" in completed.stderr
    (tmp_path / "run" / "metrics.jsonl").write_text('{"step": 99}\n')
    run_command(*AGENTGYM, "train", config, "--overwrite", cwd=tmp_path, timeout=400)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1]


def test_an_unreachable_environment_stops_the_run_with_a_reason(tmp_path: Path) -> None:
    config = write_config(tmp_path, env={"id": "sokoban-easy-v0", "url": "ws://127.0.0.1:9"}, warm_start=None)
    completed = subprocess.run([*AGENTGYM, "train", str(config)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 1
    assert "every episode failed" in completed.stderr


def test_resume_without_a_checkpoint_is_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    completed = subprocess.run([*AGENTGYM, "train", str(config), "--resume"], capture_output=True, text=True, timeout=200)
    assert completed.returncode == 2
    assert "no checkpoint" in completed.stderr


EXAMPLES = sorted((REPO / "examples" / "train").glob("*.yaml"))


def test_every_example_config_is_valid() -> None:
    from agentgym.trainers.config import load_config

    assert {path.stem.split("_")[-1] for path in EXAMPLES} >= {"grpo", "gigpo", "igpo", "archer"}
    for path in EXAMPLES:
        config = load_config(path)
        assert config.algorithm == path.stem.split("_")[-1], path


@pytest.mark.parametrize("example", [p for p in EXAMPLES if p.stem.split("_")[-1] in ("igpo", "archer")], ids=lambda p: p.stem)
def test_example_configs_train_a_step(tmp_path: Path, example: Path) -> None:
    """The IGPO and ArCHer examples run end to end (shrunk to small steps)."""
    algorithm = example.stem.split("_")[-1]
    overrides = {
        "output_dir": str(tmp_path / "run"),
        "optim.steps": 3 if algorithm == "archer" else 1,  # ArCHer's actor starts after 2 critic-only steps
        "rollout.groups_per_step": 2,
        "rollout.group_size": 2,
        "rollout.max_turns": 3,
        "warm_start.episodes": 2,
        "warm_start.steps": 2,
        "archer.critic.critic_steps": 2,
        "logging.progress": False,
    }
    arguments = [argument for key, value in overrides.items() for argument in ("--set", f"{key}={json.dumps(value)}")]
    run_command(*AGENTGYM, "train", example, *arguments, cwd=tmp_path, timeout=400)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["update/tokens"] > 0
    if algorithm == "igpo":
        assert "igpo/gain/mean" in rows[-1] or all(row["rollout/turns"] == 1 for row in rows)
    else:
        assert rows[0]["archer/warming_up"] == 1.0 and rows[-1]["archer/buffer"] > 0
