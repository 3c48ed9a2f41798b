"""Fixtures of the web tests: shared browser pools are closed after every test, at the end of
the session no Chromium process started by this test process may be left, and `run_agent`
plays 8 episodes at a time (each holds a browser context)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from agentgym.environments.web import _procs
from agentgym.environments.web.browser import close_shared_pools


@pytest.fixture(autouse=True)
async def _close_shared_browser_pools() -> AsyncIterator[None]:
    yield
    await close_shared_pools()


@pytest.fixture(scope="session", autouse=True)
def _no_chromium_left_behind() -> Iterator[None]:
    yield
    left = _procs.owned_processes()
    _procs.kill(left)
    assert not left, f"Chromium processes started by the web tests were still running: {[r.pid for r in left]}"


@pytest.fixture
def run_agent(run_agent: Callable) -> Callable:
    """tests/conftest.py's `run_agent`, 8 episodes at a time unless a test asks otherwise."""
    return functools.partial(run_agent, concurrency=8)
