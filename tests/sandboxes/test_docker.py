"""The Docker backend: what can be checked without an engine (the container and exec
configuration built from Limits, the tar and path helpers, the stream reader, the reason given
when no engine answers) and, where an engine answers, its behaviour and confinement."""

from __future__ import annotations

import io
import socket
import subprocess
import tarfile
import threading
import time

import pytest

from agentgym.sandboxes import ExecStatus, InvalidPath, Limits, SandboxUnavailable, dockerio
from agentgym.sandboxes import docker as backend

docker_sdk = pytest.importorskip("docker")

REASON = backend.DockerSandbox.unavailable_reason()
needs_engine = pytest.mark.skipif(REASON is not None, reason=f"docker: {REASON}")
VOLUMES = {"work": "w", "program": "p"}


# -- configuration, without an engine ---------------------------------------------------------


def create_args(limits: Limits, network: bool = False, cpus: float = 1.0) -> dict:
    kwargs = backend.container_kwargs(
        image="python:3.11-slim", limits=limits, network=network, cpus=cpus, volumes=VOLUMES, owner="h:1"
    )
    # the SDK's own translation of containers.create keywords: an unknown keyword raises here
    return docker_sdk.models.containers._create_container_args({**kwargs, "version": "1.43"})


def test_container_is_confined_and_limited():
    created = create_args(Limits(memory_mb=300, max_procs=20), cpus=0.5)
    config = created["host_config"]
    assert config["Memory"] == config["MemorySwap"] == 300 << 20
    assert config["PidsLimit"] == 20 + backend.EXTRA_PROCS
    assert config["CpuQuota"] == 50_000 and config["CpuPeriod"] == 100_000
    assert config["NetworkMode"] == "none"
    assert config["ReadonlyRootfs"] is True
    assert config["CapDrop"] == ["ALL"] and "CapAdd" not in config and not config.get("Privileged")
    assert config["SecurityOpt"] == ["no-new-privileges"]
    assert {"Name": "core", "Soft": 0, "Hard": 0} in config["Ulimits"]
    assert config["Init"] is True
    assert config["Tmpfs"]["/tmp"].startswith("rw,nosuid,nodev,size=300m")
    assert {(m["Target"], m["Source"], m["Type"]) for m in config["Mounts"]} == {
        ("/work", "w", "volume"),
        ("/program", "p", "volume"),
    }
    assert created["user"] == f"{backend.INIT_UID}:{backend.INIT_UID}"
    assert created["labels"][backend.OWNER_LABEL] == "h:1"
    assert create_args(Limits(), network=True)["host_config"]["NetworkMode"] == "bridge"


def test_volumes_are_size_limited_tmpfs():
    kwargs = backend.volume_kwargs("v", size_mb=64, uid=65534, mode="0700", owner="h:1")
    assert kwargs["driver_opts"]["type"] == "tmpfs"
    assert "size=64m" in kwargs["driver_opts"]["o"] and "uid=65534" in kwargs["driver_opts"]["o"]


def test_exec_sets_per_run_rlimits(tmp_path):
    argv = backend.exec_argv("python", Limits(cpu_s=2.5, max_file_bytes=4096, wall_s=7), "python3")
    assert argv[-3:] == ["python3", "-u", "/program/main.py"]
    script = argv[2]
    assert "ulimit -t 4" in script and "ulimit -S -t 3" in script and "ulimit -f 8" in script
    assert "timeout -s KILL 9" in script
    # the prelude itself runs under a POSIX shell and passes the program's arguments through
    result = subprocess.run(
        [*argv[:4], "sh", "-c", "ulimit -t; ulimit -f; echo $0", "ran"], capture_output=True, text=True, timeout=20
    )
    assert result.stdout.split() == ["3", "8", "ran"], result


def test_oom_count_is_read_from_either_cgroup_version():
    assert backend.parse_oom_kills("low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n") == 2
    assert backend.parse_oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 5\n") == 5
    assert backend.parse_oom_kills("") == 0


def test_unavailable_reason_names_the_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/agentgym-docker.sock")
    reason = backend.DockerSandbox.unavailable_reason()
    assert reason.startswith("no Docker engine answers at unix:///nonexistent/agentgym-docker.sock: ")
    with pytest.raises(SandboxUnavailable, match="no Docker engine answers"):
        backend.DockerSandbox()


def test_a_missing_image_says_how_to_pull_it():
    class Images:
        def get(self, name):
            raise docker_sdk.errors.ImageNotFound(f"No such image: {name}")

    class Client:
        images = Images()

    with pytest.raises(SandboxUnavailable, match=r"docker pull python:3\.12-slim"):
        backend.DockerSandbox(image="python:3.12-slim", client=Client())


# -- tar and path helpers ----------------------------------------------------------------------


def test_pack_normalises_paths_and_owns_files():
    archive = dockerio.pack({"a/b/c.txt": b"abc", "/work/top.txt": b"t", "a/d.txt": b""}, uid=65534, gid=65534)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = {member.name: member for member in tar.getmembers()}
    assert list(members) == ["a", "a/b", "a/b/c.txt", "top.txt", "a/d.txt"]
    assert members["a"].isdir() and members["a/b/c.txt"].isreg() and members["a/b/c.txt"].size == 3
    assert all(member.uid == member.gid == 65534 for member in members.values())
    assert not any(member.issym() or member.islnk() for member in members.values())


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "", "a/\0"])
def test_pack_refuses_paths_outside_the_work_dir(path):
    with pytest.raises(InvalidPath):
        dockerio.pack({path: b"x"}, uid=1, gid=1)


def _tar(*members: tuple[str, bytes, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = "/etc/passwd"
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return buffer.getvalue()


def test_unpack_takes_only_the_one_regular_file():
    assert dockerio.unpack_file(_tar(("c.txt", tarfile.REGTYPE, b"abc")), "a/b/c.txt", 10) == b"abc"
    assert dockerio.unpack_file(_tar(("c.txt", tarfile.SYMTYPE, b"")), "a/b/c.txt", 10) is None
    assert dockerio.unpack_file(_tar(("c.txt", tarfile.DIRTYPE, b"")), "c.txt", 10) is None
    assert dockerio.unpack_file(_tar(("other", tarfile.REGTYPE, b"x")), "c.txt", 10) is None
    two = _tar(("c.txt", tarfile.REGTYPE, b"x"), ("c.txt/../../evil", tarfile.REGTYPE, b"y"))
    assert dockerio.unpack_file(two, "c.txt", 10) is None
    assert dockerio.unpack_file(_tar(("c.txt", tarfile.REGTYPE, b"abc")), "c.txt", 2) is None
    assert dockerio.unpack_file(b"not a tar", "c.txt", 10) is None


def test_path_check_script_finds_symlinks_and_files(tmp_path):
    """The check runs under /bin/sh here against a folder laid out like a hostile /work."""
    work = tmp_path / "work"
    (work / "dir").mkdir(parents=True)
    (work / "dir" / "ok.txt").write_text("x")
    (work / "plain").write_text("x")
    (work / "root_link").symlink_to("/")
    (work / "passwd_link").symlink_to("/etc/passwd")
    (work / "dir" / "inner_link").symlink_to("/root")
    paths = [
        "dir/ok.txt",
        "root_link/etc/passwd",
        "passwd_link",
        "plain/below.txt",
        "dir/inner_link/.bashrc",
        "new/file.txt",
        "dir",
    ]
    script = dockerio.check_paths_script(paths, work_dir=str(work))
    output = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=20).stdout
    assert dockerio.parse_check(output) == {
        "dir/ok.txt": "file",
        "root_link/etc/passwd": "bad",
        "passwd_link": "link",
        "plain/below.txt": "bad",
        "dir/inner_link/.bashrc": "bad",
    }


def test_path_check_quotes_hostile_names(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    name = "$(touch pwned); `touch pwned2` 'q\" x.txt"
    (work / name).write_text("x")
    script = dockerio.check_paths_script([name], work_dir=str(work))
    output = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=20)
    assert dockerio.parse_check(output.stdout) == {name: "file"}
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


# -- the exec stream ---------------------------------------------------------------------------


def test_frames_split_across_chunks():
    data = dockerio.frame(1, b"hello ") + dockerio.frame(2, b"oops") + dockerio.frame(1, b"world")
    reader = dockerio.FrameReader()
    frames = [piece for index in range(0, len(data), 3) for piece in reader.feed(data[index : index + 3])]
    assert frames == [(1, b"hello "), (2, b"oops"), (1, b"world")]


def _stream_over(limits: Limits, payload: bytes, *, close: bool, stdin: bytes | None = None):
    """Run a `_Stream` against a socket pair whose far end sends `payload` (and closes, or not)."""
    near, far = socket.socketpair()
    kills: list[float] = []
    received = bytearray()

    def engine():
        far.sendall(payload)
        if stdin is not None:
            while chunk := far.recv(1024):
                received.extend(chunk)
        if close:
            far.close()

    thread = threading.Thread(target=engine, daemon=True)
    thread.start()
    stream = backend._Stream(near, limits, lambda: (kills.append(time.monotonic()), far.close()))
    started = time.monotonic()
    stream.run(stdin)
    thread.join(5)
    return stream, kills, time.monotonic() - started, bytes(received)


def test_stream_collects_both_outputs_and_feeds_stdin():
    payload = dockerio.frame(1, b"out") + dockerio.frame(2, b"err")
    stream, kills, _, received = _stream_over(Limits(), payload, close=True, stdin=b"input")
    assert stream.buffers[1] == b"out" and stream.buffers[2] == b"err"
    assert received == b"input" and kills == [] and not stream.timed_out and not stream.exceeded


def test_stream_caps_output_and_kills_once():
    payload = b"".join(dockerio.frame(1, b"x" * 400) for _ in range(10))
    stream, kills, _, _ = _stream_over(Limits(max_output_bytes=1000), payload, close=False)
    assert stream.exceeded and not stream.timed_out and len(kills) == 1
    assert len(stream.buffers[1]) == 1000


def test_stream_kills_at_the_wall_clock():
    stream, kills, elapsed, _ = _stream_over(Limits(wall_s=0.5), dockerio.frame(1, b"start"), close=False)
    assert stream.timed_out and len(kills) == 1 and 0.4 < elapsed < 3
    assert stream.buffers[1] == b"start"


# -- behaviour, with an engine -----------------------------------------------------------------


@pytest.fixture
def sandbox():
    if REASON is not None:
        pytest.skip(f"docker: {REASON}")
    try:
        return backend.DockerSandbox(limits=Limits(wall_s=10, cpu_s=5, memory_mb=256, max_procs=32))
    except SandboxUnavailable as error:  # the image is not pulled
        pytest.skip(str(error))


@needs_engine
async def test_hello_world_stdin_and_identity(sandbox):
    result = await sandbox.run("import sys, os\nprint(sys.stdin.read(), os.getuid(), os.getcwd())", stdin="hi")
    assert result.status is ExecStatus.ok and result.stdout == "hi 65534 /work\n", result


@needs_engine
async def test_files_session_and_symlinks(sandbox):
    async with sandbox.session() as session:
        result = await session.run(
            "open('out.txt', 'w').write(open('in/a.txt').read() * 2)",
            files={"in/a.txt": "ab"},
            fetch=["out.txt", "missing"],
        )
        assert result.files == {"out.txt": b"abab"}, result
        made = await session.run(
            "ln -s /etc/passwd link; ln -s / root", language="bash", fetch=["link", "root/etc/passwd"]
        )
        assert made.files == {}
        with pytest.raises(InvalidPath):
            await session.write_files({"root/tmp/x": b"x"})
        await session.write_files({"link": b"replaced"})
        assert (await session.run("print(open('link').read())")).stdout == "replaced\n"
        denied = await session.run("open('/program/x', 'w')")
        assert denied.status is ExecStatus.error


@needs_engine
async def test_limits(sandbox):
    timeout = await sandbox.run("import time\ntime.sleep(60)", limits=Limits(wall_s=1))
    assert timeout.status is ExecStatus.timeout, timeout
    cpu = await sandbox.run("while True:\n    pass", limits=Limits(cpu_s=1))
    assert cpu.status is ExecStatus.timeout, cpu
    memory = await sandbox.run("x = bytearray(600 << 20)", limits=Limits(memory_mb=128))
    assert memory.status is ExecStatus.memory, memory
    flood = await sandbox.run("while True:\n    print('x' * 1000)", limits=Limits(max_output_bytes=5000))
    assert flood.status is ExecStatus.output_limit and len(flood.stdout) == 5000
    network = await sandbox.run("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)")
    assert network.status is ExecStatus.error and "Error" in network.stderr, network


@needs_engine
async def test_nothing_outlives_a_run(sandbox):
    async with sandbox.session() as session:
        await session.run("import subprocess\nsubprocess.Popen(['sleep', '300'], start_new_session=True)")
        left = await session.run("import os\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))")
        # init, its sleep, the shell prelude's program: nothing of the first run
        assert int(left.stdout) <= 3, left


@needs_engine
async def test_close_removes_the_container(sandbox):
    session = sandbox.session()
    await session.open()
    container = session._workspace.container
    await session.close()
    with pytest.raises(docker_sdk.errors.NotFound):
        sandbox.client.containers.get(container.id)
