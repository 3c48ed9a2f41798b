"""Fixtures of the environment-service suites (helpers live in tests/server/helpers.py)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# The test environments are imported as `tests.server.envs`, the name a server subprocess
# uses too (`--import tests.server.serve_envs`), so the repository root must be importable.
_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.server.envs import STEP_CALLS, register_test_envs, unregister_test_envs  # noqa: E402
from tests.server.helpers import LocalServer, ServerProcess, local_server  # noqa: E402


@pytest.fixture(scope="package", autouse=True)
def registered_test_envs() -> Iterator[None]:
    """The test environments are registered while these suites run, and only then."""
    register_test_envs()
    yield
    unregister_test_envs()


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    """An in-process server of every test environment, with default limits (2 s step timeout)."""
    async with local_server() as running:
        yield running


@pytest.fixture(scope="module")
def server_process() -> Iterator[ServerProcess]:
    """One `agentgym serve` subprocess shared by a module's tests."""
    process = ServerProcess("--max-sessions", "256", "--step-timeout", "2")
    yield process
    process.kill()


@pytest.fixture
def step_calls() -> Iterator[Counter[str]]:
    """The in-process counter of real `CountingEnv.step` calls, emptied for the test."""
    STEP_CALLS.clear()
    yield STEP_CALLS
    STEP_CALLS.clear()
