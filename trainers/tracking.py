"""Where a run's metrics go: metrics.jsonl (always), TensorBoard event files (when installed),
and the learning curve as a PNG at the end."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["MetricsLog", "plot_curve", "read_metrics"]

logger = logging.getLogger("agentgym.trainers")

SMOOTHING = 5
"""Steps in the curve's moving average (drawn once there are twice as many steps)."""


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl file (an absent file has none)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class MetricsLog:
    """Appends one JSON row per step to `directory/metrics.jsonl` and, with `tensorboard`, the
    same scalars to `directory/tensorboard/`.

    `resume_step`: rows of later steps (written after the checkpoint a run resumes from) are
    dropped from the JSONL file, and TensorBoard purges its events after that step, so a resumed
    run's logs read as one run.
    """

    def __init__(self, directory: str | Path, *, tensorboard: bool = True, resume_step: int | None = None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "metrics.jsonl"
        rows = read_metrics(self.path) if resume_step is not None else []
        self.rows = [row for row in rows if row.get("step", 0) <= (resume_step or 0)]
        self.path.write_text("".join(json.dumps(row) + "\n" for row in self.rows))
        self._file = self.path.open("a")
        self._writer: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.warning("tensorboard is not installed: metrics go to metrics.jsonl only (pip install tensorboard)")
            else:
                purge = None if resume_step is None else resume_step + 1  # events after the checkpoint
                self._writer = SummaryWriter(str(self.directory / "tensorboard"), purge_step=purge)

    def write(self, metrics: dict[str, float]) -> None:
        row = {key: value for key, value in metrics.items() if not (isinstance(value, float) and math.isnan(value))}
        self.rows.append(row)
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._writer is not None:
            step = int(row["step"])
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._writer.add_scalar(key, value, step)
            self._writer.flush()

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def plot_curve(rows: Sequence[dict[str, Any]], path: str | Path, *, title: str = "") -> Path | None:
    """Success rate and mean return against environment steps, one panel each, as a PNG; None
    when there is nothing to plot. Rows are metrics.jsonl rows (`rollout/env_steps_total`,
    `rollout/success`, `rollout/return`)."""
    rows = [row for row in rows if "rollout/success" in row and "rollout/env_steps_total" in row]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["rollout/env_steps_total"] for row in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for axis, key, label in ((left, "rollout/success", "success rate"), (right, "rollout/return", "mean return")):
        values = [row.get(key, float("nan")) for row in rows]
        axis.plot(steps, values, marker="o", markersize=3, linewidth=0.8, alpha=0.45, label="per step")
        if len(values) >= 2 * SMOOTHING:
            smoothed = [sum(values[i - SMOOTHING + 1 : i + 1]) / SMOOTHING for i in range(SMOOTHING - 1, len(values))]
            axis.plot(steps[SMOOTHING - 1 :], smoothed, linewidth=2.0, label=f"mean of {SMOOTHING} steps")
            axis.legend(loc="best", fontsize=8)
        axis.set_xlabel("environment steps")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    left.set_ylim(-0.02, 1.02)
    if title:
        figure.suptitle(title)
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
