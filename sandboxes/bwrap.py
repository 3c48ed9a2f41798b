"""The bubblewrap backend: each run in fresh Linux namespaces, the default on Linux.

What a run gets (https://github.com/containers/bubblewrap, bwrap(1)):
- every namespace unshared (user, pid, network, ipc, uts, mount, cgroup) and no way to make
  more user namespaces inside; no capabilities; uid and gid 65534 inside;
- a new session (no controlling terminal, so TIOCSTI cannot push keys into the caller's
  terminal), killed when the supervisor dies (`--die-with-parent`), and, as the pid
  namespace's first child, all its descendants killed when it ends;
- a file system of read-only binds of /usr (and the /bin, /lib links), the few /etc files
  programs need, a private /proc and /dev, a size-limited tmpfs /tmp, a read-only root, the session's work
  directory read-write at /work and its program read-only at /program; nothing else of the
  host (no /root, /home, /etc/shadow, /var, no environment variables of the caller);
- no network unless asked (`network=True` shares the host's);
- limits: a control group per run for memory and processes where the host allows it (root
  or a delegated cgroup), else RLIMIT_AS, RLIMIT_NPROC and a polled size of /work; RLIMIT_CPU, RLIMIT_FSIZE, no
  core dumps; a wall clock; capped output;
- when the caller is root, the run's host uid is an unprivileged one of its own (`UidPool`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from functools import lru_cache

from agentgym.sandboxes.base import Sandbox, program_argv
from agentgym.sandboxes.cgroups import RunCgroup, shared_manager
from agentgym.sandboxes.hostdir import HostWorkspace
from agentgym.sandboxes.layout import PROGRAM_ENV, SANDBOX_UID, SYSTEM_LINKS, etc_items, sandbox_python
from agentgym.sandboxes.process import exec_result, kill_process_group, supervise
from agentgym.sandboxes.rlimits import limited_argv
from agentgym.sandboxes.types import ExecResult, Limits, SandboxUnavailable

SETUP_RETRIES = 3
"""Retries of a run whose sandbox could not be set up for a transient lack of processes or
namespaces (bwrap fails with EAGAIN; nothing of the program ran)."""


class BwrapSandbox(Sandbox):
    """Runs programs with bubblewrap. `python` is the interpreter inside the sandbox (it must
    live under /usr, which is the only part of the host file system bound in); `use_cgroups`
    False forces the rlimit fallback even where control groups work."""

    name = "bwrap"
    isolation = 2

    def __init__(self, limits: Limits | None = None, *, python: str = "/usr/bin/python3", use_cgroups: bool = True):
        super().__init__(limits)
        reason = self.unavailable_reason()
        if reason:
            raise SandboxUnavailable(reason)
        self.python = sandbox_python(python)
        self.cgroups = shared_manager() if use_cgroups else None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _probe()

    async def _open_workspace(self) -> BwrapWorkspace:
        return BwrapWorkspace(self)


class BwrapWorkspace(HostWorkspace):
    def __init__(self, sandbox: BwrapSandbox):
        super().__init__()
        self.sandbox = sandbox

    async def run_program(
        self, name: str, language: str, stdin: bytes | None, limits: Limits, network: bool
    ) -> ExecResult:
        for attempt in range(SETUP_RETRIES + 1):
            result = await self._run_once(name, language, stdin, limits, network)
            transient = result.exit_code == 1 and result.stderr.startswith("bwrap: ")
            if not (transient and "Resource temporarily unavailable" in result.stderr) or attempt == SETUP_RETRIES:
                return result
            # The kernel frees the process and namespace counts of a killed run a moment late.
            await asyncio.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    async def _run_once(
        self, name: str, language: str, stdin: bytes | None, limits: Limits, network: bool
    ) -> ExecResult:
        sandbox = self.sandbox
        cgroup: RunCgroup | None = None
        if sandbox.cgroups is not None:
            cgroup = await asyncio.to_thread(sandbox.cgroups.create, limits.memory_mb << 20, limits.max_procs)
        # Without cgroups, RLIMIT_NPROC is the process ceiling; it counts all processes of the
        # host uid, so it is exact only for a uid of the session's own (the caller is root).
        ceiling = limits.max_procs if self.uid is not None else limits.max_procs + _processes_of(os.getuid())
        command = self.bwrap_argv(name, language, limits, network)
        drop: dict = {}
        if self.uid is not None:
            # Switch to the session's uid after the prelude (which joins the cgroup as root).
            # setpriv keeps Python's fast vfork spawn; subprocess's user= forks the whole caller,
            # which costs tens of milliseconds in a process holding gigabytes (a trainer).
            uid, gid = self.owner
            setpriv = _setpriv_path()
            if setpriv:
                command = [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *command]
            else:
                drop = {"user": uid, "group": gid, "extra_groups": []}
                if cgroup is not None:
                    cgroup.chown(uid, gid)
        argv = limited_argv(command, limits, cgroup, process_ceiling=ceiling)

        async def kill(process: asyncio.subprocess.Process) -> None:
            await kill_process_group(process)
            if cgroup is not None:
                await asyncio.to_thread(cgroup.kill_all)

        # Files in /work live in host memory or disk. A cgroup charges a run's writes to the run,
        # but not what earlier runs of the session left: the work directory's size is polled.
        quota = limits.memory_mb << 20
        watch = lambda: self.over_quota(quota)  # noqa: E731
        try:
            outcome = await supervise(
                argv, stdin=stdin, limits=limits, kill=kill, env={}, cwd="/", over_quota=watch, **drop
            )
            memory = cgroup is not None and cgroup.oom_killed()
        finally:
            if cgroup is not None:
                await asyncio.to_thread(cgroup.remove)
        return exec_result(
            outcome,
            memory_exceeded=memory if cgroup is not None else None,
            quota_message=f"the work directory went over its {limits.memory_mb} MiB quota",
        )

    def bwrap_argv(self, name: str, language: str, limits: Limits, network: bool) -> list[str]:
        """The bwrap command line of one run (see the module docstring for what each part does)."""
        argv = [_bwrap_path(), "--unshare-all", "--unshare-user", "--disable-userns"]
        if network:
            argv.append("--share-net")
        argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox"]
        argv += ["--ro-bind", "/usr", "/usr"]
        for link in SYSTEM_LINKS:
            host = f"/{link}"
            if os.path.islink(host):
                argv += ["--symlink", os.readlink(host), host]
            elif os.path.isdir(host):
                argv += ["--ro-bind", host, host]
        for item in etc_items(network):
            argv += ["--ro-bind", f"/etc/{item}", f"/etc/{item}"]
        argv += ["--proc", "/proc", "--dev", "/dev"]
        argv += ["--perms", "1777", "--size", str(limits.memory_mb << 20), "--tmpfs", "/tmp"]
        argv += ["--bind", str(self.work), "/work", "--ro-bind", str(self.program), "/program", "--chdir", "/work"]
        argv.append("--clearenv")
        for variable, value in PROGRAM_ENV.items():
            argv += ["--setenv", variable, value]
        argv += ["--remount-ro", "/"]
        return argv + ["--", *program_argv(language, f"/program/{name}", self.sandbox.python)]


@lru_cache(maxsize=1)
def _bwrap_path() -> str | None:
    return shutil.which("bwrap")


@lru_cache(maxsize=1)
def _setpriv_path() -> str | None:
    return shutil.which("setpriv")


@lru_cache(maxsize=1)
def _probe() -> str | None:
    """None if bwrap can make a sandbox here, else the reason and the fix."""
    if not sys.platform.startswith("linux"):
        return "bubblewrap needs Linux"
    path = _bwrap_path()
    if path is None:
        return "bubblewrap is not installed: `apt-get install bubblewrap` (Debian/Ubuntu) or `dnf install bubblewrap`"
    probe = [path, "--unshare-all", "--unshare-user", "--disable-userns", "--ro-bind", "/usr", "/usr"]
    for link in SYSTEM_LINKS:
        if os.path.islink(f"/{link}"):
            probe += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            probe += ["--ro-bind", f"/{link}", f"/{link}"]
    probe += ["--proc", "/proc", "--dev", "/dev", "--", "true"]
    kwargs = {"user": 65534, "group": 65534, "extra_groups": []} if os.getuid() == 0 else {}
    try:
        result = subprocess.run(probe, capture_output=True, timeout=10, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap failed to start: {error}"
    if result.returncode != 0:
        return (
            f"bubblewrap cannot create namespaces here ({result.stderr.decode(errors='replace').strip()}); "
            "unprivileged user namespaces must be enabled (sysctl kernel.unprivileged_userns_clone=1, "
            "user.max_user_namespaces > 0), or run on a host that allows them"
        )
    return None


def _processes_of(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
    return count
