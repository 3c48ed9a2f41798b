"""The client load shared by every system under test (standard library only).

The same code drives agentgym in-process, agentgym over its server and OpenEnv's server, so the
three differ only in the `Session` adapter they plug in. It runs in both virtual environments
(ours and OpenEnv's), which is why it imports nothing outside the standard library.

The load, for N concurrent sessions (one asyncio task each):

1. open: every task opens its session and resets it once (at most `open_concurrency` at a
   time); nothing is timed yet except how long opening all of them took.
2. measure: when every task is open (or has failed), the clock starts. Each task runs
   episodes of `episode_steps` steps (reset, then K steps, then reset again, ...) until
   `duration_s` have passed. Every step's client-observed latency is recorded.
3. close: every session is closed; failures here are counted but do not fail the session.

A session succeeds when it opened and none of its operations raised or timed out. Opening
and closing have a time-out per operation; the measured phase has one deadline per session,
the window's end plus the time-out, so a hung session is caught without a timer per step.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

ACTION = "hello, environment"
"""The text every step sends; the echo environments answer with it."""


class Session(Protocol):
    """One environment session of the system under test."""

    async def open(self) -> None: ...

    async def reset(self) -> None: ...

    async def step(self, action: str) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class LoadConfig:
    """sessions: concurrent sessions (N). duration_s: length of the measured window.
    episode_steps: steps per episode (K) before the next reset. op_timeout_s: an operation
    slower than this (or a session still busy this long after the window) is a time-out error. open_concurrency: sessions opened at once
    (0: all at once). server_pid: the server process, to report its CPU use (0: none)."""

    sessions: int
    duration_s: float
    episode_steps: int = 16
    op_timeout_s: float = 30.0
    open_concurrency: int = 0
    server_pid: int = 0


@dataclass
class LoadResult:
    """What one load run measured; `latencies_ms` is dropped before it is written out."""

    sessions: int
    opened: int = 0
    succeeded: int = 0
    steps: int = 0
    resets: int = 0
    window_s: float = 0.0
    open_s: float = 0.0
    close_s: float = 0.0
    steps_per_s: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    max_ms: float | None = None
    client_cpu_pct: float | None = None
    server_cpu_pct: float | None = None
    client_cpu_us_per_step: float | None = None
    server_cpu_us_per_step: float | None = None
    other_cpu_pct: float | None = None
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    close_errors: int = 0
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def success_pct(self) -> float:
        return 100.0 * self.succeeded / self.sessions if self.sessions else 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready fields, without the raw latencies."""
        data = asdict(self)
        data.pop("latencies_ms")
        data["success_pct"] = round(self.success_pct, 3)
        return data


class _Tally:
    """Errors and counts gathered from every session task."""

    def __init__(self) -> None:
        self.errors: Counter[str] = Counter()
        self.samples: list[str] = []
        self.latencies: list[float] = []
        self.resets = 0

    def error(self, phase: str, error: BaseException) -> None:
        kind = "timeout" if isinstance(error, (asyncio.TimeoutError, TimeoutError)) else type(error).__name__
        self.errors[f"{phase}:{kind}"] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{phase}: {type(error).__name__}: {str(error)[:200]}")


async def _timed(call: Awaitable[None], seconds: float) -> None:
    """Await `call`, raising TimeoutError after `seconds` (asyncio.timeout creates no task)."""
    if _HAS_TIMEOUT:
        async with asyncio.timeout(seconds):
            await call
    else:  # pragma: no cover - Python 3.10
        await asyncio.wait_for(call, seconds)


_HAS_TIMEOUT = hasattr(asyncio, "timeout")


async def _open(session: Session, config: LoadConfig, gate: asyncio.Semaphore | None, tally: _Tally) -> bool:
    """Open and reset one session; False (and an error counted) when that fails."""
    try:
        if gate is None:
            await _timed(session.open(), config.op_timeout_s)
        else:
            async with gate:
                await _timed(session.open(), config.op_timeout_s)
        await _timed(session.reset(), config.op_timeout_s)
        return True
    except Exception as error:
        tally.error("open", error)
        return False


async def _episodes(session: Session, config: LoadConfig, window: tuple[float, float], tally: _Tally) -> bool:
    """Run episodes (K steps, then a reset) inside `window`; record each step's latency.

    One deadline covers the whole window (its end plus the operation time-out), rather than one
    timer per operation, so the load generator's own overhead per step stays small."""
    start, end = window
    clock = time.perf_counter
    steps_in_episode = 0
    latencies = tally.latencies
    try:
        async with _window_deadline(end - start + config.op_timeout_s):
            while clock() < end:
                if steps_in_episode == config.episode_steps:
                    await session.reset()
                    tally.resets += 1
                    steps_in_episode = 0
                    continue
                began = clock()
                await session.step(ACTION)
                finished = clock()
                steps_in_episode += 1
                if finished <= end:
                    latencies.append(finished - began)
        return True
    except Exception as error:
        tally.error("step", error)
        return False


def _window_deadline(seconds: float) -> Any:
    if _HAS_TIMEOUT:
        return asyncio.timeout(seconds)
    return contextlib.nullcontext()  # pragma: no cover - Python 3.10: no deadline


async def _close(session: Session, config: LoadConfig) -> bool:
    try:
        await _timed(session.close(), config.op_timeout_s)
        return True
    except Exception:
        return False


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` (Linux /proc), None when unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy since boot (Linux /proc/stat), None when unavailable."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle, iowait = fields[3], fields[4] if len(fields) > 4 else 0
    return (sum(fields[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class _CpuSnapshot:
    client: float
    server: float | None
    machine: float | None

    @classmethod
    def take(cls, server_pid: int) -> _CpuSnapshot:
        return cls(time.process_time(), _cpu_seconds(server_pid) if server_pid else None, _machine_busy_seconds())


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


async def run_load(make_session: Callable[[], Session], config: LoadConfig) -> LoadResult:
    """Open N sessions, drive them for the window, close them; return the measurements."""
    tally = _Tally()
    sessions = [make_session() for _ in range(config.sessions)]
    gate = asyncio.Semaphore(config.open_concurrency) if config.open_concurrency > 0 else None

    opened_at = time.perf_counter()
    opened = await asyncio.gather(*(_open(s, config, gate, tally) for s in sessions))
    open_s = time.perf_counter() - opened_at
    live = [s for s, ok in zip(sessions, opened, strict=True) if ok]

    snapshots = [_CpuSnapshot.take(config.server_pid)]
    start = time.perf_counter()
    window = (start, start + config.duration_s)
    # the CPU counters are read again exactly when the window closes, not when the last
    # operation still in flight finishes (which can be a p99 latency later)
    asyncio.get_running_loop().call_later(
        config.duration_s, lambda: snapshots.append(_CpuSnapshot.take(config.server_pid))
    )
    outcomes = await asyncio.gather(*(_episodes(s, config, window, tally) for s in live))
    window_s = max(config.duration_s, 1e-9)
    while len(snapshots) < 2:  # no session was live: the window still has to pass
        await asyncio.sleep(0.01)
    cpu_before, cpu_after = snapshots

    closed_at = time.perf_counter()
    closed = await asyncio.gather(*(_close(s, config) for s in sessions))
    close_s = time.perf_counter() - closed_at

    result = LoadResult(
        sessions=config.sessions,
        opened=len(live),
        succeeded=sum(outcomes),
        steps=len(tally.latencies),
        resets=tally.resets,
        window_s=window_s,
        open_s=round(open_s, 3),
        close_s=round(close_s, 3),
        errors=dict(tally.errors),
        error_samples=tally.samples,
        close_errors=closed.count(False),
        latencies_ms=[seconds * 1000 for seconds in tally.latencies],
    )
    _add_statistics(result, cpu_before, cpu_after)
    return result


def _add_statistics(result: LoadResult, before: _CpuSnapshot, after: _CpuSnapshot) -> None:
    """Fill in throughput, latency percentiles and CPU use from the raw measurements.

    CPU per step (client and server) is the measure least disturbed by other work on the
    machine; `other_cpu_pct` is the CPU that neither the client nor the server used (other
    processes on a shared machine), in percent of one core.
    """
    result.steps_per_s = round(result.steps / result.window_s, 1)
    client_s = after.client - before.client
    server_s = after.server - before.server if after.server is not None and before.server is not None else None
    result.client_cpu_pct = round(100 * client_s / result.window_s, 1)
    if server_s is not None:
        result.server_cpu_pct = round(100 * server_s / result.window_s, 1)
    if after.machine is not None and before.machine is not None:
        others = (after.machine - before.machine) - client_s - (server_s or 0.0)
        result.other_cpu_pct = round(max(0.0, 100 * others / result.window_s), 1)
    if result.steps:
        result.client_cpu_us_per_step = round(1e6 * client_s / result.steps, 1)
        if server_s is not None:
            result.server_cpu_us_per_step = round(1e6 * server_s / result.steps, 1)
    if result.latencies_ms:
        ordered = sorted(result.latencies_ms)
        result.p50_ms = round(percentile(ordered, 0.50), 3)
        result.p99_ms = round(percentile(ordered, 0.99), 3)
        result.mean_ms = round(sum(ordered) / len(ordered), 3)
        result.max_ms = round(ordered[-1], 3)


def raise_open_files_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to its hard limit (enough sockets for 4,096 sessions)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def add_common_arguments(parser: Any) -> None:
    """The command-line flags every load driver takes (argparse)."""
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--episode-steps", type=int, default=16)
    parser.add_argument("--op-timeout", type=float, default=30.0)
    parser.add_argument("--open-concurrency", type=int, default=0)
    parser.add_argument("--server-pid", type=int, default=0)


def config_from_arguments(args: Any) -> LoadConfig:
    return LoadConfig(
        sessions=args.sessions,
        duration_s=args.duration,
        episode_steps=args.episode_steps,
        op_timeout_s=args.op_timeout,
        open_concurrency=args.open_concurrency,
        server_pid=args.server_pid,
    )


def emit(result: LoadResult, extra: dict[str, Any]) -> None:
    """Print the result as one JSON line on stdout (the orchestrator reads the last line)."""
    print(json.dumps({**result.summary(), **extra}), flush=True)
    sys.stdout.flush()
