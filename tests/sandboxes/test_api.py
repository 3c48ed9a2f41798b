"""The sandbox API on every isolating backend present, and the parts that need no backend:
limits validation, path checks, the local backend's refusal, backend selection, the pool."""

from __future__ import annotations

import asyncio
import base64
import logging
import time

import pytest
from pydantic import ValidationError

from agentgym.sandboxes import (
    ExecResult,
    ExecStatus,
    InvalidPath,
    Limits,
    SandboxPool,
    SandboxUnavailable,
    UnsafeBackendRefused,
    UnsupportedLanguage,
    available_backends,
    best_available,
    make_sandbox,
)
from agentgym.sandboxes.base import relative_path
from agentgym.sandboxes.local import LocalSandbox
from agentgym.sandboxes.process import Outcome, classify


async def test_hello_world_and_exit_codes(sandbox):
    result = await sandbox.run("print('hello')")
    assert (result.status, result.exit_code, result.stdout, result.stderr) == (ExecStatus.ok, 0, "hello\n", "")
    assert 0 < result.duration_s < 5
    failed = await sandbox.run("import sys\nprint('partial')\nsys.exit(3)")
    assert (failed.status, failed.exit_code, failed.stdout) == (ExecStatus.error, 3, "partial\n")
    raised = await sandbox.run("raise ValueError('boom')")
    assert raised.status is ExecStatus.error and "ValueError: boom" in raised.stderr


async def test_bash_stdin_and_unicode(sandbox):
    result = await sandbox.run('read name; echo "hi $name"; echo oops >&2; exit 4', language="bash", stdin="Zoë\n")
    assert (result.status, result.exit_code, result.stdout, result.stderr) == (
        ExecStatus.error,
        4,
        "hi Zoë\n",
        "oops\n",
    )


async def test_large_stdin_is_delivered_whole(sandbox):
    data = "x" * (3 << 20)
    result = await sandbox.run("import sys\nprint(len(sys.stdin.read()))", stdin=data)
    assert result.stdout == f"{len(data)}\n", result


async def test_program_that_ignores_stdin_does_not_hang(sandbox):
    result = await sandbox.run("print('done')", stdin=b"y" * (4 << 20))
    assert result.status is ExecStatus.ok and result.stdout == "done\n"


async def test_files_in_and_out(sandbox):
    result = await sandbox.run(
        "import os\ndata = open('in/data.bin', 'rb').read()\nopen('out.txt', 'w').write(str(len(data)))\nos.mkdir('d')",
        files={"in/data.bin": bytes(range(256)) * 4, "/work/note.txt": "absolute paths under /work are accepted"},
        fetch=["out.txt", "missing.txt", "d", "note.txt"],
    )
    assert result.status is ExecStatus.ok, result
    assert result.files == {"out.txt": b"1024", "note.txt": b"absolute paths under /work are accepted"}


async def test_session_keeps_files_but_no_processes(sandbox):
    async with sandbox.session() as session:
        await session.run("open('state.txt', 'w').write('1')")
        await session.run("n = int(open('state.txt').read()); open('state.txt', 'w').write(str(n + 1))")
        await session.write_files({"extra.txt": "from the host"})
        result = await session.run(
            "cat state.txt extra.txt; echo; ps -e -o comm= | sort | tr '\\n' ' '", language="bash"
        )
        assert result.stdout.startswith("2from the host\n"), result
        assert "sleep" not in result.stdout
        assert await session.read_files(["state.txt"]) == {"state.txt": b"2"}
    with pytest.raises(RuntimeError, match="closed"):
        await session.run("print(1)")


async def test_sessions_are_isolated_from_each_other(sandbox):
    async with sandbox.session() as first, sandbox.session() as second:
        await first.run("open('secret.txt', 'w').write('first')")
        result = await second.run("import os\nprint(os.listdir('.'))")
        assert result.stdout == "[]\n", result


async def test_concurrent_runs(sandbox):
    results = await asyncio.gather(*(sandbox.run(f"print({index} * 2)") for index in range(12)))
    assert [result.stdout for result in results] == [f"{index * 2}\n" for index in range(12)]


async def test_bad_calls_raise_before_running(sandbox):
    with pytest.raises(UnsupportedLanguage, match="python, bash"):
        await sandbox.run("puts 1", language="ruby")
    for path in ["../escape", "/etc/passwd", "", "a/../../b"]:
        with pytest.raises(InvalidPath):
            await sandbox.run("print(1)", files={path: b"x"})
        with pytest.raises(InvalidPath):
            await sandbox.run("print(1)", fetch=[path])


async def test_network_when_asked(sandbox):
    result = await sandbox.run("import socket\nprint(socket.gethostname())", network=True)
    assert result.status is ExecStatus.ok, result


def test_limits_validate():
    assert Limits().wall_s == 10
    for bad in ({"wall_s": 0}, {"memory_mb": 1}, {"max_procs": 0}, {"bogus": 1}):
        with pytest.raises(ValidationError):
            Limits(**bad)


def test_exec_result_json_has_base64_files():
    result = ExecResult(status=ExecStatus.ok, exit_code=0, files={"a.bin": b"\x00\xff"})
    payload = result.model_dump(mode="json")
    assert payload["files"] == {"a.bin": base64.b64encode(b"\x00\xff").decode()}
    assert payload["status"] == "ok"


def test_relative_paths():
    assert str(relative_path("a/b.txt")) == "a/b.txt"
    assert str(relative_path("./a")) == "a"
    assert str(relative_path("/work/a")) == "a"
    for bad in ["..", "/work", "/tmp/a", "a\0b", "."]:
        with pytest.raises(InvalidPath):
            relative_path(bad)


@pytest.mark.parametrize(
    ("outcome", "memory", "status"),
    [
        (Outcome(0, None, b"", b"", 0.1), False, ExecStatus.ok),
        (Outcome(1, None, b"", b"Traceback\nMemoryError\n", 0.1), None, ExecStatus.memory),
        (Outcome(1, None, b"", b"Traceback\nMemoryError\n", 0.1), False, ExecStatus.error),
        (Outcome(None, 9, b"", b"", 0.1), True, ExecStatus.memory),
        (Outcome(None, 9, b"", b"", 0.1), False, ExecStatus.killed),
        (Outcome(None, 24, b"", b"", 0.1), False, ExecStatus.timeout),
        (Outcome(None, 9, b"", b"", 0.1, timed_out=True), False, ExecStatus.timeout),
        (Outcome(None, 9, b"", b"", 0.1, output_exceeded=True, timed_out=False), False, ExecStatus.output_limit),
        (Outcome(None, 9, b"", b"", 0.1, over_quota=True), False, ExecStatus.killed),
        (Outcome(2, None, b"", b"", 0.1), False, ExecStatus.error),
    ],
)
def test_classify(outcome, memory, status):
    assert classify(outcome, memory) is status


def test_local_backend_refuses_without_consent():
    with pytest.raises(UnsafeBackendRefused, match="allow_unsafe=True"):
        LocalSandbox()
    with pytest.raises(UnsafeBackendRefused):
        make_sandbox("local")


async def test_local_backend_runs_and_cleans_up():
    sandbox = LocalSandbox(allow_unsafe=True)
    result = await sandbox.run("print(open('f.txt').read())", files={"f.txt": "local"})
    assert result.stdout == "local\n"
    started = time.monotonic()
    result = await sandbox.run("import time\ntime.sleep(30)", limits=Limits(wall_s=0.5))
    assert result.status is ExecStatus.timeout and time.monotonic() - started < 5


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="bwrap"):
        make_sandbox("firecracker")


def test_best_available_picks_the_strongest_and_logs_it(caplog):
    reasons = available_backends()
    assert set(reasons) == {"gvisor", "docker", "bwrap", "local"}
    assert reasons["local"] is None
    runnable = [name for name in ("gvisor", "docker", "bwrap") if reasons[name] is None]
    if not runnable:
        with pytest.raises(SandboxUnavailable, match="bwrap"):
            best_available()
        return
    with caplog.at_level(logging.INFO, logger="agentgym.sandboxes.select"):
        sandbox = best_available()
    assert sandbox.name == runnable[0]
    assert f"sandbox backend: {runnable[0]}" in caplog.text


async def test_pool_limits_concurrency(sandbox):
    pool = SandboxPool(sandbox, max_concurrency=2)
    peak = 0

    async def watch():
        nonlocal peak
        while True:
            peak = max(peak, pool.running)
            await asyncio.sleep(0.005)

    watcher = asyncio.ensure_future(watch())
    try:
        results = await asyncio.gather(*(pool.run("import time\ntime.sleep(0.2)\nprint('ok')") for _ in range(6)))
    finally:
        watcher.cancel()
    assert all(result.stdout == "ok\n" for result in results)
    assert peak == 2
    async with pool.session() as session:
        await session.run("open('a', 'w').write('pooled')")
        assert (await session.run("cat a", language="bash")).stdout == "pooled"
    with pytest.raises(ValueError):
        SandboxPool(sandbox, max_concurrency=0)


async def test_modules_sent_as_files_import(sandbox):
    result = await sandbox.run(
        "import helper\nprint(helper.double(21))", files={"helper.py": "def double(x):\n    return 2 * x\n"}
    )
    assert result.stdout == "42\n", result
