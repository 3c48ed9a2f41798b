"""What every sandbox looks like from inside, whichever backend builds it: the user, the
environment, and the host's system folders and /etc files that are bound in read-only."""

from __future__ import annotations

import os

from agentgym.sandboxes.types import SandboxUnavailable

SANDBOX_UID = 65534
"""uid and gid of the program inside the sandbox ("nobody")."""

WORK_DIR = "/work"
"""The program's working directory inside every sandbox (and its HOME)."""

PROGRAM_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORK_DIR,
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",
    "PYTHONPATH": WORK_DIR,
    "PYTHONDONTWRITEBYTECODE": "1",
}
"""The whole environment of a sandboxed program (none of the caller's variables): modules sent
as files import from /work, as they would from the folder of a script run in place."""

SYSTEM_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
"""Top-level folders that are links into /usr on merged-/usr hosts, or folders of their own."""

ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "ssl", "ca-certificates")
"""The /etc entries programs need (the dynamic loader, `alternatives` links, time zone, CAs)."""

NETWORK_ETC_FILES = ("resolv.conf", "hosts", "nsswitch.conf", "host.conf", "gai.conf")
"""Added when a run has the network."""


def etc_items(network: bool) -> list[str]:
    """The /etc entries bound into the sandbox that exist on this host."""
    names = ETC_FILES + (NETWORK_ETC_FILES if network else ())
    return [name for name in names if os.path.exists(f"/etc/{name}")]


def sandbox_python(python: str) -> str:
    """`python` if it can serve as the interpreter inside a sandbox (an executable under /usr,
    the only host folder bound in), else SandboxUnavailable saying what to do."""
    if not python.startswith("/usr/") or not os.access(python, os.X_OK):
        raise SandboxUnavailable(
            f"the sandbox's Python {python!r} must be an executable under /usr (the only host folder "
            "bound in); install Debian's python3 (`apt-get install python3`) or pass python=..."
        )
    return python
