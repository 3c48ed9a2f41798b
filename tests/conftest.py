"""Fixtures shared by the test suites (helpers that are not fixtures live in support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import agentgym
from agentgym import registration


@pytest.fixture
def scratch_registry() -> Iterator[Callable[..., agentgym.EnvSpec]]:
    """`agentgym.register` for one test: every id it registers (and any other change to the
    registry) is undone afterwards. Plugins are loaded first, so the snapshot includes them."""
    registration.load_plugins()
    snapshot = dict(registration._registry)
    yield agentgym.register
    registration._registry.clear()
    registration._registry.update(snapshot)
