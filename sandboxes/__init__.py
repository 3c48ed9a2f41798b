"""Code execution backends (bubblewrap, gVisor, Docker, local) and the sandbox service.

    from agentgym.sandboxes import best_available, Limits
    sandbox = best_available()
    result = await sandbox.run("print(1 + 1)", limits=Limits(wall_s=5))
    async with sandbox.session() as session:      # /work lasts across runs
        await session.run("open('a.txt', 'w').write('hi')")
        result = await session.run("cat a.txt", language="bash")

See docs/sandboxes.md for the backends, their isolation and the security test matrix.
"""

from agentgym.sandboxes.base import Sandbox, SandboxSession
from agentgym.sandboxes.pool import SandboxPool
from agentgym.sandboxes.select import available_backends, backend_class, best_available, make_sandbox
from agentgym.sandboxes.types import (
    LANGUAGES,
    ExecResult,
    ExecStatus,
    InvalidPath,
    Limits,
    SandboxError,
    SandboxUnavailable,
    UnsafeBackendRefused,
    UnsupportedLanguage,
)

__all__ = [
    "LANGUAGES",
    "ExecResult",
    "ExecStatus",
    "InvalidPath",
    "Limits",
    "Sandbox",
    "SandboxError",
    "SandboxPool",
    "SandboxSession",
    "SandboxUnavailable",
    "UnsafeBackendRefused",
    "UnsupportedLanguage",
    "available_backends",
    "backend_class",
    "best_available",
    "make_sandbox",
]
