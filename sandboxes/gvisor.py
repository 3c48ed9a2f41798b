"""The gVisor backend: each run is a fresh OCI container under `runsc` (https://gvisor.dev), whose
user-space kernel (the Sentry) answers the program's system calls, so the program never talks
to the host kernel directly.

What a run gets:
- a container of its own (`runsc run` of a bundle made for the run, state in the session's
  folder), every namespace new, no capabilities, no new privileges, uid and gid 65534;
- a file system of a read-only skeleton root with read-only binds of /usr (and the /bin,
  /lib links mirroring the host's), the few /etc files programs need, gVisor's own /proc,
  /dev and /sys, a /tmp tmpfs held in the sandbox's memory, the session's work directory
  read-write at /work and its program read-only at /program (see `oci.runtime_spec`);
- no network (`--network=none`: loopback only) unless asked (`network=True` gives the host's
  network through gVisor's own socket layer, `--network=host`);
- stdin, stdout and stderr as pipes through `runsc run` (no terminal, so TIOCSTI has none to
  reach); the sandbox and gofer processes die with `runsc run` (gVisor's attached mode), which
  dies with the caller (`setpriv --pdeathsig KILL`);
- limits: a host control group around `runsc run` and everything it starts (memory, with
  `GVISOR_OVERHEAD_MB` for gVisor's own processes, and host processes) when the caller is root;
  inside, gVisor's kernel enforces RLIMIT_NPROC (exact: only the run's tasks have the sandbox
  uid), RLIMIT_FSIZE, RLIMIT_NOFILE, no core dumps, and RLIMIT_AS where there is no control
  group; CPU time is watched from the host over all the run's processes (`cputime`; gVisor
  accounts RLIMIT_CPU but does not act on it); a wall clock; capped output;
- when the wall clock or the output cap ends a run: `runsc kill --all ID KILL`, a SIGKILL to
  `runsc run`'s process group and to every process of the control group; afterwards
  `runsc delete --force ID` and the run's bundle and state are removed.

As root, runsc runs in its normal mode (gofer and sandbox chrooted, in their own user
namespace, without privileges). Without root it runs `--rootless`, which gVisor documents as
weaker (its helper processes keep the caller's privileges) and which has no control group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from functools import lru_cache
from pathlib import Path

from agentgym.sandboxes import cputime, oci
from agentgym.sandboxes.base import Sandbox, program_argv
from agentgym.sandboxes.cgroups import RunCgroup, shared_manager
from agentgym.sandboxes.hostdir import HostWorkspace, sandbox_root
from agentgym.sandboxes.layout import SANDBOX_UID, sandbox_python
from agentgym.sandboxes.process import exec_result, kill_process_group, supervise
from agentgym.sandboxes.rlimits import SHELL
from agentgym.sandboxes.types import ExecResult, ExecStatus, Limits, SandboxUnavailable

GVISOR_OVERHEAD_MB = 64
"""Memory allowed on top of `Limits.memory_mb` for runsc, its gofer and the Sentry themselves."""

GVISOR_OVERHEAD_PROCS = 512
GVISOR_HOST_PROCS_PER_TASK = 24
"""The run's control group allows `GVISOR_OVERHEAD_PROCS + GVISOR_HOST_PROCS_PER_TASK * max_procs`
host processes and threads: the Sentry's and gofer's threads and, on the ptrace platform, a stub
thread per program task and Sentry thread that ran it (a fork bomb of 32 tasks peaks near 500).
The program's own ceiling is RLIMIT_NPROC inside the sandbox; this is a second line, and a
Sentry that hits it dies (the run ends with an error)."""

GVISOR_CPU_OVERHEAD_S = 1.0
"""CPU seconds allowed on top of `Limits.cpu_s` for gVisor's own start. The ceiling is watched from
the host (gVisor does not enforce RLIMIT_CPU) over all of the run's processes together, so it
is a ceiling for the program as a whole rather than per process (see `cputime`)."""

PROBE_TIMEOUT_S = 30.0
RUNSC_TIMEOUT_S = 10.0
"""How long a `runsc kill` or `runsc delete` may take."""

INSTALL_HINT = (
    "install gVisor's runsc: `apt-get install runsc` (Debian/Ubuntu) or see https://gvisor.dev/docs/user_guide/install/"
)


def runsc_path() -> str | None:
    """The runsc executable on PATH (or /usr/bin, /usr/local/bin), or None."""
    return shutil.which("runsc") or shutil.which("runsc", path="/usr/local/bin:/usr/bin:/usr/sbin")


class GVisorSandbox(Sandbox):
    """Runs programs in gVisor. `python` is the interpreter inside the sandbox (an executable
    under /usr); `platform` picks gVisor's platform (`ptrace`, `kvm`, `systrap` in newer
    releases; None: runsc's default); `use_cgroups` False forces the rlimit fallback."""

    name = "gvisor"
    isolation = 4

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        python: str = "/usr/bin/python3",
        platform: str | None = None,
        use_cgroups: bool = True,
    ):
        super().__init__(limits)
        reason = _probe(platform)
        if reason:
            raise SandboxUnavailable(reason)
        self.python = sandbox_python(python)
        self.platform = platform
        self.cgroups = shared_manager() if use_cgroups else None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _probe(None)

    def runsc_argv(self, state: Path, network: bool) -> list[str]:
        """runsc's global flags for a run whose container state lives in `state`."""
        return _global_flags(state, network, self.platform)

    async def _open_workspace(self) -> GVisorWorkspace:
        return await asyncio.to_thread(GVisorWorkspace, self)


def _global_flags(state: Path, network: bool, platform: str | None) -> list[str]:
    argv = [runsc_path() or "runsc", "--root", str(state), "--network", "host" if network else "none"]
    argv.append("--ignore-cgroups")  # the run's own control group (made by us) holds every runsc process
    if platform:
        argv += ["--platform", platform]
    if os.getuid() != 0:
        argv.append("--rootless")
    return argv


class GVisorWorkspace(HostWorkspace):
    """A session: the host work directory (owned by the sandbox uid 65534, which is also the
    owner of files the program creates, since gVisor maps no uids), a skeleton rootfs and a
    runsc state folder. Each run writes its own config.json and container id."""

    def __init__(self, sandbox: GVisorSandbox):
        super().__init__(drop_privileges=False)
        self.sandbox = sandbox
        self.bundle = self.root / "bundle"
        self.state = self.root / "state"
        try:
            self.bundle.mkdir(mode=0o711)
            self.state.mkdir(mode=0o700)
            oci.make_rootfs(self.bundle / "rootfs")
            if os.getuid() == 0:
                os.chown(self.work, SANDBOX_UID, SANDBOX_UID)
            else:  # rootless: the sandbox's uid 65534 is not the caller's, who owns the folder
                os.chmod(self.work, 0o777)
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _own(self, path: Path) -> None:
        if os.getuid() == 0:
            os.chown(path, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)
        else:  # rootless: freshly made by write_files (never a symlink), open to the sandbox's uid
            os.chmod(path, 0o777 if path.is_dir() else 0o666)

    async def run_program(
        self, name: str, language: str, stdin: bytes | None, limits: Limits, network: bool
    ) -> ExecResult:
        sandbox = self.sandbox
        cgroup: RunCgroup | None = None
        if sandbox.cgroups is not None:
            cgroup = await asyncio.to_thread(
                sandbox.cgroups.create,
                (limits.memory_mb + GVISOR_OVERHEAD_MB) << 20,
                GVISOR_OVERHEAD_PROCS + GVISOR_HOST_PROCS_PER_TASK * limits.max_procs,
            )
        container = f"agentgym-{uuid.uuid4().hex[:16]}"
        await asyncio.to_thread(self._write_spec, name, language, limits, network, cgroup is None)
        flags = sandbox.runsc_argv(self.state, network)
        pid_file = self.state / f"{container}.pid"
        argv = _launcher(cgroup) + [*flags, "run", "--bundle", str(self.bundle), "--pid-file", str(pid_file), container]
        cpu_kill: list[asyncio.Task] = []

        async def kill_container() -> None:
            await _runsc(flags, "kill", "--all", container, "KILL")
            if cgroup is not None:
                await asyncio.to_thread(cgroup.kill_all)

        async def kill(process: asyncio.subprocess.Process) -> None:
            await kill_process_group(process)
            await kill_container()

        def on_cpu_exceeded() -> None:
            cpu_kill.append(asyncio.ensure_future(kill_container()))

        def measure() -> float | None:
            if cgroup is not None:
                return cputime.pids_cpu_seconds(cgroup.pids())
            root = cputime.pid_from_file(pid_file)
            return None if root is None else cputime.tree_cpu_seconds(root)

        budget = limits.cpu_s + GVISOR_CPU_OVERHEAD_S
        watch = asyncio.ensure_future(cputime.watch_cpu(measure, budget, on_cpu_exceeded))
        try:
            outcome = await supervise(
                argv,
                stdin=stdin,
                limits=limits,
                kill=kill,
                env=_runsc_env(),
                cwd="/",
                over_quota=lambda: self.over_quota(limits.memory_mb << 20),  # /work across the session's runs
            )
            memory = cgroup is not None and cgroup.oom_killed()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            for task in cpu_kill:
                await task
            await _runsc(flags, "delete", "--force", container)
            if cgroup is not None:
                await asyncio.to_thread(cgroup.remove)
            await asyncio.to_thread(_clear, self.state)
        result = exec_result(
            outcome,
            memory_exceeded=memory if cgroup is not None else None,
            quota_message=f"the work directory went over its {limits.memory_mb} MiB quota",
        )
        if cpu_kill and result.status is ExecStatus.killed:
            result.status = ExecStatus.timeout
        return result

    def _write_spec(self, name: str, language: str, limits: Limits, network: bool, no_cgroup: bool) -> None:
        memory = limits.memory_mb << 20
        spec = oci.runtime_spec(
            argv=program_argv(language, f"/program/{name}", self.sandbox.python),
            work=self.work,
            program=self.program,
            network=network,
            process_rlimits=oci.rlimits(
                cpu_s=limits.cpu_s,
                max_file_bytes=limits.max_file_bytes,
                max_procs=limits.max_procs,
                memory_bytes=memory if no_cgroup else None,
            ),
            memory_bytes=memory,
        )
        (self.bundle / "config.json").write_text(json.dumps(spec, indent=1))


def _launcher(cgroup: RunCgroup | None) -> list[str]:
    """The prefix that puts `runsc run` into the run's control group before it starts anything
    and ties it to the caller's life (PR_SET_PDEATHSIG through setpriv, where installed)."""
    lines = [f"echo $$ > '{path}' || exit 125" for path in (cgroup.procs_files if cgroup else [])]
    lines.append('exec "$@"')
    prefix = [SHELL, "-c", " && ".join(lines), "gvisor-launch"]
    setpriv = shutil.which("setpriv")
    if setpriv:
        prefix += [setpriv, "--pdeathsig", "KILL"]
    return prefix


def _runsc_env() -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}


async def _runsc(flags: list[str], *args: str) -> None:
    """Run one runsc command to its end, ignoring its failure (the container may be gone)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *flags,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=_runsc_env(),
            start_new_session=True,
        )
    except OSError:
        return
    try:
        await asyncio.wait_for(process.wait(), RUNSC_TIMEOUT_S)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _clear(folder: Path) -> None:
    """Empty `folder` (a session's runsc state), keeping the folder itself."""
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


@lru_cache(maxsize=4)
def _probe(platform: str | None) -> str | None:
    """None if runsc can run a container here, else the reason and the fix."""
    path = runsc_path()
    if path is None:
        return f"gVisor is not installed: {INSTALL_HINT}"
    root = Path(tempfile.mkdtemp(prefix="gvisor-probe-", dir=sandbox_root()))
    try:
        bundle, state = root / "bundle", root / "state"
        bundle.mkdir()
        state.mkdir()
        oci.make_rootfs(bundle / "rootfs")
        spec = oci.runtime_spec(
            argv=["/usr/bin/true"],
            work=root,
            program=root,
            network=False,
            process_rlimits=oci.rlimits(cpu_s=5, max_file_bytes=1 << 20, max_procs=8, memory_bytes=None),
            memory_bytes=64 << 20,
        )
        (bundle / "config.json").write_text(json.dumps(spec))
        flags = _global_flags(state, False, platform)
        container = f"agentgym-probe-{uuid.uuid4().hex[:8]}"
        try:
            result = subprocess.run(
                [*flags, "run", "--bundle", str(bundle), container],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=PROBE_TIMEOUT_S,
                env=_runsc_env(),
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            return (
                f"gVisor's probe container did not finish in {PROBE_TIMEOUT_S:.0f} s (platform {platform or 'default'})"
            )
        except OSError as error:
            return f"runsc failed to start: {error}"
        finally:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run([*flags, "delete", "--force", container], capture_output=True, timeout=RUNSC_TIMEOUT_S)
        if result.returncode != 0:
            stderr = result.stderr.decode(errors="replace").strip()[-2000:]
            mode = "as root" if os.getuid() == 0 else "rootless (--rootless; run as root for gVisor's full isolation)"
            return f"runsc cannot run a container here {mode}: exit {result.returncode}: {stderr}"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return None
