"""A CPU-time ceiling watched from the host, for sandboxes whose kernel does not enforce
RLIMIT_CPU (gVisor's ptrace platform accounts the time but sends no SIGXCPU).

The CPU time of a run is the user plus system time of a root process (gVisor's Sentry) and all
its descendants (on the ptrace platform, the stub processes in which the program's code runs),
plus what their reaped children used. The watch polls it and calls `on_exceeded` once when it
passes the budget; time of processes that exited unreaped between polls may escape it, which
the wall clock still bounds.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from pathlib import Path

POLL_S = 0.1
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds incl. reaped children) of `pid`, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "; fields[0] is the state
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return int(fields[1]), (utime + stime + cutime + cstime) / _TICKS


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used by `root` and every descendant alive now (0.0 if `root` is gone)."""
    children: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                children.setdefault(found[0], []).append(int(entry))
                used[int(entry)] = found[1]
    total, stack, seen = 0.0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen or pid not in used:
            continue
        seen.add(pid)
        total += used[pid]
        stack.extend(children.get(pid, ()))
    return total


def pids_cpu_seconds(pids: Iterable[int]) -> float:
    """CPU seconds used by the processes `pids` (those still alive) and their reaped children."""
    return sum(found[1] for found in map(_stat, pids) if found is not None)


def pid_from_file(pid_file: Path) -> int | None:
    """The pid written in `pid_file`, or None while it is not there yet."""
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


async def watch_cpu(measure: Callable[[], float | None], budget_s: float, on_exceeded: Callable[[], None]) -> None:
    """Poll `measure()` (CPU seconds of the run, None while unknown; called in a thread) every
    POLL_S and call `on_exceeded()` once it passes `budget_s`. Runs until cancelled or fired."""
    while True:
        await asyncio.sleep(POLL_S)
        used = await asyncio.to_thread(measure)
        if used is not None and used > budget_s:
            on_exceeded()
            return
