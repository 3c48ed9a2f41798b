"""OCI bundles for the gVisor backend: a read-only skeleton root file system and the runtime
spec (config.json) of one run, built from `Limits` (https://github.com/opencontainers/runtime-spec).

The bundle holds no host files of its own: `/usr` (and the /bin, /lib links), a few /etc files,
the session's work directory and its program are bind mounts listed in the spec, so the rootfs
is only empty mount points and symlinks that mirror the host's (`/bin -> usr/bin`, ...).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from agentgym.sandboxes.layout import PROGRAM_ENV, SANDBOX_UID, SYSTEM_LINKS, etc_items

MOUNT_POINTS = ("usr", "etc", "proc", "dev", "sys", "tmp", "work", "program")
NOFILE = 1024
"""Open files per process inside the sandbox."""


def make_rootfs(rootfs: Path) -> None:
    """Create the skeleton root file system at `rootfs`: empty, read-only mount points, the host's
    top-level links (`bin -> usr/bin`) or a mount point where the host has a real folder, and
    a placeholder under etc/ for every /etc entry that may be bound (file or folder, like the
    host's). Nothing in it is writable by anyone but its owner, and it is mounted read-only."""
    rootfs.mkdir(mode=0o755)
    for name in MOUNT_POINTS:
        (rootfs / name).mkdir(mode=0o755)
    for name in SYSTEM_LINKS:
        host = Path("/") / name
        if host.is_symlink():
            os.symlink(os.readlink(host), rootfs / name)
        elif host.is_dir():
            (rootfs / name).mkdir(mode=0o755)
    for name in etc_items(network=True):
        placeholder = rootfs / "etc" / name
        if os.path.isdir(f"/etc/{name}"):
            placeholder.mkdir(mode=0o755)
        else:
            placeholder.touch(mode=0o644)


def system_dirs() -> list[str]:
    """Top-level host folders (not links) among SYSTEM_LINKS, bound read-only like /usr."""
    return [f"/{name}" for name in SYSTEM_LINKS if os.path.isdir(f"/{name}") and not os.path.islink(f"/{name}")]


def _bind(source: str, destination: str, *, writable: bool = False) -> dict:
    options = ["rbind", "rw" if writable else "ro", "nosuid", "nodev"]
    return {"destination": destination, "type": "bind", "source": source, "options": options}


def rlimits(*, cpu_s: float, max_file_bytes: int, max_procs: int, memory_bytes: int | None) -> list[dict]:
    """The process rlimits, enforced by gVisor's kernel inside the sandbox: CPU seconds (SIGXCPU
    at the limit, SIGKILL a second later; reported to the program, though gVisor 2022 releases
    do not act on it, hence the host-side watch in `cputime`), the largest file, no core dumps, open files, tasks of
    the sandbox user (RLIMIT_NPROC: exact, since that user runs nothing else in the sandbox) and,
    when `memory_bytes` is given (no control group), the address space of each process."""
    cpu = max(1, math.ceil(cpu_s))
    limits = [
        ("RLIMIT_CPU", cpu, cpu + 1),
        ("RLIMIT_FSIZE", max_file_bytes, max_file_bytes),
        ("RLIMIT_CORE", 0, 0),
        ("RLIMIT_NOFILE", NOFILE, NOFILE),
        ("RLIMIT_NPROC", max_procs, max_procs),
    ]
    if memory_bytes is not None:
        limits.append(("RLIMIT_AS", memory_bytes, memory_bytes))
    return [{"type": kind, "soft": soft, "hard": hard} for kind, soft, hard in limits]


def runtime_spec(
    *,
    argv: list[str],
    work: Path,
    program: Path,
    network: bool,
    process_rlimits: list[dict],
    memory_bytes: int,
    uid: int = SANDBOX_UID,
) -> dict:
    """The config.json of one run. The root (the bundle's `rootfs`) is read-only; /usr, the
    system folders and the /etc entries are read-only binds; /work (the session's `work`) is
    the only writable host folder; /program (`program`) is read-only; /tmp is a tmpfs in the
    sandbox's memory; /proc, /dev and /sys are gVisor's own. The process runs as `uid`:`uid`
    with no capabilities, no new privileges, a minimal environment and `process_rlimits`.
    Every namespace is new, the network one included unless `network` (then the sandbox uses
    the host's network through gVisor's own stack). `memory_bytes` sizes the memory gVisor
    reports to the program; the ceiling itself is the host control group around the sandbox."""
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
        _bind("/usr", "/usr"),
        *(_bind(folder, folder) for folder in system_dirs()),
        *(_bind(f"/etc/{name}", f"/etc/{name}") for name in etc_items(network)),
        _bind(str(work), "/work", writable=True),
        _bind(str(program), "/program"),
    ]
    namespaces = [{"type": kind} for kind in ("pid", "ipc", "uts", "mount")]
    if not network:
        namespaces.append({"type": "network"})
    env = [f"{name}={value}" for name, value in PROGRAM_ENV.items()]
    no_capabilities: dict[str, list[str]] = {
        key: [] for key in ("bounding", "effective", "inheritable", "permitted", "ambient")
    }
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": uid, "additionalGids": []},
            "args": list(argv),
            "env": env,
            "cwd": "/work",
            "capabilities": no_capabilities,
            "rlimits": process_rlimits,
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "sandbox",
        "mounts": mounts,
        "linux": {"namespaces": namespaces, "resources": {"memory": {"limit": memory_bytes}}},
    }
