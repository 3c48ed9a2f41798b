"""Load driver for agentgym: in-process (`agentgym.make`) or remote (`EnvPool` over WebSocket).

Run by bench.py as its own process (pinned to its own core); prints one JSON line. By hand:

    PYTHONPATH=benchmarks/server python benchmarks/server/agentgym_load.py inprocess --sessions 64 --duration 5
    PYTHONPATH=benchmarks/server python benchmarks/server/agentgym_load.py remote --url http://127.0.0.1:8000 \
        --connections 4 --sessions 64 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio

import echo_env
import loadgen

import agentgym
from agentgym.client import EnvPool
from agentgym.env import Env


class InProcessSession:
    """An echo environment made in this process, stepped directly."""

    def __init__(self) -> None:
        self.env: Env | None = None

    async def open(self) -> None:
        self.env = agentgym.make(echo_env.ENV_ID)

    async def reset(self) -> None:
        await self.env.reset()  # type: ignore[union-attr]

    async def step(self, action: str) -> None:
        await self.env.step(action)  # type: ignore[union-attr]

    async def close(self) -> None:
        await self.env.close()  # type: ignore[union-attr]


class RemoteSession(InProcessSession):
    """An echo environment session on an agentgym server, opened through a shared `EnvPool`."""

    def __init__(self, pool: EnvPool) -> None:
        super().__init__()
        self.pool = pool

    async def open(self) -> None:
        self.env = await self.pool.make(echo_env.ENV_ID)


async def run_inprocess(config: loadgen.LoadConfig) -> loadgen.LoadResult:
    return await loadgen.run_load(InProcessSession, config)


async def run_remote(config: loadgen.LoadConfig, url: str, connections: int) -> loadgen.LoadResult:
    async with EnvPool([url], connections_per_server=connections) as pool:
        return await loadgen.run_load(lambda: RemoteSession(pool), config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["inprocess", "remote"])
    parser.add_argument("--url", help="the server's base URL (remote mode)")
    parser.add_argument(
        "--connections", type=int, default=1, help="WebSockets to the server (EnvPool connections_per_server)"
    )
    loadgen.add_common_arguments(parser)
    args = parser.parse_args()
    loadgen.raise_open_files_limit()
    config = loadgen.config_from_arguments(args)
    if args.mode == "inprocess":
        result = asyncio.run(run_inprocess(config))
        loadgen.emit(result, {"system": "agentgym in-process"})
    else:
        result = asyncio.run(run_remote(config, args.url, args.connections))
        loadgen.emit(result, {"system": "agentgym remote", "connections": args.connections})


if __name__ == "__main__":
    main()
