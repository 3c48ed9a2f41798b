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
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from agentgym.agents import EpisodeReport, play_from
from agentgym.client import EnvPool
from agentgym.environments.guess_number import GuessNumberSolver

ENV_ID = "guess-number-v0"


async def play_task(pool: EnvPool, seed: int, fork: bool) -> list[tuple[str, EpisodeReport]]:
    """One episode from `seed` with the binary-search expert; with `fork`, the episode is also
    copied right after reset and the copy plays on with a different split, independently."""
    env = await pool.make(ENV_ID)
    try:
        first = await env.reset(seed=seed)
        expert = GuessNumberSolver()
        expert.reset(first, env.system_prompt)
        if not fork:
            return [("main", await play_from(env, expert, first, EpisodeReport(seed)))]
        branch = await env.fork()
        try:
            other = GuessNumberSolver(split=0.7)
            other.reset(first, env.system_prompt)
            main, forked = await asyncio.gather(
                play_from(env, expert, first, EpisodeReport(seed)),
                play_from(branch, other, first, EpisodeReport(seed)),
            )
            return [("main", main), ("fork", forked)]
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
                results: list[tuple[str, EpisodeReport]] = []

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
    for branch, report in sorted(results, key=lambda item: (item[1].seed, item[0])):
        table.add_row(
            str(report.seed), branch, str(report.turns), f"{report.total_reward:.1f}",
            str(report.terminated), str(report.truncated),
        )
    console.print(table)
    client_steps = sum(report.turns for _, report in results)
    solved = sum(report.success for _, report in results)
    console.print(
        f"solved {solved}/{len(results)}; steps sent {client_steps}, steps the server counted {served_steps:.0f}; "
        f"server exit code after SIGTERM: {exit_code}"
    )
    healthy = solved == len(results) and client_steps == served_steps and exit_code == 0
    console.print("[green]demo OK[/]" if healthy else "[red]demo FAILED[/]")
    return 0 if healthy else 1
