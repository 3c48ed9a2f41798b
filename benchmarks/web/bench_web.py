"""Throughput and memory of the web environments with 1, 4 and 16 concurrent sessions.

For each environment and concurrency N (one asyncio task per environment, all on one event
loop, browser sessions from the loop's shared pool: 2 Chromium processes x 8 contexts):

- resets/s: after one untimed warm-up reset each (it launches Chromium), N workers each reset
  `--resets` times back to back; total resets / wall time.
- steps/s (noop): after one reset, each worker sends `--steps` do-nothing actions (MiniWoB:
  `wait()`, webshop: an unknown click, i.e. an invalid action that still renders the page);
  an episode that ends is reset untimed. Total steps / mean per-worker stepping time.
- steps/s (expert): each worker plays `--episodes` episodes with the environment's scripted
  expert (MiniWoBOracle, WebShopOracle); only step calls are timed. Success rate alongside.
- MiB/session: proportional set size (PSS: shared pages split among their users) and RSS of all
  Chromium processes of the pool while N sessions are open, divided by N.

With `--browsergym-python` it also runs `bench_browsergym.py` under that interpreter (a virtual
environment with browsergym-miniwob and its pinned Playwright) on the same MiniWoB tasks, and
prints both side by side. Usage (see README.md for the recorded numbers):

    python benchmarks/web/bench_web.py [--quick] [--browsergym-python /tmp/bgvenv/bin/python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import agentgym
from agentgym.errors import UnknownEnvironment

MIB = 1024 * 1024


@dataclass
class Row:
    system: str
    env: str
    n: int
    resets_per_s: float = 0.0
    noop_steps_per_s: float = 0.0
    expert_steps_per_s: float | None = None
    success: float | None = None
    pss_mib_per_session: float | None = None
    rss_mib_per_session: float | None = None
    notes: list[str] = field(default_factory=list)


def ensure_registered() -> None:
    """Register the web family if the lead has not added it to FAMILIES yet."""
    try:
        agentgym.spec("webshop-v0")
        agentgym.spec("miniwob/click-button-v0")
        return
    except UnknownEnvironment:
        pass
    from agentgym.environments.web import miniwob, webshop

    for family in (webshop, miniwob):
        try:
            family.register()
        except Exception as exc:  # already registered or a missing dependency: the table says so
            print(f"note: {family.__name__}.register(): {exc}", file=sys.stderr)


def noop_action(env_id: str) -> str:
    return "wait()" if env_id.startswith("miniwob/") else "click[no such button]"


def expert_for(env_id: str):
    if env_id.startswith("miniwob/"):
        from agentgym.environments.web.miniwob.oracle import MiniWoBOracle

        return MiniWoBOracle(env_id.split("/", 1)[1].rsplit("-v", 1)[0])
    from agentgym.environments.web.webshop.agents import WebShopOracle

    return WebShopOracle()


async def measure(env_id: str, n: int, resets: int, steps: int, episodes: int) -> Row:
    from agentgym.environments.web.browser import close_shared_pools, shared_pool

    row = Row("agentgym", env_id, n)
    envs = [agentgym.make(env_id) for _ in range(n)]
    try:
        # warm-up (untimed): the first reset launches Chromium / builds the catalogue
        await asyncio.gather(*(env.reset(seed=i) for i, env in enumerate(envs)))

        # resets
        async def resetter(i: int) -> None:
            for r in range(resets):
                await envs[i].reset(seed=1000 * i + r)

        start = time.perf_counter()
        await asyncio.gather(*(resetter(i) for i in range(n)))
        row.resets_per_s = n * resets / (time.perf_counter() - start)

        # memory with n sessions open
        pool = shared_pool()
        if pool.browser_pids():
            mem = pool.memory()
            row.pss_mib_per_session = mem["pss"] / MIB / n
            row.rss_mib_per_session = mem["rss"] / MIB / n

        # noop steps
        async def stepper(i: int) -> float:
            busy = 0.0
            obs_seed = 5000 + i
            await envs[i].reset(seed=obs_seed)
            for _ in range(steps):
                t = time.perf_counter()
                result = await envs[i].step(noop_action(env_id))
                busy += time.perf_counter() - t
                if result.terminated or result.truncated:
                    obs_seed += 1
                    await envs[i].reset(seed=obs_seed)
            return busy

        busy = await asyncio.gather(*(stepper(i) for i in range(n)))
        row.noop_steps_per_s = n * steps / statistics.mean(busy)

        # expert episodes
        async def player(i: int) -> tuple[int, float, int]:
            agent = expert_for(env_id)
            done_steps, busy, wins = 0, 0.0, 0
            for e in range(episodes):
                obs = await envs[i].reset(seed=9000 + 100 * i + e)
                agent.reset(obs, envs[i].system_prompt)
                while True:
                    action = agent.act(obs)
                    t = time.perf_counter()
                    result = await envs[i].step(action)
                    busy += time.perf_counter() - t
                    done_steps += 1
                    obs = result.observation
                    if result.terminated or result.truncated:
                        wins += bool(result.info.get("success"))
                        break
            return done_steps, busy, wins

        if episodes:
            played = await asyncio.gather(*(player(i) for i in range(n)))
            total = sum(p[0] for p in played)
            row.expert_steps_per_s = total / statistics.mean(p[1] for p in played)
            row.success = sum(p[2] for p in played) / (n * episodes)
    finally:
        for env in envs:
            await env.close()
        await close_shared_pools()
    return row


def run_browsergym(python: str, tasks: list[str], ns: list[int], resets: int, steps: int) -> list[Row]:
    script = Path(__file__).with_name("bench_browsergym.py")
    cmd = [python, str(script), "--tasks", *tasks, "--n", *map(str, ns), "--resets", str(resets), "--steps", str(steps)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"BrowserGym run failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        return []
    rows = []
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            data = json.loads(line)
            rows.append(Row(**data))
    return rows


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(rows: list[Row]) -> None:
    header = (
        "| system | env | N | resets/s | noop steps/s | expert steps/s | success | PSS MiB/session | RSS MiB/session |"
    )
    print(header)
    print("|" + "---|" * 9)
    for r in rows:
        print(
            f"| {r.system} | {r.env} | {r.n} | {fmt(r.resets_per_s)} | {fmt(r.noop_steps_per_s)} | "
            f"{fmt(r.expert_steps_per_s)} | {fmt(r.success, 2)} | {fmt(r.pss_mib_per_session, 0)} | "
            f"{fmt(r.rss_mib_per_session, 0)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="*", default=None)
    parser.add_argument("--n", nargs="*", type=int, default=[1, 4, 16])
    parser.add_argument("--resets", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--browsergym-python", default=None, help="interpreter with browsergym-miniwob installed")
    parser.add_argument("--browsergym-n", nargs="*", type=int, default=[1, 4])
    args = parser.parse_args()
    if args.quick:
        args.resets, args.steps, args.episodes = 2, 4, 1
    ensure_registered()
    env_ids = args.envs or ["webshop-v0", "webshop-browser-v0", "miniwob/click-button-v0", "miniwob/enter-text-v0"]
    print(
        f"# machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows: list[Row] = []
    for env_id in env_ids:
        try:
            agentgym.spec(env_id)
        except UnknownEnvironment:
            print(f"skip {env_id}: not registered", file=sys.stderr)
            continue
        for n in args.n:
            row = asyncio.run(measure(env_id, n, args.resets, args.steps, args.episodes))
            print(json.dumps(row.__dict__), flush=True)
            rows.append(row)
    if args.browsergym_python:
        tasks = [e.split("/", 1)[1].rsplit("-v", 1)[0] for e in env_ids if e.startswith("miniwob/")]
        for row in run_browsergym(args.browsergym_python, tasks, args.browsergym_n, args.resets, args.steps):
            print(json.dumps(row.__dict__), flush=True)
            rows.append(row)
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
