"""One episode: the agent loop of a policy against an environment, recorded turn by turn.

`Episode` holds the state of one episode being played (its environment, the history, the
trajectory so far) and does the bookkeeping of a turn; `play` drives it with a policy, one
response at a time. The lockstep baseline (`agentgym.rollout.lockstep`) drives many `Episode`s
with one batched policy call per turn, so both loops record exactly the same data.

A turn: build the prompt with the `PromptBuilder` (chat template, history window), sample one
response, send its decoded text to `env.step` as the action, and record the prompt ids, the
response ids and log-probabilities, the policy version, the reward, the anchor of the state
the action was taken in, the invalid flag and the seconds spent in `env.step`. The task's
ground truth, when the environment reports one in `info["ground_truth"]` (`GROUND_TRUTH_KEY`),
goes to `Trajectory.ground_truth`; only observations ever reach a prompt, so the policy never
sees it. A ground truth that is not a string, or that changes within the episode, breaks the
environment's contract: the episode fails with kind "env_contract".

How an episode ends (`Trajectory` fields):

- the environment terminates or truncates it (`truncation="time_limit"` for a truncation);
- `EpisodeLimits.max_turns` turns were played: truncated, `truncation="max_turns"`;
- the next prompt plus a full response (`max_response_tokens`) would exceed
  `max_context_tokens`: truncated, `truncation="context_overflow"`, before the policy is called;
- the environment fails (it raises, times out, or its server or connection is lost): status
  "failed", `failure="<kind>: <detail>"` (see `failure_reason`). A failed episode is kept for
  counting and reporting only, never trained on.

Errors of the policy itself are not environment faults: they propagate to the caller.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from agentgym.env import Env
from agentgym.errors import ConnectionLost, EnvContractError, NotForkable, RemoteError, ServerBusy, SessionFailed
from agentgym.policies.base import Generation, Policy, SamplingParams
from agentgym.rollout.envs import close_quietly
from agentgym.rollout.prompts import HistoryTurn, PromptBuilder
from agentgym.rollout.types import Task, Trajectory, Truncation, Turn
from agentgym.types import GROUND_TRUTH_KEY, Observation, StepResult


@dataclass(frozen=True)
class EpisodeLimits:
    """Limits of one episode, applied by the rollout (the environment may have its own).

    Fields:
        max_turns: policy turns at most (None: only the environment ends the episode).
        max_response_tokens: tokens per response at most; the `max_tokens` the policy is asked for.
        max_context_tokens: prompt plus response tokens at most (None: no limit). A turn whose
            prompt leaves less than `max_response_tokens` of room is not played: the episode
            ends truncated with `truncation="context_overflow"`. Set it to the model's context
            length (e.g. `HFPolicy.max_positions`): a prompt the policy cannot take is the
            policy's error, which stops a rollout.
        env_timeout_s: seconds `env.reset`, `env.step` or `env.fork` may take before the
            episode fails with kind "env_timeout" (None: wait as long as the environment takes).
    """

    max_turns: int | None = None
    max_response_tokens: int = 256
    max_context_tokens: int | None = None
    env_timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.max_turns is not None and self.max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {self.max_turns}")
        if self.max_response_tokens < 1:
            raise ValueError(f"max_response_tokens must be at least 1, got {self.max_response_tokens}")
        if self.max_context_tokens is not None and self.max_context_tokens <= self.max_response_tokens:
            raise ValueError("max_context_tokens must leave room for a prompt beyond max_response_tokens")
        if self.env_timeout_s is not None and self.env_timeout_s <= 0:
            raise ValueError(f"env_timeout_s must be positive, got {self.env_timeout_s}")

    def sampling(self, params: SamplingParams) -> SamplingParams:
        """`params` with `max_tokens = max_response_tokens`.

        Raises:
            ValueError: `params` sets a different `max_tokens` explicitly (two limits that disagree).
        """
        if "max_tokens" in params.model_fields_set and params.max_tokens != self.max_response_tokens:
            raise ValueError(
                f"SamplingParams.max_tokens={params.max_tokens} disagrees with EpisodeLimits.max_response_tokens="
                f"{self.max_response_tokens}; set the limit in EpisodeLimits only"
            )
        return params.model_copy(update={"max_tokens": self.max_response_tokens})


def failure_reason(error: BaseException, *, timeout_s: float | None = None) -> str:
    """`"<kind>: <detail>"` for an environment failure. Kinds: env_timeout, connection_lost,
    server_busy, session_failed, remote_error, not_forkable, env_contract, env_error."""
    if isinstance(error, TimeoutError):
        return f"env_timeout: no answer within {timeout_s} s" if timeout_s is not None else f"env_timeout: {error}"
    kinds: list[tuple[type[BaseException], str]] = [
        (ConnectionLost, "connection_lost"),
        (ServerBusy, "server_busy"),
        (SessionFailed, "session_failed"),
        (RemoteError, "remote_error"),
        (NotForkable, "not_forkable"),
        (EnvContractError, "env_contract"),
    ]
    kind = next((name for cls, name in kinds if isinstance(error, cls)), "env_error")
    detail = str(error) or type(error).__name__
    if kind == "env_error":
        detail = f"{type(error).__name__}: {detail}"
    return f"{kind}: {detail}"


def failure_kind(failure: str | None) -> str | None:
    """The kind of a `Trajectory.failure` string (the part before the first colon)."""
    return None if failure is None else failure.partition(":")[0]


class EnvFailure(Exception):
    """Raised inside this package when an environment call failed; `reason` is its failure string."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Episode:
    """The state of one episode being played against `env`.

    Build with `Episode.start` (resets `env` for the task) or `Episode.fork`; then, while
    `next_prompt()` returns ids, sample a response for them and pass it to `apply`. A failure
    of the environment is recorded, never raised; `close()` closes the environment. `env` is
    None for an episode that failed before it had one, and after `close()`.
    """

    env: Env | None
    trajectory: Trajectory
    prompts: PromptBuilder
    limits: EpisodeLimits
    system_prompt: str = ""
    observation: Observation | None = None
    history: list[HistoryTurn] = field(default_factory=list)
    done: bool = False
    _prompt: list[int] | None = field(default=None, repr=False)

    # --- starting -----------------------------------------------------------------------

    @classmethod
    async def start(
        cls, env: Env, task: Task, prompts: PromptBuilder, limits: EpisodeLimits, *, episode_id: str, group_id: str
    ) -> Episode:
        """Reset `env` for `task` (its seed and options). A failed reset gives a failed episode."""
        episode = cls(env, Trajectory(episode_id=episode_id, group_id=group_id, task=task), prompts, limits)
        try:
            episode.observation = await episode._env_call(env.reset(seed=task.seed, options=task.options))
            episode.system_prompt = env.system_prompt
        except EnvFailure as failure:
            episode.fail(failure.reason)
        return episode

    @classmethod
    def failed(
        cls, task: Task, reason: str, prompts: PromptBuilder, limits: EpisodeLimits, *, episode_id: str, group_id: str
    ) -> Episode:
        """An episode that failed before it had an environment (e.g. the server refused a session)."""
        episode = cls(None, Trajectory(episode_id=episode_id, group_id=group_id, task=task), prompts, limits)
        episode.fail(reason)
        return episode

    async def fork(self, *, episode_id: str, group_id: str | None = None) -> Episode:
        """An independent copy of this episode in its current state: the environment is forked
        (`env.fork()`) and the turns so far are copied. The copy's trajectory names this one as
        its parent and `branch_turn` = the turns played before the fork.

        Raises:
            EnvFailure: the environment could not be forked (its reason says why).
        """
        if self.done or self.observation is None or self.env is None:
            raise ValueError("only a running episode can be forked")
        env = await self._env_call(self.env.fork())
        trajectory = self.trajectory.model_copy(
            update={
                "episode_id": episode_id,
                "group_id": group_id or self.trajectory.group_id,
                "turns": [turn.model_copy(deep=True) for turn in self.trajectory.turns],
                "parent_episode_id": self.trajectory.episode_id,
                "branch_turn": len(self.trajectory.turns),
            }
        )
        return Episode(
            env, trajectory, self.prompts, self.limits, self.system_prompt, self.observation, list(self.history)
        )

    # --- one turn -----------------------------------------------------------------------

    def next_prompt(self) -> list[int] | None:
        """The prompt ids of the next turn, or None when the episode is over. Ends the episode
        (truncated) when `max_turns` turns were played or the prompt does not leave room for a
        full response within `max_context_tokens`."""
        if self.done:
            return None
        assert self.observation is not None
        if self.limits.max_turns is not None and len(self.trajectory.turns) >= self.limits.max_turns:
            self._truncate("max_turns")
            return None
        prompt = self.prompts.build(self.system_prompt, self.history, self.observation)
        limit = self.limits.max_context_tokens
        if limit is not None and len(prompt) + self.limits.max_response_tokens > limit:
            self._truncate("context_overflow")
            return None
        self._prompt = prompt
        return prompt

    async def apply(self, generation: Generation, policy_version: int) -> None:
        """Send the response's text to the environment as the action and record the turn."""
        if self._prompt is None or self.observation is None or self.env is None:
            raise RuntimeError("apply() needs a prompt from next_prompt() first")
        if len(generation.token_ids) != len(generation.logprobs):
            raise ValueError(
                f"the policy returned {len(generation.token_ids)} tokens but {len(generation.logprobs)} log-probabilities"
            )
        prompt, self._prompt = self._prompt, None
        started = time.perf_counter()
        try:
            result: StepResult = await self._env_call(self.env.step(generation.text))
        except EnvFailure as failure:
            self.fail(failure.reason)
            return
        latency = time.perf_counter() - started
        self.trajectory.turns.append(
            Turn(
                index=len(self.trajectory.turns),
                prompt_ids=prompt,
                response_ids=list(generation.token_ids),
                response_logprobs=list(generation.logprobs),
                response_text=generation.text,
                finish_reason=generation.finish_reason,
                observation=self.observation.text,
                anchor=self.observation.anchor,
                reward=result.reward,
                invalid=result.invalid_action,
                env_latency_s=latency,
                policy_version=policy_version,
            )
        )
        self.history.append(HistoryTurn(self.observation.text, generation.text))
        self.observation = result.observation
        broken = self._record_ground_truth(result.info)
        if broken is not None:
            self.fail(broken)
            return
        if result.done:
            self.done = True
            self.trajectory.terminated = result.terminated
            self.trajectory.truncated = result.truncated
            self.trajectory.truncation = "time_limit" if result.truncated else None
            self.trajectory.success = bool(result.info.get("success", False))

    def _record_ground_truth(self, info: dict[str, Any]) -> str | None:
        """Record `info["ground_truth"]` in the trajectory, if present; returns the failure
        string when it breaks the contract (not a string, or not the one reported before)."""
        value = info.get(GROUND_TRUTH_KEY)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            return (
                f"env_contract: info[{GROUND_TRUTH_KEY!r}] must be a non-empty string (the task's answer), "
                f"got {type(value).__name__} {value!r}"
            )
        known = self.trajectory.ground_truth
        if known is not None and value != known:
            return f"env_contract: info[{GROUND_TRUTH_KEY!r}] changed within the episode, from {known!r} to {value!r}"
        self.trajectory.ground_truth = value
        return None

    # --- ending -------------------------------------------------------------------------

    def fail(self, reason: str) -> None:
        """Mark the episode failed with `reason` (`"<kind>: <detail>"`)."""
        self.done = True
        self.trajectory.status = "failed"
        self.trajectory.failure = reason

    def _truncate(self, truncation: Truncation) -> None:
        self.done = True
        self.trajectory.truncated = True
        self.trajectory.truncation = truncation

    async def close(self) -> None:
        """Close the environment (once); a failure to close is ignored (the episode is recorded)."""
        env, self.env = self.env, None
        if env is not None:
            await close_quietly(env)

    async def _env_call(self, call: Any) -> Any:
        timeout = self.limits.env_timeout_s
        try:
            return await (asyncio.wait_for(call, timeout) if timeout is not None else call)
        except Exception as error:  # any environment fault ends this episode only
            raise EnvFailure(failure_reason(error, timeout_s=timeout)) from error


async def play(
    episode: Episode, policy: Policy, params: SamplingParams, *, until_turn: int | None = None
) -> Trajectory:
    """Play `episode` to its end with `policy` (one response per call), or, with `until_turn`,
    until it has that many turns. Returns its trajectory; the environment is left open.

    `params` should already carry the limit (`EpisodeLimits.sampling`). The policy version
    recorded for a turn is `policy.version` when its request is made (a lower bound, should
    new weights arrive while the request waits).
    """
    while until_turn is None or len(episode.trajectory.turns) < until_turn:
        prompt = episode.next_prompt()
        if prompt is None:
            break
        version = policy.version
        generations = await policy.generate([prompt], params)
        if len(generations) != 1:
            raise ValueError(f"the policy returned {len(generations)} generations for 1 prompt")
        await episode.apply(generations[0], version)
    return episode.trajectory
