"""`agentgym eval` / `agentgym rollout` end to end: a tiny local model (HFPolicy) plays a text
game served by `agentgym serve` in another process, and the trajectories land on disk."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("torch", reason="HFPolicy needs torch: pip install 'agentgym[train]'")
pytest.importorskip("pyarrow", reason="trajectory storage needs pyarrow: pip install 'agentgym[train]'")

from agentgym.policies.tiny import build_tiny_model  # noqa: E402
from agentgym.rollout.storage import read_jsonl, read_trajectories  # noqa: E402

CLI = [sys.executable, "-m", "agentgym.cli"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny")))


@pytest.fixture
def served_guess_number():
    """`agentgym serve guess-number-v0` in its own process; yields its base URL."""
    process = subprocess.Popen([*CLI, "serve", "guess-number-v0", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r"(http://\S+)", process.stdout.readline()).group(1)  # type: ignore[union-attr]
        yield url
    finally:
        process.terminate()
        assert process.wait(30) == 0


def test_eval_plays_a_served_game_with_a_tiny_local_model(tiny_model, served_guess_number, tmp_path) -> None:
    import urllib.request

    out = tmp_path / "eval.parquet"
    env = served_guess_number.replace("http", "ws", 1) + "/guess-number-v0"
    result = subprocess.run(
        [*CLI, "eval", "--env", env, "--policy", f"hf:{tiny_model}", "--episodes", "6", "--concurrency", "3",
         "--max-tokens", "6", "--history", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"episodes\s+6", result.stdout) and "success rate" in result.stdout and "mean reward" in result.stdout
    trajectories = read_trajectories(out)
    assert sorted(t.task.seed for t in trajectories) == list(range(6))
    assert all(t.status == "completed" and t.turns for t in trajectories)
    for trajectory in trajectories:
        for turn in trajectory.turns:
            assert 1 <= len(turn.response_ids) == len(turn.response_logprobs) <= 6
            assert turn.prompt_ids and turn.policy_version == 0
    # the server applied exactly the steps the trajectories record
    metrics = urllib.request.urlopen(f"{served_guess_number}/metrics").read().decode()
    served_steps = float(re.search(r'^agentgym_steps_total\{env_id="guess-number-v0"\} (\S+)$', metrics, re.M).group(1))
    assert served_steps == sum(len(t.turns) for t in trajectories)


def test_rollout_writes_groups_that_share_their_seed(tiny_model, tmp_path) -> None:
    out = tmp_path / "groups.jsonl"
    result = subprocess.run(
        [*CLI, "rollout", "--env", "guess-number-v0", "--policy", f"hf:{tiny_model}", "--tasks", "2", "--group-size", "3",
         "--max-tokens", "4", "--max-turns", "3", "--seed", "7", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    trajectories = read_jsonl(out)
    groups: dict[str, set[int | None]] = {}
    for trajectory in trajectories:
        groups.setdefault(trajectory.group_id, set()).add(trajectory.task.seed)
    assert sorted(len(t.turns) <= 3 for t in trajectories) == [True] * 6
    assert len(groups) == 2 and sorted(seed for seeds in groups.values() for seed in seeds) == [7, 8]
    assert all(sum(t.group_id == group for t in trajectories) == 3 for group in groups)


def test_a_bad_policy_spec_is_a_usage_error() -> None:
    result = subprocess.run([*CLI, "eval", "--env", "guess-number-v0", "--policy", "gpt:nothing"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "hf:PATH_OR_NAME, openai:URL, vllm:MODEL" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_environment_or_a_bad_history_is_a_usage_error_before_any_model_loads(tmp_path) -> None:
    missing_model = f"hf:{tmp_path / 'no-model-here'}"
    unknown = subprocess.run([*CLI, "eval", "--env", "guess-numbr-v0", "--policy", missing_model], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "guess-number-v0" in unknown.stderr and "Traceback" not in unknown.stderr
    no_id = subprocess.run([*CLI, "eval", "--env", "ws://127.0.0.1:9", "--policy", missing_model], capture_output=True, text=True, timeout=60)
    assert no_id.returncode == 2 and "names no environment" in no_id.stderr
    history = subprocess.run([*CLI, "eval", "--env", "guess-number-v0", "--policy", missing_model, "--history", "-1"], capture_output=True, text=True, timeout=60)
    assert history.returncode == 2 and "expected an integer >= 0" in history.stderr


def test_eval_fails_when_no_episode_completes(tiny_model) -> None:
    unreachable = subprocess.run(
        [*CLI, "eval", "--env", "ws://127.0.0.1:9/guess-number-v0", "--policy", f"hf:{tiny_model}", "--episodes", "2", "--max-tokens", "2"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )
    assert unreachable.returncode == 1
    # the pool found no server to open a session on: every episode failed as server_busy
    assert "no episode completed" in unreachable.stderr and "failed: server_busy" in unreachable.stdout
