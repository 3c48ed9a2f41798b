"""Advantage estimators: hand-computed examples and a property check against slow loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agentgym.rollout.types import Group, Task, Trajectory, Turn
from agentgym.trainers import (
    StepTable,
    discounted_returns,
    gigpo_advantages,
    grpo_advantages,
    igpo_advantages,
)

EPS = 1e-6
S2 = math.sqrt(2.0)


def approx(values, rel=1e-5, abs=1e-7):
    return pytest.approx(list(values), rel=rel, abs=abs)


def turn(index: int, anchor: str, reward: float = 0.0, invalid: bool = False) -> Turn:
    return Turn(
        index=index,
        prompt_ids=[1],
        response_ids=[2],
        response_logprobs=[-0.1],
        response_text="a",
        finish_reason="stop",
        observation=anchor,
        anchor=anchor,
        reward=reward,
        invalid=invalid,
    )


def trajectory(group_id: str, i: int, steps: list[tuple], status: str = "completed") -> Trajectory:
    return Trajectory(
        episode_id=f"{group_id}/{i}",
        group_id=group_id,
        task=Task(env_id="x-v0", seed=0),
        turns=[turn(t, *s) for t, s in enumerate(steps)],
        status=status,
        failure="env_error: boom" if status == "failed" else None,
    )


def group(group_id: str, episodes: list[list[tuple]], failed: list[list[tuple]] = ()) -> Group:
    trajs = [trajectory(group_id, i, steps) for i, steps in enumerate(episodes)]
    trajs += [trajectory(group_id, len(trajs) + i, steps, "failed") for i, steps in enumerate(failed)]
    return Group(group_id=group_id, task=Task(env_id="x-v0", seed=0), trajectories=trajs)


# -- the step table -----------------------------------------------------------------------------


def test_from_groups_skips_failed_trajectories_and_maps_anchors_by_exact_equality():
    groups = [
        group("g0", [[("a", 0.0), ("b", 1.0)], [("a ", 0.5, True)]], failed=[[("a", 100.0)]]),
        group("g1", [[("b", 2.0), ("a", 0.0), ("b", 0.0)]]),
    ]
    table = StepTable.from_groups(groups)
    assert table.n_steps == 6 and table.n_episodes == 3
    assert table.episode_ids == ("g0/0", "g0/1", "g1/0") and table.group_ids == ("g0", "g1")
    assert table.group.tolist() == [0, 0, 0, 1, 1, 1]
    assert table.episode.tolist() == [0, 0, 1, 2, 2, 2]
    assert table.step.tolist() == [0, 1, 0, 0, 1, 2]
    assert table.last.tolist() == [False, True, True, False, False, True]
    assert table.invalid.tolist() == [False, False, True, False, False, False]
    assert table.reward.tolist() == [0.0, 1.0, 0.5, 2.0, 0.0, 0.0]
    assert [table.anchor_names[i] for i in table.anchor] == ["a", "b", "a ", "b", "a", "b"]
    assert table.anchor[0] != table.anchor[2]  # "a" and "a " differ: exact equality, no stripping


def test_per_step_values_map_back_to_each_turn():
    groups = [group("g0", [[("a",), ("b",)], [("c",)]]), group("g1", [[("a",), ("b",), ("c",)]])]
    table = StepTable.from_groups(groups)
    values = np.arange(6, dtype=float)
    assert [part.tolist() for part in table.split(values)] == [[0, 1], [2], [3, 4, 5]]
    assert table.by_episode_id(values) == {"g0/0": [0, 1], "g0/1": [2], "g1/0": [3, 4, 5]}


def test_a_table_in_the_wrong_layout_is_refused():
    ok = dict(group=[0, 0], episode=[0, 0], step=[0, 1], reward=[0, 0], anchor=[0, 0], invalid=[0, 0])
    StepTable(**ok, last=[False, True])
    with pytest.raises(ValueError):
        StepTable(**ok, last=[True, True])
    with pytest.raises(ValueError):
        StepTable(**{**ok, "step": [1, 0]}, last=[False, True])
    with pytest.raises(ValueError):
        StepTable(**{**ok, "group": [0, 1]}, last=[False, True])
    with pytest.raises(ValueError):
        StepTable(**{**ok, "episode": [1, 1]}, last=[False, True])


def test_an_empty_table_gives_empty_advantages():
    table = StepTable.from_groups([group("g", [], failed=[[("a", 1.0)]])])
    assert table.n_steps == 0 and table.n_episodes == 0
    assert grpo_advantages(table).shape == (0,)
    assert gigpo_advantages(table).advantage.shape == (0,)
    assert igpo_advantages(table, np.zeros(0)).shape == (0,)


# -- discounted returns -------------------------------------------------------------------------


def test_discounted_returns_per_episode_with_truncated_episodes_not_bootstrapped():
    table = StepTable.from_lengths([0, 0, 1], [3, 1, 2], reward=[1, 2, 4, 8, 1, 1], anchor=[0] * 6)
    got = discounted_returns(table, table.reward, 0.5)
    assert got.tolist() == [1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 4, 8, 1.5, 1]


# -- GRPO ---------------------------------------------------------------------------------------


def test_grpo_hand_computed_with_singleton_and_tied_groups():
    # group 0: returns 0, 1, 2 -> mean 1, sample std 1; group 1: one episode; group 2: a tie
    groups = [
        group("g0", [[("a", 0.0)], [("a", 0.5), ("b", 0.5)], [("a", 2.0)]], failed=[[("a", 9.0)]]),
        group("g1", [[("a", 3.0), ("c", 1.0)]]),
        group("g2", [[("a", 0.1)], [("a", 0.1), ("b", 0.0)]]),
    ]
    table = StepTable.from_groups(groups)
    expected = [-1 / (1 + EPS), 0.0, 0.0, 1 / (1 + EPS), 0.0, 0.0, 0.0, 0.0, 0.0]
    assert grpo_advantages(table).tolist() == approx(expected)
    assert grpo_advantages(table, normalization="mean").tolist() == approx([-1, 0, 0, 1, 0, 0, 0, 0, 0])
    # ties are exactly zero, whatever the rounding of the mean of 0.1s
    assert np.all(grpo_advantages(table)[-3:] == 0.0)


# -- GiGPO --------------------------------------------------------------------------------------


def gigpo_example() -> StepTable:
    """Two task groups. Group g0 (gamma 0.5):
    ep0 anchors a b c, rewards 0 0 1 (R 1), returns .25 .5 1
    ep1 anchors a b b c, rewards 0 0 0 1 (R 1), returns .125 .25 .5 1   (b twice in one episode)
    ep2 anchors a d, rewards 0 0 (R 0, truncated), returns 0 0
    Group g1 reuses anchor a, which must not join g0's a-group:
    ep3 anchor a, reward 5; ep4 anchor a, reward 3.
    """
    return StepTable.from_groups(
        [
            group(
                "g0",
                [
                    [("a", 0.0), ("b", 0.0), ("c", 1.0)],
                    [("a", 0.0), ("b", 0.0), ("b", 0.0), ("c", 1.0)],
                    [("a", 0.0), ("d", 0.0)],
                ],
                failed=[[("a", 50.0)]],
            ),
            group("g1", [[("a", 5.0)], [("a", 3.0)]]),
        ]
    )


def test_gigpo_hand_computed_example():
    table = gigpo_example()
    result = gigpo_advantages(table, gamma=0.5, omega=1.0)
    s3 = math.sqrt(1 / 3)  # g0 episode returns 1, 1, 0: mean 2/3, sample std sqrt(1/3)
    ae_hi, ae_lo = (1 / 3) / (s3 + EPS), (-2 / 3) / (s3 + EPS)
    ae_g1 = 1 / (S2 + EPS)  # g1 returns 5, 3: mean 4, std sqrt(2)
    assert result.episode_advantage.tolist() == approx([ae_hi] * 3 + [ae_hi] * 4 + [ae_lo] * 2 + [ae_g1, -ae_g1])
    assert result.step_return.tolist() == approx([0.25, 0.5, 1, 0.125, 0.25, 0.5, 1, 0, 0, 5, 3])
    # a-group of g0: .25 .125 0 -> mean .125, std .125; b-group: .5 .25 .5 -> mean 5/12, std sqrt(1/48)
    # c-group: 1 1 (tie) -> 0; d alone -> 0; a-group of g1: 5 3 -> +-1/sqrt(2)
    a1 = 1 / (1 + EPS / 0.125)
    sb = math.sqrt(1 / 48)
    b_hi, b_lo = (1 / 12) / (sb + EPS), (-1 / 6) / (sb + EPS)
    expected_step = [a1, b_hi, 0, 0, b_lo, b_hi, 0, -a1, 0, ae_g1, -ae_g1]
    assert result.step_advantage.tolist() == approx(expected_step)
    assert result.advantage.tolist() == approx(np.add(result.episode_advantage, expected_step))
    half = gigpo_advantages(table, gamma=0.5, omega=0.5)
    assert half.advantage.tolist() == approx(result.episode_advantage + 0.5 * np.asarray(expected_step))
    # anchor groups: g0 a(3) b(3) c(2) d(1), g1 a(2)
    assert result.step_group_size.tolist() == [3, 3, 2, 3, 3, 3, 2, 3, 1, 2, 2]
    stats = result.group_stats()
    assert stats.size_counts == {1: 1, 2: 2, 3: 2} and stats.n_groups == 5 and stats.n_steps == 11
    assert stats.singleton_fraction == pytest.approx(1 / 11)


def test_gigpo_mean_only_normalisation():
    result = gigpo_advantages(gigpo_example(), gamma=0.5, normalization="mean")
    ae = [1 / 3] * 7 + [-2 / 3] * 2 + [1, -1]
    assert result.episode_advantage.tolist() == approx(ae)
    assert result.step_advantage.tolist() == approx([0.125, 1 / 12, 0, 0, -1 / 6, 1 / 12, 0, -0.125, 0, 1, -1])


def test_gigpo_anchor_groups_are_per_task_group():
    # the same two episodes in two task groups: merged, anchor a would see returns 1, 0, 1, 0 and
    # nothing else would change; kept apart, each a-group is 1, 0
    table = StepTable.from_groups(
        [group("g0", [[("a", 1.0)], [("a", 0.0)]]), group("g1", [[("a", 1.0)], [("a", 0.0)]])]
    )
    result = gigpo_advantages(table)
    assert result.step_group.tolist() == [0, 0, 1, 1]
    assert result.step_group_size.tolist() == [2, 2, 2, 2]


def test_gigpo_single_episode_with_a_repeated_anchor():
    # one episode (A_E = 0): anchors a b a, rewards 0 0 1, gamma .5 -> returns .25 .5 1;
    # a-group .25, 1: mean .625, std .75/sqrt(2); b alone -> 0
    table = StepTable.from_groups([group("g", [[("a", 0.0), ("b", 0.0), ("a", 1.0)]])])
    result = gigpo_advantages(table, gamma=0.5)
    z = 0.375 / (0.75 / S2 + EPS)
    assert result.episode_advantage.tolist() == [0.0, 0.0, 0.0]
    assert result.step_advantage.tolist() == approx([-z, 0.0, z])
    assert result.group_stats().singleton_fraction == pytest.approx(1 / 3)


def test_gigpo_invalid_action_penalty_is_subtracted_before_the_returns():
    steps = [("x", 0.0, True), ("y", 1.0)], [("x", 0.0), ("y", 1.0)]
    table = StepTable.from_groups([group("g", list(steps))])
    assert np.all(gigpo_advantages(table, gamma=0.5).advantage == 0.0)  # no penalty: all tied
    result = gigpo_advantages(table, gamma=0.5, invalid_penalty=0.1)
    # penalised rewards -.1 1 | 0 1: R .9 | 1 ; step returns .4 1 | .5 1
    assert result.step_return.tolist() == approx([0.4, 1.0, 0.5, 1.0])
    z = 0.05 / (0.1 / S2 + EPS)
    assert result.episode_advantage.tolist() == approx([-z, -z, z, z])
    assert result.step_advantage.tolist() == approx([-z, 0.0, z, 0.0])
    assert result.advantage.tolist() == approx([-2 * z, -z, 2 * z, z])


def test_gigpo_per_episode_and_per_row_episode_statistics_differ_on_unequal_lengths():
    # returns 1 (3 steps), 0 (1 step), 0 (1 step)
    table = StepTable.from_groups([group("g", [[("a", 0.0), ("b", 0.0), ("c", 1.0)], [("a", 0.0)], [("a", 0.0)]])])
    per_episode = gigpo_advantages(table).episode_advantage
    per_row = gigpo_advantages(table, episode_weighting="step").episode_advantage
    s = math.sqrt(1 / 3)  # 1 0 0: mean 1/3, sample std sqrt(1/3)
    assert per_episode.tolist() == approx([(2 / 3) / (s + EPS)] * 3 + [(-1 / 3) / (s + EPS)] * 2)
    r = math.sqrt(0.3)  # rows 1 1 1 0 0: mean .6, sample std sqrt(.3)
    assert per_row.tolist() == approx([0.4 / (r + EPS)] * 3 + [-0.6 / (r + EPS)] * 2)
    mean_only = gigpo_advantages(table, normalization="mean", episode_weighting="step").episode_advantage
    assert mean_only.tolist() == approx([0.4] * 3 + [-0.6] * 2)


# -- IGPO ---------------------------------------------------------------------------------------


def igpo_example() -> tuple[StepTable, np.ndarray, np.ndarray]:
    # one group: ep0 3 turns, IG .2 .4 (last ignored), outcome 1; ep1 2 turns, IG 0, outcome 0;
    # a second group with one 1-turn episode: no IG, a lone outcome -> 0
    table = StepTable.from_lengths([0, 0, 1], [3, 2, 1], reward=[0] * 6, anchor=[0] * 6)
    ig = np.array([0.2, 0.4, np.nan, 0.0, np.nan, np.nan])
    return table, ig, np.array([1.0, 0.0, 0.7])


def test_igpo_separate_normalisation_hand_computed():
    table, ig, outcome = igpo_example()
    # IG .2 .4 0: mean .2, std .2 -> 0 1 -1; outcomes 1 0: mean .5, std 1/sqrt2 -> +-z
    one = 0.2 / (0.2 + EPS)
    z = 0.5 / (1 / S2 + EPS)
    got = igpo_advantages(table, ig, outcome)
    assert got.tolist() == approx([0 + one + z, one + z, z, -one - z, -z, 0.0])
    discounted = igpo_advantages(table, ig, outcome, gamma=0.5)
    assert discounted.tolist() == approx([0.5 * (one + 0.5 * z), one + 0.5 * z, z, -one - 0.5 * z, -z, 0.0])


def test_igpo_joint_normalisation_hand_computed():
    table, ig, outcome = igpo_example()
    # pooled .2 .4 0 1 0: mean .32, sum of squared deviations .688, sample variance .172
    sd = math.sqrt(0.172) + EPS
    r = [(-0.12) / sd, 0.08 / sd, 0.68 / sd, -0.32 / sd, -0.32 / sd]
    got = igpo_advantages(table, ig, outcome, pooling="joint")
    assert got.tolist() == approx([r[0] + r[1] + r[2], r[1] + r[2], r[2], r[3] + r[4], r[4], 0.0])


def test_igpo_outcome_defaults_to_the_episode_reward():
    table = StepTable.from_lengths([0, 0], [1, 1], reward=[1.0, 0.0], anchor=[0, 0])
    assert igpo_advantages(table, np.zeros(2)).tolist() == approx([0.5 / (1 / S2 + EPS), -0.5 / (1 / S2 + EPS)])


# -- property check against straightforward loops -------------------------------------------------


def slow_normalize(values: list[float], mode: str, weights: list[int] | None = None) -> list[float]:
    weights = weights or [1] * len(values)
    if max(values) == min(values):
        return [0.0] * len(values)
    n = sum(weights)
    mean = sum(w * v for w, v in zip(weights, values, strict=True)) / n
    if mode == "mean":
        return [v - mean for v in values]
    std = math.sqrt(sum(w * (v - mean) ** 2 for w, v in zip(weights, values, strict=True)) / (n - 1))
    return [(v - mean) / (std + EPS) for v in values]


def slow_episodes(table: StepTable) -> list[dict]:
    """Episodes as plain lists, from the table's rows one at a time."""
    episodes: list[dict] = []
    for i in range(table.n_steps):
        if table.step[i] == 0:
            episodes.append({"group": int(table.group[i]), "rows": []})
        episodes[-1]["rows"].append(i)
    return episodes


def slow_returns(rewards: list[float], gamma: float) -> list[float]:
    out, carry = [0.0] * len(rewards), 0.0
    for t in reversed(range(len(rewards))):
        carry = rewards[t] + gamma * carry
        out[t] = carry
    return out


def slow_grpo(table, mode):
    episodes = slow_episodes(table)
    adv = [0.0] * table.n_steps
    for g in {e["group"] for e in episodes}:
        members = [e for e in episodes if e["group"] == g]
        norm = slow_normalize([sum(table.reward[i] for i in e["rows"]) for e in members], mode)
        for e, a in zip(members, norm, strict=True):
            for i in e["rows"]:
                adv[i] = a
    return adv


def slow_gigpo(table, gamma, omega, mode, penalty, weighting):
    reward = [float(table.reward[i]) - (penalty if table.invalid[i] else 0.0) for i in range(table.n_steps)]
    episodes = slow_episodes(table)
    a_e, a_s, ret = [0.0] * table.n_steps, [0.0] * table.n_steps, [0.0] * table.n_steps
    for e in episodes:
        for i, r in zip(e["rows"], slow_returns([reward[i] for i in e["rows"]], gamma), strict=True):
            ret[i] = r
    for g in {e["group"] for e in episodes}:
        members = [e for e in episodes if e["group"] == g]
        weights = [len(e["rows"]) for e in members] if weighting == "step" else None
        norm = slow_normalize([sum(reward[i] for i in e["rows"]) for e in members], mode, weights)
        for e, a in zip(members, norm, strict=True):
            for i in e["rows"]:
                a_e[i] = a
        rows = [i for e in members for i in e["rows"]]
        for anchor in {int(table.anchor[i]) for i in rows}:
            same = [i for i in rows if table.anchor[i] == anchor]
            for i, a in zip(same, slow_normalize([ret[i] for i in same], mode), strict=True):
                a_s[i] = a
    return [x + omega * y for x, y in zip(a_e, a_s, strict=True)], ret


def slow_igpo(table, ig, outcome, gamma, pooling):
    episodes = slow_episodes(table)
    reward = [0.0] * table.n_steps
    for g in {e["group"] for e in episodes}:
        idx = [k for k, e in enumerate(episodes) if e["group"] == g]
        mids = [i for k in idx for i in episodes[k]["rows"][:-1]]
        lasts = [episodes[k]["rows"][-1] for k in idx]
        outs = [float(outcome[k]) for k in idx]
        if pooling == "joint":
            norm = slow_normalize([float(ig[i]) for i in mids] + outs, "mean_std")
            for i, v in zip(mids + lasts, norm, strict=True):
                reward[i] = v
        else:
            if mids:
                for i, v in zip(mids, slow_normalize([float(ig[i]) for i in mids], "mean_std"), strict=True):
                    reward[i] = v
            for i, v in zip(lasts, slow_normalize(outs, "mean_std"), strict=True):
                reward[i] = v
    adv = [0.0] * table.n_steps
    for e in episodes:
        for i, a in zip(e["rows"], slow_returns([reward[i] for i in e["rows"]], gamma), strict=True):
            adv[i] = a
    return adv


def random_table(rng: np.random.Generator) -> StepTable:
    n_groups = int(rng.integers(1, 5))
    group_of_episode = np.repeat(np.arange(n_groups) * 3, rng.integers(1, 6, size=n_groups))  # sparse ids
    lengths = rng.integers(1, 7, size=group_of_episode.shape[0])
    n = int(lengths.sum())
    reward = rng.choice([0.0, 0.0, 0.1, 1.0, -0.5], size=n) if rng.random() < 0.5 else rng.normal(size=n)
    return StepTable.from_lengths(
        group_of_episode, lengths, reward, anchor=rng.integers(0, 4, size=n), invalid=rng.random(n) < 0.2
    )


@pytest.mark.parametrize("seed", range(40))
def test_estimators_match_slow_loops_on_random_tables(seed):
    rng = np.random.default_rng(seed)
    table = random_table(rng)
    for mode in ("mean_std", "mean"):
        assert grpo_advantages(table, normalization=mode).tolist() == approx(slow_grpo(table, mode))
        for weighting in ("episode", "step"):
            gamma, omega, penalty = float(rng.choice([0.95, 0.5, 1.0])), float(rng.choice([1.0, 0.3])), 0.1
            fast = gigpo_advantages(
                table,
                gamma=gamma,
                omega=omega,
                normalization=mode,
                invalid_penalty=penalty,
                episode_weighting=weighting,
            )
            slow_adv, slow_ret = slow_gigpo(table, gamma, omega, mode, penalty, weighting)
            assert fast.step_return.tolist() == approx(slow_ret)
            assert fast.advantage.tolist() == approx(slow_adv)
            # group sizes agree with a direct count over (group, anchor) pairs
            pairs = list(zip(table.group.tolist(), table.anchor.tolist(), strict=True))
            assert fast.step_group_size.tolist() == [pairs.count(p) for p in pairs]
    ig = rng.normal(size=table.n_steps)
    outcome = rng.choice([0.0, 1.0, 0.5], size=table.n_episodes)
    for pooling in ("separate", "joint"):
        gamma = float(rng.choice([1.0, 0.9]))
        fast = igpo_advantages(table, ig, outcome, gamma=gamma, pooling=pooling)
        assert fast.tolist() == approx(slow_igpo(table, ig, outcome, gamma, pooling))
