"""A flat table of steps: the input of every advantage estimator in `agentgym.trainers.advantages`.

One row per policy turn (a *step*) of every completed trajectory of a batch of `Group`s. The
estimators work on these equal-length numpy arrays only, vectorised, with no Python loop per
step or token; `StepTable.split` maps per-step results back to each trajectory's turns.

Layout (checked on construction): rows are *episode-contiguous and step-ordered*: episode
indices run 0, 0, .., 1, 1, .. without gaps, and within an episode `step` is 0, 1, .., n-1 with
`last` true on the final row. `from_groups` produces exactly this layout; a table built from
arrays must follow it too (it is what lets the estimators find episode boundaries without a
sort).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from agentgym.rollout.types import Group, Trajectory

__all__ = ["StepTable", "trainable_trajectories"]


def trainable_trajectories(group: Group) -> list[Trajectory]:
    """The trajectories of `group` that are trained on, in row order: the completed ones with at
    least one turn (failed episodes are never trained on; one without turns has nothing to
    train on and stays out of the group statistics too)."""
    return [t for t in group.trajectories if t.status == "completed" and t.turns]


@dataclass(frozen=True, eq=False)
class StepTable:
    """Equal-length arrays, one row per step.

    Fields:
        group: int64, the task group's index (non-negative); anchor groups never span two groups.
        episode: int64, the episode's index, 0..n_episodes-1, episode-contiguous (see module doc).
        step: int64, the step's index within its episode (0-based; the turn's position).
        reward: float64, the environment's reward for this step's action.
        anchor: int64, the anchor id of the state the action was taken in; two steps share an
            id exactly when their anchor strings are equal (`anchor_names[id]` is the string).
        invalid: bool, the environment flagged the action as invalid.
        last: bool, the episode's final step (terminated or truncated: no bootstrapping).
        episode_ids / group_ids / anchor_names: the strings behind the indices (empty tuples
            for a table built from bare arrays).
    """

    group: np.ndarray
    episode: np.ndarray
    step: np.ndarray
    reward: np.ndarray
    anchor: np.ndarray
    invalid: np.ndarray
    last: np.ndarray
    episode_ids: tuple[str, ...] = field(default=())
    group_ids: tuple[str, ...] = field(default=())
    anchor_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        casts = {
            "group": np.int64,
            "episode": np.int64,
            "step": np.int64,
            "reward": np.float64,
            "anchor": np.int64,
            "invalid": np.bool_,
            "last": np.bool_,
        }
        for name, dtype in casts.items():
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
        n = self.group.shape[0]
        for name in casts:
            array = getattr(self, name)
            if array.ndim != 1 or array.shape[0] != n:
                raise ValueError(f"StepTable.{name} must be 1-D of length {n}, got shape {array.shape}")
        if n == 0:
            return
        jumps = np.diff(self.episode)
        if self.episode[0] != 0 or np.any((jumps < 0) | (jumps > 1)):
            raise ValueError("StepTable.episode must be 0, 0, .., 1, 1, .. (episode-contiguous, no gaps)")
        starts = self.episode_start
        expected_step = np.arange(n, dtype=np.int64) - np.repeat(starts, self.episode_length)
        if not np.array_equal(self.step, expected_step):
            raise ValueError("StepTable.step must be 0, 1, .., n-1 within each episode, in row order")
        expected_last = np.zeros(n, dtype=np.bool_)
        expected_last[starts[1:] - 1] = True
        expected_last[-1] = True
        if not np.array_equal(self.last, expected_last):
            raise ValueError("StepTable.last must be true exactly on each episode's final row")
        if np.any(self.group < 0) or np.any(self.anchor < 0):
            raise ValueError("StepTable.group and StepTable.anchor must be non-negative")
        if not np.array_equal(self.group, np.repeat(self.group[starts], self.episode_length)):
            raise ValueError("StepTable.group must be constant within an episode")

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_groups(cls, groups: Iterable[Group]) -> StepTable:
        """One row per turn of every *completed* trajectory, groups and trajectories in order.

        Failed trajectories are skipped (never trained on), as are completed ones without any
        turn (nothing to train on; they do not enter the group statistics either). Anchors map
        to integer ids by exact string equality, across the whole batch; the estimators still
        form anchor groups per task group. A group with no completed turns gets no rows but
        keeps its index (so `group_ids[i]` is always the i-th group passed in).
        """
        group_idx: list[int] = []
        episode_idx: list[int] = []
        step_idx: list[int] = []
        rewards: list[float] = []
        anchors: list[int] = []
        invalid: list[bool] = []
        last: list[bool] = []
        episode_ids: list[str] = []
        group_ids: list[str] = []
        anchor_ids: dict[str, int] = {}
        for g, group in enumerate(groups):
            group_ids.append(group.group_id)
            for trajectory in trainable_trajectories(group):
                e = len(episode_ids)
                episode_ids.append(trajectory.episode_id)
                n = len(trajectory.turns)
                for t, turn in enumerate(trajectory.turns):
                    group_idx.append(g)
                    episode_idx.append(e)
                    step_idx.append(t)
                    rewards.append(turn.reward)
                    anchors.append(anchor_ids.setdefault(turn.anchor, len(anchor_ids)))
                    invalid.append(turn.invalid)
                    last.append(t == n - 1)
        return cls(
            group=np.asarray(group_idx, dtype=np.int64),
            episode=np.asarray(episode_idx, dtype=np.int64),
            step=np.asarray(step_idx, dtype=np.int64),
            reward=np.asarray(rewards, dtype=np.float64),
            anchor=np.asarray(anchors, dtype=np.int64),
            invalid=np.asarray(invalid, dtype=np.bool_),
            last=np.asarray(last, dtype=np.bool_),
            episode_ids=tuple(episode_ids),
            group_ids=tuple(group_ids),
            anchor_names=tuple(anchor_ids),
        )

    @classmethod
    def from_lengths(
        cls,
        group: Sequence[int] | np.ndarray,
        lengths: Sequence[int] | np.ndarray,
        reward: Sequence[float] | np.ndarray,
        anchor: Sequence[int] | np.ndarray,
        invalid: Sequence[bool] | np.ndarray | None = None,
    ) -> StepTable:
        """A table from per-episode `group` and `lengths` (each >= 1) and per-step `reward`,
        `anchor` (and optionally `invalid`): `episode`, `step` and `last` are derived."""
        group = np.asarray(group, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        if group.shape != lengths.shape or np.any(lengths < 1):
            raise ValueError("from_lengths: group and lengths are per episode, every length >= 1")
        n = int(lengths.sum())
        episode = np.repeat(np.arange(lengths.shape[0], dtype=np.int64), lengths)
        starts = np.cumsum(lengths) - lengths
        step = np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)
        last = np.zeros(n, dtype=np.bool_)
        last[starts + lengths - 1] = True
        return cls(
            group=np.repeat(group, lengths),
            episode=episode,
            step=step,
            reward=reward,
            anchor=anchor,
            invalid=np.zeros(n, dtype=np.bool_) if invalid is None else invalid,
            last=last,
        )

    # -- shape ---------------------------------------------------------------------------------

    @property
    def n_steps(self) -> int:
        return int(self.group.shape[0])

    @property
    def n_episodes(self) -> int:
        return int(self.episode[-1]) + 1 if self.n_steps else 0

    @property
    def episode_start(self) -> np.ndarray:
        """Row index of each episode's first step."""
        if self.n_steps == 0:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(np.r_[True, self.episode[1:] != self.episode[:-1]])

    @property
    def episode_length(self) -> np.ndarray:
        """Number of steps of each episode."""
        return np.diff(np.append(self.episode_start, self.n_steps))

    @property
    def episode_group(self) -> np.ndarray:
        """Group index of each episode."""
        return self.group[self.episode_start]

    # -- back to turns -------------------------------------------------------------------------

    def split(self, values: np.ndarray) -> list[np.ndarray]:
        """Per-step `values` split per episode: element e holds episode e's values, one per turn
        in turn order (for `from_groups`: the e-th completed trajectory with turns)."""
        values = np.asarray(values)
        if values.shape[:1] != (self.n_steps,):
            raise ValueError(f"expected {self.n_steps} per-step values, got shape {values.shape}")
        return np.split(values, self.episode_start[1:])

    def by_episode_id(self, values: np.ndarray) -> dict[str, list[float]]:
        """Per-step `values` as {episode_id: [value of turn 0, value of turn 1, ..]} (tables from
        `from_groups`; episode ids must be unique within the batch)."""
        if len(self.episode_ids) != self.n_episodes:
            raise ValueError("this table has no episode ids (built from arrays)")
        if len(set(self.episode_ids)) != len(self.episode_ids):
            raise ValueError("episode ids are not unique; use split() instead")
        return {eid: part.tolist() for eid, part in zip(self.episode_ids, self.split(values), strict=True)}
