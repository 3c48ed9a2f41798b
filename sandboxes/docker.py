"""The Docker backend: a container per session, each run an exec in it, through the Docker SDK
(`pip install 'agentgym[docker]'`, https://docker-py.readthedocs.io).

What a session gets (see `container_kwargs`):
- a container of `image` (default python:3.11-slim; it must be present: `docker pull IMAGE`)
  whose init (Docker's tini, then `sleep infinity`) runs as uid 65532 and every run as uid and
  gid 65534; all capabilities dropped, no new privileges, a read-only root file system;
- /work and /program on two volumes of the session, each a size-limited tmpfs made by the
  engine (the program can write /work, only read /program), and a tmpfs /tmp;
- no network (`network_mode="none"`) unless asked (then the default bridge);
- limits: the container's memory (swap included) and process count, a CPU quota (`cpus`),
  no core dumps, 1024 open files; per run RLIMIT_CPU and RLIMIT_FSIZE (a shell prelude of the
  exec), a wall clock and capped output, watched from the host;
- the end of every run (its wall clock, its output cap, or its normal end): every process of
  uid 65534 killed from a second exec (`kill -KILL -1`), so nothing of a run outlives it;
  a memory kill is read from the container's cgroup (`oom_kill`) and from State.OOMKilled;
- close() removes the container and its volumes. Containers carry the label `agentgym.owner`
  (host:pid); a new DockerSandbox removes those of owners that died without closing them.

A run whose limits or network differ from the container's gets a new container on the same
volumes (files are kept). The Docker engine is the trusted party here: its daemon runs as root.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shlex
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from functools import lru_cache

from agentgym.sandboxes import dockerio
from agentgym.sandboxes.base import PROGRAM_FILE, Sandbox, Workspace, program_argv, relative_path
from agentgym.sandboxes.hostdir import process_alive
from agentgym.sandboxes.layout import PROGRAM_ENV, SANDBOX_UID
from agentgym.sandboxes.process import KILL_GRACE_S, Outcome, exec_result
from agentgym.sandboxes.types import ExecResult, InvalidPath, Limits, SandboxUnavailable

log = logging.getLogger(__name__)

DEFAULT_IMAGE = "python:3.11-slim"
INIT_UID = 65532
"""The container's init runs as this uid, so that a run (uid 65534) cannot signal it."""
EXTRA_PROCS = 4
"""Processes of the container besides the run's: init, its sleep, the kill and check execs."""
LABEL = "agentgym.sandbox"
OWNER_LABEL = "agentgym.owner"
PROGRAM_VOLUME_MB = 16
_READ_CHUNK = 1 << 16


def engine_address() -> str:
    """Where the SDK looks for the engine (DOCKER_HOST, else the default socket)."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _sdk():
    try:
        import docker
    except ImportError:
        raise SandboxUnavailable("the Docker SDK is not installed: pip install 'agentgym[docker]'") from None
    return docker


@lru_cache(maxsize=8)
def _probe(address: str) -> str | None:
    try:
        docker = _sdk()
    except SandboxUnavailable as error:
        return str(error)
    try:
        client = docker.from_env(timeout=5)
    except Exception as error:  # the SDK raises DockerException, or a requests error, or OSError
        return f"no Docker engine answers at {address}: {error}"
    try:
        client.ping()
    except Exception as error:
        return f"no Docker engine answers at {address}: {error}"
    finally:
        client.close()
    return None


def container_kwargs(
    *, image: str, limits: Limits, network: bool, cpus: float, volumes: Mapping[str, str], owner: str
) -> dict:
    """The keyword arguments of `client.containers.create` for a session's container; `volumes`
    maps "work" and "program" to the session's volume names."""
    docker = _sdk()
    memory = f"{limits.memory_mb}m"
    return {
        "image": image,
        "command": ["sleep", "infinity"],
        "init": True,
        "user": f"{INIT_UID}:{INIT_UID}",
        "detach": True,
        "stdin_open": False,
        "tty": False,
        "hostname": "sandbox",
        "working_dir": "/work",
        "environment": dict(PROGRAM_ENV),
        "network_mode": "bridge" if network else "none",
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={memory},mode=1777"},
        "mounts": [
            docker.types.Mount("/work", volumes["work"], type="volume"),
            docker.types.Mount("/program", volumes["program"], type="volume"),
        ],
        "mem_limit": memory,
        "memswap_limit": memory,
        "pids_limit": limits.max_procs + EXTRA_PROCS,
        "cpu_period": 100_000,
        "cpu_quota": max(1000, int(cpus * 100_000)),
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "ipc_mode": "private",
        "ulimits": [
            docker.types.Ulimit(name="core", soft=0, hard=0),
            docker.types.Ulimit(name="nofile", soft=1024, hard=1024),
        ],
        "labels": {LABEL: "1", OWNER_LABEL: owner},
    }


def volume_kwargs(name: str, *, size_mb: int, uid: int, mode: str, owner: str) -> dict:
    """The keyword arguments of `client.volumes.create` for a tmpfs volume of `size_mb` MiB."""
    options = f"size={size_mb}m,uid={uid},gid={uid},mode={mode},nosuid,nodev"
    return {
        "name": name,
        "driver": "local",
        "driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": options},
        "labels": {LABEL: "1", OWNER_LABEL: owner},
    }


def exec_argv(language: str, limits: Limits, python: str) -> list[str]:
    """The command of one run: a POSIX shell prelude that sets RLIMIT_CPU (SIGXCPU at the limit,
    SIGKILL a second later) and RLIMIT_FSIZE, then execs the program, under coreutils' `timeout`
    where the image has it, so a run outlives its wall clock by at most a few seconds even if
    the host side died."""
    cpu = max(1, math.ceil(limits.cpu_s))
    wall = math.ceil(limits.wall_s) + 2
    prelude = " && ".join(
        [f"ulimit -t {cpu + 1}", f"ulimit -S -t {cpu}", f"ulimit -f {math.ceil(limits.max_file_bytes / 512)}"]
    )
    body = f'if command -v timeout >/dev/null 2>&1; then exec timeout -s KILL {wall} "$@"; else exec "$@"; fi'
    return [
        "/bin/sh",
        "-c",
        f"{prelude} && {body}",
        "sandbox",
        *program_argv(language, "/program/" + PROGRAM_FILE[language], python),
    ]


KILL_ALL_ARGV = ["/bin/sh", "-c", "kill -KILL -1 2>/dev/null; sleep 0.05; kill -KILL -1 2>/dev/null; exit 0"]
"""Run as uid 65534: SIGKILL every process of that uid but itself (kill(2) with pid -1)."""

OOM_ARGV = [
    "/bin/sh",
    "-c",
    "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null; true",
]


def parse_oom_kills(text: str) -> int:
    """The `oom_kill` count of a cgroup's memory.events (v2) or memory.oom_control (v1)."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return 0


class DockerSandbox(Sandbox):
    """Runs programs in Docker containers. `image` must hold /bin/sh and, for Python programs,
    `python` on its PATH; `cpus` is the CPU quota of a session; `client` an SDK client to use
    instead of `docker.from_env()`."""

    name = "docker"
    isolation = 3

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        image: str = DEFAULT_IMAGE,
        cpus: float = 1.0,
        python: str = "python3",
        client=None,
    ):
        super().__init__(limits)
        if client is None:
            reason = self.unavailable_reason()
            if reason:
                raise SandboxUnavailable(reason)
            client = _sdk().from_env(timeout=30)
        self.client = client
        self.image = image
        self.cpus = cpus
        self.python = python
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        try:
            client.images.get(image)
        except _sdk().errors.ImageNotFound:
            raise SandboxUnavailable(
                f"the Docker image {image!r} is not present on the engine at {engine_address()}: "
                f"pull it first with `docker pull {image}`"
            ) from None
        remove_orphans(client)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _probe(engine_address())

    async def _open_workspace(self) -> DockerWorkspace:
        workspace = DockerWorkspace(self)
        await asyncio.to_thread(workspace.start, self.limits, False)
        return workspace


def remove_orphans(client) -> None:
    """Remove the containers and volumes of sandboxes on this host whose owning process is gone."""
    host = socket.gethostname()

    def orphaned(labels: Mapping[str, str]) -> bool:
        owner_host, _, pid = (labels or {}).get(OWNER_LABEL, "").rpartition(":")
        return owner_host == host and pid.isdigit() and not process_alive(int(pid))

    with contextlib.suppress(Exception):
        for container in client.containers.list(all=True, filters={"label": LABEL}):
            if orphaned(container.labels):
                log.info("removing orphaned sandbox container %s", container.name)
                container.remove(force=True)
        for volume in client.volumes.list(filters={"label": LABEL}):
            if orphaned(volume.attrs.get("Labels")):
                with contextlib.suppress(Exception):
                    volume.remove(force=True)


class DockerWorkspace(Workspace):
    """One session: two volumes and a container (replaced when a run needs other limits or
    network). All Docker calls are blocking and run in threads."""

    def __init__(self, sandbox: DockerSandbox):
        self.sandbox = sandbox
        self.api = sandbox.client.api
        key = uuid.uuid4().hex[:16]
        self.volumes = {"work": f"agentgym-{key}-work", "program": f"agentgym-{key}-program"}
        self.container = None
        self.config: tuple | None = None
        self.oom_kills = 0

    # -- container life ------------------------------------------------------------------------

    def start(self, limits: Limits, network: bool) -> None:
        """Create the volumes (once) and a running container for `limits` and `network`."""
        client, sandbox = self.sandbox.client, self.sandbox
        if self.config is None:
            size = limits.memory_mb
            client.volumes.create(
                **volume_kwargs(self.volumes["work"], size_mb=size, uid=SANDBOX_UID, mode="0700", owner=sandbox.owner)
            )
            client.volumes.create(
                **volume_kwargs(
                    self.volumes["program"], size_mb=PROGRAM_VOLUME_MB, uid=0, mode="0755", owner=sandbox.owner
                )
            )
        self._remove_container()
        kwargs = container_kwargs(
            image=sandbox.image,
            limits=limits,
            network=network,
            cpus=sandbox.cpus,
            volumes=self.volumes,
            owner=sandbox.owner,
        )
        self.container = client.containers.create(**kwargs)
        self.container.start()
        self.config = (limits.memory_mb, limits.max_procs, network)
        self.oom_kills = parse_oom_kills(self._output(OOM_ARGV))

    def _remove_container(self) -> None:
        container, self.container = self.container, None
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._remove_container()
        if self.config is not None:
            self.config = None
            for name in self.volumes.values():
                with contextlib.suppress(Exception):
                    self.sandbox.client.volumes.get(name).remove(force=True)

    # -- execs -----------------------------------------------------------------------------------

    def _output(self, argv: list[str], user: int = SANDBOX_UID) -> str:
        """Run a helper command in the container to its end; its stdout and stderr."""
        exec_id = self.api.exec_create(self.container.id, argv, user=f"{user}:{user}", workdir="/")["Id"]
        output = self.api.exec_start(exec_id)
        return output.decode("utf-8", "replace") if isinstance(output, bytes) else ""

    def kill_all(self) -> None:
        """SIGKILL every process of the runs (uid 65534), the container's init excepted. When
        the kill cannot start (a fork bomb holds every pid of the container's limit) or some
        process survives it, the container is restarted (SIGKILL to all; /work is a volume
        and keeps its files)."""
        with contextlib.suppress(Exception):
            self._output(KILL_ALL_ARGV)
        if self._run_processes_left():
            log.warning("processes of a run survived the kill in container %s; restarting it", self.container.id[:12])
            self.container.restart(timeout=0)

    def _run_processes_left(self) -> bool:
        try:
            top = self.api.top(self.container.id, ps_args="-eo uid,pid")
        except Exception:
            return True
        return any(str(row[0]) == str(SANDBOX_UID) for row in top.get("Processes") or [])

    # -- files ---------------------------------------------------------------------------------

    async def write_files(self, files: Mapping[str, bytes]) -> None:
        await asyncio.to_thread(self._write_files, files)

    def _write_files(self, files: Mapping[str, bytes]) -> None:
        report = dockerio.parse_check(self._output(["/bin/sh", "-c", dockerio.check_paths_script(files)]))
        for path, kind in report.items():
            if kind == "bad":
                raise InvalidPath(f"file path {path!r} goes through a symlink or a file in the work directory")
        links = [f"/work/{relative_path(path)}" for path, kind in report.items() if kind == "link"]
        if links:
            self._output(["/bin/sh", "-c", "rm -f -- " + " ".join(shlex.quote(link) for link in links)])
        archive = dockerio.pack(files, uid=SANDBOX_UID, gid=SANDBOX_UID)
        self.api.put_archive(self.container.id, "/work", archive)

    async def read_files(self, paths: Iterable[str], max_bytes: int) -> tuple[dict[str, bytes], list[str]]:
        return await asyncio.to_thread(self._read_files, list(paths), max_bytes)

    def _read_files(self, paths: list[str], max_bytes: int) -> tuple[dict[str, bytes], list[str]]:
        errors = _sdk().errors
        report = dockerio.parse_check(self._output(["/bin/sh", "-c", dockerio.check_paths_script(paths)]))
        found: dict[str, bytes] = {}
        omitted: list[str] = []
        left = max_bytes
        for path in paths:
            if report.get(path) != "file":
                continue
            try:
                stream, stat = self.api.get_archive(self.container.id, f"/work/{relative_path(path)}")
            except errors.NotFound:
                continue
            if int(stat.get("size", 0)) > left:
                omitted.append(path)
                continue
            data = dockerio.unpack_file(b"".join(stream), path, left)
            if data is not None:
                found[path] = data
                left -= len(data)
        return found, omitted

    # -- a run -----------------------------------------------------------------------------------

    async def execute(self, code: str, language: str, stdin: bytes | None, limits: Limits, network: bool) -> ExecResult:
        return await asyncio.to_thread(self._execute, code, language, stdin, limits, network)

    def _execute(self, code: str, language: str, stdin: bytes | None, limits: Limits, network: bool) -> ExecResult:
        if self.config != (limits.memory_mb, limits.max_procs, network):
            self.start(limits, network)
        program = dockerio.pack({PROGRAM_FILE[language]: code.encode("utf-8")}, uid=0, gid=0)
        self.api.put_archive(self.container.id, "/program", program)
        env = dict(PROGRAM_ENV)
        exec_id = self.api.exec_create(
            self.container.id,
            exec_argv(language, limits, self.sandbox.python),
            stdin=stdin is not None,
            stdout=True,
            stderr=True,
            tty=False,
            user=f"{SANDBOX_UID}:{SANDBOX_UID}",
            workdir="/work",
            environment=env,
        )["Id"]
        started = time.perf_counter()
        try:
            stream = _Stream(self.api.exec_start(exec_id, socket=True), limits, self.kill_all)
            stream.run(stdin)
        finally:
            self.kill_all()  # nothing of the run outlives it
        code_, signal_ = _exit_status(self.api, exec_id)
        memory = self._memory_exceeded()
        outcome = Outcome(
            exit_code=code_,
            signal=signal_,
            stdout=bytes(stream.buffers[dockerio.STREAM_STDOUT]),
            stderr=bytes(stream.buffers[dockerio.STREAM_STDERR]),
            duration_s=time.perf_counter() - started,
            timed_out=stream.timed_out,
            output_exceeded=stream.exceeded,
        )
        return exec_result(outcome, memory_exceeded=memory)

    def _memory_exceeded(self) -> bool:
        count = parse_oom_kills(self._output(OOM_ARGV))
        exceeded, self.oom_kills = count > self.oom_kills, count
        with contextlib.suppress(Exception):
            self.container.reload()
            exceeded = exceeded or bool(self.container.attrs.get("State", {}).get("OOMKilled"))
        return exceeded


class _Stream:
    """An exec's attached socket: stdin fed from a thread, stdout and stderr read up to the
    output cap and the wall clock; `kill` is called once when either is passed."""

    def __init__(self, sock, limits: Limits, kill):
        self.sock = getattr(sock, "_sock", sock)
        self.limits = limits
        self.kill = kill
        self.buffers = {dockerio.STREAM_STDOUT: bytearray(), dockerio.STREAM_STDERR: bytearray()}
        self.kept = 0
        self.timed_out = False
        self.exceeded = False
        self._killed_at: float | None = None

    def run(self, stdin: bytes | None) -> None:
        feeder = None
        if stdin is not None:
            feeder = threading.Thread(target=self._feed, args=(stdin,), daemon=True)
            feeder.start()
        reader = dockerio.FrameReader()
        deadline = time.monotonic() + self.limits.wall_s
        try:
            while True:
                now = time.monotonic()
                if self._killed_at is None and now >= deadline:
                    self.timed_out = not self.exceeded
                    self._stop()
                if self._killed_at is not None and now >= self._killed_at + KILL_GRACE_S:
                    return
                end = deadline if self._killed_at is None else self._killed_at + KILL_GRACE_S
                self.sock.settimeout(max(0.01, end - now))
                try:
                    chunk = self.sock.recv(_READ_CHUNK)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                for stream, payload in reader.feed(chunk):
                    self._keep(stream, payload)
        finally:
            with contextlib.suppress(OSError):
                self.sock.close()

    def _keep(self, stream: int, payload: bytes) -> None:
        buffer = self.buffers.get(stream)
        if buffer is None:
            return
        room = self.limits.max_output_bytes - self.kept
        if len(payload) > room:
            buffer += payload[: max(room, 0)]
            self.kept = self.limits.max_output_bytes
            if not self.exceeded:
                self.exceeded = True
                self._stop()
        else:
            buffer += payload
            self.kept += len(payload)

    def _stop(self) -> None:
        if self._killed_at is None:
            self._killed_at = time.monotonic()
            self.kill()

    def _feed(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(data)
            self.sock.shutdown(socket.SHUT_WR)


def _exit_status(api, exec_id: str) -> tuple[int | None, int | None]:
    """(exit code, signal) of a finished exec; a code above 128 is read as signal code - 128."""
    deadline = time.monotonic() + KILL_GRACE_S
    while True:
        info = api.exec_inspect(exec_id)
        if not info.get("Running") or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    code = info.get("ExitCode")
    if code is None or info.get("Running"):
        return None, 9
    if code > 128:
        return None, code - 128
    return code, None
