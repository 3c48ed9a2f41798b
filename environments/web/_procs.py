"""Finding, measuring and killing the Chromium processes a browser pool started (Linux /proc).

How a launch is recognised: the pool launches every Chromium with two environment variables,
`AGENTGYM_BROWSER_OWNER=<pid of this Python process>` and `AGENTGYM_BROWSER_TOKEN=<unique token>`.
The browser process and its crash handlers (which double-fork away from the tree) inherit them;
the zygotes, renderers and utility processes do not (Chromium clears their environment) but stay
in the browser's process group, whose id is the browser's pid. So the processes of one launch
are: those carrying the token, plus those in the process group of a token carrier.

Without /proc (not Linux) every function here returns nothing and kills nothing: the pool then
relies on Playwright alone to end its browsers.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

OWNER_VAR = "AGENTGYM_BROWSER_OWNER"
TOKEN_VAR = "AGENTGYM_BROWSER_TOKEN"
_PROC = "/proc"


@dataclass(frozen=True)
class ProcRef:
    """One process, named by pid and start time so that a reused pid is never mistaken for it."""

    pid: int
    start_time: int
    pgid: int


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, pgid, start time) of a process, or None when it is gone."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = data.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); pgrp is field 5, starttime field 22
    return fields[0], int(fields[2]), int(fields[19])


def ref(pid: int) -> ProcRef | None:
    """The live process `pid`, or None."""
    stat = _stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return None
    return ProcRef(pid, stat[2], stat[1])


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        with open(f"{_PROC}/{pid}/environ", "rb") as f:
            return needle in f.read()
    except OSError:
        return False


def _is_chromium(pid: int) -> bool:
    try:
        with open(f"{_PROC}/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0", 1)[0]
    except OSError:
        return False
    name = os.path.basename(argv0).lower()
    return b"chrom" in name or b"crashpad" in name or b"headless_shell" in name


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir(_PROC) if name.isdigit()]
    except OSError:
        return []


def alive(ref: ProcRef) -> bool:
    """True while the process runs (a zombie, exited but not yet reaped, counts as gone)."""
    stat = _stat(ref.pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[2] == ref.start_time


def find(env_needle: bytes, groups: tuple[int, ...] = ()) -> list[ProcRef]:
    """Live processes whose environment contains `env_needle` (e.g. b"AGENTGYM_BROWSER_TOKEN=ab12"),
    together with every live Chromium process in the process group of one of them or in one of
    `groups` (a browser's pid: its zygotes and renderers keep that group after it died)."""
    carriers: list[ProcRef] = []
    stats: dict[int, tuple[str, int, int]] = {}
    for pid in _pids():
        stat = _stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            continue
        stats[pid] = stat
        if _environ_has(pid, env_needle):
            carriers.append(ProcRef(pid, stat[2], stat[1]))
    groups = {ref.pid for ref in carriers if ref.pgid == ref.pid} | set(groups)
    found = {ref.pid: ref for ref in carriers}
    for pid, (_state, pgid, start) in stats.items():
        if pgid in groups and pid not in found and _is_chromium(pid):
            found[pid] = ProcRef(pid, start, pgid)
    return sorted(found.values(), key=lambda ref: ref.pid)


def launch_processes(token: str, browser_pid: int | None = None) -> list[ProcRef]:
    """The live processes of one launch (see the module docstring); `browser_pid`, when known,
    also finds the processes left in its group after the browser process itself died."""
    return find(f"{TOKEN_VAR}={token}\0".encode(), (browser_pid,) if browser_pid else ())


def owned_processes(owner_pid: int | None = None) -> list[ProcRef]:
    """The live Chromium processes launched by browser pools of process `owner_pid` (default:
    this process)."""
    return find(f"{OWNER_VAR}={owner_pid or os.getpid()}\0".encode())


def kill(refs: list[ProcRef], sig: int = signal.SIGKILL) -> None:
    """Send `sig` to each process that is still the one named (pid and start time match)."""
    for ref in refs:
        if alive(ref):
            try:
                os.kill(ref.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def wait_gone(refs: list[ProcRef], timeout_s: float) -> list[ProcRef]:
    """Wait up to `timeout_s` for the processes to end; return those still alive."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = [ref for ref in refs if alive(ref)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.02)


def terminate(refs: list[ProcRef], grace_s: float = 2.0) -> list[ProcRef]:
    """Wait `grace_s` for the processes to end by themselves, SIGKILL the rest, and return any
    that still live one second later (normally none)."""
    left = wait_gone(refs, grace_s)
    if left:
        kill(left)
        left = wait_gone(left, 1.0)
    return left


def memory(refs: list[ProcRef]) -> dict[str, int]:
    """Summed `rss` and `pss` (proportional set size: shared pages divided among their users)
    in bytes of the live processes; pss is 0 where smaps_rollup is not readable."""
    rss = pss = 0
    for ref in refs:
        if not alive(ref):
            continue
        try:
            with open(f"{_PROC}/{ref.pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return {"rss": rss, "pss": pss}
