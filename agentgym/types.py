"""The values that cross the Env API: observations, step results and environment specs.

All are pydantic v2 models, so the same objects validate input in-process and on the wire.
Bytes (PNG images) serialise to base64 in JSON; services send them as binary frames instead.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

ENV_ID_PATTERN = re.compile(r"^(?:(?P<namespace>[\w.-]+)/)?(?P<name>[\w.-]+?)-v(?P<version>\d+)$")
"""`[namespace/]name-vN`: a versioned id; bump N whenever rewards or dynamics change."""

ENTRY_POINT_PATTERN = re.compile(r"^[\w.]+:[\w.]+$")

GROUND_TRUTH_KEY = "ground_truth"
"""The `StepResult.info` key under which an environment reports its task's ground-truth answer.

Contract: an environment whose task has one answer (the hidden object of Twenty Questions, the
secret number, the Wordle word) sets `info[GROUND_TRUTH_KEY]` to that answer, as a string, in
every `StepResult` of the episode, always the same non-empty string. It is for trainers only,
never for the policy: the environment must never place it in an observation's text, metadata
or tools as the answer (the anchor, which names the true state for GiGPO and never reaches a
prompt, may contain it), and the rollout never puts `info` into a prompt, so the policy cannot
see it. Content of the world that the agent uncovers may state it: a search result that
contains the answer (that is what search-qa-v0 is about), or a comparison question that names
both options without saying which is right. The rollout records it in
`agentgym.rollout.types.Trajectory.ground_truth`; IGPO's information-gain turn rewards
(Wang et al., "Information Gain-based Policy Optimization", arXiv 2510.14967;
`agentgym.trainers.igpo`) score the policy's probability of it. Environments without a single
answer leave the key out.
"""


class FunctionSchema(BaseModel):
    """The `function` part of an OpenAI tool: a name, what it does, and JSON-schema parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Tool(BaseModel):
    """A tool the agent may call now, in the OpenAI function-calling schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["function"] = "function"
    function: FunctionSchema


class Observation(BaseModel):
    """What the agent sees after `reset` or a `step`.

    Fields:
        text: the observation as the model reads it (without prompt template or history).
        images: zero or more PNG-encoded images (raw bytes, PNG signature checked).
        tools: the tools the agent may call now, as OpenAI function schemas.
        anchor: a key for "this exact environment state"; two observations with equal anchors
            are treated as the same state when GiGPO groups steps. Defaults to `text`. Set it to
            a canonical rendering of the true state when the text is ambiguous (e.g. a generic
            "Nothing happens.") or carries noise (timestamps).
        metadata: free-form extra data for tools and logs; never shown to the policy by agentgym.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    text: str
    images: tuple[bytes, ...] = ()
    tools: tuple[Tool, ...] = ()
    # the default (None, replaced by the text) is not a string: keep it out of the JSON schema
    anchor: str = Field(default=None, validate_default=True, json_schema_extra=lambda schema: schema.pop("default"))  # type: ignore[assignment]
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("images")
    @classmethod
    def _images_are_png(cls, images: tuple[bytes, ...]) -> tuple[bytes, ...]:
        for index, image in enumerate(images):
            if not image.startswith(PNG_SIGNATURE):
                raise ValueError(
                    f"images[{index}] is not PNG data (starts with {image[:8]!r}); encode images as "
                    "PNG bytes, e.g. PIL's image.save(buffer, format='PNG')"
                )
        return images

    @field_serializer("images", when_used="json")
    def _images_as_standard_base64(self, images: tuple[bytes, ...]) -> list[str]:
        # pydantic's own base64 is the URL-safe alphabet, which standard decoders (Python's
        # base64.b64decode, JavaScript's atob, data: URLs) reject or silently corrupt.
        return [base64.b64encode(image).decode("ascii") for image in images]

    @field_validator("anchor", mode="before")
    @classmethod
    def _anchor_defaults_to_text(cls, anchor: Any, info: Any) -> Any:
        if anchor is None:
            return info.data.get("text")
        return anchor


Reward = Annotated[float, Field(allow_inf_nan=False)]


class StepResult(BaseModel):
    """The outcome of one `step`.

    Fields:
        observation: the observation after the action.
        reward: the reward for this step (finite).
        terminated: the episode reached a terminal state of the task (success, failure, death):
            there is nothing left to do and no value beyond this state.
        truncated: the episode was cut short for a reason outside the task's dynamics, a time
            limit above all; the state has a value beyond the cut, so bootstrapping is valid.
        info: diagnostics. `info["invalid_action"]` is True when the action could not be parsed
            or applied; it is False or absent otherwise. Tasks with a success criterion set
            `info["success"]` on the step that ends the episode (True: solved). Tasks with a
            ground-truth answer report it, as a string, in `info["ground_truth"]`
            (`GROUND_TRUTH_KEY`) on every step; it is never part of the observation.
    """

    model_config = ConfigDict(extra="forbid")

    observation: Observation
    reward: Reward = 0.0
    terminated: bool = False
    truncated: bool = False
    info: dict[str, Any] = Field(default_factory=dict)

    @property
    def done(self) -> bool:
        """True when the episode is over, by termination or truncation."""
        return self.terminated or self.truncated

    @property
    def invalid_action(self) -> bool:
        return bool(self.info.get("invalid_action", False))


class Capabilities(BaseModel):
    """What an environment offers beyond reset/step/close."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fork: bool = False
    """`fork()` copies the episode's state."""
    images: bool = False
    """Observations may carry images."""
    tools: bool = False
    """Observations may offer tools (OpenAI function schemas)."""


class EnvSpec(BaseModel):
    """How to build one registered environment.

    Fields:
        id: `[namespace/]name-vN`.
        entry_point: `"package.module:ClassName"` (imported on first `make`) or a callable
            returning an `Env`.
        kwargs: default keyword arguments for the entry point; `make(id, **kw)` overrides them.
        max_turns: the time limit `make` applies with `TimeLimit` (None: no limit).
        description: one line for listings.
        capabilities: what the environment offers beyond reset/step/close.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    id: str
    entry_point: str | Callable[..., Any]
    kwargs: dict[str, Any] = Field(default_factory=dict)
    max_turns: int | None = Field(default=None, gt=0)
    description: str = ""
    capabilities: Capabilities = Capabilities()

    @field_validator("id")
    @classmethod
    def _id_is_versioned(cls, env_id: str) -> str:
        if not ENV_ID_PATTERN.match(env_id):
            raise ValueError(
                f"environment id {env_id!r} must look like 'name-v0' or 'namespace/name-v0' "
                "(letters, digits, '_', '.', '-'; a version suffix -vN)"
            )
        return env_id

    @field_validator("entry_point")
    @classmethod
    def _entry_point_is_importable_path(cls, entry_point: Any) -> Any:
        if isinstance(entry_point, str) and not ENTRY_POINT_PATTERN.match(entry_point):
            raise ValueError(f"entry point {entry_point!r} must look like 'package.module:ClassName'")
        return entry_point

    @field_serializer("entry_point")
    def _entry_point_as_path(self, entry_point: Any) -> str:
        if isinstance(entry_point, str):
            return entry_point
        return f"{entry_point.__module__}:{entry_point.__qualname__}"

    @property
    def namespace(self) -> str | None:
        return ENV_ID_PATTERN.match(self.id)["namespace"]  # type: ignore[index]

    @property
    def name(self) -> str:
        return ENV_ID_PATTERN.match(self.id)["name"]  # type: ignore[index]

    @property
    def version(self) -> int:
        return int(ENV_ID_PATTERN.match(self.id)["version"])  # type: ignore[index]
