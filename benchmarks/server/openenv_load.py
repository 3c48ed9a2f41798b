"""Load driver for OpenEnv's server, through OpenEnv's own async `EnvClient`.

Runs inside OpenEnv's virtual environment, as its own process (pinned to its own core by
bench.py); prints one JSON line. By hand:

    cd benchmarks/server && /tmp/openenv-venv/bin/python openenv_load.py --url http://127.0.0.1:8001 \
        --sessions 64 --duration 5

OpenEnv has one WebSocket per session: opening a session is connecting a client.
"""

from __future__ import annotations

import argparse
import asyncio

import loadgen
from openenv_echo import EchoAction, EchoClient


class OpenEnvSession:
    """One `EchoClient`: its own WebSocket and its own environment on the server."""

    def __init__(self, url: str) -> None:
        self.client = EchoClient(base_url=url)

    async def open(self) -> None:
        await self.client.connect()

    async def reset(self) -> None:
        await self.client.reset()

    async def step(self, action: str) -> None:
        await self.client.step(EchoAction(message=action))

    async def close(self) -> None:
        await self.client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the server's base URL")
    loadgen.add_common_arguments(parser)
    args = parser.parse_args()
    loadgen.raise_open_files_limit()
    config = loadgen.config_from_arguments(args)
    result = asyncio.run(loadgen.run_load(lambda: OpenEnvSession(args.url), config))
    loadgen.emit(result, {"system": "OpenEnv"})


if __name__ == "__main__":
    main()
