"""Where the time of one bubblewrap execution goes (the profile behind README.md's findings).

Three measurements, each printed as a table:

1. phases of `BwrapSandbox.run` (sequential hello-worlds), timed by wrapping the backend's own
   functions: workspace create, cgroup create/chown/remove, the supervised process, cleanup;
2. the launch chain built up step by step, variants interleaved round-robin so that the load of
   a shared machine falls on all alike: bare python, + uid drop, + bwrap, + the sh rlimit
   prelude, + a fresh per-run cgroup, the full `sandbox.run`;
3. the latency of joining a cgroup (a write to `cgroup.procs`) against the time since the last
   join on the machine: the kernel takes a global lock whose write side waits for an RCU grace
   period unless another join happened moments before.

Uses the backend's internals (not the public API); needs root and cgroups for parts 1 and 3.
Run from the repository root:

    python benchmarks/sandboxes/profile_bwrap.py --rounds 60
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import statistics
import subprocess
import time
import uuid

from agentgym.sandboxes import Limits
from agentgym.sandboxes import bwrap as bwrap_module
from agentgym.sandboxes import cgroups as cgroups_module
from agentgym.sandboxes import hostdir as hostdir_module
from agentgym.sandboxes.bwrap import BwrapSandbox, BwrapWorkspace
from agentgym.sandboxes.process import kill_process_group, supervise
from agentgym.sandboxes.rlimits import limited_argv

HELLO = "print('hello')\n"
PYTHON = "/usr/bin/python3"


def quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    p10 = ordered[len(ordered) // 10]
    return f"p10 {p10:7.2f}  p50 {statistics.median(ordered):7.2f}  mean {statistics.fmean(ordered):7.2f} ms"


async def phases(rounds: int) -> None:
    times: dict[str, list[float]] = collections.defaultdict(list)

    def timed(name, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                times[name].append((time.perf_counter() - started) * 1000)

        return wrapper

    def atimed(name, function):
        @functools.wraps(function)
        async def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                times[name].append((time.perf_counter() - started) * 1000)

        return wrapper

    patches = [
        (hostdir_module.HostWorkspace, "__init__", timed, "workspace create (mkdtemp, uid, chown)"),
        (hostdir_module.HostWorkspace, "write_program", timed, "write program"),
        (cgroups_module.CgroupManager, "create", timed, "cgroup create (mkdir, limits)"),
        (cgroups_module.RunCgroup, "chown", timed, "cgroup chown"),
        (bwrap_module, "supervise", atimed, "supervise (sh + bwrap + python, to exit)"),
        (cgroups_module.RunCgroup, "oom_killed", timed, "cgroup oom check"),
        (cgroups_module.RunCgroup, "remove", timed, "cgroup remove (kill_all + rmdir)"),
        (hostdir_module.HostWorkspace, "close", atimed, "workspace close (rmtree, uid release)"),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _, _ in patches]
    for owner, name, wrap, label in patches:
        setattr(owner, name, wrap(label, getattr(owner, name)))
    try:
        sandbox = BwrapSandbox(python=PYTHON)
        for _ in range(5):
            await sandbox.run(HELLO)
        times.clear()
        for _ in range(rounds):
            started = time.perf_counter()
            result = await sandbox.run(HELLO)
            times["TOTAL sandbox.run"].append((time.perf_counter() - started) * 1000)
            assert result.ok, result
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
    print(
        f"\n1. phases of BwrapSandbox.run, hello-world, {rounds} sequential runs (cgroups: v{sandbox.cgroups.version if sandbox.cgroups else 'none, rlimits'})"
    )
    for label, values in times.items():
        print(f"  {label:44s} {quantiles(values)}")


async def chain(rounds: int) -> None:
    sandbox = BwrapSandbox(python=PYTHON)
    limits = Limits()
    workspace = BwrapWorkspace(sandbox)
    name = workspace.write_program(HELLO, "python")
    argv = workspace.bwrap_argv(name, "python", limits, False)
    drop = {"user": workspace.uid, "group": workspace.uid, "extra_groups": []} if workspace.uid is not None else {}

    async def bare(**kwargs) -> None:
        process = await asyncio.create_subprocess_exec(
            PYTHON, "-c", HELLO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs
        )
        await process.communicate()

    async def supervised(command: list[str]) -> None:
        for attempt in range(4):  # the backend's own retry of a transient EAGAIN (the uid's counts freed late)
            outcome = await supervise(
                command, stdin=None, limits=limits, kill=kill_process_group, env={}, cwd="/", **drop
            )
            if b"Resource temporarily unavailable" not in outcome.stderr:
                break
            await asyncio.sleep(0.05 * 2**attempt)
        assert outcome.exit_code == 0, outcome

    async def with_cgroup() -> None:
        cgroup = await asyncio.to_thread(sandbox.cgroups.create, limits.memory_mb << 20, limits.max_procs)
        cgroup.chown(*workspace.owner)
        try:
            await supervised(limited_argv(argv, limits, cgroup, process_ceiling=limits.max_procs))
        finally:
            await asyncio.to_thread(cgroup.remove)

    async def full() -> None:
        assert (await sandbox.run(HELLO)).ok

    variants = {
        "python -c (the floor)": bare,
        "+ uid drop (fork instead of vfork)": lambda: bare(**drop),
        "+ bwrap": lambda: supervised(argv),
        "+ sh rlimit prelude": lambda: supervised(limited_argv(argv, limits, None, process_ceiling=limits.max_procs)),
    }
    if sandbox.cgroups is not None:
        variants["+ fresh cgroup (join, remove)"] = with_cgroup
    variants["sandbox.run (+ workspace, cleanup)"] = full
    times: dict[str, list[float]] = collections.defaultdict(list)
    for index in range(rounds + 3):
        for label, run in variants.items():
            started = time.perf_counter()
            await run()
            if index >= 3:
                times[label].append((time.perf_counter() - started) * 1000)
    await workspace.close()
    print(f"\n2. the launch chain, hello-world, {rounds} interleaved rounds")
    for label, values in times.items():
        print(f"  {label:44s} {quantiles(values)}")


def join_latency(rounds: int) -> None:
    manager = bwrap_module._cgroups()
    if manager is None:
        print("\n3. skipped: no writable cgroup hierarchy (not root?)")
        return
    parent = manager.parents[0]
    groups = [parent / f"profile-{uuid.uuid4().hex}" for _ in range(2)]
    for group in groups:
        group.mkdir()
    sleeper = subprocess.Popen(["sleep", "600"])
    print(f"\n3. joining a cgroup (write to cgroup.procs of {parent}) after a gap without joins, {rounds} each")
    try:
        for gap_ms in (0, 5, 10, 20, 50, 100):
            values = []
            for index in range(rounds):
                time.sleep(gap_ms / 1000)
                started = time.perf_counter()
                (groups[index % 2] / "cgroup.procs").write_text(str(sleeper.pid))
                values.append((time.perf_counter() - started) * 1000)
            print(f"  gap {gap_ms:3d} ms: {quantiles(values)}  max {max(values):6.2f}")
    finally:
        sleeper.kill()
        sleeper.wait()
        for group in groups:
            for _ in range(100):
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(phases(args.rounds))
    asyncio.run(chain(args.rounds))
    join_latency(min(args.rounds, 30))


if __name__ == "__main__":
    main()
