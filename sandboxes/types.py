"""The values of the sandbox API: resource limits, execution results and errors.

Contract of one execution: the program (Python source or a bash script) runs with the working
directory `/work`, which holds the files the caller sent (and, in a session, whatever earlier
runs left there); afterwards the files named in `fetch` are read back from it. A program never
raises into the caller: whatever it does (crash, spin, exhaust memory, flood its output) comes
back as an `ExecResult` whose `status` says what happened. Errors are raised only for bad calls
(`InvalidPath`, unknown language) and for a backend that cannot run at all
(`SandboxUnavailable`, `UnsafeBackendRefused`).
"""

from __future__ import annotations

import base64
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from agentgym.errors import AgentGymError

Language = Literal["python", "bash"]
LANGUAGES: tuple[str, ...] = ("python", "bash")


class ExecStatus(str, Enum):
    """How an execution ended.

    - ok: the program exited with code 0.
    - error: it exited with a non-zero code (an exception, a failed assertion, `exit 3`).
    - timeout: it ran past `Limits.wall_s`, or used more than `Limits.cpu_s` of CPU time.
    - memory: it went over `Limits.memory_mb` (killed by the memory limit, or a MemoryError).
    - output_limit: stdout plus stderr went over `Limits.max_output_bytes`; it was killed and
      the output kept up to the limit.
    - killed: a signal ended it for another reason (for example it killed itself, or hit the
      process or file-size limit).
    """

    ok = "ok"
    error = "error"
    timeout = "timeout"
    memory = "memory"
    output_limit = "output_limit"
    killed = "killed"


class Limits(BaseModel):
    """Resource limits of one execution. Every field is a ceiling for the whole program, its
    children included, where the backend can enforce it so (cgroups, a container); see
    docs/sandboxes.md for which backend enforces which limit how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wall_s: float = Field(10.0, gt=0, le=3600, description="wall-clock seconds before the program is killed")
    cpu_s: float = Field(10.0, gt=0, le=3600, description="CPU seconds per process")
    memory_mb: int = Field(512, ge=16, le=65536, description="memory in MiB")
    max_procs: int = Field(64, ge=1, le=4096, description="processes and threads alive at once")
    max_output_bytes: int = Field(1 << 20, ge=1, le=1 << 30, description="stdout + stderr bytes kept")
    max_file_bytes: int = Field(16 << 20, ge=1, le=1 << 34, description="largest file the program may write")
    max_fetch_bytes: int = Field(64 << 20, ge=0, le=1 << 34, description="bytes of fetched files returned, in all")


class ExecResult(BaseModel):
    """What one execution did. `stdout`/`stderr` are decoded as UTF-8 (bad bytes replaced);
    `files` maps each fetched path that existed to its bytes (base64 in JSON); a fetched path
    that did not exist, or was not a regular file inside the work directory, is absent; one that
    existed but did not fit in `Limits.max_fetch_bytes` is listed in `files_omitted`. Paths that
    name the same file (`a`, `./a`, `/work/a`) are fetched once, under the first spelling."""

    model_config = ConfigDict(extra="forbid")

    status: ExecStatus
    exit_code: int | None = Field(None, description="the exit code, or None when a signal ended the program")
    signal: int | None = Field(None, description="the number of the signal that ended the program, if one did")
    stdout: str = ""
    stderr: str = ""
    duration_s: float = Field(0.0, ge=0)
    files: dict[str, bytes] = Field(default_factory=dict)
    files_omitted: list[str] = Field(
        default_factory=list, description="fetched files that exist but were left out: over max_fetch_bytes in all"
    )

    @property
    def ok(self) -> bool:
        return self.status is ExecStatus.ok

    @field_serializer("files", when_used="json")
    def _files_to_base64(self, files: dict[str, bytes]) -> dict[str, str]:
        return {path: base64.b64encode(data).decode("ascii") for path, data in files.items()}


class SandboxError(AgentGymError):
    """Base class of the sandbox's own errors."""

    error_type = "sandbox_error"


class SandboxUnavailable(SandboxError):
    """A backend cannot run on this machine (its program is missing, or a probe run failed).
    The message says what is missing and how to install it."""

    error_type = "sandbox_unavailable"


class UnsafeBackendRefused(SandboxError):
    """The `local` backend was asked to start without `allow_unsafe=True`: it runs code as the
    caller, with no isolation at all."""

    error_type = "unsafe_backend_refused"


class InvalidPath(SandboxError, ValueError):
    """A file path sent or fetched is not a relative path inside the work directory."""

    error_type = "invalid_path"


class UnsupportedLanguage(SandboxError, ValueError):
    """The language is not one this sandbox runs (see `LANGUAGES`)."""

    error_type = "unsupported_language"
