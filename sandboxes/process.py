"""Supervising one sandboxed process from the host: stdin in, capped output out, a wall clock,
and a kill that takes every process of the run with it; then the `ExecStatus` of the outcome.

Used by every backend that starts its sandbox as a host process (bubblewrap, gVisor, local).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from agentgym.sandboxes.types import ExecResult, ExecStatus, Limits

KILL_GRACE_S = 5.0
"""How long a killed run may take to exit before the supervisor stops waiting for it."""

QUOTA_POLL_S = 0.05
"""Shortest interval between two polls of a run's quota check."""

_READ_CHUNK = 1 << 16


@dataclass
class Outcome:
    """How a supervised process ended. `signal` is set when a signal ended it, `exit_code`
    otherwise; `timed_out`/`output_exceeded`/`over_quota` when the supervisor killed it for
    that reason."""

    exit_code: int | None
    signal: int | None
    stdout: bytes
    stderr: bytes
    duration_s: float
    timed_out: bool = False
    output_exceeded: bool = False
    over_quota: bool = False


class _CappedOutput:
    """stdout and stderr kept up to a shared byte budget; `exceeded` once a byte was dropped."""

    def __init__(self, limit: int, on_exceeded: Callable[[], None]):
        self.limit = limit
        self.kept = 0
        self.exceeded = False
        self._on_exceeded = on_exceeded
        self.buffers = {"stdout": bytearray(), "stderr": bytearray()}

    async def drain(self, name: str, stream: asyncio.StreamReader) -> None:
        buffer = self.buffers[name]
        while chunk := await stream.read(_READ_CHUNK):
            room = self.limit - self.kept
            if len(chunk) > room:
                buffer += chunk[: max(room, 0)]
                self.kept = self.limit
                if not self.exceeded:
                    self.exceeded = True
                    self._on_exceeded()
            else:
                buffer += chunk
                self.kept += len(chunk)


async def supervise(
    argv: Sequence[str],
    *,
    stdin: bytes | None,
    limits: Limits,
    kill: Callable[[asyncio.subprocess.Process], Awaitable[None]],
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    wrapped: bool = True,
    over_quota: Callable[[], bool] | None = None,
    **popen_kwargs,
) -> Outcome:
    """Run `argv` to its end, or until `limits.wall_s` or `limits.max_output_bytes` is passed,
    in which case `kill(process)` must end it and every process it started.

    `wrapped`: the program runs under a wrapper (bwrap, runsc, sh) that reports a signal `N`
    as exit code 128 + N; such codes are read back as signals. The process starts in a new
    session, so `kill` may signal its process group. `over_quota`, if given, is polled (in a
    thread) while the program runs; once it returns True the program is killed."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
        **popen_kwargs,
    )
    killing: list[asyncio.Task] = []

    def kill_once() -> None:
        if not killing:
            killing.append(asyncio.ensure_future(kill(process)))

    output = _CappedOutput(limits.max_output_bytes, kill_once)
    feeder = asyncio.ensure_future(_feed(process, stdin)) if stdin else None
    readers = asyncio.gather(
        output.drain("stdout", process.stdout), output.drain("stderr", process.stderr), process.wait()
    )
    quota = _QuotaWatch(over_quota, kill_once) if over_quota else None
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(readers), limits.wall_s)
    except asyncio.TimeoutError:
        timed_out = not output.exceeded and not (quota and quota.exceeded)
        kill_once()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(readers), KILL_GRACE_S)
    except asyncio.CancelledError:
        kill_once()
        raise
    finally:
        # In a task of its own: a second cancellation of the caller must not cut the cleanup short.
        await asyncio.shield(asyncio.ensure_future(_finish(process, killing, feeder, quota, readers)))
    duration = time.perf_counter() - started
    code = process.returncode
    exit_code, sig = _decode(code, wrapped)
    return Outcome(
        exit_code=exit_code,
        signal=sig,
        stdout=bytes(output.buffers["stdout"]),
        stderr=bytes(output.buffers["stderr"]),
        duration_s=duration,
        timed_out=timed_out,
        output_exceeded=output.exceeded,
        over_quota=bool(quota and quota.exceeded),
    )


async def _finish(
    process: asyncio.subprocess.Process,
    killing: list[asyncio.Task],
    feeder: asyncio.Future | None,
    quota: _QuotaWatch | None,
    readers: asyncio.Future,
) -> None:
    """Stop the helpers of a run, wait for its kill, and make sure no process of it is left."""
    if feeder is not None:
        feeder.cancel()
    if quota is not None:
        await quota.stop()
    if killing:
        await killing[0]
    if process.returncode is None:  # the kill did not end it: last resort, then stop waiting
        _kill_group(process)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(process.wait(), KILL_GRACE_S)
    _kill_group(process)  # whatever of the run's process group is left (the local backend)
    if not readers.done():
        readers.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await readers


class _QuotaWatch:
    """Polls `over_quota` in a thread, at most every QUOTA_POLL_S, until stopped or exceeded."""

    def __init__(self, over_quota: Callable[[], bool], on_exceeded: Callable[[], None]):
        self.exceeded = False
        self._over_quota = over_quota
        self._on_exceeded = on_exceeded
        self._task = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while True:
            started = time.perf_counter()
            if await asyncio.to_thread(self._over_quota):
                self.exceeded = True
                self._on_exceeded()
                return
            await asyncio.sleep(max(QUOTA_POLL_S, 2 * (time.perf_counter() - started)))

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _decode(code: int | None, wrapped: bool) -> tuple[int | None, int | None]:
    if code is None:
        return None, signal.SIGKILL
    if code < 0:
        return None, -code
    if wrapped and code > 128 and code - 128 < signal.NSIG:
        return None, code - 128
    return code, None


async def _feed(process: asyncio.subprocess.Process, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.write(data)
        await process.stdin.drain()
        process.stdin.close()


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def kill_process_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the process group that `supervise` started (the default kill)."""
    _kill_group(process)


def exec_result(outcome: Outcome, *, memory_exceeded: bool | None = None, quota_message: str = "") -> ExecResult:
    """The `ExecResult` of an outcome. `memory_exceeded`: whether the backend saw its memory
    limit hit (a cgroup OOM kill, a container's OOMKilled), or None where it cannot know (then
    a MemoryError ending stderr counts); `quota_message` is added to stderr when the run was
    killed for going over its quota."""
    stderr = outcome.stderr.decode("utf-8", "replace")
    if outcome.over_quota and quota_message:
        stderr += f"\n[sandbox] killed: {quota_message}\n"
    return ExecResult(
        status=classify(outcome, memory_exceeded),
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        stdout=outcome.stdout.decode("utf-8", "replace"),
        stderr=stderr,
        duration_s=round(outcome.duration_s, 6),
    )


def classify(outcome: Outcome, memory_exceeded: bool | None = None) -> ExecStatus:
    """Which limit ended the run, if any. The supervisor's own kills are certain; a CPU-limit
    kill shows as SIGXCPU; `memory_exceeded` None (no cgroup or container to ask): a memory
    limit shows as Python's MemoryError, the last line of stderr."""
    if outcome.output_exceeded:
        return ExecStatus.output_limit
    if outcome.over_quota:
        return ExecStatus.killed
    if outcome.timed_out or outcome.signal == signal.SIGXCPU:
        return ExecStatus.timeout
    guessed = memory_exceeded is None and outcome.exit_code not in (0, None) and _ends_with_memory_error(outcome.stderr)
    if memory_exceeded or guessed:
        return ExecStatus.memory
    if outcome.signal is not None:
        return ExecStatus.killed
    return ExecStatus.ok if outcome.exit_code == 0 else ExecStatus.error


def _ends_with_memory_error(stderr: bytes) -> bool:
    lines = stderr.rstrip().splitlines()
    return bool(lines) and lines[-1].startswith(b"MemoryError")
