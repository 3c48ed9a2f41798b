"""Work directories kept on the host (for the backends that bind one into the sandbox), safe
file transfer in and out of them, and the unprivileged host uids that sessions run as.

Safety of transfers: the program may leave symlinks in its work directory (pointing at /etc/shadow,
say). Paths are checked before use: a path must be relative and must resolve, symlinks followed,
to a place inside the work directory, or `InvalidPath` is raised (writes), or the file is left
out (fetches). No program of the session runs while files move, so nothing can swap a path
between the check and the use. Malformed paths (absolute outside /work, '..') are refused by
`relative_path` before a run starts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import os
import shutil
import stat
import tempfile
import threading
import time
from abc import abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path

from agentgym.sandboxes.base import PROGRAM_FILE, Workspace, relative_path
from agentgym.sandboxes.types import ExecResult, InvalidPath, Limits

SANDBOX_DIR_ENV = "AGENTGYM_SANDBOX_DIR"
"""Environment variable naming the folder that holds work directories (default: /dev/shm when
writable, else the temp folder)."""

MAX_WORK_ENTRIES = 100_000
"""Most files and folders a work directory may hold where its size is watched by polling."""

UID_BASE = 200_000
"""Sessions started by root run as host uids from UID_BASE up, one per live session."""


def sandbox_root() -> Path:
    """The folder under which sessions' directories are made (created, mode 0711)."""
    configured = os.environ.get(SANDBOX_DIR_ENV)
    if configured:
        base = Path(configured)
    elif os.access("/dev/shm", os.W_OK | os.X_OK):
        base = Path("/dev/shm")
    else:
        base = Path(tempfile.gettempdir())
    root = base / f"agentgym-sandboxes-{os.getuid()}"
    root.mkdir(mode=0o711, exist_ok=True)
    _sweep_once(str(root))
    return root


OWNER_FILE = "owner"
"""File in each session folder holding the pid of the process that made it."""


@functools.cache
def _sweep_once(root: str, min_age_s: float = 60.0) -> None:
    """Delete session folders left by processes that died without closing them (SIGKILL).
    A folder without an owner file is taken as abandoned only once it is `min_age_s` old."""
    now = time.time()
    for folder in Path(root).glob("session-*"):
        try:
            pid = int((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            pid = None
            with contextlib.suppress(OSError):
                if now - folder.stat().st_mtime < min_age_s:
                    continue
        if pid is None or not process_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (signalling it allowed or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def inside(root: Path, path: str) -> Path | None:
    """The host path of `path` if it resolves (symlinks followed) inside `root`, else None."""
    target = root.joinpath(*relative_path(path).parts)
    real_root = os.path.realpath(root)
    real = os.path.realpath(target)
    if real != real_root and real.startswith(real_root + os.sep):
        return Path(real)
    return None


class UidPool:
    """Distinct unprivileged host uids, one per live session, so that per-uid limits (process
    counts) and signals never reach another session or the caller. A released uid goes to the
    back of the queue: the kernel frees a uid's process and namespace counts a moment after its
    last process is killed, so an immediate reuse could fail with EAGAIN."""

    def __init__(self, base: int = UID_BASE, size: int = 60_000):
        self._free = collections.deque(range(base, base + size))
        self._lock = threading.Lock()

    def acquire(self) -> int:
        with self._lock:
            if not self._free:
                raise RuntimeError("no free sandbox uid: too many live sandbox sessions")
            return self._free.popleft()

    def release(self, uid: int) -> None:
        with self._lock:
            self._free.append(uid)


UIDS = UidPool()


class HostWorkspace(Workspace):
    """A session whose work directory is a host folder: `<root>/work` (bound at /work) and
    `<root>/program` (the program's source, read-only in the sandbox). When the caller is root,
    the session runs as its own unprivileged host uid, which owns the work directory."""

    def __init__(self, *, drop_privileges: bool = True):
        self.root = Path(tempfile.mkdtemp(prefix="session-", dir=sandbox_root()))
        os.chmod(self.root, 0o711)
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        self.work = self.root / "work"
        self.program = self.root / "program"
        self.work.mkdir(mode=0o700)
        self.program.mkdir(mode=0o755)
        self.uid: int | None = None
        if drop_privileges and os.getuid() == 0:
            self.uid = UIDS.acquire()
            os.chown(self.work, self.uid, self.uid)

    @property
    def owner(self) -> tuple[int, int]:
        """Host (uid, gid) the session's processes run as."""
        return (self.uid, self.uid) if self.uid is not None else (os.getuid(), os.getgid())

    async def write_files(self, files: Mapping[str, bytes]) -> None:
        await asyncio.to_thread(self._write_files, files)

    def _write_files(self, files: Mapping[str, bytes]) -> None:
        for path, data in files.items():
            parts = relative_path(path).parts
            directory = self.work
            for part in parts[:-1]:
                directory = directory / part
                if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
                    raise InvalidPath(f"file path {path!r}: {part!r} is not a folder in the work directory")
                if not directory.exists():
                    directory.mkdir(mode=0o755)
                    self._own(directory)
            target = directory / parts[-1]
            if target.is_symlink():
                target.unlink()
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            self._own(target)

    def _own(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.uid, follow_symlinks=False)

    async def read_files(self, paths: Iterable[str]) -> dict[str, bytes]:
        return await asyncio.to_thread(self._read_files, list(paths))

    def _read_files(self, paths: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for path in paths:
            host = inside(self.work, path)
            if host is not None and stat.S_ISREG(os.stat(host).st_mode if host.exists() else 0):
                found[path] = host.read_bytes()
        return found

    def over_quota(self, max_bytes: int) -> bool:
        """Whether the work directory holds more than `max_bytes` (allocated) or more than
        MAX_WORK_ENTRIES entries: the disk ceiling of backends that cannot charge it to a cgroup."""
        used, entries = 0, 0
        for folder, subfolders, names in os.walk(self.work):
            entries += len(subfolders) + len(names)
            for name in names:
                with contextlib.suppress(OSError):
                    used += os.lstat(os.path.join(folder, name)).st_blocks * 512
            if used > max_bytes or entries > MAX_WORK_ENTRIES:
                return True
        return False

    def write_program(self, code: str, language: str) -> str:
        """Store the program's source; returns its file name (under /program of the sandbox)."""
        name = PROGRAM_FILE[language]
        for stale in self.program.iterdir():  # the previous run's program, maybe in another language
            stale.unlink()
        (self.program / name).write_text(code, encoding="utf-8")
        os.chmod(self.program / name, 0o644)
        return name

    async def execute(self, code: str, language: str, stdin: bytes | None, limits: Limits, network: bool) -> ExecResult:
        name = self.write_program(code, language)
        return await self.run_program(name, language, stdin, limits, network)

    @abstractmethod
    async def run_program(
        self, name: str, language: str, stdin: bytes | None, limits: Limits, network: bool
    ) -> ExecResult:
        """Run the stored program `name` (in `self.program`) with the work directory as cwd."""

    async def close(self) -> None:
        if self.root.exists():
            await asyncio.to_thread(shutil.rmtree, self.root, True)
        if self.uid is not None:
            UIDS.release(self.uid)
            self.uid = None
