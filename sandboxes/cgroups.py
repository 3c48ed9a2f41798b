"""Per-run control groups: a memory and a process-count ceiling for a run and all its children,
a record of out-of-memory kills, and a kill of every process in the group.

cgroup v2 (a unified hierarchy with the memory and pids controllers) and v1 (separate memory and
pids hierarchies) are both handled. Creating groups needs write access to the hierarchy (root,
or a delegated subtree); where there is none, `CgroupManager.detect()` returns None and the
backends fall back to per-process rlimits (see docs/sandboxes.md).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP_NAME = "agentgym-sandboxes"


@dataclass
class RunCgroup:
    """The control groups of one run (one directory in v2, one per controller in v1)."""

    dirs: list[Path]
    version: int

    @property
    def procs_files(self) -> list[Path]:
        """The `cgroup.procs` files a process writes its pid to, to join the group."""
        return [d / "cgroup.procs" for d in self.dirs]

    def chown(self, uid: int, gid: int) -> None:
        """Let a process of `uid` move itself into the group."""
        for path in self.procs_files:
            os.chown(path, uid, gid)

    def oom_killed(self) -> bool:
        """Whether the memory limit killed a process of the run."""
        if self.version == 2:
            events = _read_keyed(self.dirs[0] / "memory.events")
            return events.get("oom_kill", 0) > 0 or events.get("oom", 0) > 0
        return _read_keyed(self.dirs[0] / "memory.oom_control").get("oom_kill", 0) > 0

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.procs_files:
            with contextlib.suppress(OSError):
                found.update(int(line) for line in path.read_text().split())
        return found

    def kill_all(self, timeout_s: float = 2.0) -> bool:
        """SIGKILL every process in the group until it is empty; False if some survived."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.dirs[0] / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + timeout_s
        while pids := self.pids():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                log.error("processes %s survived a kill of cgroup %s", sorted(pids), self.dirs[0])
                return False
            time.sleep(0.005)
        return True

    def remove(self) -> None:
        """Kill what is left and delete the group."""
        self.kill_all()
        for directory in self.dirs:
            for _ in range(100):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still busy for a moment after the last process exits
                    time.sleep(0.01)


class CgroupManager:
    """Creates `RunCgroup`s under `agentgym-sandboxes/` in the writable hierarchy."""

    def __init__(self, version: int, parents: list[Path]):
        self.version = version
        self.parents = parents

    @classmethod
    def detect(cls, root: Path = CGROUP_ROOT) -> CgroupManager | None:
        """The manager for this machine's hierarchy, or None where groups cannot be made."""
        try:
            if (root / "cgroup.controllers").exists():
                return cls._detect_v2(root)
            if (root / "memory").is_dir() and (root / "pids").is_dir():
                parents = [root / "memory" / GROUP_NAME, root / "pids" / GROUP_NAME]
                for parent in parents:
                    parent.mkdir(exist_ok=True)
                return cls(1, parents).sweep()
        except OSError as error:
            log.info("cgroups not usable (%s); falling back to rlimits", error)
        return None

    @classmethod
    def _detect_v2(cls, root: Path) -> CgroupManager | None:
        if not {"memory", "pids"} <= set((root / "cgroup.controllers").read_text().split()):
            return None
        parent = root / GROUP_NAME
        parent.mkdir(exist_ok=True)
        for directory in (root, parent):
            enabled = set((directory / "cgroup.subtree_control").read_text().split())
            if not {"memory", "pids"} <= enabled:
                (directory / "cgroup.subtree_control").write_text("+memory +pids")
        return cls(2, [parent]).sweep()

    def sweep(self, min_age_s: float = 60.0) -> CgroupManager:
        """Delete empty groups older than `min_age_s` left by processes that died mid-run."""
        now = time.time()
        for parent in self.parents:
            for child in parent.iterdir():
                with contextlib.suppress(OSError):
                    if child.is_dir() and now - child.stat().st_mtime > min_age_s:
                        child.rmdir()  # fails, as it should, while a process is inside
        return self

    def create(self, memory_bytes: int, max_procs: int) -> RunCgroup:
        """A new group with these ceilings (swap counted in memory where the kernel can)."""
        name = uuid.uuid4().hex
        dirs = [parent / name for parent in self.parents]
        for directory in dirs:
            directory.mkdir()
        group = RunCgroup(dirs, self.version)
        try:
            if self.version == 2:
                (dirs[0] / "memory.max").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    (dirs[0] / "memory.swap.max").write_text("0")
                (dirs[0] / "pids.max").write_text(str(max_procs))
            else:
                memory, pids = dirs
                (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
                (pids / "pids.max").write_text(str(max_procs))
        except OSError:
            group.remove()
            raise
        return group


def _read_keyed(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                values[key] = int(value)
    return values


@functools.lru_cache(maxsize=1)
def shared_manager() -> CgroupManager | None:
    """This process's manager, detected once: only root makes groups (under the hierarchy's
    root); None elsewhere, where the backends fall back to rlimits."""
    return CgroupManager.detect() if os.getuid() == 0 else None
