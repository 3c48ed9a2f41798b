"""RecordEpisode: transcripts in memory, JSON Lines on disk, forks that do not write."""

from __future__ import annotations

import json

import agentgym
from agentgym import RecordEpisode


async def test_transcripts_are_kept_and_written_when_episodes_end_or_are_abandoned(tmp_path) -> None:
    path = tmp_path / "runs" / "episodes.jsonl"
    env = RecordEpisode(agentgym.make("guess-number-v0"), path=path)
    await env.reset(seed=1, options={"secret": 30})
    await env.step("50")
    branch = await env.fork()
    await env.step("30")  # solved: the episode is written now
    assert len(path.read_text().splitlines()) == 1
    await env.reset(seed=2, options={"secret": 10})
    await env.step("oops")
    await env.close()  # an unfinished episode is written on close
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [len(line["turns"]) for line in lines] == [2, 1]
    assert lines[0]["seed"] == 1 and lines[0]["env_id"] == "guess-number-v0"
    assert [turn["action"] for turn in lines[0]["turns"]] == ["50", "30"]
    assert env.transcripts[0].done and env.transcripts[0].total_reward == 1.0
    assert not env.transcripts[1].done and env.transcripts[1].turns[0].result.invalid_action
    # the fork keeps the history up to the fork, plays on its own, and never writes the file
    await branch.step("40")
    await branch.close()
    assert [turn.action for turn in branch.current.turns] == ["50", "40"]
    assert len(path.read_text().splitlines()) == 2
