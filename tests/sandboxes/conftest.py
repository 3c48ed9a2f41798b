"""Fixtures of the sandbox suites: one sandbox per isolating backend that runs here (the others
are skipped with the backend's own reason), and a check that nothing a run started survives."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentgym.sandboxes import Limits, available_backends, make_sandbox
from agentgym.sandboxes.hostdir import SANDBOX_DIR_ENV

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


@pytest.fixture(scope="session", autouse=True)
def sandbox_folder() -> Iterator[Path]:
    """This test run's own folder for work directories ($AGENTGYM_SANDBOX_DIR; on /dev/shm and
    traversable by the sandbox uids, as the default is), so that a search for processes naming
    it sees no other process's sandboxes."""
    folder = Path(
        tempfile.mkdtemp(prefix="agentgym-tests-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    )
    folder.chmod(0o711)
    previous = os.environ.get(SANDBOX_DIR_ENV)
    os.environ[SANDBOX_DIR_ENV] = str(folder)
    yield folder
    if previous is None:
        del os.environ[SANDBOX_DIR_ENV]
    else:
        os.environ[SANDBOX_DIR_ENV] = previous
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=_backend_params())
def sandbox(request):
    """A sandbox of each isolating configuration available here, with tight default limits."""
    backend, options = ISOLATING[request.param]
    return make_sandbox(backend, limits=Limits(wall_s=5, cpu_s=5, memory_mb=256, max_procs=32), **options)
