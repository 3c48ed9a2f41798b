"""Advantage estimators: GRPO, GiGPO (arXiv 2505.10978) and IGPO's advantage part (arXiv 2510.14967).

Each estimator is one pure function of a `StepTable` (flat, equal-length numpy arrays, one row
per step) returning per-step advantages, to be broadcast to every response token of the step.
Everything is vectorised over rows: group statistics are segment sums (`np.bincount` with
weights), groups are found with `np.unique(..., return_inverse=True)`, and there is no Python
loop per step or token.

Conventions shared by all estimators
------------------------------------
* Normalisation within a segment (a task group, or a GiGPO anchor group) is
  ``(x - mean) / (std + eps)`` ("mean_std") or ``x - mean`` ("mean"). ``std`` is the sample
  standard deviation (ddof=1, as ``torch.std`` in the GRPO / GiGPO reference code) and
  ``eps = 1e-6`` by default (the reference code's epsilon).
* A segment whose values are all equal (a segment of size 1, or ties, i.e. zero std) gives
  exactly 0 to each member. The reference code instead uses mean 0 and std 1 for a size-1
  segment, so a lone trajectory's advantage there is its raw return; we follow the paper (a
  step alone in its anchor group gets A_S = 0) and apply the same rule at every level: with
  nothing to compare against there is no signal.
* Discounted sums per episode ``R_t = sum_{k>=t} gamma^(k-t) x_k`` are computed by a
  *segmented reverse scan over step index*: episodes are sorted once by length (longest
  first), so the episodes still running at step j are a prefix of that order, and the scan
  goes j = max_len-1 .. 0 updating ``carry = x[start + j] + gamma * carry`` for that prefix
  only. That is one vectorised numpy operation per step index (a Python loop over the maximum
  episode length, not over steps) and O(n_steps) work in total; it is exact (the same
  operations, in the same order, as the obvious per-episode loop), unlike the log-space /
  ``gamma^-t``-scaled cumulative-sum trick, which loses precision or overflows on long
  episodes. Truncated episodes just have fewer steps: nothing is bootstrapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from agentgym.trainers.steps import StepTable

__all__ = [
    "GiGPOAdvantages",
    "StepGroupStats",
    "anchor_groups",
    "discounted_returns",
    "episode_returns",
    "gigpo_advantages",
    "grpo_advantages",
    "igpo_advantages",
    "step_group_stats",
]

Normalization = Literal["mean_std", "mean"]
EPS = 1e-6


# -- building blocks ---------------------------------------------------------------------------


def _segment_normalize(
    values: np.ndarray,
    segment: np.ndarray,
    n_segments: int,
    *,
    normalization: Normalization,
    eps: float,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Normalise `values` within segments (`segment` holds ids 0..n_segments-1).

    `weights` (positive integers) count each value that many times, as if it were repeated:
    the reference code's per-step-row statistics. Members of a segment whose values are all
    equal get exactly 0.
    """
    if normalization not in ("mean_std", "mean"):
        raise ValueError(f"normalization must be 'mean_std' or 'mean', got {normalization!r}")
    if values.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    w = np.ones_like(values) if weights is None else weights.astype(np.float64)
    count = np.bincount(segment, weights=w, minlength=n_segments)
    mean = np.bincount(segment, weights=w * values, minlength=n_segments) / np.maximum(count, 1.0)
    dev = values - mean[segment]
    # all-equal segments (size 1 or ties): exactly 0, whatever the rounding of the mean
    vmax = np.full(n_segments, -np.inf)
    vmin = np.full(n_segments, np.inf)
    np.maximum.at(vmax, segment, values)
    np.minimum.at(vmin, segment, values)
    flat = (vmax == vmin)[segment]
    dev[flat] = 0.0
    if normalization == "mean":
        return dev
    var = np.bincount(segment, weights=w * dev * dev, minlength=n_segments) / np.maximum(count - 1.0, 1.0)
    return dev / (np.sqrt(var)[segment] + eps)


def discounted_returns(table: StepTable, values: np.ndarray, gamma: float) -> np.ndarray:
    """Per-step ``R_t = sum_{k>=t, same episode} gamma^(k-t) values_k`` (no bootstrapping).

    Segmented reverse scan over step index, vectorised across episodes (see the module doc).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (table.n_steps,):
        raise ValueError(f"expected {table.n_steps} per-step values, got shape {values.shape}")
    out = np.empty_like(values)
    if table.n_steps == 0:
        return out
    lengths = table.episode_length
    order = np.argsort(-lengths, kind="stable")  # longest first
    starts = table.episode_start[order]
    sorted_lengths = lengths[order]
    # running[j] = number of episodes with length > j (a prefix of `order`)
    running = np.searchsorted(-sorted_lengths, -np.arange(sorted_lengths[0]), side="left")
    carry = np.zeros(starts.shape[0], dtype=np.float64)
    for j in range(int(sorted_lengths[0]) - 1, -1, -1):
        n = running[j]
        rows = starts[:n] + j
        carry[:n] = values[rows] + gamma * carry[:n]
        out[rows] = carry[:n]
    return out


def episode_returns(table: StepTable, reward: np.ndarray | None = None) -> np.ndarray:
    """Per-episode sum of per-step `reward` (default: the table's rewards)."""
    reward = table.reward if reward is None else np.asarray(reward, dtype=np.float64)
    if table.n_steps == 0:
        return np.zeros(0, dtype=np.float64)
    return np.add.reduceat(reward, table.episode_start)


def _dense(ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Map arbitrary non-negative ids to 0..k-1."""
    uniq, inverse = np.unique(ids, return_inverse=True)
    return inverse.reshape(-1), int(uniq.shape[0])


# -- GRPO --------------------------------------------------------------------------------------


def grpo_advantages(
    table: StepTable,
    *,
    normalization: Normalization = "mean_std",
    eps: float = EPS,
) -> np.ndarray:
    """GRPO: one scalar per trajectory, ``(R - group mean) / (group std + eps)``, broadcast to its
    steps. R is the episode's total reward; the group is the task group (the G episodes of one
    task). ``normalization="mean"`` drops the division by the std.

    Conventions (module doc): sample std (ddof=1), eps 1e-6; a group of size 1, or one whose
    returns are all equal (zero std), gives 0 to every episode (the reference code would give a
    lone episode its raw return).
    """
    if table.n_steps == 0:
        return np.zeros(0, dtype=np.float64)
    returns = episode_returns(table)
    group, n_groups = _dense(table.episode_group)
    per_episode = _segment_normalize(returns, group, n_groups, normalization=normalization, eps=eps)
    return per_episode[table.episode]


# -- GiGPO -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepGroupStats:
    """Distribution of GiGPO anchor-group sizes, for logging.

    size_counts: {size: number of anchor groups of that size}, sizes ascending.
    singleton_fraction: fraction of steps alone in their anchor group (A_S = 0 for them; the
        paper reports it stays under 35% during training).
    n_groups / n_steps: anchor groups and steps counted.
    """

    size_counts: dict[int, int]
    singleton_fraction: float
    n_groups: int
    n_steps: int


@dataclass(frozen=True)
class GiGPOAdvantages:
    """GiGPO's per-step outputs (all arrays of length n_steps).

    advantage: A_E + omega * A_S, what the loss uses.
    episode_advantage: A_E of the step's episode. step_advantage: A_S.
    step_return: the discounted step return R_t (penalty included).
    step_group: the step's anchor-group id (0..n_groups-1); step_group_size: that group's size.
    """

    advantage: np.ndarray
    episode_advantage: np.ndarray
    step_advantage: np.ndarray
    step_return: np.ndarray
    step_group: np.ndarray
    step_group_size: np.ndarray

    def group_stats(self) -> StepGroupStats:
        return step_group_stats(self.step_group, self.step_group_size)


def step_group_stats(step_group: np.ndarray, step_group_size: np.ndarray) -> StepGroupStats:
    """`StepGroupStats` from per-step anchor-group ids and sizes (`GiGPOAdvantages` fields)."""
    n_steps = int(step_group.shape[0])
    if n_steps == 0:
        return StepGroupStats({}, 0.0, 0, 0)
    group_sizes = np.bincount(step_group)
    group_sizes = group_sizes[group_sizes > 0]
    sizes, counts = np.unique(group_sizes, return_counts=True)
    return StepGroupStats(
        size_counts={int(s): int(c) for s, c in zip(sizes, counts, strict=True)},
        singleton_fraction=float(np.count_nonzero(step_group_size == 1)) / n_steps,
        n_groups=int(group_sizes.shape[0]),
        n_steps=n_steps,
    )


def anchor_groups(table: StepTable) -> tuple[np.ndarray, np.ndarray]:
    """GiGPO's step groups: per-step ids (0..k-1) of the (task group, anchor) pairs, and the size
    of each step's group. Identical anchors in *different* task groups are never merged; the
    same anchor met twice in one episode puts both steps in one group."""
    key = table.group * (int(table.anchor.max()) + 1) + table.anchor if table.n_steps else table.anchor
    step_group, n_groups = _dense(key)
    sizes = np.bincount(step_group, minlength=n_groups)
    return step_group, sizes[step_group]


def gigpo_advantages(
    table: StepTable,
    *,
    gamma: float = 0.95,
    omega: float = 1.0,
    normalization: Normalization = "mean_std",
    invalid_penalty: float = 0.0,
    episode_weighting: Literal["episode", "step"] = "episode",
    eps: float = EPS,
) -> GiGPOAdvantages:
    """GiGPO, Group-in-Group Policy Optimization (Feng et al., arXiv 2505.10978).

    1. Penalty: every invalid step's reward is lowered by `invalid_penalty` (default 0; the
       reference uses 0.1) *before* any return is computed, so it enters both the episode
       return R and the step returns R_t.
    2. Episode level: R = sum of the episode's (penalised) rewards; A_E = R normalised within
       the task group. `episode_weighting="episode"` (default) is the paper's formula: each
       episode counts once in the group mean / std. `"step"` reproduces the reference code,
       which computes those statistics over step rows, so an episode of n steps counts n times
       and long episodes weigh more (its other quirk, statistics over duplicated padding rows,
       is not reproduced).
    3. Step level: R_t = sum_{k>=t} gamma^(k-t) r_k within the episode (truncated episodes are
       not bootstrapped); anchor groups collect the steps of one task group whose anchors are
       identical (exact equality; never across task groups); A_S = R_t normalised within its
       anchor group. A step alone in its anchor group (or in one of equal returns) gets 0.
    4. A = A_E + omega * A_S.

    `normalization` ("mean_std" or "mean", the paper's with / without std) applies at both
    levels; std is the sample std (ddof=1) and eps is added to it (module doc).
    """
    if episode_weighting not in ("episode", "step"):
        raise ValueError(f"episode_weighting must be 'episode' or 'step', got {episode_weighting!r}")
    reward = table.reward - invalid_penalty * table.invalid if invalid_penalty else table.reward
    if table.n_steps == 0:
        empty = np.zeros(0, dtype=np.float64)
        ids = np.zeros(0, dtype=np.int64)
        return GiGPOAdvantages(empty, empty, empty, empty, ids, ids)

    # episode level: group-normalised episode returns
    returns = episode_returns(table, reward)
    group, n_groups = _dense(table.episode_group)
    weights = table.episode_length if episode_weighting == "step" else None
    a_episode = _segment_normalize(returns, group, n_groups, normalization=normalization, eps=eps, weights=weights)[
        table.episode
    ]

    # step level: discounted step returns normalised within anchor groups
    step_return = discounted_returns(table, reward, gamma)
    step_group, step_group_size = anchor_groups(table)
    n_step_groups = int(step_group.max()) + 1
    a_step = _segment_normalize(step_return, step_group, n_step_groups, normalization=normalization, eps=eps)

    return GiGPOAdvantages(
        advantage=a_episode + omega * a_step,
        episode_advantage=a_episode,
        step_advantage=a_step,
        step_return=step_return,
        step_group=step_group,
        step_group_size=step_group_size,
    )


# -- IGPO --------------------------------------------------------------------------------------


def igpo_advantages(
    table: StepTable,
    ig_reward: np.ndarray,
    outcome: np.ndarray | None = None,
    *,
    gamma: float = 1.0,
    pooling: Literal["separate", "joint"] = "separate",
    normalization: Normalization = "mean_std",
    eps: float = EPS,
) -> np.ndarray:
    """IGPO's turn-level advantages (Wang et al., arXiv 2510.14967), from rewards computed elsewhere.

    Args:
        ig_reward: per step, the information-gain reward IG_t of each non-final turn. The value
            on each episode's final row is ignored (that turn's reward is the outcome) and may
            be anything, NaN included.
        outcome: per episode, the outcome reward (F1, or the format penalty); default: the sum
            of the table's per-step rewards of the episode.
        gamma: the turn discount (1.0 in the reference).
        pooling: "separate" z-normalises, within each task group, the IG rewards (all non-final
            turns of the group's G episodes together) and the outcomes (one per episode) as two
            populations; "joint" normalises them as one pooled population.
        normalization / eps: as everywhere (module doc): sample std, 0 for an all-equal
            population (e.g. a group with a single non-final turn).

    Returns per-step ``A_t = r_t + gamma * A_{t+1}`` where r_t is the normalised IG reward on
    non-final turns and the normalised outcome on the final turn.
    """
    if pooling not in ("separate", "joint"):
        raise ValueError(f"pooling must be 'separate' or 'joint', got {pooling!r}")
    ig_reward = np.asarray(ig_reward, dtype=np.float64)
    if ig_reward.shape != (table.n_steps,):
        raise ValueError(f"expected {table.n_steps} per-step IG rewards, got shape {ig_reward.shape}")
    outcome = episode_returns(table) if outcome is None else np.asarray(outcome, dtype=np.float64)
    if outcome.shape != (table.n_episodes,):
        raise ValueError(f"expected {table.n_episodes} per-episode outcomes, got shape {outcome.shape}")
    if table.n_steps == 0:
        return np.zeros(0, dtype=np.float64)

    group, n_groups = _dense(table.group)  # per step; per episode: group[episode_start]
    mid = ~table.last
    ig_values, ig_group = ig_reward[mid], group[mid]
    episode_group = group[table.episode_start]
    if pooling == "separate":
        ig_norm = _segment_normalize(ig_values, ig_group, n_groups, normalization=normalization, eps=eps)
        out_norm = _segment_normalize(outcome, episode_group, n_groups, normalization=normalization, eps=eps)
    else:
        pooled = _segment_normalize(
            np.concatenate([ig_values, outcome]),
            np.concatenate([ig_group, episode_group]),
            n_groups,
            normalization=normalization,
            eps=eps,
        )
        ig_norm, out_norm = pooled[: ig_values.shape[0]], pooled[ig_values.shape[0] :]

    reward = np.empty(table.n_steps, dtype=np.float64)
    reward[mid] = ig_norm
    reward[table.last] = out_norm  # one last row per episode, in episode order
    return discounted_returns(table, reward, gamma)
