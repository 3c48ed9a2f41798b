"""SandboxFusion's `POST /run_code` on top of our sandboxes, so that clients written for
SandboxFusion (https://github.com/bytedance/SandboxFusion; verl, OpenRLHF and others) can use
this service unchanged.

The request and response carry SandboxFusion's field names and meanings:

- request: `code`, `language`, `compile_timeout`, `run_timeout` (seconds), `memory_limit_MB`
  (-1: the server's default), `stdin`, `files` ({path: base64 content}; a null content is
  skipped), `fetch_files` ([paths]), `args` (pytest's; accepted and unused). Unknown fields
  are ignored, as SandboxFusion does.
- response: `status` is `Success` when the program ran to its end with return code 0,
  `Failed` when it ran but exited non-zero, was killed or ran out of time, and `SandboxError`
  when it could not be run at all (a language this sandbox does not run, a bad file path or
  base64 content, a backend failure); `message` says why for SandboxError. `run_result.status`
  is `Finished` for every program that ended by itself or by a kill other than the clock
  (its `return_code` then says how; a signal N is reported as -N), `TimeLimitExceeded` when
  the clock (or the CPU limit) stopped it (`return_code` null), and `Error` for a backend
  failure. `compile_result` is always null: python and bash are interpreted.

Our limits are stricter in one way: a program that floods its output is killed at the
server's output limit (SandboxFusion keeps running it and truncates to 1 MiB).
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import signal
from collections.abc import Mapping
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from agentgym.sandboxes.base import relative_path
from agentgym.sandboxes.pool import SandboxPool
from agentgym.sandboxes.types import LANGUAGES, ExecResult, ExecStatus, Limits, SandboxError

log = logging.getLogger(__name__)

SANDBOXFUSION_LANGUAGES: tuple[str, ...] = (
    "python", "cpp", "nodejs", "go", "go_test", "java", "php", "csharp", "bash", "typescript", "sql", "rust",
    "cuda", "lua", "R", "perl", "D_ut", "ruby", "scala", "julia", "pytest", "junit", "kotlin_script", "jest",
    "verilog", "python_gpu", "lean", "swift", "racket", "js", "ts",
)  # fmt: skip
"""The language names SandboxFusion accepts; of these we run only `LANGUAGES` (python, bash).
Any other name gets a SandboxError answer that lists what runs here."""

MAX_TIMEOUT_S = 3600.0
MIN_TIMEOUT_S = 0.01
SIGNAL_UNKNOWN = signal.SIGKILL
"""Reported when a signal ended the program and the backend could not say which one."""


class RunCodeRequest(BaseModel):
    """The body of SandboxFusion's `POST /run_code` (their defaults)."""

    model_config = ConfigDict(extra="ignore")

    code: str = Field(description="the program's source")
    language: str = Field(description="python or bash here; SandboxFusion's other names get a SandboxError")
    compile_timeout: float = Field(10, description="unused: python and bash are not compiled")
    run_timeout: float = Field(10, description="seconds of wall clock (and of CPU) before the program is stopped")
    memory_limit_MB: int = Field(-1, description="MiB of memory; -1 (or any value <= 0): the server's default")
    stdin: str | None = Field(None, description="text sent to the program's standard input")
    files: dict[str, str | None] = Field(
        default_factory=dict, description="path -> base64 content, put in the work dir"
    )
    fetch_files: list[str] = Field(default_factory=list, description="paths read back after the run")
    args: list[str] = Field(default_factory=list, description="SandboxFusion's pytest arguments; unused here")


class RunStatus(str, Enum):
    Success = "Success"
    Failed = "Failed"
    SandboxError = "SandboxError"


class CommandRunStatus(str, Enum):
    Finished = "Finished"
    Error = "Error"
    TimeLimitExceeded = "TimeLimitExceeded"


class CommandRunResult(BaseModel):
    status: CommandRunStatus
    execution_time: float | None = None
    return_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None


class RunCodeResponse(BaseModel):
    """The body of every `/run_code` answer (HTTP 200, also for SandboxError)."""

    status: RunStatus
    message: str = ""
    compile_result: CommandRunResult | None = None
    run_result: CommandRunResult | None = None
    executor_pod_name: str | None = None
    files: dict[str, str] = Field(default_factory=dict)


def sandbox_error(message: str, *, run_error: bool = False) -> RunCodeResponse:
    """A SandboxError answer; `run_error` adds a `run_result` of status Error (a backend failure
    during the run), as SandboxFusion reports one."""
    run_result = CommandRunResult(status=CommandRunStatus.Error, stderr=message) if run_error else None
    return RunCodeResponse(status=RunStatus.SandboxError, message=message, run_result=run_result)


def unsupported_language_message(language: str) -> str:
    known = "a SandboxFusion language" if language in SANDBOXFUSION_LANGUAGES else "not a SandboxFusion language"
    return f"language {language!r} ({known}) is not supported by this sandbox service; it runs {', '.join(LANGUAGES)}"


def decode_files(files: Mapping[str, str | None]) -> dict[str, bytes]:
    """{path: bytes} of the request's files (null contents skipped). Raises InvalidPath for a
    path outside the work directory and SandboxError for content that is not base64."""
    decoded: dict[str, bytes] = {}
    for path, content in files.items():
        relative_path(path)
        if content is None:
            continue
        try:
            decoded[path] = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise SandboxError(f"file {path!r}: the content is not valid base64") from None
    return decoded


def limits_for(request: RunCodeRequest, defaults: Limits) -> Limits:
    """The server's `defaults` with the request's run_timeout (wall clock and CPU seconds) and
    memory_limit_MB (when > 0), each clamped into the range `Limits` accepts. A timeout that is
    not a finite number is the request's fault: SandboxError."""
    if not math.isfinite(float(request.run_timeout)):
        raise SandboxError(f"run_timeout must be a finite number of seconds, got {request.run_timeout!r}")
    timeout = min(max(float(request.run_timeout), MIN_TIMEOUT_S), MAX_TIMEOUT_S)
    update: dict[str, float | int] = {"wall_s": timeout, "cpu_s": timeout}
    if request.memory_limit_MB > 0:
        update["memory_mb"] = min(max(request.memory_limit_MB, 16), 65536)
    return Limits.model_validate({**defaults.model_dump(), **update})


def response_for(result: ExecResult) -> RunCodeResponse:
    """SandboxFusion's view of one finished execution."""
    if result.status is ExecStatus.timeout:
        run = CommandRunResult(
            status=CommandRunStatus.TimeLimitExceeded,
            execution_time=result.duration_s,
            stdout=result.stdout,
            stderr=result.stderr,
        )
    else:
        return_code = result.exit_code if result.exit_code is not None else -(result.signal or SIGNAL_UNKNOWN)
        run = CommandRunResult(
            status=CommandRunStatus.Finished,
            execution_time=result.duration_s,
            return_code=return_code,
            stdout=result.stdout,
            stderr=result.stderr,
        )
    ok = run.status is CommandRunStatus.Finished and run.return_code == 0
    return RunCodeResponse(
        status=RunStatus.Success if ok else RunStatus.Failed,
        message="" if ok else _failure_message(result),
        run_result=run,
        files={path: base64.b64encode(data).decode("ascii") for path, data in result.files.items()},
    )


def _failure_message(result: ExecResult) -> str:
    return {
        ExecStatus.error: "",
        ExecStatus.timeout: "time limit exceeded",
        ExecStatus.memory: "memory limit exceeded",
        ExecStatus.output_limit: "output limit exceeded; the program was stopped",
        ExecStatus.killed: "the program was killed by a signal",
    }.get(result.status, "")


async def run_code(pool: SandboxPool, request: RunCodeRequest, defaults: Limits, ceiling: Limits) -> RunCodeResponse:
    """Run one SandboxFusion request on `pool` (a slot of its concurrency limit) with the
    server's `defaults` for the limits the request does not set, each limit clamped to `ceiling`. Never raises for anything
    the request or the program does: every failure is a SandboxError answer."""
    if request.language not in LANGUAGES:
        return sandbox_error(unsupported_language_message(request.language))
    try:
        files = decode_files(request.files)
        for path in request.fetch_files:
            relative_path(path)
        limits = limits_for(request, defaults)
        limits = limits.model_copy(update={name: min(value, getattr(ceiling, name)) for name, value in limits})
    except SandboxError as error:  # InvalidPath or bad base64: the request's fault, nothing ran
        return sandbox_error(str(error))
    try:
        result = await pool.run(
            request.code,
            language=request.language,
            stdin=request.stdin,
            files=files,
            fetch=request.fetch_files,
            limits=limits,
        )
    except Exception as error:  # the backend failed (SandboxFusion answers these as SandboxError too)
        log.exception("sandbox failure on /run_code")
        return sandbox_error(f"the sandbox failed to run the program: {type(error).__name__}: {error}", run_error=True)
    return response_for(result)
