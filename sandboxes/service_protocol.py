"""The JSON bodies of the sandbox service's own API (`/run`, `/sessions/...`, `/health`).

File contents travel as base64 strings in both directions. Requests are strict (a string where
a number belongs is a 422, not a silent conversion) and refuse unknown fields, so a typo in a
limit's name is an error instead of a default.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator

from agentgym.sandboxes.types import Limits


def _decode_base64(value: Any) -> bytes:
    if isinstance(value, bytes):  # built in Python (a response), not parsed from JSON
        return value
    if not isinstance(value, str):
        raise ValueError("file content must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("file content is not valid base64") from None


Base64Content = Annotated[
    bytes,
    PlainValidator(_decode_base64, json_schema_input_type=str),
    PlainSerializer(lambda data: base64.b64encode(data).decode("ascii"), return_type=str),
]
"""Bytes that are a base64 string in JSON."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LimitsOverride(_Request):
    """Any subset of `Limits`' fields; the rest come from the session or the server."""

    wall_s: float | None = None
    cpu_s: float | None = None
    memory_mb: int | None = None
    max_procs: int | None = None
    max_output_bytes: int | None = None
    max_file_bytes: int | None = None

    def over(self, base: Limits) -> Limits:
        """`base` with this override's fields; raises ValidationError for a value out of range."""
        return Limits.model_validate({**base.model_dump(), **self.model_dump(exclude_none=True)})


class RunRequest(_Request):
    """One program: `POST /run` (fresh work directory) or `POST /sessions/{id}/run`."""

    code: str = Field(description="the program's source")
    language: str = Field("python", description="python or bash")
    stdin: str | None = Field(None, description="text sent to standard input")
    files: dict[str, Base64Content] = Field(default_factory=dict, description="path -> base64, written before the run")
    fetch: list[str] = Field(default_factory=list, description="paths read back after the run")
    limits: LimitsOverride | None = Field(None, description="limits of this run (default: the session's or server's)")
    network: bool | None = Field(None, description="network access for this run (default: the session's, else off)")


class CreateSessionRequest(_Request):
    """`POST /sessions`: defaults for the session's runs (a run may override them)."""

    limits: LimitsOverride | None = None
    network: bool = False


class CreateSessionResponse(BaseModel):
    session_id: str
    idle_timeout_s: float


class WriteFilesRequest(_Request):
    """`POST /sessions/{id}/files`: put files into the session's work directory."""

    files: dict[str, Base64Content]


class FilesResponse(BaseModel):
    """Files read from a work directory (absent paths are left out)."""

    files: dict[str, Base64Content]


class WrittenResponse(BaseModel):
    written: list[str]


class ClosedResponse(BaseModel):
    session_id: str
    closed: bool = True


class Health(BaseModel):
    status: str = Field(description="ok, or shutting_down")
    backend: str
    isolation: int
    running: int = Field(description="programs running now")
    max_concurrency: int
    sessions: int
    max_sessions: int
    session_idle_timeout_s: float
