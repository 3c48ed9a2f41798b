"""Work directories kept on the host (for the backends that bind one into the sandbox), safe
file transfer in and out of them, and the unprivileged host uids that sessions run as.

Safety of transfers: the program may leave symlinks in its work directory (pointing at /etc/shadow,
say), folders or FIFOs. A fetched path must resolve, symlinks followed, to a regular file inside
the work directory, or the file is left out; reads never follow a final link or block on a FIFO.
A write replaces whatever the program left in its way (a link, a folder, a FIFO, a file where a
folder should be), so it never follows a link out. No program of the session runs while files
move, so nothing of the session can swap a path between the check and the use.
Malformed paths (absolute outside /work, '..') are refused by `relative_path` before a run
starts. The folder of all sessions must be private to this user (`check_private_folder`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import functools
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from abc import abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path

from agentgym.sandboxes.base import PROGRAM_FILE, Workspace, relative_path
from agentgym.sandboxes.types import ExecResult, Limits, SandboxUnavailable

SANDBOX_DIR_ENV = "AGENTGYM_SANDBOX_DIR"
"""Environment variable naming the folder that holds work directories (default: /dev/shm when
writable, else the temp folder)."""

MAX_WORK_ENTRIES = 100_000
"""Most files and folders a work directory may hold where its size is watched by polling."""

UID_BASE = int(os.environ.get("AGENTGYM_SANDBOX_UID_BASE", 200_000))
"""Sessions started by root run as host uids from UID_BASE up (`$AGENTGYM_SANDBOX_UID_BASE`),
one per live session; pick a range that no user's /etc/subuid range overlaps."""


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
    check_private_folder(root)
    _sweep_once(str(root))
    return root


def check_private_folder(folder: Path) -> None:
    """Raise SandboxUnavailable unless `folder` is a real folder (not a link) that this user owns
    and nobody else may write to: in a shared /dev/shm or /tmp another user could have made it
    first, to redirect the files of sessions."""
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise SandboxUnavailable(
            f"{folder} is not a private folder of this user (a link, another owner, or writable by others); "
            f"remove it, or set {SANDBOX_DIR_ENV} to a folder of your own"
        )


OWNER_FILE = "owner"
"""File in each session folder naming the process that made it: `hostname:pid`."""


@functools.cache
def _sweep_once(root: str, min_age_s: float = 60.0) -> None:
    """Delete session folders left by processes of this host that died without closing them
    (SIGKILL). A folder of another host (a shared folder) is left alone; one without an owner
    file is taken as abandoned only once it is `min_age_s` old."""
    now = time.time()
    for folder in Path(root).glob("session-*"):
        try:
            host, _, pid = (folder / OWNER_FILE).read_text().rpartition(":")
            owner = (host, int(pid))
        except (OSError, ValueError):
            owner = None
            with contextlib.suppress(OSError):
                if now - folder.stat().st_mtime < min_age_s:
                    continue
        if owner is None or (owner[0] == socket.gethostname() and not process_alive(owner[1])):
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


def _is_real_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _remove(path: Path) -> None:
    """Delete whatever is at `path` (nothing, a file, a link, a FIFO, a folder tree)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        path.unlink()


class UidPool:
    """Distinct unprivileged host uids, one per live session, so that per-uid limits (process
    counts) and signals never reach another session or the caller. A uid is held with an
    exclusive lock on a file under `lock_dir`, so separate processes (rollout workers, a
    server's pool) never hand out the same one. A released uid goes to the back of the queue:
    the kernel frees a uid's process and namespace counts a moment after its last process is
    killed, so an immediate reuse could fail with EAGAIN."""

    def __init__(self, base: int = UID_BASE, size: int = 60_000):
        self._free = collections.deque(range(base, base + size))
        self._held: dict[int, int] = {}
        self._lock = threading.Lock()

    @functools.cached_property
    def lock_dir(self) -> Path:
        """One folder for every process of this host (only root hands out uids)."""
        base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
        folder = base / "agentgym-sandbox-uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        check_private_folder(folder)
        return folder

    def acquire(self) -> int:
        with self._lock:
            for _ in range(len(self._free)):
                uid = self._free.popleft()
                fd = os.open(self.lock_dir / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # another process holds it
                    os.close(fd)
                    self._free.append(uid)
                    continue
                self._held[uid] = fd
                return uid
            raise RuntimeError("no free sandbox uid: too many live sandbox sessions")

    def release(self, uid: int) -> None:
        with self._lock:
            fd = self._held.pop(uid, None)
            if fd is not None:
                os.close(fd)  # drops the lock
            self._free.append(uid)


UIDS = UidPool()


class HostWorkspace(Workspace):
    """A session whose work directory is a host folder: `<root>/work` (bound at /work) and
    `<root>/program` (the program's source, read-only in the sandbox). When the caller is root,
    the session runs as its own unprivileged host uid, which owns the work directory."""

    def __init__(self, *, drop_privileges: bool = True):
        self.root = Path(tempfile.mkdtemp(prefix="session-", dir=sandbox_root()))
        os.chmod(self.root, 0o711)
        (self.root / OWNER_FILE).write_text(f"{socket.gethostname()}:{os.getpid()}")
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
        """Host files win: whatever the program left at a path (a link, a folder, a FIFO, a
        file in the place of a folder) is removed first, so a write never follows a link, never
        blocks on a FIFO and never fails on the program's leftovers."""
        for path in files:
            relative_path(path)
        for path, data in files.items():
            parts = relative_path(path).parts
            directory = self.work
            for part in parts[:-1]:
                directory = directory / part
                if not _is_real_folder(directory):
                    _remove(directory)
                    directory.mkdir(mode=0o755)
                    self._own(directory)
            target = directory / parts[-1]
            _remove(target)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            self._own(target)

    def _own(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.uid, follow_symlinks=False)

    async def read_files(self, paths: Iterable[str], max_bytes: int) -> tuple[dict[str, bytes], list[str]]:
        return await asyncio.to_thread(self._read_files, list(paths), max_bytes)

    def _read_files(self, paths: list[str], max_bytes: int) -> tuple[dict[str, bytes], list[str]]:
        found: dict[str, bytes] = {}
        omitted: list[str] = []
        left = max_bytes
        for path in paths:
            host = inside(self.work, path)
            if host is None:
                continue
            try:  # O_NONBLOCK: a FIFO behind the path must not block the read
                fd = os.open(host, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
            except OSError:
                continue
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > left:
                os.close(fd)
                if stat.S_ISREG(info.st_mode):
                    omitted.append(path)
                continue
            with os.fdopen(fd, "rb") as handle:
                data = handle.read(left + 1)
            if len(data) > left:
                omitted.append(path)
                continue
            found[path] = data
            left -= len(data)
        return found, omitted

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
