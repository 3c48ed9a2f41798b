"""Storage: Parquet (a row per turn) read back losslessly, loadable by `datasets`; JSONL export."""

from __future__ import annotations

import json

import pytest
from rollout_support import ScriptedPolicy

from agentgym.rollout import GroupPlayer, LocalEnvs, PromptBuilder, Task
from agentgym.rollout.episode import EpisodeLimits
from agentgym.rollout.types import Group, Trajectory

pytest.importorskip("pyarrow", reason="Parquet storage needs pyarrow (pip install 'agentgym[train]')")

LIMITS = EpisodeLimits(max_response_tokens=16, max_context_tokens=300)


@pytest.fixture
async def groups(tokenizer) -> list[Group]:
    policy = ScriptedPolicy(tokenizer, ["good", "bad", "nonsense"], version=3)
    player = GroupPlayer(policy, LocalEnvs(), PromptBuilder(tokenizer, history=2), limits=LIMITS)
    made = [
        await player.play_group(Task(env_id="rollouttest/steps-v0", seed=1, options={"start": 5, "note": ["a", 1]}), 3),
        # one episode fails at its 2nd step (every 2nd environment made)
        await player.play_group(
            Task(env_id="rollouttest/steps-v0", seed=2, env_kwargs={"fail_every": 2, "fail_at": 2}), 2
        ),
        await player.play_group(Task(env_id="rollouttest/steps-v0", seed=3, env_kwargs={"length": 4}), 2, branch_at=2),
        # the first prompt overflows the context: an episode without turns
        await player.play_group(Task(env_id="rollouttest/steps-v0", seed=4, env_kwargs={"pad": 100}), 1),
        # a failed reset: a failed episode without turns
        await player.play_group(Task(env_id="guess-number-v0", seed=5, options={"bogus": True}), 1),
    ]
    return made


def all_trajectories(groups: list[Group]) -> list[Trajectory]:
    return [t for g in groups for t in g.trajectories]


async def test_the_fixture_covers_every_kind_of_episode(groups):
    trajectories = all_trajectories(groups)
    assert any(t.status == "failed" and t.turns for t in trajectories)
    assert any(t.status == "failed" and not t.turns for t in trajectories)
    assert any(t.truncation == "context_overflow" and not t.turns for t in trajectories)
    assert any(t.branch_turn is not None for t in trajectories)


async def test_parquet_round_trip_is_lossless(groups, tmp_path):
    from agentgym.rollout.storage import read_groups, read_trajectories, write_parquet

    path = write_parquet(groups, tmp_path / "rollouts.parquet")
    assert read_trajectories(path) == all_trajectories(groups)
    assert read_groups(path) == groups


async def test_one_row_per_turn_with_episode_and_group_ids(groups, tmp_path):
    import pyarrow.parquet as pq

    from agentgym.rollout.storage import write_parquet

    path = write_parquet(groups, tmp_path / "rollouts.parquet")
    table = pq.read_table(path)
    trajectories = all_trajectories(groups)
    assert table.num_rows == sum(max(1, len(t.turns)) for t in trajectories)
    rows = table.to_pylist()
    with_turns = [r for r in rows if r["turn_index"] is not None]
    assert len(with_turns) == sum(len(t.turns) for t in trajectories)
    first = trajectories[0]
    row = rows[0]
    assert (row["group_id"], row["episode_id"], row["env_id"], row["seed"]) == (
        first.group_id,
        first.episode_id,
        "rollouttest/steps-v0",
        1,
    )
    assert json.loads(row["options"]) == {"start": 5, "note": ["a", 1]}
    assert (
        row["prompt_ids"] == first.turns[0].prompt_ids and row["response_logprobs"] == first.turns[0].response_logprobs
    )
    assert row["num_turns"] == len(first.turns) and row["episode_return"] == pytest.approx(first.total_reward)
    assert str(table.schema.field("response_ids").type) == "list<element: int32>"


async def test_datasets_loads_the_file_with_one_row_per_turn(groups, tmp_path):
    pytest.importorskip("datasets", reason="loading as a Hugging Face dataset needs datasets")
    from agentgym.rollout.storage import as_dataset, write_parquet

    path = write_parquet(groups, tmp_path / "rollouts.parquet")
    dataset = as_dataset(path)
    trajectories = all_trajectories(groups)
    assert len(dataset) == sum(max(1, len(t.turns)) for t in trajectories)
    turns = dataset.filter(lambda row: row["turn_index"] is not None)
    assert len(turns) == sum(len(t.turns) for t in trajectories)
    expected = [turn.response_ids for t in trajectories for turn in t.turns]
    assert turns["response_ids"] == expected
    assert set(turns["policy_version"]) == {3}


async def test_a_writer_appends_row_groups(groups, tmp_path):
    from agentgym.rollout.storage import TrajectoryWriter, read_groups

    with TrajectoryWriter(tmp_path / "stream.parquet") as writer:
        for group in groups:
            writer.write([group])
    assert read_groups(tmp_path / "stream.parquet") == groups


async def test_jsonl_for_reading_and_with_tokens_for_round_trips(groups, tmp_path):
    from agentgym.rollout.storage import read_jsonl, write_jsonl

    readable = write_jsonl(groups, tmp_path / "readable.jsonl")
    lines = [json.loads(line) for line in readable.read_text().splitlines()]
    assert len(lines) == len(all_trajectories(groups))
    assert lines[0]["turns"][0]["response_text"] == "good"
    assert "prompt_ids" not in lines[0]["turns"][0] and "response_logprobs" not in lines[0]["turns"][0]
    full = write_jsonl(groups, tmp_path / "full.jsonl", tokens=True)
    assert read_jsonl(full) == all_trajectories(groups)


def test_storage_refuses_other_objects(tmp_path):
    from agentgym.rollout.storage import write_parquet

    with pytest.raises(TypeError):
        write_parquet(["not a trajectory"], tmp_path / "x.parquet")  # type: ignore[list-item]
