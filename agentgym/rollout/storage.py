"""Saving trajectories: Parquet for training and analysis, JSON Lines for reading.

Parquet layout: one row per turn, in episode order then turn order. Every row carries its
episode's and group's ids, the task's fields and the episode-level fields (repeated on each of
the episode's rows); the turn's token ids and log-probabilities are list columns. An episode
without turns (failed at reset, or a first prompt that overflowed the context) is one row whose
turn columns are null, so that reading back is lossless. The file loads as a Hugging Face
dataset with `datasets.Dataset.from_parquet(path)` (or `as_dataset(path)`), one row per turn.

Columns (Parquet types):
    group_id, episode_id (string); env_id (string), seed (int64, null), options and env_kwargs
    (string: JSON); status, failure, truncation, parent_episode_id (string, null where unset);
    terminated, truncated, success (bool); branch_turn (int64, null); ground_truth (string,
    null: the task's answer the environment reported, `Trajectory.ground_truth`); num_turns (int64);
    episode_return (float64, the sum of the episode's rewards); turn_index (int64);
    prompt_ids, response_ids (list<int32>); response_logprobs (list<float64>); response_text,
    finish_reason, observation, anchor (string); reward, env_latency_s (float64);
    invalid (bool); policy_version (int64).

pyarrow (and datasets, for `as_dataset`) are imported only when these functions run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from agentgym.rollout.types import Group, Task, Trajectory, Turn

EPISODE_COLUMNS = (
    "group_id",
    "episode_id",
    "env_id",
    "seed",
    "options",
    "env_kwargs",
    "status",
    "failure",
    "terminated",
    "truncated",
    "truncation",
    "success",
    "parent_episode_id",
    "branch_turn",
    "ground_truth",
    "num_turns",
    "episode_return",
)
TURN_COLUMNS = (
    "turn_index",
    "prompt_ids",
    "response_ids",
    "response_logprobs",
    "response_text",
    "finish_reason",
    "observation",
    "anchor",
    "reward",
    "invalid",
    "env_latency_s",
    "policy_version",
)


def schema() -> Any:
    """The Parquet schema of a trajectory file (a `pyarrow.Schema`)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("group_id", pa.string()),
            ("episode_id", pa.string()),
            ("env_id", pa.string()),
            ("seed", pa.int64()),
            ("options", pa.string()),
            ("env_kwargs", pa.string()),
            ("status", pa.string()),
            ("failure", pa.string()),
            ("terminated", pa.bool_()),
            ("truncated", pa.bool_()),
            ("truncation", pa.string()),
            ("success", pa.bool_()),
            ("parent_episode_id", pa.string()),
            ("branch_turn", pa.int64()),
            ("ground_truth", pa.string()),
            ("num_turns", pa.int64()),
            ("episode_return", pa.float64()),
            ("turn_index", pa.int64()),
            ("prompt_ids", pa.list_(pa.int32())),
            ("response_ids", pa.list_(pa.int32())),
            ("response_logprobs", pa.list_(pa.float64())),
            ("response_text", pa.string()),
            ("finish_reason", pa.string()),
            ("observation", pa.string()),
            ("anchor", pa.string()),
            ("reward", pa.float64()),
            ("invalid", pa.bool_()),
            ("env_latency_s", pa.float64()),
            ("policy_version", pa.int64()),
        ]
    )


def _trajectories(items: Iterable[Trajectory | Group]) -> Iterator[Trajectory]:
    for item in items:
        if isinstance(item, Group):
            yield from item.trajectories
        elif isinstance(item, Trajectory):
            yield item
        else:
            raise TypeError(f"expected Trajectory or Group, got {type(item).__name__}")


def _rows(trajectory: Trajectory) -> Iterator[dict[str, Any]]:
    task = trajectory.task
    episode = {
        "group_id": trajectory.group_id,
        "episode_id": trajectory.episode_id,
        "env_id": task.env_id,
        "seed": task.seed,
        "options": None if task.options is None else json.dumps(task.options),
        "env_kwargs": json.dumps(task.env_kwargs),
        "status": trajectory.status,
        "failure": trajectory.failure,
        "terminated": trajectory.terminated,
        "truncated": trajectory.truncated,
        "truncation": trajectory.truncation,
        "success": trajectory.success,
        "parent_episode_id": trajectory.parent_episode_id,
        "branch_turn": trajectory.branch_turn,
        "ground_truth": trajectory.ground_truth,
        "num_turns": len(trajectory.turns),
        "episode_return": trajectory.total_reward,
    }
    if not trajectory.turns:
        yield {**episode, **dict.fromkeys(TURN_COLUMNS)}
    for turn in trajectory.turns:
        yield {
            **episode,
            "turn_index": turn.index,
            "prompt_ids": turn.prompt_ids,
            "response_ids": turn.response_ids,
            "response_logprobs": turn.response_logprobs,
            "response_text": turn.response_text,
            "finish_reason": turn.finish_reason,
            "observation": turn.observation,
            "anchor": turn.anchor,
            "reward": turn.reward,
            "invalid": turn.invalid,
            "env_latency_s": turn.env_latency_s,
            "policy_version": turn.policy_version,
        }


def to_table(items: Iterable[Trajectory | Group]) -> Any:
    """The rows of `items` (trajectories, or groups whose trajectories are taken in order) as
    a `pyarrow.Table` with `schema()`."""
    import pyarrow as pa

    rows = [row for trajectory in _trajectories(items) for row in _rows(trajectory)]
    return pa.Table.from_pylist(rows, schema=schema())


class TrajectoryWriter:
    """Appends trajectories to one Parquet file, a row group per `write` call; for long runs.

    Use as `with TrajectoryWriter(path) as writer: writer.write(groups)`; the file is complete
    once the writer is closed.
    """

    def __init__(self, path: str | Path):
        import pyarrow.parquet as pq

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(self.path, schema())
        self.rows = 0

    def write(self, items: Iterable[Trajectory | Group]) -> None:
        table = to_table(items)
        if table.num_rows:
            self._writer.write_table(table)
            self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def write_parquet(items: Iterable[Trajectory | Group], path: str | Path) -> Path:
    """Write `items` to a new Parquet file at `path` (see the module docstring); returns the path."""
    with TrajectoryWriter(path) as writer:
        writer.write(items)
    return writer.path


def read_trajectories(path: str | Path) -> list[Trajectory]:
    """The trajectories of a Parquet file, in the order they were written."""
    import pyarrow.parquet as pq

    trajectories: dict[str, Trajectory] = {}
    for row in pq.read_table(path, schema=schema()).to_pylist():
        trajectory = trajectories.get(row["episode_id"])
        if trajectory is None:
            trajectory = trajectories[row["episode_id"]] = Trajectory(
                episode_id=row["episode_id"],
                group_id=row["group_id"],
                task=Task(
                    env_id=row["env_id"],
                    seed=row["seed"],
                    options=None if row["options"] is None else json.loads(row["options"]),
                    env_kwargs=json.loads(row["env_kwargs"]),
                ),
                status=row["status"],
                failure=row["failure"],
                terminated=row["terminated"],
                truncated=row["truncated"],
                truncation=row["truncation"],
                success=row["success"],
                parent_episode_id=row["parent_episode_id"],
                branch_turn=row["branch_turn"],
                ground_truth=row["ground_truth"],
            )
        if row["turn_index"] is not None:
            trajectory.turns.append(Turn(index=row["turn_index"], **{name: row[name] for name in TURN_COLUMNS[1:]}))
    return list(trajectories.values())


def read_groups(path: str | Path) -> list[Group]:
    """The groups of a Parquet file: its trajectories gathered by `group_id`, in order of
    first appearance; each group's task is its first trajectory's."""
    groups: dict[str, Group] = {}
    for trajectory in read_trajectories(path):
        group = groups.setdefault(
            trajectory.group_id, Group(group_id=trajectory.group_id, task=trajectory.task, trajectories=[])
        )
        group.trajectories.append(trajectory)
    return list(groups.values())


def as_dataset(path: str | Path | list[str | Path]) -> Any:
    """The Parquet file(s) as a Hugging Face `datasets.Dataset`, one row per turn."""
    import datasets

    paths = [str(p) for p in path] if isinstance(path, list) else str(path)
    return datasets.Dataset.from_parquet(paths)


def write_jsonl(items: Iterable[Trajectory | Group], path: str | Path, *, tokens: bool = False) -> Path:
    """Write one trajectory per line as JSON, for reading. Without `tokens`, the prompt and
    response ids and log-probabilities are left out (the texts stay); with them, the file reads
    back losslessly with `read_jsonl`."""
    exclude = None if tokens else {"turns": {"__all__": {"prompt_ids", "response_ids", "response_logprobs"}}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as file:
        for trajectory in _trajectories(items):
            file.write(json.dumps(trajectory.model_dump(mode="json", exclude=exclude), ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: str | Path) -> list[Trajectory]:
    """The trajectories of a JSON Lines file written by `write_jsonl(..., tokens=True)`."""
    with Path(path).open(encoding="utf-8") as file:
        return [Trajectory.model_validate_json(line) for line in file if line.strip()]
