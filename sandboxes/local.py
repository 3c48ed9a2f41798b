"""The `local` backend: runs programs as the caller, in a temporary folder, with rlimits, a wall
clock and a process-group kill, and no isolation at all: the program can read and write
everything the caller can, reach the network, and leave processes behind by starting a new
session. It exists for debugging and for machines where nothing better runs, and refuses to
start unless asked with `allow_unsafe=True`.
"""

from __future__ import annotations

import os
import sys

from agentgym.sandboxes.base import Sandbox, program_argv
from agentgym.sandboxes.hostdir import HostWorkspace
from agentgym.sandboxes.layout import PROGRAM_ENV
from agentgym.sandboxes.process import exec_result, kill_process_group, supervise
from agentgym.sandboxes.rlimits import limited_argv
from agentgym.sandboxes.types import ExecResult, Limits, UnsafeBackendRefused

UNSAFE_MESSAGE = (
    "the local sandbox backend runs code as this user, with no isolation: the code can read your files "
    "and secrets, use the network and leave processes running. Pass allow_unsafe=True (CLI: --allow-unsafe) "
    "only for code you trust; for untrusted code install bubblewrap (`apt-get install bubblewrap`)"
)


class LocalSandbox(Sandbox):
    """Unisolated execution; `python` defaults to the caller's interpreter."""

    name = "local"
    isolation = 0

    def __init__(self, limits: Limits | None = None, *, allow_unsafe: bool = False, python: str = sys.executable):
        if not allow_unsafe:
            raise UnsafeBackendRefused(UNSAFE_MESSAGE)
        super().__init__(limits)
        self.python = python

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return None

    async def _open_workspace(self) -> LocalWorkspace:
        return LocalWorkspace(self.python)


class LocalWorkspace(HostWorkspace):
    def __init__(self, python: str):
        super().__init__(drop_privileges=False)
        self.python = python

    async def run_program(
        self, name: str, language: str, stdin: bytes | None, limits: Limits, network: bool
    ) -> ExecResult:
        argv = limited_argv(
            program_argv(language, str(self.program / name), self.python), limits, None, process_ceiling=None
        )
        work = str(self.work)
        env = {**PROGRAM_ENV, "PATH": os.environ.get("PATH", PROGRAM_ENV["PATH"]), "HOME": work, "PYTHONPATH": work}
        outcome = await supervise(
            argv, stdin=stdin, limits=limits, kill=kill_process_group, env=env, cwd=str(self.work)
        )
        return exec_result(outcome)
