"""Advantage computation time on a flat table of 1,000,000 steps: GRPO, GiGPO, IGPO.

Compares the vectorised estimators of `agentgym.trainers.advantages` with a straightforward
per-step Python loop over dictionaries (the shape of the GiGPO reference code's grouping and
normalisation), on the same table. Run from the repository root:

    python benchmarks/trainers/bench_advantages.py --json benchmarks/trainers/results/advantages.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from agentgym.trainers import StepTable, gigpo_advantages, grpo_advantages, igpo_advantages


def make_table(rows: int, seed: int = 0) -> StepTable:
    """Groups of 8 episodes, lengths uniform in 1..50 (mean 25.5, like ALFWorld's 50-step cap),
    sparse rewards (success 1 on the last step with probability .3), 10% invalid actions, and
    anchors that collide across the episodes of a group (state ~ step index + small noise)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 51, size=rows // 10)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), rows) + 1]
    lengths[-1] -= int(lengths.sum()) - rows  # exactly `rows` rows
    if lengths[-1] < 1:
        lengths = lengths[:-1]
        lengths[-1] += rows - int(lengths.sum())
    n_episodes = lengths.shape[0]
    group = np.arange(n_episodes) // 8
    starts = np.cumsum(lengths) - lengths
    step = np.arange(rows) - np.repeat(starts, lengths)
    reward = np.zeros(rows)
    reward[starts + lengths - 1] = (rng.random(n_episodes) < 0.3).astype(float)
    anchor = step + rng.integers(0, 3, size=rows)
    return StepTable.from_lengths(group, lengths, reward, anchor, invalid=rng.random(rows) < 0.1)


def loop_gigpo(table: StepTable, gamma: float = 0.95, eps: float = 1e-6) -> list[float]:
    """GiGPO with per-step Python loops and dictionaries (the baseline)."""
    group, episode, reward, anchor = (a.tolist() for a in (table.group, table.episode, table.reward, table.anchor))
    n = len(reward)
    ep_return: dict[int, float] = defaultdict(float)
    ep_group: dict[int, int] = {}
    for i in range(n):
        ep_return[episode[i]] += reward[i]
        ep_group[episode[i]] = group[i]
    by_group: dict[int, list[float]] = defaultdict(list)
    for e, r in ep_return.items():
        by_group[ep_group[e]].append(r)
    stats = {}
    for g, rs in by_group.items():
        m = sum(rs) / len(rs)
        s = math.sqrt(sum((r - m) ** 2 for r in rs) / (len(rs) - 1)) if len(rs) > 1 else 0.0
        stats[g] = (m, s)
    ret = [0.0] * n
    carry = 0.0
    for i in range(n - 1, -1, -1):
        if i == n - 1 or episode[i + 1] != episode[i]:
            carry = 0.0
        carry = reward[i] + gamma * carry
        ret[i] = carry
    anchor_rows: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i in range(n):
        anchor_rows[(group[i], anchor[i])].append(i)
    adv = [0.0] * n
    for rows in anchor_rows.values():
        if len(rows) > 1:
            vals = [ret[i] for i in rows]
            m = sum(vals) / len(vals)
            s = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))
            for i in rows:
                adv[i] = (ret[i] - m) / (s + eps)
    for i in range(n):
        m, s = stats[group[i]]
        adv[i] += (ep_return[episode[i]] - m) / (s + eps) if s > 0 else 0.0
    return adv


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loop-repeats", type=int, default=1, help="repeats of the slow loop baseline")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    t0 = time.perf_counter()
    table = make_table(args.rows)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    ig = rng.normal(size=table.n_steps)
    outcome = rng.random(table.n_episodes)
    gigpo = gigpo_advantages(table, invalid_penalty=0.1)
    stats = gigpo.group_stats()

    cases = {
        "GRPO": lambda: grpo_advantages(table),
        "GiGPO (per-episode stats)": lambda: gigpo_advantages(table, invalid_penalty=0.1),
        "GiGPO (per-row stats)": lambda: gigpo_advantages(table, invalid_penalty=0.1, episode_weighting="step"),
        "IGPO (gamma 1, separate)": lambda: igpo_advantages(table, ig, outcome),
        "GiGPO, per-step Python loop (baseline)": lambda: loop_gigpo(table),
    }
    results = []
    for name, fn in cases.items():
        fn()  # warm-up
        times = timed(fn, args.loop_repeats if "loop" in name else args.repeats)
        results.append({"estimator": name, "median_s": statistics.median(times), "runs_s": times})
    loop = np.asarray(loop_gigpo(table))
    assert np.allclose(loop, gigpo_advantages(table).advantage, atol=1e-6), "baseline disagrees"
    baseline = results[-1]["median_s"]

    print(
        f"{table.n_steps:,} rows, {table.n_episodes:,} episodes, {int(table.group.max()) + 1:,} groups; "
        f"mean episode length {table.n_steps / table.n_episodes:.1f}, max {int(table.episode_length.max())}; "
        f"table built in {build_s:.3f} s"
    )
    print(
        f"GiGPO anchor groups: {stats.n_groups:,}, singleton steps {stats.singleton_fraction:.1%}, "
        f"largest group {max(stats.size_counts)}"
    )
    print(f"{platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}\n")
    print("| estimator | median s | runs (s) | vs loop baseline |")
    print("|---|---:|---:|---:|")
    for r in results:
        runs = ", ".join(f"{t:.4f}" for t in r["runs_s"])
        print(f"| {r['estimator']} | {r['median_s']:.4f} | {runs} | {baseline / r['median_s']:.1f}x |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "rows": table.n_steps,
                    "episodes": table.n_episodes,
                    "singleton_fraction": stats.singleton_fraction,
                    "machine": platform.machine(),
                    "python": platform.python_version(),
                    "numpy": np.__version__,
                    "results": results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
