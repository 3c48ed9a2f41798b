"""The ground truth the policy never sees: environments report it in `info["ground_truth"]`,
the rollout records it in `Trajectory.ground_truth` (in process, over the wire, in branches
and on disk), and no prompt contains it (IGPO, arXiv 2510.14967, scores the policy's belief in
it; the policy must not be handed it)."""

from __future__ import annotations

import re

import pytest
from rollout_support import ScriptedPolicy, StepsEnv

import agentgym
from agentgym.policies.base import SamplingParams
from agentgym.rollout import Episode, EpisodeLimits, GroupPlayer, LocalEnvs, PromptBuilder, RemoteEnvs, Task, play
from agentgym.rollout.episode import failure_kind
from agentgym.types import GROUND_TRUTH_KEY, StepResult

LIMITS = EpisodeLimits(max_response_tokens=24)
SECRET = "giraffe"
QUESTIONS = ["Is it alive?", "Is it an animal?", "Is it a mammal?", "Does it have stripes?", "Is it a zebra?"]


async def play_twentyq(tokenizer, actions: list[str], *, history: int | None = None):
    policy = ScriptedPolicy(tokenizer, actions)
    env = agentgym.make("twentyq-v0")
    task = Task(env_id="twentyq-v0", seed=11, options={"object": SECRET})
    episode = await Episode.start(
        env, task, PromptBuilder(tokenizer, history=history), LIMITS, episode_id="e", group_id="g"
    )
    try:
        trajectory = await play(episode, policy, LIMITS.sampling(SamplingParams()))
    finally:
        await episode.close()
    return trajectory, policy, env


def mentions(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) is not None


@pytest.mark.parametrize("history", [None, 2])
async def test_twentyq_records_the_hidden_object_and_no_prompt_shows_it_before_the_guess(tokenizer, history):
    trajectory, policy, env = await play_twentyq(tokenizer, [*QUESTIONS, f"Is it a {SECRET}?"], history=history)

    assert trajectory.status == "completed" and trajectory.success and trajectory.terminated
    assert trajectory.ground_truth == SECRET
    assert len(trajectory.turns) == len(QUESTIONS) + 1
    assert trajectory.turns[-1].response_text == f"Is it a {SECRET}?"  # the last turn guesses it

    # the rules list every object (public knowledge, the same text whatever the secret): the
    # prompts may name the secret there and nowhere else
    system = env.system_prompt
    other = agentgym.make("twentyq-v0")
    await other.reset(seed=0, options={"object": "dog"})
    assert other.system_prompt == system
    for turn, prompt in zip(trajectory.turns, policy.prompts, strict=True):
        assert turn.prompt_ids == prompt
        text = tokenizer.decode(prompt)  # everything the policy was given for this turn
        assert text.count(system) == 1
        rest = text.replace(system, "")
        assert not mentions(rest, SECRET), f"turn {turn.index}'s prompt shows the ground truth"
        assert not mentions(turn.observation, SECRET)
    assert not any(mentions(q, SECRET) for q in QUESTIONS)  # the policy itself did not name it early


async def test_the_first_prompt_is_the_same_token_for_token_whatever_the_secret(tokenizer):
    firsts = []
    for secret in (SECRET, "dog", "piano"):
        policy = ScriptedPolicy(tokenizer, [f"Is it a {secret}?"])
        env = agentgym.make("twentyq-v0")
        task = Task(env_id="twentyq-v0", seed=1, options={"object": secret})
        episode = await Episode.start(env, task, PromptBuilder(tokenizer), LIMITS, episode_id="e", group_id="g")
        try:
            trajectory = await play(episode, policy, LIMITS.sampling(SamplingParams()))
        finally:
            await episode.close()
        assert trajectory.ground_truth == secret and trajectory.success
        firsts.append(trajectory.turns[0].prompt_ids)
    assert firsts[0] == firsts[1] == firsts[2]


@pytest.mark.parametrize(
    ("env_id", "options", "actions", "truth"),
    [
        (
            "guess-number-v0",
            {"secret": 42},
            ["<answer>50</answer>", "<answer>forty</answer>", "<answer>42</answer>"],
            "42",
        ),
        (
            "wordle-v0",
            {"secret": "crane"},
            ["<answer>pious</answer>", "<answer>xx</answer>", "<answer>crane</answer>"],
            "crane",
        ),
    ],
)
async def test_guess_number_and_wordle_report_their_secret(tokenizer, env_id, options, actions, truth):
    player = GroupPlayer(ScriptedPolicy(tokenizer, actions), LocalEnvs(), PromptBuilder(tokenizer), limits=LIMITS)
    group = await player.play_group(Task(env_id=env_id, seed=0, options=options), 1)
    (trajectory,) = group.trajectories
    assert trajectory.status == "completed" and trajectory.success and len(trajectory.turns) == 3
    assert trajectory.ground_truth == truth
    assert [t.invalid for t in trajectory.turns] == [False, True, False]  # invalid steps report it too
    assert not any(truth in t.observation for t in trajectory.turns)


async def test_branches_and_served_environments_carry_the_ground_truth(tokenizer, serve):
    served = await serve(["guess-number-v0"])
    envs = RemoteEnvs([served.url])
    policy = ScriptedPolicy(tokenizer, lambda text, index: f"<answer>{[50, 25, 37, 30][index % 4]}</answer>")
    try:
        player = GroupPlayer(
            policy, envs, PromptBuilder(tokenizer), limits=EpisodeLimits(max_response_tokens=24, max_turns=3)
        )
        group = await player.play_group(Task(env_id="guess-number-v0", seed=0, options={"secret": 7}), 3, branch_at=1)
    finally:
        await envs.close()
    assert len(group.completed) == 3 and all(t.branch_turn == 1 for t in group.trajectories)
    assert all(t.ground_truth == "7" for t in group.trajectories)


async def test_an_episode_without_a_ground_truth_records_none(tokenizer):
    player = GroupPlayer(ScriptedPolicy(tokenizer), LocalEnvs(), PromptBuilder(tokenizer), limits=LIMITS)
    group = await player.play_group(Task(env_id="rollouttest/steps-v0", seed=0), 2)
    assert all(t.status == "completed" and t.ground_truth is None for t in group.trajectories)


class ReportingEnv(StepsEnv):
    """StepsEnv that reports `truths[k]` as the ground truth of its k-th step."""

    def __init__(self, truths):
        super().__init__(length=len(truths))
        self.truths = list(truths)

    async def step(self, action: str) -> StepResult:
        result = await super().step(action)
        truth = self.truths[len(self.actions) - 1]
        return result.model_copy(update={"info": {**result.info, GROUND_TRUTH_KEY: truth}})


@pytest.mark.parametrize(
    ("truths", "message"),
    [([7, 7], "must be a non-empty string"), (["", ""], "must be a non-empty string"), (["a", "b"], "changed within the episode")],
)
async def test_a_ground_truth_that_breaks_the_contract_fails_the_episode(tokenizer, truths, message):
    env = ReportingEnv(truths)
    task = Task(env_id="rollouttest/steps-v0", seed=0)
    episode = await Episode.start(env, task, PromptBuilder(tokenizer), LIMITS, episode_id="e", group_id="g")
    try:
        trajectory = await play(episode, ScriptedPolicy(tokenizer), LIMITS.sampling(SamplingParams()))
    finally:
        await episode.close()
    assert trajectory.status == "failed" and failure_kind(trajectory.failure) == "env_contract"
    assert message in trajectory.failure and GROUND_TRUTH_KEY in trajectory.failure


async def test_storage_round_trips_the_ground_truth(tokenizer, tmp_path):
    pytest.importorskip("pyarrow", reason="Parquet storage needs pyarrow (pip install 'agentgym[train]')")
    import pyarrow.parquet as pq

    from agentgym.rollout.storage import read_groups, read_jsonl, write_jsonl, write_parquet

    player = GroupPlayer(
        ScriptedPolicy(tokenizer, ["<answer>50</answer>"]),
        LocalEnvs(),
        PromptBuilder(tokenizer),
        limits=EpisodeLimits(max_response_tokens=24, max_turns=2),
    )
    groups = [
        await player.play_group(Task(env_id="guess-number-v0", seed=3, options={"secret": 9}), 2),
        await player.play_group(Task(env_id="rollouttest/steps-v0", seed=0), 1),  # no ground truth
    ]
    assert [t.ground_truth for g in groups for t in g.trajectories] == ["9", "9", None]

    path = write_parquet(groups, tmp_path / "rollouts.parquet")
    assert read_groups(path) == groups
    # a row per turn, two turns per episode
    assert pq.read_table(path).column("ground_truth").to_pylist() == ["9"] * 4 + [None] * 2

    # a file written before the column existed reads back with no ground truth
    old = tmp_path / "old.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["ground_truth"]), old)
    assert [t.ground_truth for g in read_groups(old) for t in g.trajectories] == [None, None, None]

    full = write_jsonl(groups, tmp_path / "full.jsonl", tokens=True)
    assert read_jsonl(full) == [t for g in groups for t in g.trajectories]
