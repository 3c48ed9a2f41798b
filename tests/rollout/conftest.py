"""Fixtures of the rollout suites: the tiny model's tokenizer, the test environments, and a
real environment server on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from rollout_support import OPEN, StepsEnv, UnforkableStepsEnv

import agentgym
from agentgym import registration
from agentgym.server import ServerLimits, create_app

TEST_ENVS = {
    "rollouttest/steps-v0": dict(entry_point=StepsEnv, capabilities={"fork": True}),
    "rollouttest/steps-limited-v0": dict(entry_point=StepsEnv, max_turns=2, capabilities={"fork": True}, length=5),
    "rollouttest/unforkable-v0": dict(entry_point=UnforkableStepsEnv),
}


@pytest.fixture(scope="module", autouse=True)
def rollout_test_envs() -> Iterator[None]:
    """The test environments are registered while each module of these suites runs, and only
    then (other suites list the registry and must not see them)."""
    registration.load_plugins()
    for env_id, spec in TEST_ENVS.items():
        agentgym.register(env_id, **spec)
    yield
    for env_id in TEST_ENVS:
        registration._registry.pop(env_id, None)


@pytest.fixture(autouse=True)
def no_env_left_open() -> Iterator[None]:
    """Every test closes every StepsEnv it made (in process or behind a server)."""
    OPEN.clear()
    yield
    assert not OPEN, f"{len(OPEN)} environments were left open"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch", reason="the tiny chat model needs torch (pip install 'agentgym[train]')")
    pytest.importorskip("transformers", reason="the tiny chat model needs transformers (pip install 'agentgym[train]')")
    from agentgym.policies.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-chat-model"))


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


class Served:
    """A real agentgym server on 127.0.0.1 (port 0) in this event loop; `stop()` takes it down."""

    def __init__(self, runner: web.AppRunner):
        self.runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self.stopped = False

    @property
    def sessions(self) -> int:
        from agentgym.server.app import MANAGER

        return len(self.runner.app[MANAGER].sessions)

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.runner.cleanup()


@pytest.fixture
async def serve() -> AsyncIterator:
    """`served = await serve(["id", ...])`: serve those ids for the test (stopped afterwards)."""
    servers: list[Served] = []

    async def start(env_ids: list[str], **limits) -> Served:
        runner = web.AppRunner(create_app(env_ids, ServerLimits(**limits), shutdown_timeout_s=2.0))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        served = Served(runner)
        servers.append(served)
        return served

    yield start
    for served in servers:
        await served.stop()
