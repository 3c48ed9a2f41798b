"""The main job on embedded defaults: a served environment played by scripted agents.

`agentgym demo` starts `agentgym serve guess-number-v0` as a separate process, plays
`episodes` episodes concurrently through an `EnvPool` with a scripted binary-search agent,
branches one episode with `fork()` over the wire, prints a table of the results and the
server's own step count, and stops the server with SIGTERM (a graceful shutdown). It exits
non-zero if anything in that path misbehaves. (The trainer issue replaces this with a tiny
end-to-end training run.)
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from agentgym.client import EnvPool
from agentgym.env import Env

ENV_ID = "guess-number-v0"
_HINT = re.compile(r"(-?\d+) is too (low|high)")
_RANGE = re.compile(r"between (-?\d+) and (-?\d+)")


@dataclass
class EpisodeOutcome:
    seed: int
    turns: int
    total_reward: float
    terminated: bool
    truncated: bool
    branch: str = "main"


async def play_interval_search(env: Env, outcome: EpisodeOutcome, low: int, high: int, split: float = 0.5) -> EpisodeOutcome:
    """Play until the episode ends, guessing at `split` of the open interval and narrowing it with each hint."""
    while True:
        guess = low + int((high - low) * split)
        result = await env.step(f"My guess is <answer>{guess}</answer>")
        outcome.turns += 1
        outcome.total_reward += result.reward
        hint = _HINT.search(result.observation.text)
        if hint and hint.group(2) == "low":
            low = guess + 1
        elif hint:
            high = guess - 1
        if result.done:
            outcome.terminated, outcome.truncated = result.terminated, result.truncated
            return outcome


async def play_task(pool: EnvPool, seed: int, fork: bool) -> list[EpisodeOutcome]:
    """One episode from `seed` by binary search; with `fork`, the episode is also copied right
    after reset and the copy plays on with a different split, independently, on the server."""
    env = await pool.make(ENV_ID)
    try:
        first = await env.reset(seed=seed)
        low, high = map(int, _RANGE.search(first.text).groups())  # type: ignore[union-attr]
        if not fork:
            return [await play_interval_search(env, EpisodeOutcome(seed, 0, 0.0, False, False), low, high)]
        branch = await env.fork()
        try:
            return list(
                await asyncio.gather(
                    play_interval_search(env, EpisodeOutcome(seed, 0, 0.0, False, False), low, high),
                    play_interval_search(branch, EpisodeOutcome(seed, 0, 0.0, False, False, "fork"), low, high, 0.7),
                )
            )
        finally:
            await branch.close()
    finally:
        await env.close()


def start_server(env_id: str, log_path: Path) -> tuple[subprocess.Popen[str], str]:
    """`agentgym serve env_id` on a free loopback port, logging to `log_path`; returns the
    process and its URL."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "agentgym.cli", "serve", env_id, "--port", "0", "--log-format", "text"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"(http://\S+)", line)
    if not match:
        process.kill()
        raise RuntimeError(f"the server did not start (it printed {line!r}); its log is {log_path}")
    return process, match.group(1)


async def run_demo(episodes: int, console: Console) -> int:
    log_path = Path(tempfile.gettempdir()) / "agentgym-demo-server.log"
    process, url = start_server(ENV_ID, log_path)
    console.print(f"[bold]agentgym demo[/]: serving {ENV_ID} at {url} (pid {process.pid}, log {log_path})")
    try:
        async with EnvPool([url]) as pool:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("playing episodes", total=episodes)
                results: list[EpisodeOutcome] = []

                async def one(seed: int) -> None:
                    results.extend(await play_task(pool, seed, fork=seed == 0))
                    progress.advance(task)

                await asyncio.gather(*(one(seed) for seed in range(episodes)))
        async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
            metrics = await response.text()
        served_steps = sum(float(m) for m in re.findall(r'^agentgym_steps_total\{[^}]*\} (\S+)$', metrics, re.M))
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(process.wait, 30)

    table = Table(title=f"{len(results)} episodes of {ENV_ID}, played over the wire")
    for column in ("seed", "branch", "turns", "return", "terminated", "truncated"):
        table.add_column(column, justify="right" if column in ("seed", "turns", "return") else "left")
    for outcome in sorted(results, key=lambda o: (o.seed, o.branch)):
        table.add_row(
            str(outcome.seed), outcome.branch, str(outcome.turns), f"{outcome.total_reward:.1f}",
            str(outcome.terminated), str(outcome.truncated),
        )
    console.print(table)
    client_steps = sum(o.turns for o in results)
    solved = sum(o.terminated for o in results)
    console.print(
        f"solved {solved}/{len(results)}; steps sent {client_steps}, steps the server counted {served_steps:.0f}; "
        f"server exit code after SIGTERM: {exit_code}"
    )
    healthy = solved == len(results) and client_steps == served_steps and exit_code == 0
    console.print("[green]demo OK[/]" if healthy else "[red]demo FAILED[/]")
    return 0 if healthy else 1
