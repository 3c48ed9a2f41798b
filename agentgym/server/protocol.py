"""The wire protocol of the environment service, version 1.

HTTP: JSON bodies under /v1 (see `agentgym.server.openapi` for the exact paths). WebSocket
(`GET /v1/ws`): one connection multiplexes many sessions. Each text frame from the client is one
`WSRequest` `{"id": <int>, "op": ..., ...}`; each answer is one text frame `WSResponse`
`{"id", "status", "body", "images"}` whose `status` and `body` are exactly what the HTTP endpoint
would answer; under load, several answers may share one text frame as a JSON array of them. An observation's images never travel inside JSON on the WebSocket: the answer
says how many there are (`images`), and they arrive first as binary frames, each
`IMAGE_HEADER` (request id, image index) followed by the PNG bytes.

Sequence numbers: `reset` and `step` carry `seq`, counting the session's operations from 1.
A request whose `seq` equals the last applied one (with the same content) is a retry and gets
the stored answer without acting again; any other `seq` but the next one is refused with 409.
Without `seq` the server takes the next number (no retry safety). `create` is made
retry-safe the same way by a `session_id` the client picks: a create for a session that
already exists (same environment and kwargs) answers it instead of making another.
"""

from __future__ import annotations

import struct
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from agentgym.types import Observation, StepResult

PROTOCOL_VERSION = "1"
IMAGE_HEADER = struct.Struct(">QH")
"""Binary-frame header: the request id (uint64) and the image's index (uint16), big-endian."""

MAX_SEED = 2**63 - 1


def _integral_number(value: Any) -> Any:
    """JSON has one number type: `2.0` is the integer 2 (as JSON Schema's "integer" says), so it
    is accepted where an integer is expected; `2.5`, `"2"` and `true` are still refused."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


Seed = Annotated[int, Field(ge=0, le=MAX_SEED), BeforeValidator(_integral_number)]
Seq = Annotated[int, Field(ge=1, le=MAX_SEED), BeforeValidator(_integral_number)]
"""Integers in request bodies: strict, except that an integral JSON number like 2.0 counts.
(The bounds come first, on the int itself, so the JSON schema shows them as minimum/maximum.)"""


class ErrorInfo(BaseModel):
    type: str = Field(description="stable machine-readable error name, e.g. 'seq_out_of_order'")
    message: str = Field(description="what went wrong and how to fix it")


class ErrorBody(BaseModel):
    """The body of every error answer (4xx and 5xx)."""

    error: ErrorInfo


class ServiceError(Exception):
    """An operation failed with an HTTP status and a typed error body."""

    def __init__(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}

    def body(self) -> ErrorBody:
        return ErrorBody(error=ErrorInfo(type=self.error_type, message=self.message))


class _Request(BaseModel):
    # cache_strings="keys": the values of requests (session ids, actions) are nearly all unique,
    # so pydantic's process-wide string cache would only fill up with stale ones (about 1 MB).
    model_config = ConfigDict(extra="forbid", strict=True, cache_strings="keys")


class CreateSessionRequest(_Request):
    env_id: str = Field(description="a registered id that this server serves", max_length=256)
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for the environment")
    session_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{16,128}$",
        description="the new session's id, chosen by the client (a random UUID): it makes creation "
        "retry-safe, as a create whose session already exists answers that session instead of "
        "making another. Without it the server picks the id.",
    )


class ResetRequest(_Request):
    seed: Seed | None = None
    options: dict[str, Any] | None = None
    seq: Seq | None = Field(default=None, description="operation number; see the protocol")


class StepRequest(_Request):
    action: str = Field(description="the model's raw text for this turn")
    seq: Seq | None = Field(default=None, description="operation number; see the protocol")


SessionState = Literal["new", "running", "ended", "failed"]


class SessionInfo(BaseModel):
    session_id: str
    env_id: str
    state: SessionState = Field(description="new: never reset; running; ended: episode over; failed: unusable")
    last_seq: int = Field(description="the number of the last applied reset/step (0: none)")
    created_at: float = Field(description="Unix time")
    idle_s: float = Field(description="seconds since the last operation finished")


class SessionCreated(SessionInfo):
    """The answer to create and fork: the session, and the instructions its policy needs."""

    system_prompt: str = Field(description="the environment's rules and action format (Env.system_prompt)")


class SessionList(BaseModel):
    sessions: list[SessionInfo]


class ResetResponse(BaseModel):
    seq: int
    observation: Observation


class StepResponse(BaseModel):
    seq: int
    result: StepResult


class EnvDescription(BaseModel):
    id: str
    entry_point: str
    kwargs: dict[str, Any]
    max_turns: int | None
    description: str
    capabilities: dict[str, bool]


class EnvList(BaseModel):
    envs: list[EnvDescription]


class Health(BaseModel):
    status: Literal["ok", "shutting_down"]
    sessions: int
    max_sessions: int
    protocol: str = PROTOCOL_VERSION


# WebSocket envelopes: the same operations as HTTP, named by `op`, with a request id.


class _WSRequest(_Request):
    id: int = Field(ge=0, lt=2**64)


class WSCreate(_WSRequest, CreateSessionRequest):
    op: Literal["create"]


class WSReset(_WSRequest, ResetRequest):
    op: Literal["reset"]
    session_id: str


class WSStep(_WSRequest, StepRequest):
    op: Literal["step"]
    session_id: str


class WSSessionOp(_WSRequest):
    op: Literal["fork", "close", "get"]
    session_id: str


class WSListSessions(_WSRequest):
    op: Literal["list"]


class WSDescribe(_WSRequest):
    op: Literal["describe"]
    env_id: str | None = None


WSRequest = Annotated[
    WSCreate | WSReset | WSStep | WSSessionOp | WSListSessions | WSDescribe, Field(discriminator="op")
]


class WSResponse(BaseModel):
    id: int | None = Field(description="the request's id; null when the frame could not be parsed")
    status: int = Field(description="the HTTP status the same request would get")
    body: dict[str, Any]
    images: int = Field(default=0, description="binary image frames sent before this answer")
