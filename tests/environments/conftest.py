"""Fixtures shared by the environment-family tests: evaluate an agent over many seeds, in
process or through a served environment (a real server on loopback)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

import agentgym
from agentgym.agents import Agent, EvaluationReport, evaluate
from agentgym.client import EnvPool
from agentgym.server import create_app


@pytest.fixture
async def serve_envs():
    """`url = await serve_envs(["id", ...])`: serve those ids on a free loopback port for the test."""
    runners: list[web.AppRunner] = []

    async def start(env_ids: list[str]) -> str:
        runner = web.AppRunner(create_app(env_ids))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def run_agent(serve_envs):
    """`report = await run_agent(env_id, make_agent, seeds, remote=False, **env_kwargs)`: one
    episode per seed through the public Env API, in process or (remote=True) over the wire."""

    async def run(
        env_id: str, make_agent: Callable[[int], Agent], seeds: range | list[int], *, remote: bool = False, **env_kwargs: Any
    ) -> EvaluationReport:
        if not remote:
            return await evaluate(lambda: agentgym.make(env_id, **env_kwargs), make_agent, seeds)
        url = await serve_envs([env_id])
        async with EnvPool([url]) as pool:
            return await evaluate(lambda: pool.make(env_id, **env_kwargs), make_agent, seeds)

    return run
