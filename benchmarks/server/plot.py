"""A PNG of a server-benchmark result: steps/s and p99 latency against N, per system.

Needs matplotlib (not an agentgym dependency); bench.py skips the plot without it. By hand,
with any Python that has matplotlib (several files: later ones replace the same (N, system)):

    python benchmarks/server/plot.py benchmarks/server/results/full.json [more.json ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _series(runs: list[dict[str, Any]], system: str, field: str) -> tuple[list[int], list[float]]:
    points = [(run["sessions"], run.get(field)) for run in runs if run["system"] == system and run.get(field)]
    return [n for n, _ in points], [value for _, value in points]


def plot_results(payload: dict[str, Any], out: Path) -> Path:
    """Two panels (throughput, p99) with one line per system; returns the PNG's path."""
    runs = payload["runs"]
    systems = list(dict.fromkeys(run["system"] for run in runs))
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for system in systems:
        left.plot(*_series(runs, system, "steps_per_s"), marker="o", label=system)
        right.plot(*_series(runs, system, "p99_ms"), marker="o", label=system)
    left.set(xscale="log", yscale="log", xlabel="concurrent sessions (N)", ylabel="steps/s", title="Throughput")
    right.set(
        xscale="log",
        yscale="log",
        xlabel="concurrent sessions (N)",
        ylabel="p99 step latency (ms)",
        title="p99 latency",
    )
    for axis in (left, right):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    cpu = payload.get("machine", {})
    figure.suptitle(
        f"Trivial echo env, {cpu.get('cores')} cores ({cpu.get('pinning')}), {payload.get('config', {}).get('duration_s')} s per run"
    )
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def merge(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """The first payload with the runs of all of them; a later run replaces the same (N, system)."""
    runs = {(run["sessions"], run["system"]): run for payload in payloads for run in payload["runs"]}
    return {**payloads[0], "runs": sorted(runs.values(), key=lambda run: run["sessions"])}


if __name__ == "__main__":
    sources = [Path(name) for name in sys.argv[1:]]
    print(plot_results(merge([json.loads(source.read_text()) for source in sources]), sources[0].with_suffix(".png")))
