"""Fixtures of the sandbox suites: one sandbox per isolating backend that runs here (the others
are skipped with the backend's own reason), and a check that nothing a run started survives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentgym.sandboxes import Limits, available_backends, make_sandbox

ISOLATING = {
    "bwrap": ("bwrap", {}),
    "bwrap-rlimits": ("bwrap", {"use_cgroups": False}),  # the fallback where cgroups cannot be made
    "gvisor": ("gvisor", {}),
    "docker": ("docker", {}),
}
"""test id -> (backend, options) of every configuration the security matrix covers."""


def _backend_params() -> list:
    reasons = available_backends()
    params = []
    for test_id, (backend, _) in ISOLATING.items():
        reason = reasons[backend]
        params.append(
            pytest.param(test_id, marks=pytest.mark.skip(reason=f"{backend}: {reason}") if reason else (), id=test_id)
        )
    return params


@pytest.fixture(params=_backend_params())
def sandbox(request):
    """A sandbox of each isolating configuration available here, with tight default limits."""
    backend, options = ISOLATING[request.param]
    return make_sandbox(backend, limits=Limits(wall_s=5, cpu_s=5, memory_mb=256, max_procs=32), **options)


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains `marker` (the test process itself excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry.name))
    return found
