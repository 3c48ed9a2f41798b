"""What a rollout produces: tasks, turns, trajectories and groups.

A `Turn` keeps exactly the token ids the policy saw and produced and the log-probabilities of
the produced ones (token-in/token-out): the trainer never re-tokenizes text. Only
`response_ids` are the model's own tokens; everything in `prompt_ids` (system prompt,
observations, chat-template tokens) is environment or template text and never enters a policy
loss.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Task(BaseModel):
    """One task: an environment, a seed and reset options. The G episodes of a group share it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env_id: str
    seed: int | None = None
    options: dict[str, Any] | None = None
    env_kwargs: dict[str, Any] = Field(default_factory=dict)


class Turn(BaseModel):
    """One policy turn and the environment's answer to it.

    Fields:
        prompt_ids: the whole prompt the policy was given (chat template applied).
        response_ids / response_logprobs: the sampled tokens and their log-probabilities
            (see `SamplingParams` for the distribution), same length.
        response_text: the response decoded (special tokens skipped): the action sent to `env.step`.
        finish_reason: "stop" (an end token, kept as the last response id) or "length" (the
            rollout's `max_response_tokens` was reached).
        observation: the text of the observation this turn answered (shown last in the prompt).
        anchor: the anchor of the state the action was taken in (the observation shown in this
            turn's prompt), for GiGPO's step groups.
        reward, invalid: what the environment answered to this turn's action.
        env_latency_s: wall-clock seconds the rollout waited for `env.step` (for a remote
            environment, the network round trip included).
        policy_version: `policy.version` when the response was requested: the version of the
            weights that sampled it (a lower bound, should new weights arrive while it waits).
    """

    model_config = ConfigDict(extra="forbid")

    index: int
    prompt_ids: list[int]
    response_ids: list[int]
    response_logprobs: list[float]
    response_text: str
    finish_reason: Literal["stop", "length"]
    observation: str
    anchor: str
    reward: float = 0.0
    invalid: bool = False
    env_latency_s: float = 0.0
    policy_version: int = 0


Truncation = Literal["time_limit", "context_overflow", "max_turns"]


class Trajectory(BaseModel):
    """One episode.

    `status` is "failed" when the environment or its server failed (`failure` says why, as
    `"<kind>: <detail>"`, kind one of env_error, env_timeout, connection_lost, server_busy,
    session_failed, remote_error, not_forkable, env_contract): such an episode is counted and
    reported, never trained on; its `turns` are the ones played before the failure. A completed
    episode ended by termination, by the environment's time limit, by the rollout's own
    `max_turns`, or because the next prompt would not fit the context (`truncation` says which:
    "time_limit", "max_turns", "context_overflow").

    A branch (see `agentgym.rollout.groups`) starts with copies of its prefix episode's
    `branch_turn` turns, the same in every branch of its group, then its own.

    `ground_truth` is the task's answer as the environment reported it in
    `info["ground_truth"]` (`agentgym.types.GROUND_TRUTH_KEY`) of its step results; None when
    it reports none, or before the first step. It never enters a prompt (prompts are built
    from observations only); trainers use it, e.g. IGPO's information-gain turn rewards
    (`agentgym.trainers.igpo`; Wang et al., arXiv 2510.14967).
    """

    model_config = ConfigDict(extra="forbid")

    episode_id: str
    group_id: str
    task: Task
    turns: list[Turn] = Field(default_factory=list)
    status: Literal["completed", "failed"] = "completed"
    failure: str | None = None
    terminated: bool = False
    truncated: bool = False
    truncation: Truncation | None = None
    success: bool = False
    parent_episode_id: str | None = Field(default=None, description="for a branch: the episode it was forked from")
    branch_turn: int | None = Field(default=None, description="for a branch: turns played before the fork")
    ground_truth: str | None = Field(
        default=None,
        description="the task's answer from the environment's info['ground_truth']; never shown to the policy",
    )

    @property
    def total_reward(self) -> float:
        return sum(turn.reward for turn in self.turns)

    @property
    def policy_versions(self) -> tuple[int, int]:
        """The oldest and newest policy version that sampled this episode's turns."""
        versions = [turn.policy_version for turn in self.turns] or [0]
        return min(versions), max(versions)


class Group(BaseModel):
    """The G episodes of one task (a GRPO / GiGPO group): `completed` ones to train on, and
    `failed` ones kept for accounting. Every trajectory's `group_id` and `task` are the group's
    (a task without a seed got one drawn for its group, recorded here)."""

    model_config = ConfigDict(extra="forbid")

    group_id: str
    task: Task
    trajectories: list[Trajectory]

    @property
    def completed(self) -> list[Trajectory]:
        return [t for t in self.trajectories if t.status == "completed"]

    @property
    def failed(self) -> list[Trajectory]:
        return [t for t in self.trajectories if t.status == "failed"]
