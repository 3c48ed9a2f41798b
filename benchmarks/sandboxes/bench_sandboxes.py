"""Latency and throughput of the sandbox backends beside a plain-subprocess floor.

For every backend that runs here (bwrap, gvisor, docker, local with allow_unsafe=True) and for a
plain `asyncio.create_subprocess_exec(python, "-c", code)` with the interpreter the bwrap backend
uses (the floor: what any way of running a fresh Python process costs), two programs:

- hello: `print('hello')`;
- tests20: a small program that defines a function and runs 20 assert-based unit tests on it,
  printing a summary (the shape of a coding environment's grading run).

Each cell (backend x program x concurrency) runs warm-up executions, then N timed executions,
`concurrency` at a time. Latency is measured per execution from the caller's view
(`await sandbox.run(code)`, a fresh session each: work directory, cgroup, uid, process, cleanup);
exec/s is N divided by the wall time of the cell. Every result is checked (status ok, expected
stdout). Run from the repository root:

    python benchmarks/sandboxes/bench_sandboxes.py --json benchmarks/sandboxes/results/sandboxes.json
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agentgym.sandboxes import Limits, Sandbox, available_backends, backend_class, make_sandbox

FLOOR_PYTHON = "/usr/bin/python3"
"""The interpreter of the floor and of every backend that lets us choose (bwrap's default)."""

HELLO = "print('hello')\n"

TESTS20 = '''\
def roman(n):
    """n as a Roman numeral."""
    values = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
              (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = []
    for value, symbol in values:
        while n >= value:
            out.append(symbol)
            n -= value
    return "".join(out)


CASES = [(1, "I"), (2, "II"), (3, "III"), (4, "IV"), (5, "V"), (6, "VI"), (9, "IX"), (10, "X"),
         (14, "XIV"), (19, "XIX"), (40, "XL"), (44, "XLIV"), (49, "XLIX"), (90, "XC"), (99, "XCIX"),
         (400, "CD"), (444, "CDXLIV"), (900, "CM"), (1994, "MCMXCIV"), (3999, "MMMCMXCIX")]


def make_test(n, expected):
    def test():
        assert roman(n) == expected, f"roman({n}) = {roman(n)!r}, expected {expected!r}"
    test.__name__ = f"test_roman_{n}"
    return test


passed, failed = 0, []
for n, expected in CASES:
    test = make_test(n, expected)
    try:
        test()
        passed += 1
    except AssertionError as error:
        failed.append((test.__name__, str(error)))
for name, message in failed:
    print(f"FAIL {name}: {message}")
print(f"{passed} passed, {len(failed)} failed")
'''

PROGRAMS = {"hello": (HELLO, "hello\n"), "tests20": (TESTS20, "20 passed, 0 failed\n")}
SLOW_BACKENDS = {"gvisor", "docker"}
"""Backends that get `--slow-reps` repetitions instead of `--reps`."""

GOALS = {"p50_ms": 30.0, "execs_per_s": 50.0}
"""bwrap on this machine, hello-world: p50 at concurrency 1 and exec/s at concurrency 8."""


@dataclass
class Cell:
    backend: str
    program: str
    concurrency: int
    reps: int
    wall_s: float
    latencies_ms: list[float] = field(repr=False)
    failures: int = 0
    first_failure: str = ""

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 0.99)

    @property
    def execs_per_s(self) -> float:
        return self.reps / self.wall_s

    def summary(self) -> dict:
        data = asdict(self)
        data.pop("latencies_ms")
        data.update(
            p50_ms=round(self.p50_ms, 3),
            p99_ms=round(self.p99_ms, 3),
            mean_ms=round(statistics.fmean(self.latencies_ms), 3),
            min_ms=round(min(self.latencies_ms), 3),
            max_ms=round(max(self.latencies_ms), 3),
            execs_per_s=round(self.execs_per_s, 2),
        )
        return data


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p99 of 200 values is the 198th smallest)."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(round(q * len(ordered), 9))))
    return ordered[rank - 1]


class Floor:
    """The floor: a bare `python -c code` subprocess with piped output, no sandbox at all."""

    name = "floor"

    async def run(self, code: str) -> tuple[bool, str]:
        process = await asyncio.create_subprocess_exec(
            FLOOR_PYTHON, "-c", code, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        stdout, stderr = await process.communicate()
        return process.returncode == 0, stdout.decode() + stderr.decode()


class Backend:
    """A sandbox backend, each execution `await sandbox.run(code)` in a fresh session."""

    def __init__(self, name: str, sandbox: Sandbox):
        self.name = name
        self.sandbox = sandbox

    async def run(self, code: str) -> tuple[bool, str]:
        result = await self.sandbox.run(code)
        return result.ok, result.stdout + result.stderr


async def run_batch(runner, program: str, concurrency: int, count: int, cell: Cell | None) -> None:
    """`count` executions of `program`, `concurrency` at a time; timed into `cell` (None: warm-up)."""
    code, expected = PROGRAMS[program]
    todo = list(range(count))

    async def worker() -> None:
        while todo:
            todo.pop()
            started = time.perf_counter()
            ok, output = await runner.run(code)
            elapsed = time.perf_counter() - started
            if cell is not None:
                cell.latencies_ms.append(elapsed * 1000)
                if not ok or output != expected:
                    cell.failures += 1
                    cell.first_failure = cell.first_failure or output[-300:]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    if cell is not None:
        cell.wall_s += time.perf_counter() - started
        cell.reps += count


async def measure(runners: list, program: str, concurrency: int, args: argparse.Namespace, console: Console) -> list:
    """One cell per runner, measured in `args.rounds` interleaved rounds (runner A, B, C, A, B, C,
    ...) so that a change in the load of this shared machine falls on every backend alike."""
    cells = [Cell(runner.name, program, concurrency, 0, 0.0, []) for runner in runners]
    for runner in runners:
        await run_batch(runner, program, concurrency, max(args.warmup, concurrency), None)
    for round_index in range(args.rounds):
        for runner, cell in zip(runners, cells, strict=True):
            total = args.slow_reps if runner.name in SLOW_BACKENDS else args.reps
            count = total // args.rounds + (1 if round_index < total % args.rounds else 0)
            if count:
                await run_batch(runner, program, concurrency, count, cell)
    for cell in cells:
        console.print(
            f"{cell.backend:>6} {program:>8} c={concurrency}: p50 {cell.p50_ms:7.1f} ms  "
            f"p99 {cell.p99_ms:7.1f} ms  {cell.execs_per_s:6.1f} exec/s"
            + (f"  [red]{cell.failures} failed[/red]" if cell.failures else "")
        )
    return cells


def machine() -> dict:
    info = {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "bench_python": platform.python_version(),
        "sandbox_python": _version([FLOOR_PYTHON, "--version"]),
        "bwrap": _version(["bwrap", "--version"]),
        "runsc": _version(["runsc", "--version"]).splitlines()[0] if shutil.which("runsc") else None,
        "docker": _version(["docker", "version", "--format", "{{.Server.Version}}"])
        if shutil.which("docker")
        else None,
        "cgroup_mode": _cgroup_mode(),
        "uid": os.getuid(),
        "sandbox_dir_fs": _fs_type("/dev/shm"),
        "loadavg_before": os.getloadavg(),
    }
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unavailable ({error})"
    return (result.stdout or result.stderr).strip() if result.returncode == 0 else "unavailable"


def _cgroup_mode() -> str:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():
        return "v2 (unified)"
    if (root / "unified").is_dir() and (root / "memory").is_dir():
        return "v1 (hybrid: v1 controllers, v2 mounted at /sys/fs/cgroup/unified)"
    if (root / "memory").is_dir():
        return "v1 (legacy)"
    return "none"


def _fs_type(path: str) -> str:
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, mount, fstype, *_ = line.split()
            if path.startswith(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    except OSError:
        pass
    return kind


def runners(names: list[str]) -> tuple[list, dict[str, str]]:
    """The runners for `names` that work here, and why each other one was skipped."""
    skipped: dict[str, str] = {}
    reasons = available_backends()
    found: list = []
    for name in names:
        if name == "floor":
            found.append(Floor())
            continue
        reason = reasons.get(name, f"unknown backend {name!r}")
        if reason is not None and name != "local":
            skipped[name] = reason
            continue
        kwargs: dict = {"limits": Limits()}
        if name == "local":
            kwargs["allow_unsafe"] = True
        if "python" in inspect.signature(backend_class(name)).parameters:
            kwargs["python"] = FLOOR_PYTHON  # the same interpreter as the floor wherever it can be chosen
        try:
            found.append(Backend(name, make_sandbox(name, **kwargs)))
        except Exception as error:  # noqa: BLE001 - a backend that cannot start is reported, not fatal
            skipped[name] = f"{type(error).__name__}: {error}"
    return found, skipped


def render(cells: list[Cell], info: dict, skipped: dict[str, str], console: Console) -> None:
    floor = {(c.program, c.concurrency): c for c in cells if c.backend == "floor"}
    table = Table(title="Sandbox executions: latency per execution (caller's view) and throughput")
    for column in ("backend", "program", "conc.", "n", "p50 ms", "p99 ms", "exec/s", "p50 vs floor", "exec/s vs floor"):
        table.add_column(column, justify="left" if column in ("backend", "program") else "right")
    for cell in cells:
        base = floor.get((cell.program, cell.concurrency))
        p50_ratio = f"{cell.p50_ms / base.p50_ms:.2f}x" if base else "-"
        rate_ratio = f"{cell.execs_per_s / base.execs_per_s:.2f}x" if base else "-"
        name = cell.backend + (f" ({cell.failures} failed)" if cell.failures else "")
        table.add_row(
            name,
            cell.program,
            str(cell.concurrency),
            str(cell.reps),
            f"{cell.p50_ms:.1f}",
            f"{cell.p99_ms:.1f}",
            f"{cell.execs_per_s:.1f}",
            p50_ratio,
            rate_ratio,
        )
    console.print(table)
    console.print(
        f"machine: {info['cpu_count']} cores ({info['cpu_model']}), kernel {info['kernel']}, {info['bwrap']}, "
        f"cgroups {info['cgroup_mode']}, uid {info['uid']}, sandbox python {info['sandbox_python']}, "
        f"load average before {tuple(round(x, 2) for x in info['loadavg_before'])}, "
        f"after {tuple(round(x, 2) for x in info['loadavg_after'])}"
    )
    for name, reason in skipped.items():
        console.print(f"skipped {name}: {reason}")
    for cell in cells:
        if cell.failures:
            console.print(
                f"[red]{cell.backend}/{cell.program}/c{cell.concurrency}: {cell.failures} failed[/red], "
                f"first: {cell.first_failure!r}"
            )
    goals = check_goals(cells)
    for line in goals["lines"]:
        console.print(line)


def check_goals(cells: list[Cell]) -> dict:
    by_key = {(c.backend, c.program, c.concurrency): c for c in cells}
    serial, parallel = by_key.get(("bwrap", "hello", 1)), by_key.get(("bwrap", "hello", 8))
    result: dict = {"lines": []}
    if serial is not None:
        met = serial.p50_ms <= GOALS["p50_ms"]
        result["p50_met"] = met
        result["lines"].append(
            f"goal bwrap hello p50 <= {GOALS['p50_ms']:.0f} ms (concurrency 1): {serial.p50_ms:.1f} ms "
            f"-> {'met' if met else 'MISSED'}"
        )
    if parallel is not None:
        met = parallel.execs_per_s >= GOALS["execs_per_s"]
        result["execs_per_s_met"] = met
        result["lines"].append(
            f"goal bwrap hello >= {GOALS['execs_per_s']:.0f} exec/s (concurrency 8): {parallel.execs_per_s:.1f} "
            f"-> {'met' if met else 'MISSED'}"
        )
    return result


async def main_async(args: argparse.Namespace) -> int:
    console = Console(width=160)
    info = machine()
    found, skipped = runners(args.backends)
    cells: list[Cell] = []
    for concurrency in args.concurrency:
        for program in args.programs:
            cells += await measure(found, program, concurrency, args, console)
    order = {runner.name: index for index, runner in enumerate(found)}
    cells.sort(key=lambda c: (order[c.backend], args.programs.index(c.program), c.concurrency))
    info["loadavg_after"] = os.getloadavg()
    render(cells, info, skipped, console)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": info,
            "skipped": skipped,
            "goals": {k: v for k, v in check_goals(cells).items() if k != "lines"},
            "cells": [cell.summary() for cell in cells],
            "latencies_ms": {
                f"{c.backend}/{c.program}/c{c.concurrency}": [round(x, 3) for x in c.latencies_ms] for c in cells
            },
        }
        path.write_text(json.dumps(payload, indent=2) + "\n")
        console.print(f"saved {path}")
    return 1 if any(cell.failures for cell in cells) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["floor", "bwrap", "gvisor", "docker", "local"],
        help="floor and backend names; those that do not run here are skipped with the reason",
    )
    parser.add_argument("--programs", nargs="+", default=list(PROGRAMS), choices=list(PROGRAMS))
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--reps", type=int, default=200, help="timed executions per cell (fast backends)")
    parser.add_argument("--slow-reps", type=int, default=40, help="timed executions per cell for gvisor and docker")
    parser.add_argument("--warmup", type=int, default=10, help="untimed executions before each cell")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds each cell's executions are split into"
    )
    parser.add_argument("--json", metavar="PATH", help="save machine, summary and every latency as JSON")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
