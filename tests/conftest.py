"""Fixtures shared by the test suites (helpers that are not fixtures live in support.py):
a scratch registry, and evaluating an agent over many seeds in process or through a served
environment (a real server on loopback)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

import agentgym
from agentgym import registration
from agentgym.agents import Agent, EvaluationReport, evaluate
from agentgym.client import EnvPool
from agentgym.server import create_app


@pytest.fixture
def scratch_registry() -> Iterator[Callable[..., agentgym.EnvSpec]]:
    """`agentgym.register` for one test: every id it registers (and any other change to the
    registry) is undone afterwards. Plugins are loaded first, so the snapshot includes them."""
    registration.load_plugins()
    snapshot = dict(registration._registry)
    yield agentgym.register
    registration._registry.clear()
    registration._registry.update(snapshot)


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
    """`report = await run_agent(env_id, make_agent, seeds, remote=False, concurrency=16, **env_kwargs)`:
    one episode per seed through the public Env API, in process or (remote=True) over the wire."""

    async def run(
        env_id: str,
        make_agent: Callable[[int], Agent],
        seeds: range | list[int],
        *,
        remote: bool = False,
        concurrency: int = 16,
        **env_kwargs: Any,
    ) -> EvaluationReport:
        if not remote:
            return await evaluate(
                lambda: agentgym.make(env_id, **env_kwargs), make_agent, seeds, concurrency=concurrency
            )
        url = await serve_envs([env_id])
        async with EnvPool([url]) as pool:
            return await evaluate(lambda: pool.make(env_id, **env_kwargs), make_agent, seeds, concurrency=concurrency)

    return run
