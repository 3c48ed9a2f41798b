"""The security matrix: each attack a policy's code might make, run on every isolating backend
present. Every test checks that the attack is contained (its status says how) and that the host
is healthy afterwards: a fresh run works and no process of the attack is left. docs/sandboxes.md
records the results per backend."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from sandbox_support import processes_with

from agentgym.sandboxes import ExecStatus, InvalidPath, Limits
from agentgym.sandboxes.hostdir import SANDBOX_DIR_ENV

pytestmark = pytest.mark.slow


async def assert_healthy(sandbox, marker: str | None = None) -> None:
    """The host after an attack: a new run works, and no process of a sandbox (bwrap, runsc and
    its gofer) nor any process carrying `marker` is left."""
    result = await sandbox.run("print(6 * 7)")
    assert result.status is ExecStatus.ok and result.stdout == "42\n", result
    folder = os.environ[SANDBOX_DIR_ENV]
    deadline = time.monotonic() + 2
    while (processes_with(folder) or (marker and processes_with(marker))) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert processes_with(folder) == [], f"sandbox processes survived: {processes_with(folder)}"
    if marker is not None:
        assert processes_with(marker) == [], f"processes of the attack survived: {processes_with(marker)}"


async def test_fork_bomb(sandbox):
    marker = "9" + str(uuid.uuid4().int)[:8]
    code = f"""
import os, subprocess
while True:
    try:
        subprocess.Popen(["sleep", "{marker}"])
        os.fork()
    except OSError:
        pass
"""
    started = time.monotonic()
    result = await sandbox.run(code, limits=Limits(wall_s=3, max_procs=32))
    assert result.status in (ExecStatus.timeout, ExecStatus.killed, ExecStatus.memory), result
    assert time.monotonic() - started < 15
    await assert_healthy(sandbox, marker)


async def test_bash_fork_bomb(sandbox):
    result = await sandbox.run(":(){ :|:& };:", language="bash", limits=Limits(wall_s=3, max_procs=32))
    assert result.status is not ExecStatus.ok or result.duration_s < 3.5
    await assert_healthy(sandbox)


async def test_memory_bomb(sandbox):
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))\n"
    result = await sandbox.run(code, limits=Limits(memory_mb=128, wall_s=10))
    assert result.status is ExecStatus.memory, result
    await assert_healthy(sandbox)


async def test_memory_bomb_across_processes(sandbox):
    """Each child stays under the limit; together they do not (a cgroup or container catches it)."""
    code = """
import os, time
for _ in range(8):
    if os.fork() == 0:
        data = bytearray(60 << 20)
        time.sleep(5)
        os._exit(0)
os.wait()
"""
    result = await sandbox.run(code, limits=Limits(memory_mb=128, wall_s=4))
    assert result.status is not ExecStatus.ok, result
    await assert_healthy(sandbox)


async def test_cpu_spin(sandbox):
    """The CPU limit (1 s) ends a spin long before the wall clock (60 s) would."""
    result = await sandbox.run("while True:\n    pass\n", limits=Limits(cpu_s=1, wall_s=60))
    assert result.status is ExecStatus.timeout, result
    assert result.duration_s < 30, "the CPU limit did not stop the spin; the wall clock did"
    await assert_healthy(sandbox)


async def test_sleep_past_wall_time(sandbox):
    started = time.monotonic()
    result = await sandbox.run("import time\ntime.sleep(100)\n", limits=Limits(wall_s=1))
    assert result.status is ExecStatus.timeout, result
    assert time.monotonic() - started < 8
    await assert_healthy(sandbox)


@pytest.mark.parametrize("folder", ["/work", "/tmp"])
async def test_disk_fill(sandbox, folder):
    """One big file stops at max_file_bytes; many files stop at the folder's ceiling."""
    code = f"""
import os
os.chdir({folder!r})
try:
    with open("big", "wb") as handle:
        while True:
            handle.write(b"x" * (1 << 20))
except OSError as error:
    print("big stopped at", os.path.getsize("big"), flush=True)
os.remove("big")
total = 0
for index in range(100000):
    with open(f"f{{index}}", "wb") as handle:
        handle.write(b"y" * (4 << 20))
    total += 4 << 20
    print(total, flush=True)
"""
    limits = Limits(max_file_bytes=8 << 20, memory_mb=128, wall_s=10)
    result = await sandbox.run(code, limits=limits)
    assert result.status is not ExecStatus.ok, result
    first, *written = result.stdout.splitlines()
    assert first == f"big stopped at {8 << 20}", result.stdout[:200]
    assert not written or int(written[-1]) <= 512 << 20, "the sandbox wrote far past its memory ceiling"
    await assert_healthy(sandbox)


async def test_output_flood(sandbox):
    result = await sandbox.run("while True:\n    print('x' * 4096)\n", limits=Limits(max_output_bytes=100_000))
    assert result.status is ExecStatus.output_limit, result
    assert len(result.stdout) + len(result.stderr) <= 100_000
    await assert_healthy(sandbox)


async def test_output_flood_on_stderr(sandbox):
    result = await sandbox.run("yes error >&2", language="bash", limits=Limits(max_output_bytes=50_000))
    assert result.status is ExecStatus.output_limit, result
    assert len(result.stderr) <= 50_000
    await assert_healthy(sandbox)


class _Listener:
    """A TCP and a UDP socket on the host's loopback that record whether anything arrived."""

    def __init__(self):
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen()
        self.tcp.setblocking(False)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.setblocking(False)

    def received(self) -> bool:
        for receive in (self.tcp.accept, lambda: self.udp.recvfrom(100)):
            try:
                receive()
                return True
            except BlockingIOError:
                pass
        return False

    def close(self):
        self.tcp.close()
        self.udp.close()


async def test_network_is_off(sandbox):
    listener = _Listener()
    tcp_port, udp_port = listener.tcp.getsockname()[1], listener.udp.getsockname()[1]
    code = f"""
import socket
import subprocess
import sys
def attempt(name, action):
    try:
        action()
        print(name, "OPEN")
    except OSError as error:
        print(name, "blocked", type(error).__name__)
attempt("tcp-host", lambda: socket.create_connection(("127.0.0.1", {tcp_port}), timeout=2))
attempt("tcp-internet", lambda: socket.create_connection(("1.1.1.1", 80), timeout=2))
attempt("dns", lambda: socket.getaddrinfo("example.com", 80))
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"leak", ("127.0.0.1", {udp_port}))
    s.sendto(b"leak", ("8.8.8.8", 53))
attempt("udp", udp)
"""
    try:
        result = await sandbox.run(code)
        await asyncio.sleep(0.2)
        assert not listener.received(), "a packet from the sandbox reached the host"
    finally:
        listener.close()
    assert "OPEN" not in result.stdout.replace("udp OPEN", ""), result.stdout
    for name in ("tcp-host", "tcp-internet", "dns"):
        assert f"{name} blocked" in result.stdout, result.stdout
    await assert_healthy(sandbox)


async def test_host_secrets_are_out_of_reach(sandbox, monkeypatch, tmp_path):
    secret = uuid.uuid4().hex
    monkeypatch.setenv("AGENTGYM_TEST_SECRET", secret)
    secret_file = Path("/root" if os.access("/root", os.W_OK) else tmp_path) / f"secret-{secret[:8]}"
    secret_file.write_text(secret)
    try:
        code = f"""
import os, glob
print(dict(os.environ))
for path in ["/proc/self/environ", "/proc/1/environ", {str(secret_file)!r}, "/etc/shadow", "/proc/1/root/etc/shadow"]:
    try:
        print(path, open(path, "rb").read()[:4000])
    except OSError as error:
        print(path, "denied", type(error).__name__)
for folder in ["/root", "/home", {str(tmp_path)!r}]:
    try:
        print(folder, os.listdir(folder))
    except OSError as error:
        print(folder, "denied", type(error).__name__)
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            print(pid, open(f"/proc/{{pid}}/environ", "rb").read()[:2000])
        except OSError:
            pass
"""
        result = await sandbox.run(code)
    finally:
        secret_file.unlink()
    assert result.status is ExecStatus.ok, result
    assert secret not in result.stdout + result.stderr
    assert f"{secret_file} denied" in result.stdout
    assert f"'{secret_file.name}'" not in result.stdout, "a host folder's listing reached the sandbox"
    assert "/etc/shadow denied" in result.stdout
    await assert_healthy(sandbox)


async def test_writes_outside_the_work_dir_fail(sandbox):
    name = f"agentgym-escape-{uuid.uuid4().hex[:8]}"
    targets = [f"/{name}", f"/usr/{name}", f"/etc/{name}", f"/program/{name}", f"/proc/1/root/{name}"]
    code = f"""
for path in {targets!r}:
    try:
        open(path, "w").write("x")
        print(path, "WRITTEN")
    except OSError as error:
        print(path, "denied", type(error).__name__)
"""
    result = await sandbox.run(code)
    for target in targets[:3]:
        assert not Path(target).exists(), f"{target} appeared on the host"
    assert "WRITTEN" not in result.stdout, result.stdout
    await assert_healthy(sandbox)


async def test_proc_1_root_shows_only_the_sandbox(sandbox, tmp_path):
    marker = tmp_path / f"host-only-{uuid.uuid4().hex[:8]}"
    marker.write_text("host")
    code = f"""
import os
for path in ["/proc/1/root{marker}", "/proc/1/root/root", "/proc/1/cwd{marker}"]:
    try:
        print(path, os.path.exists(path), os.listdir(path) if os.path.isdir(path) else "")
    except OSError as error:
        print(path, "denied", type(error).__name__)
"""
    result = await sandbox.run(code)
    assert f"/proc/1/root{marker} True" not in result.stdout, result.stdout
    assert f"/proc/1/cwd{marker} True" not in result.stdout, result.stdout
    await assert_healthy(sandbox)


async def test_symlink_escapes(sandbox):
    async with sandbox.session() as session:
        result = await session.run(
            "ln -s /etc/passwd passwd_link; ln -s / root_link; ln -s /root dot_root; echo made",
            language="bash",
            fetch=["passwd_link", "root_link/etc/passwd", "dot_root/.bashrc"],
        )
        assert result.stdout == "made\n", result
        assert result.files == {}, "a fetch followed a symlink out of the work directory"
        # a write through a link replaces the link with a folder of the work directory
        escaped = await session.run(
            "print(open('root_link/etc/agentgym-escape').read())", files={"root_link/etc/agentgym-escape": b"x"}
        )
        assert escaped.stdout == "x\n" and not Path("/etc/agentgym-escape").exists()
        await session.run("print(1)", files={"passwd_link": b"replaced"})  # replaces the link, not its target
        assert b"replaced" not in Path("/etc/passwd").read_bytes()
        follow = await session.run("print(open('passwd_link').read())")
        assert follow.stdout == "replaced\n", follow
        with pytest.raises(InvalidPath):
            await session.run("print(1)", fetch=["../../etc/passwd"])
    await assert_healthy(sandbox)


async def test_killing_the_parent(sandbox):
    host_pid = os.getpid()
    code = f"""
import os, signal
for target in [os.getppid(), 1, {host_pid}, -1]:
    try:
        os.kill(target, signal.SIGKILL)
        print(target, "signalled")
    except OSError as error:
        print(target, "denied", type(error).__name__)
print("alive")
"""
    result = await sandbox.run(code)
    assert result.status is not ExecStatus.ok or "alive" in result.stdout
    await assert_healthy(sandbox)  # this test process (the parent's parent) survived too


async def test_tiocsti_cannot_reach_a_terminal(sandbox):
    code = """
import fcntl, os, termios
for path in ["/dev/tty", "/proc/self/fd/0", "/dev/console", "/dev/pts/0"]:
    try:
        fd = os.open(path, os.O_RDWR)
        fcntl.ioctl(fd, termios.TIOCSTI, b"x")
        print(path, "INJECTED")
    except OSError as error:
        print(path, "denied", type(error).__name__)
"""
    result = await sandbox.run(code)
    assert "INJECTED" not in result.stdout, result.stdout
    await assert_healthy(sandbox)


@pytest.mark.parametrize("ending", ["timeout", "exit"])
async def test_no_process_survives_the_run(sandbox, ending):
    marker = "8" + str(uuid.uuid4().int)[:8]
    code = f"""
import os, subprocess, time
subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "{marker}"])
    os._exit(0)
time.sleep(0.3)
print("spawned", flush=True)
{"time.sleep(100)" if ending == "timeout" else ""}
"""
    result = await sandbox.run(code, limits=Limits(wall_s=6))  # gVisor starts slowly on a loaded host
    assert "spawned" in result.stdout, result
    assert result.status is (ExecStatus.timeout if ending == "timeout" else ExecStatus.ok), result
    await assert_healthy(sandbox, marker)


async def test_session_survives_an_attack(sandbox):
    """A fork bomb in one run of a session does not break the session's later runs or files."""
    async with sandbox.session(limits=Limits(wall_s=3, max_procs=32)) as session:
        await session.run("open('keep.txt', 'w').write('kept')")
        await session.run(":(){ :|:& };:", language="bash")
        result = await session.run("print(open('keep.txt').read())")
        assert result.stdout == "kept\n", result


def test_a_killed_caller_takes_its_sandboxes_with_it(sandbox, tmp_path):
    """The host process that started a run dies (SIGKILL, no cleanup): the run dies too, and
    the next process to use the sandbox folder deletes the dead run's work directory."""
    if sandbox.name == "docker":
        pytest.skip("a Docker run outlives a killed caller until its in-container timeout (wall_s + 2 s)")
    folder = Path(tempfile.mkdtemp(prefix="killed-caller-", dir=os.environ[SANDBOX_DIR_ENV]))
    folder.chmod(0o711)
    script = tmp_path / "caller.py"
    script.write_text(
        f"""
import asyncio
from agentgym.sandboxes import Limits, make_sandbox
code = "import time\\nopen('started', 'w').write('yes')\\ntime.sleep(60)"
asyncio.run(make_sandbox({sandbox.name!r}).run(code, limits=Limits(wall_s=60)))
"""
    )
    caller = subprocess.Popen([sys.executable, str(script)], env={**os.environ, SANDBOX_DIR_ENV: str(folder)})
    try:
        deadline = time.monotonic() + 30
        while not list(folder.glob("*/session-*/work/started")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(folder.glob("*/session-*/work/started")), "the run never started"
        assert processes_with(str(folder)), "no sandbox process names the run's folder"
    finally:
        caller.kill()
        caller.wait()
    deadline = time.monotonic() + 5
    while processes_with(str(folder)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(str(folder)) == [], "the run outlived the process that started it"
    sweeper = subprocess.run(
        [sys.executable, "-c", "from agentgym.sandboxes.hostdir import sandbox_root; sandbox_root()"],
        env={**os.environ, SANDBOX_DIR_ENV: str(folder)},
        check=True,
    )
    assert sweeper.returncode == 0 and not list(folder.glob("*/session-*")), "the dead run's folder was not swept"


@pytest.mark.skipif(os.getuid() != 0, reason="only a root caller switches sessions to uids of their own")
async def test_a_root_caller_runs_programs_as_an_unprivileged_host_uid(sandbox):
    if sandbox.name != "bwrap":
        pytest.skip("bubblewrap's own uid switch; gVisor and Docker map users in their runtimes")
    marker = "6" + str(uuid.uuid4().int)[:8]
    run = asyncio.ensure_future(sandbox.run(f"import subprocess\nsubprocess.run(['sleep', '{marker}'])"))
    deadline = time.monotonic() + 10
    while not processes_with(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    (pid,) = processes_with(marker)
    uids = Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[:4]
    groups = Path(f"/proc/{pid}/status").read_text().split("Groups:")[1].splitlines()[0].split()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert all(int(uid) >= 200_000 for uid in uids), uids
    assert all(int(group) >= 200_000 for group in groups), groups
    await assert_healthy(sandbox, marker)


async def test_leftovers_in_the_way_of_a_write_are_replaced(sandbox):
    """A FIFO, a folder or a link where the host writes never blocks, raises or redirects it."""
    async with sandbox.session(limits=Limits(wall_s=5)) as session:
        await session.run("mkfifo solution.py; mkdir notes.txt; ln -s /etc out; echo x > plain", language="bash")
        files = {"solution.py": "print('from the host')", "notes.txt": "n", "out/passwd": "p", "plain/inner.txt": "i"}
        await asyncio.wait_for(session.write_files(files), 10)
        result = await session.run("import solution\nprint(open('out/passwd').read(), open('plain/inner.txt').read())")
        assert result.stdout == "from the host\np i\n", result
        assert b"p" != Path("/etc/passwd").read_bytes()[:1]


async def test_fetches_skip_fifos_and_count_each_file_once(sandbox):
    async with sandbox.session(limits=Limits(wall_s=5, max_fetch_bytes=3 << 20)) as session:
        result = await asyncio.wait_for(
            session.run(
                "mkfifo pipe; head -c 1048576 /dev/zero > one; head -c 2097152 /dev/zero > two; echo ok",
                language="bash",
                fetch=["pipe", "one", "./one", "/work/one", "two", "one"],
            ),
            20,
        )
        assert set(result.files) == {"one", "two"} and result.files_omitted == [], result.files_omitted
        squeezed = await session.run(
            "true", language="bash", fetch=["two", "one"], limits=Limits(max_fetch_bytes=2 << 20)
        )
        assert set(squeezed.files) == {"two"} and squeezed.files_omitted == ["one"]


async def test_a_session_cannot_grow_its_work_dir_past_the_limit_across_runs(sandbox):
    """Each run writes less than the limit; together they would pass it: the later run is killed."""
    limits = Limits(memory_mb=64, wall_s=10, max_file_bytes=32 << 20)
    statuses = []
    async with sandbox.session(limits=limits) as session:
        for index in range(4):
            result = await session.run(f"open('blob{index}', 'wb').write(b'x' * (24 << 20))")
            statuses.append(result.status)
    assert ExecStatus.killed in statuses, statuses
    assert statuses[0] is ExecStatus.ok


def test_a_sandbox_folder_made_by_someone_else_is_refused(tmp_path, monkeypatch):
    from agentgym.sandboxes import SandboxUnavailable
    from agentgym.sandboxes.hostdir import sandbox_root

    folder = tmp_path / f"agentgym-sandboxes-{os.getuid()}"
    folder.mkdir()
    folder.chmod(0o777)  # as if another user had made it first, writable by all
    monkeypatch.setenv(SANDBOX_DIR_ENV, str(tmp_path))
    with pytest.raises(SandboxUnavailable, match="not a private folder"):
        sandbox_root()


def test_two_uid_pools_never_share_a_uid():
    """As in two processes: each pool locks the uid it hands out."""
    from agentgym.sandboxes.hostdir import UidPool

    if os.getuid() != 0:
        pytest.skip("only root hands out uids")
    first, second = UidPool(base=299_000, size=4), UidPool(base=299_000, size=4)
    taken = [first.acquire(), first.acquire()]
    others = [second.acquire(), second.acquire()]
    assert not set(taken) & set(others)
    with pytest.raises(RuntimeError, match="no free sandbox uid"):
        second.acquire()
    first.release(taken[0])
    assert second.acquire() == taken[0]
