"""The gVisor backend: its OCI spec and CPU watch (checked anywhere) and its behaviour (where
runsc runs; skipped with the backend's reason elsewhere)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentgym.sandboxes import ExecStatus, Limits, SandboxUnavailable, cputime, layout, make_sandbox, oci
from agentgym.sandboxes.gvisor import GVisorSandbox

REASON = GVisorSandbox.unavailable_reason()
needs_runsc = pytest.mark.skipif(REASON is not None, reason=f"gvisor: {REASON}")


# -- the spec, without runsc ---------------------------------------------------------------------


def test_runtime_spec_confines_the_program(tmp_path):
    limits = Limits(cpu_s=3, max_file_bytes=1 << 20, max_procs=7)
    rlimits = oci.rlimits(cpu_s=limits.cpu_s, max_file_bytes=1 << 20, max_procs=7, memory_bytes=None)
    spec = oci.runtime_spec(
        argv=["python3", "/program/main.py"],
        work=tmp_path / "work",
        program=tmp_path / "program",
        network=False,
        process_rlimits=rlimits,
        memory_bytes=64 << 20,
    )
    json.dumps(spec)  # serialisable as config.json
    process = spec["process"]
    assert process["user"]["uid"] == process["user"]["gid"] == 65534
    assert process["noNewPrivileges"] is True and process["terminal"] is False
    assert all(value == [] for value in process["capabilities"].values())
    assert process["cwd"] == "/work" and "HOME=/work" in process["env"]
    assert not any(entry.startswith("AGENTGYM") for entry in process["env"])
    limits_by_type = {entry["type"]: (entry["soft"], entry["hard"]) for entry in process["rlimits"]}
    assert limits_by_type["RLIMIT_CPU"] == (3, 4)
    assert limits_by_type["RLIMIT_FSIZE"] == (1 << 20, 1 << 20)
    assert limits_by_type["RLIMIT_CORE"] == (0, 0)
    assert limits_by_type["RLIMIT_NPROC"] == (7, 7)
    assert "RLIMIT_AS" not in limits_by_type
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    mounts = {mount["destination"]: mount for mount in spec["mounts"]}
    assert "rw" in mounts["/work"]["options"] and mounts["/work"]["source"] == str(tmp_path / "work")
    assert "ro" in mounts["/program"]["options"] and "ro" in mounts["/usr"]["options"]
    assert all("ro" in mount["options"] for name, mount in mounts.items() if name.startswith("/etc/"))
    assert "/etc/resolv.conf" not in mounts and not any(m["source"] in ("/", "/root", "/home") for m in spec["mounts"])
    assert {"type": "network"} in spec["linux"]["namespaces"]
    networked = oci.runtime_spec(
        argv=["true"], work=tmp_path, program=tmp_path, network=True, process_rlimits=[], memory_bytes=1 << 20
    )
    assert {"type": "network"} not in networked["linux"]["namespaces"]


def test_rlimits_bound_the_address_space_only_without_a_cgroup():
    kinds = {entry["type"] for entry in oci.rlimits(cpu_s=1, max_file_bytes=1, max_procs=1, memory_bytes=1 << 20)}
    assert "RLIMIT_AS" in kinds


def test_rootfs_skeleton_mirrors_the_host_links(tmp_path):
    oci.make_rootfs(tmp_path / "rootfs")
    root = tmp_path / "rootfs"
    for name in oci.MOUNT_POINTS:
        assert (root / name).is_dir() and not any((root / name).iterdir()) or name == "etc"
    for name in layout.SYSTEM_LINKS:
        if os.path.islink(f"/{name}"):
            assert os.readlink(root / name) == os.readlink(f"/{name}")
    assert all(
        (root / "etc" / name).stat().st_size == 0 or (root / "etc" / name).is_dir() for name in layout.etc_items(True)
    )


def test_cpu_time_of_a_process_tree():
    spinner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\ntime.sleep(5)",
        ]
    )
    try:
        deadline = time.monotonic() + 10
        while cputime.pids_cpu_seconds([spinner.pid]) < 0.4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cputime.pids_cpu_seconds([spinner.pid]) >= 0.4
        assert cputime.tree_cpu_seconds(os.getpid()) >= cputime.pids_cpu_seconds([spinner.pid])
    finally:
        spinner.kill()
        spinner.wait()
    assert cputime.tree_cpu_seconds(spinner.pid) == 0.0


async def test_cpu_watch_fires_once_over_budget():
    fired = []
    await asyncio.wait_for(cputime.watch_cpu(lambda: 2.0, 1.0, lambda: fired.append(1)), 5)
    assert fired == [1]
    watch = asyncio.ensure_future(cputime.watch_cpu(lambda: None, 1.0, lambda: fired.append(2)))
    await asyncio.sleep(0.3)
    assert not watch.done()
    watch.cancel()


def test_unavailable_reason_names_the_fix(monkeypatch):
    from agentgym.sandboxes import gvisor

    gvisor._probe.cache_clear()
    monkeypatch.setattr(gvisor, "runsc_path", lambda: None)
    try:
        reason = gvisor.GVisorSandbox.unavailable_reason()
        assert "apt-get install runsc" in reason
        with pytest.raises(SandboxUnavailable, match="runsc"):
            gvisor.GVisorSandbox()
    finally:
        gvisor._probe.cache_clear()


# -- behaviour, with runsc ---------------------------------------------------------------------


def runsc_processes(marker: str) -> list[int]:
    """Host pids of runsc processes whose command line names `marker` (a session folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"runsc" in cmdline and marker.encode() in cmdline:
                found.append(int(entry.name))
    return found


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    if REASON is not None:
        pytest.skip(f"gvisor: {REASON}")
    monkeypatch.setenv("AGENTGYM_SANDBOX_DIR", str(tmp_path))
    return make_sandbox("gvisor", limits=Limits(wall_s=10, cpu_s=5, memory_mb=256, max_procs=32))


def assert_nothing_left(folder: Path) -> None:
    deadline = time.monotonic() + 3
    while runsc_processes(str(folder)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runsc_processes(str(folder)) == []
    assert not any(folder.glob("agentgym-sandboxes-*/session-*")), "a session folder was left"


@needs_runsc
async def test_hello_world(sandbox, tmp_path):
    result = await sandbox.run("print('hello')")
    assert result.status is ExecStatus.ok and result.stdout == "hello\n" and result.exit_code == 0, result
    bash = await sandbox.run("echo $HOME $(id -u):$(id -g) $(pwd)", language="bash")
    assert bash.stdout == "/work 65534:65534 /work\n", bash
    assert_nothing_left(tmp_path)


@needs_runsc
async def test_stdin_exit_code_and_stderr(sandbox):
    result = await sandbox.run("import sys\nprint(sys.stdin.read().upper())\nsys.exit(3)", stdin="abc")
    assert result.stdout == "ABC\n" and result.exit_code == 3 and result.status is ExecStatus.error
    crash = await sandbox.run("raise ValueError('boom')")
    assert crash.status is ExecStatus.error and "ValueError: boom" in crash.stderr


@needs_runsc
async def test_files_in_and_out_and_session_persistence(sandbox, tmp_path):
    async with sandbox.session() as session:
        result = await session.run(
            "import os\nopen('out/b.txt', 'w').write(open('in/a.txt').read() * 2)\nprint(sorted(os.listdir('.')))",
            files={"in/a.txt": "ab", "out/.keep": b""},
            fetch=["out/b.txt", "missing.txt", "in"],
        )
        assert result.status is ExecStatus.ok, result
        assert result.stdout == "['in', 'out']\n"
        assert result.files == {"out/b.txt": b"abab"}
        later = await session.run("cat out/b.txt; echo /program/*", language="bash")
        assert later.stdout.startswith("abab/program/") and "main.sh" in later.stdout, later
        assert (await session.read_files(["in/a.txt"])) == {"in/a.txt": b"ab"}
    fresh = await sandbox.run("import os\nprint(os.listdir('.'))")
    assert fresh.stdout == "[]\n"
    assert_nothing_left(tmp_path)


@needs_runsc
async def test_timeout_leaves_nothing(sandbox, tmp_path):
    code = "import subprocess, time\nsubprocess.Popen(['sleep', '100'], start_new_session=True)\ntime.sleep(100)"
    started = time.monotonic()
    result = await sandbox.run(code, limits=Limits(wall_s=1))
    assert result.status is ExecStatus.timeout, result
    assert time.monotonic() - started < 6
    assert_nothing_left(tmp_path)


@needs_runsc
async def test_cpu_limit(sandbox):
    """The CPU limit (1 s, watched from the host) stops a spin long before the wall clock (60 s)."""
    result = await sandbox.run("while True:\n    pass\n", limits=Limits(cpu_s=1, wall_s=60))
    assert result.status is ExecStatus.timeout and result.duration_s < 30, result


@needs_runsc
async def test_memory_limit(sandbox):
    result = await sandbox.run("x = bytearray(400 << 20)\nprint('allocated')", limits=Limits(memory_mb=128))
    assert result.status is ExecStatus.memory, result
    fits = await sandbox.run("x = bytearray(64 << 20)\nprint('allocated')", limits=Limits(memory_mb=128))
    assert fits.status is ExecStatus.ok, fits


@needs_runsc
async def test_process_limit(sandbox):
    code = """
import os, time
made = 0
try:
    for _ in range(100):
        if os.fork() == 0:
            time.sleep(2)
            os._exit(0)
        made += 1
except OSError:
    pass
print(made)
"""
    result = await sandbox.run(code, limits=Limits(max_procs=10))
    assert result.status is ExecStatus.ok and int(result.stdout) < 10, result


@needs_runsc
async def test_output_limit(sandbox):
    result = await sandbox.run("while True:\n    print('x' * 1000)\n", limits=Limits(max_output_bytes=10_000))
    assert result.status is ExecStatus.output_limit and len(result.stdout) == 10_000, result


@needs_runsc
async def test_file_size_limit(sandbox):
    code = "try:\n    open('big', 'wb').write(b'x' * (2 << 20))\nexcept OSError as e:\n    print('stopped', e.errno)"
    result = await sandbox.run(code, limits=Limits(max_file_bytes=1 << 20))
    assert result.status in (ExecStatus.ok, ExecStatus.killed), result
    assert result.status is ExecStatus.killed or result.stdout.startswith("stopped"), result


@needs_runsc
async def test_network_is_off_unless_asked(sandbox):
    code = """
import socket
print([name for _, name in socket.if_nameindex()])
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    print("connected")
except OSError as error:
    print("blocked")
"""
    result = await sandbox.run(code)
    assert result.stdout.splitlines() == ["['lo']", "blocked"], result


@needs_runsc
async def test_host_files_are_not_visible(sandbox):
    code = "import os\nprint(sorted(os.listdir('/')))\nprint(os.listdir('/etc'))\nprint(os.path.exists('/root'))"
    result = await sandbox.run(code)
    top, etc, root = result.stdout.splitlines()
    assert "root" not in top and "home" not in top and root == "False", result
    assert "passwd" not in etc and "shadow" not in etc


@needs_runsc
def test_a_killed_caller_takes_runsc_with_it(tmp_path):
    script = tmp_path / "caller.py"
    script.write_text(
        "import asyncio\nfrom agentgym.sandboxes import Limits, make_sandbox\n"
        "asyncio.run(make_sandbox('gvisor').run('import time\\ntime.sleep(60)', limits=Limits(wall_s=60)))\n"
    )
    caller = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "AGENTGYM_SANDBOX_DIR": str(tmp_path)})
    try:
        deadline = time.monotonic() + 20
        while len(runsc_processes(str(tmp_path))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(runsc_processes(str(tmp_path))) >= 3, "runsc, its gofer and its sandbox never started"
    finally:
        caller.kill()
        caller.wait()
    deadline = time.monotonic() + 5
    while runsc_processes(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runsc_processes(str(tmp_path)) == [], "gVisor outlived the process that started it"
