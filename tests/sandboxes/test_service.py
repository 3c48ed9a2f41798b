"""The sandbox service, served for real on loopback over the bubblewrap backend: our API
(/run, sessions, /health), SandboxFusion's /run_code with the payloads its clients send, bad
input, the concurrency limit, idle-session expiry, client hang-ups, and `agentgym sandbox
serve` as a subprocess (start, request, SIGTERM, clean exit, nothing left behind)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sandbox_support import processes_with

from agentgym.cli import main
from agentgym.sandboxes import Limits, available_backends
from agentgym.sandboxes.hostdir import SANDBOX_DIR_ENV
from agentgym.sandboxes.service import STATE, ServiceConfig, create_app

REPO_ROOT = Path(__file__).resolve().parents[2]
BWRAP_REASON = available_backends()["bwrap"]
needs_bwrap = pytest.mark.skipif(BWRAP_REASON is not None, reason=f"needs the bwrap backend: {BWRAP_REASON}")
pytestmark = needs_bwrap

TEST_LIMITS = Limits(wall_s=10, cpu_s=10, memory_mb=256, max_procs=32)


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


@pytest.fixture
def sandbox_dir(monkeypatch) -> Iterator[Path]:
    """A folder of our own for the sandboxes' work directories (traversable by the sandbox
    uids, as /dev/shm is), checked to be empty at the end: every session was cleaned up."""
    base = Path(
        tempfile.mkdtemp(prefix="agentgym-service-test-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    )
    base.chmod(0o711)
    monkeypatch.setenv(SANDBOX_DIR_ENV, str(base))
    yield base
    leftovers = [path for root in base.iterdir() for path in root.iterdir()]
    shutil.rmtree(base, ignore_errors=True)
    assert leftovers == [], f"sessions left their work directories behind: {leftovers}"


class Service:
    """A service on 127.0.0.1 (random port) in this event loop, and an HTTP client for it."""

    def __init__(self, server: TestServer, http: aiohttp.ClientSession):
        self.server, self.http = server, http
        self.url = str(server.make_url("")).rstrip("/")
        self.state = server.app[STATE]

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        if body is not None:
            kwargs["json"] = body
        async with self.http.post(self.url + path, **kwargs) as response:
            return response.status, await response.json()

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.http.get(self.url + path, **kwargs) as response:
            return response.status, await response.json()

    async def delete(self, path: str) -> tuple[int, Any]:
        async with self.http.delete(self.url + path) as response:
            return response.status, await response.json()

    async def open_session(self, **body: Any) -> str:
        status, answer = await self.post("/sessions", body)
        assert status == 201, answer
        return answer["session_id"]


@asynccontextmanager
async def serving(**config: Any) -> AsyncIterator[Service]:
    from agentgym.sandboxes import make_sandbox

    app = create_app(make_sandbox("bwrap", limits=TEST_LIMITS), ServiceConfig(**config))
    server = TestServer(app, host="127.0.0.1", port=0, handler_cancellation=True)
    await server.start_server()
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    try:
        yield Service(server, http)
    finally:
        await http.close()
        await server.close()


@pytest.fixture
async def service(sandbox_dir) -> AsyncIterator[Service]:
    async with serving(max_concurrency=4) as running:
        yield running


def assert_error(status: int, answer: Any, expected_status: int, error_type: str) -> None:
    assert status == expected_status, answer
    assert set(answer) == {"error"} and answer["error"]["type"] == error_type, answer
    assert isinstance(answer["error"]["message"], str) and answer["error"]["message"]


# --- our API ---------------------------------------------------------------------------------


async def test_run_python_and_bash(service):
    status, answer = await service.post("/run", {"code": "print(6 * 7)"})
    assert status == 200
    assert answer["status"] == "ok" and answer["exit_code"] == 0 and answer["stdout"] == "42\n", answer
    assert answer["files"] == {} and answer["duration_s"] > 0

    status, answer = await service.post("/run", {"code": "echo out; echo err >&2; exit 3", "language": "bash"})
    assert status == 200
    assert (answer["status"], answer["exit_code"], answer["stdout"], answer["stderr"]) == ("error", 3, "out\n", "err\n")


async def test_run_files_in_stdin_and_fetch_out(service):
    blob = bytes(range(256))
    code = "import sys\ndata = open('in/blob.bin', 'rb').read()\nopen('out.bin', 'wb').write(data[::-1])\nprint(sys.stdin.read().upper())"
    status, answer = await service.post(
        "/run",
        {"code": code, "stdin": "hello", "files": {"in/blob.bin": b64(blob)}, "fetch": ["out.bin", "missing.txt"]},
    )
    assert status == 200 and answer["status"] == "ok", answer
    assert answer["stdout"] == "HELLO\n"
    assert answer["files"] == {"out.bin": b64(blob[::-1])}


async def test_run_limits_of_the_request(service):
    status, answer = await service.post("/run", {"code": "while True: pass", "limits": {"wall_s": 0.5, "cpu_s": 5}})
    assert status == 200 and answer["status"] == "timeout", answer
    assert answer["duration_s"] < 5


async def test_session_keeps_its_files_across_runs(service):
    session = await service.open_session()
    status, answer = await service.post(f"/sessions/{session}/run", {"code": "open('notes.txt', 'w').write('first')"})
    assert status == 200 and answer["status"] == "ok", answer
    status, answer = await service.post(
        f"/sessions/{session}/run", {"code": "cat notes.txt; echo; ls", "language": "bash"}
    )
    assert answer["stdout"].startswith("first\n") and "notes.txt" in answer["stdout"], answer

    status, answer = await service.post(f"/sessions/{session}/files", {"files": {"data/x.bin": b64(b"\x00\xff")}})
    assert (status, answer) == (200, {"written": ["data/x.bin"]})
    status, answer = await service.post(
        f"/sessions/{session}/run", {"code": "print(open('data/x.bin', 'rb').read())", "fetch": ["notes.txt"]}
    )
    assert answer["stdout"] == "b'\\x00\\xff'\n" and answer["files"] == {"notes.txt": b64("first")}, answer
    status, answer = await service.get(f"/sessions/{session}/files", params=[("path", "notes.txt"), ("path", "nope")])
    assert (status, answer) == (200, {"files": {"notes.txt": b64("first")}})

    status, answer = await service.get("/health")
    assert answer["sessions"] == 1
    status, answer = await service.delete(f"/sessions/{session}")
    assert (status, answer) == (200, {"session_id": session, "closed": True})
    assert_error(*await service.post(f"/sessions/{session}/run", {"code": "print(1)"}), 404, "unknown_session")
    assert_error(*await service.delete(f"/sessions/{session}"), 404, "unknown_session")
    assert (await service.get("/health"))[1]["sessions"] == 0


async def test_session_defaults_and_per_run_overrides(service):
    session = await service.open_session(limits={"wall_s": 0.5})
    status, answer = await service.post(f"/sessions/{session}/run", {"code": "import time; time.sleep(3)"})
    assert answer["status"] == "timeout", answer
    status, answer = await service.post(
        f"/sessions/{session}/run", {"code": "import time; time.sleep(1); print('done')", "limits": {"wall_s": 5}}
    )
    assert answer["status"] == "ok" and answer["stdout"] == "done\n", answer
    await service.delete(f"/sessions/{session}")


async def test_health(service):
    status, answer = await service.get("/health")
    assert status == 200
    assert answer == {
        "status": "ok",
        "backend": "bwrap",
        "isolation": 2,
        "running": 0,
        "max_concurrency": 4,
        "sessions": 0,
        "max_sessions": 256,
        "session_idle_timeout_s": 600.0,
    }


# --- SandboxFusion's /run_code -------------------------------------------------------------


def sandboxfusion_request(code: str, **fields: Any) -> dict[str, Any]:
    """A request as SandboxFusion's clients send it (every field of its documented body)."""
    request = {
        "code": code,
        "language": "python",
        "compile_timeout": 10,
        "run_timeout": 10,
        "memory_limit_MB": -1,
        "stdin": "",
        "files": {},
        "fetch_files": [],
    }
    return {**request, **fields}


async def test_run_code_success(service):
    status, answer = await service.post("/run_code", sandboxfusion_request("print('hello')"))
    assert status == 200
    assert answer["status"] == "Success" and answer["message"] == "" and answer["compile_result"] is None, answer
    run = answer["run_result"]
    assert (run["status"], run["return_code"], run["stdout"], run["stderr"]) == ("Finished", 0, "hello\n", "")
    assert isinstance(run["execution_time"], float) and answer["files"] == {}
    assert set(answer) == {"status", "message", "compile_result", "run_result", "executor_pod_name", "files"}


async def test_run_code_failure(service):
    status, answer = await service.post("/run_code", sandboxfusion_request("print('before')\nraise ValueError('boom')"))
    assert status == 200 and answer["status"] == "Failed", answer
    run = answer["run_result"]
    assert (run["status"], run["return_code"], run["stdout"]) == ("Finished", 1, "before\n")
    assert "ValueError: boom" in run["stderr"]

    status, answer = await service.post("/run_code", sandboxfusion_request("exit 7", language="bash"))
    assert answer["status"] == "Failed" and answer["run_result"]["return_code"] == 7, answer


async def test_run_code_timeout(service):
    started = time.monotonic()
    status, answer = await service.post(
        "/run_code", sandboxfusion_request("print('started', flush=True)\nwhile True: pass", run_timeout=1)
    )
    assert status == 200 and answer["status"] == "Failed", answer
    run = answer["run_result"]
    assert run["status"] == "TimeLimitExceeded" and run["return_code"] is None and run["stdout"] == "started\n", run
    assert time.monotonic() - started < 8


async def test_run_code_stdin_files_and_fetch_files(service):
    code = (
        "import sys\n"
        "words = open('data/words.txt').read().split()\n"
        "open('result.txt', 'w').write(' '.join(sorted(words)))\n"
        "open('raw.bin', 'wb').write(bytes([0, 1, 254, 255]))\n"
        "print(sys.stdin.read().strip()[::-1])\n"
    )
    request = sandboxfusion_request(
        code,
        stdin="abc\n",
        files={"data/words.txt": b64("pear apple fig"), "skipped.txt": None},
        fetch_files=["result.txt", "raw.bin", "never-written.txt"],
    )
    status, answer = await service.post("/run_code", request)
    assert status == 200 and answer["status"] == "Success", answer
    assert answer["run_result"]["stdout"] == "cba\n"
    assert {path: unb64(content) for path, content in answer["files"].items()} == {
        "result.txt": b"apple fig pear",
        "raw.bin": bytes([0, 1, 254, 255]),
    }


async def test_run_code_memory_limit(service):
    code = "x = bytearray(400 * 1024 * 1024)\nprint('allocated')"
    status, answer = await service.post("/run_code", sandboxfusion_request(code, memory_limit_MB=64))
    assert status == 200 and answer["status"] == "Failed", answer
    assert answer["run_result"]["status"] == "Finished" and answer["run_result"]["return_code"] != 0
    assert answer["message"] == "memory limit exceeded"


@pytest.mark.parametrize("language", ["cpp", "nodejs", "cobol"])
async def test_run_code_language_we_do_not_run_is_a_sandbox_error(service, language):
    status, answer = await service.post("/run_code", sandboxfusion_request("int main() {}", language=language))
    assert status == 200 and answer["status"] == "SandboxError", answer
    assert language in answer["message"] and "python, bash" in answer["message"]
    assert answer["run_result"] is None and answer["compile_result"] is None


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"files": {"../escape.txt": b64("x")}}, "'..'"),
        ({"files": {"/etc/passwd": b64("x")}}, "outside the work directory"),
        ({"fetch_files": ["/etc/shadow"]}, "outside the work directory"),
        ({"files": {"a.txt": "not base64!"}}, "not valid base64"),
    ],
)
async def test_run_code_bad_files_are_a_sandbox_error(service, fields, needle):
    status, answer = await service.post("/run_code", sandboxfusion_request("print(1)", **fields))
    assert status == 200 and answer["status"] == "SandboxError" and needle in answer["message"], answer


async def test_run_code_wrong_types_are_422(service):
    assert_error(*await service.post("/run_code", {"code": 5, "language": "python"}), 422, "validation_error")
    assert_error(*await service.post("/run_code", {"language": "python"}), 422, "validation_error")
    assert_error(*await service.post("/run_code", data=b"{nope"), 400, "invalid_json")


async def test_run_code_ignores_fields_it_does_not_know(service):
    request = sandboxfusion_request("print(2)", args=["-q"], some_future_field=True)
    status, answer = await service.post("/run_code", request)
    assert status == 200 and answer["status"] == "Success", answer


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b"[1, 2]", 422, "validation_error"),
        (b'{"code": 5}', 422, "validation_error"),
        (b'{"language": "python"}', 422, "validation_error"),
        (b'{"code": "print(1)", "unknown": 1}', 422, "validation_error"),
        (b'{"code": "print(1)", "network": "yes"}', 422, "validation_error"),
        (b'{"code": "print(1)", "limits": {"wall_s": "5"}}', 422, "validation_error"),
        (b'{"code": "print(1)", "limits": {"wall_seconds": 5}}', 422, "validation_error"),
        (b'{"code": "print(1)", "limits": {"memory_mb": 1}}', 422, "validation_error"),
        (b'{"code": "print(1)", "files": {"a": "%%%"}}', 422, "validation_error"),
        (b'{"code": "print(1)", "files": {"a": 5}}', 422, "validation_error"),
        (b'{"code": "print(1)", "fetch": "a.txt"}', 422, "validation_error"),
        (b'{"code": "print(1)", "language": "cobol"}', 400, "unsupported_language"),
        (b'{"code": "print(1)", "files": {"../a": ""}}', 400, "invalid_path"),
        (b'{"code": "print(1)", "files": {"/etc/passwd": ""}}', 400, "invalid_path"),
        (b'{"code": "print(1)", "fetch": ["../../etc/shadow"]}', 400, "invalid_path"),
        (b'{"code": "print(1)", "fetch": [""]}', 400, "invalid_path"),
    ],
)
async def test_bad_run_requests_are_4xx(service, body, status, error_type):
    assert_error(*await service.post("/run", data=body), status, error_type)


async def test_bad_session_requests(service):
    assert_error(*await service.post("/sessions/nope/run", {"code": "print(1)"}), 404, "unknown_session")
    assert_error(*await service.post("/sessions/nope/files", {"files": {}}), 404, "unknown_session")
    assert_error(*await service.get("/sessions/nope/files", params={"path": "a"}), 404, "unknown_session")
    assert_error(*await service.delete("/sessions/nope"), 404, "unknown_session")
    assert_error(*await service.post("/sessions", {"limits": {"cpu_s": -1}}), 422, "validation_error")
    assert_error(*await service.post("/sessions", {"extra": 1}), 422, "validation_error")

    session = await service.open_session()
    assert_error(*await service.post(f"/sessions/{session}/files", {"files": {"../x": b64("a")}}), 400, "invalid_path")
    assert_error(*await service.post(f"/sessions/{session}/files", {"files": {"x": 1}}), 422, "validation_error")
    assert_error(*await service.post(f"/sessions/{session}/files", data=b"{"), 400, "invalid_json")
    assert_error(*await service.get(f"/sessions/{session}/files", params={"path": "/etc/passwd"}), 400, "invalid_path")
    assert_error(*await service.get(f"/sessions/{session}/files"), 400, "bad_request")
    # a symlink the program left pointing out of its work directory is never followed
    await service.post(f"/sessions/{session}/run", {"code": "ln -s /etc/passwd leak", "language": "bash"})
    assert await service.get(f"/sessions/{session}/files", params={"path": "leak"}) == (200, {"files": {}})
    # the session still works after all of that
    status, answer = await service.post(f"/sessions/{session}/run", {"code": "print('fine')"})
    assert answer["stdout"] == "fine\n", answer
    await service.delete(f"/sessions/{session}")


async def test_unknown_routes_and_methods(service):
    assert_error(*await service.get("/nope"), 404, "not_found")
    status, answer = await service.get("/run")
    assert_error(status, answer, 405, "method_not_allowed")


async def test_oversized_request_is_413_and_service_keeps_serving(sandbox_dir):
    async with serving(max_request_bytes=4096) as service:
        status, answer = await service.post("/run", {"code": "print(1)", "files": {"big": b64(b"x" * 8192)}})
        assert_error(status, answer, 413, "request_too_large")
        status, answer = await service.post("/run_code", sandboxfusion_request("#" * 5000))
        assert_error(status, answer, 413, "request_too_large")
        status, answer = await service.post("/run", {"code": "print(1)"})
        assert status == 200 and answer["stdout"] == "1\n"


async def test_network_refused_by_default(sandbox_dir):
    async with serving() as service:
        assert_error(*await service.post("/run", {"code": "print(1)", "network": True}), 403, "network_refused")
        assert_error(*await service.post("/sessions", {"network": True}), 403, "network_refused")
        status, answer = await service.post("/run", {"code": "print(1)", "network": False})
        assert status == 200 and answer["status"] == "ok"


async def test_limits_above_the_service_ceiling(sandbox_dir):
    from agentgym.sandboxes import Limits

    async with serving(max_limits=Limits(wall_s=5, cpu_s=5, memory_mb=128)) as service:
        status, answer = await service.post("/run", {"code": "print(1)", "limits": {"wall_s": 60, "memory_mb": 64}})
        assert_error(status, answer, 403, "limit_too_high")
        assert "wall_s=60.0 (at most 5.0)" in answer["error"]["message"]
        assert_error(*await service.post("/sessions", {"limits": {"memory_mb": 1024}}), 403, "limit_too_high")
        status, answer = await service.post("/run", {"code": "print(1)", "limits": {"wall_s": 2}})
        assert status == 200 and answer["status"] == "ok"
        code = "import time\ntime.sleep(30)"  # asks for 60 s, gets the ceiling's 5
        status, answer = await service.post("/run_code", {"code": code, "language": "python", "run_timeout": 60})
        assert status == 200 and answer["run_result"]["status"] == "TimeLimitExceeded"
        assert answer["run_result"]["execution_time"] < 10


async def test_session_cap(sandbox_dir):
    async with serving(max_sessions=2) as service:
        first = await service.open_session()
        await service.open_session()
        assert_error(*await service.post("/sessions"), 503, "too_many_sessions")
        await service.delete(f"/sessions/{first}")
        await service.open_session()


# --- concurrency, expiry, hang-ups -----------------------------------------------------------


async def test_parallel_requests_all_answered_within_the_concurrency_limit(sandbox_dir):
    async with serving(max_concurrency=3) as service:
        most_running = 0
        done = asyncio.Event()

        async def watch() -> None:
            nonlocal most_running
            while not done.is_set():
                most_running = max(most_running, service.state.pool.running)
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        code = "import time, sys; time.sleep(0.3); print(sys.stdin.read())"
        requests = [service.post("/run", {"code": code, "stdin": f"job {i}"}) for i in range(12)]
        requests += [service.post("/run_code", sandboxfusion_request(f"print({i} * 2)")) for i in range(6)]
        requests += [service.post("/run", {"code": 1}) for _ in range(3)]  # bad ones in the mix
        started = time.monotonic()
        answers = await asyncio.gather(*requests)
        elapsed = time.monotonic() - started
        done.set()
        await watcher
    for i, (status, answer) in enumerate(answers[:12]):
        assert status == 200 and answer["stdout"] == f"job {i}\n", answer
    for i, (status, answer) in enumerate(answers[12:18]):
        assert status == 200 and answer["run_result"]["stdout"] == f"{i * 2}\n", answer
    assert all(status == 422 for status, _ in answers[18:])
    assert 1 <= most_running <= 3
    assert elapsed >= 4 * 0.3  # 12 sleepers, 3 at a time


async def test_idle_sessions_expire(sandbox_dir):
    async with serving(session_idle_timeout_s=0.5) as service:
        idle = await service.open_session()
        busy = await service.open_session()
        # a run longer than the timeout keeps its session alive meanwhile
        status, answer = await service.post(
            f"/sessions/{busy}/run", {"code": "import time; time.sleep(1.2); print('ok')"}
        )
        assert answer["stdout"] == "ok\n", answer
        assert idle not in service.state.sessions.sessions
        status, answer = await service.post(f"/sessions/{busy}/run", {"code": "print('still here')"})
        assert status == 200 and answer["stdout"] == "still here\n", answer
        await asyncio.sleep(1.5)
        for session in (idle, busy):
            assert_error(*await service.post(f"/sessions/{session}/run", {"code": "print(1)"}), 404, "unknown_session")
        assert (await service.get("/health"))[1]["sessions"] == 0
    assert [path for root in sandbox_dir.iterdir() for path in root.iterdir()] == []


async def test_client_hang_up_kills_its_program(service):
    marker = "9" + str(uuid.uuid4().int)[:8]
    request = asyncio.create_task(
        service.post("/run", {"code": f"sleep {marker}", "language": "bash", "limits": {"wall_s": 60}})
    )
    deadline = time.monotonic() + 10
    while not processes_with(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert processes_with(marker), "the program never started"
    request.cancel()
    await asyncio.gather(request, return_exceptions=True)
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert processes_with(marker) == []
    assert (await service.get("/health"))[1]["running"] == 0


async def test_closing_the_app_closes_sessions(sandbox_dir):
    async with serving() as service:
        for _ in range(3):
            session = await service.open_session()
            await service.post(f"/sessions/{session}/files", {"files": {"a.txt": b64("a")}})
        assert len(list(next(sandbox_dir.iterdir()).iterdir())) == 3
    # the sandbox_dir fixture asserts at teardown that no work directory is left


# --- the command line ------------------------------------------------------------------------


def test_sandbox_backends_command(capsys):
    assert main(["sandbox", "backends", "--json"]) == 0
    reasons = json.loads(capsys.readouterr().out)
    assert set(reasons) >= {"bwrap", "local", "gvisor", "docker"} and reasons["bwrap"] is None


def test_sandbox_serve_refuses_local_without_allow_unsafe(capsys):
    assert main(["sandbox", "serve", "--backend", "local", "--port", "0"]) == 2
    assert "--allow-unsafe" in capsys.readouterr().err


def test_sandbox_without_subcommand_is_usage_error():
    assert main(["sandbox"]) == 2


class ServiceProcess:
    """`agentgym sandbox serve --port 0` in a subprocess; the URL read from its first line."""

    def __init__(self, sandbox_dir: Path, *args: str):
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        env.update({"PYTHONPATH": str(REPO_ROOT), SANDBOX_DIR_ENV: str(sandbox_dir)})
        command = [sys.executable, "-m", "agentgym.cli", "sandbox", "serve", "--backend", "bwrap", "--port", "0", *args]
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._stderr: list[str] = []
        self._reader = threading.Thread(target=lambda: self._stderr.extend(self.process.stderr), daemon=True)
        self._reader.start()
        line = self.process.stdout.readline()
        match = re.search(r" on (http://\S+)", line)
        if match is None:
            self.process.kill()
            self.process.wait(10)
            raise RuntimeError(f"the service did not start: {line!r}\n{''.join(self._stderr)}")
        self.url = match.group(1)

    def terminate(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout)
        self._reader.join(5)
        return status

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


async def test_sandbox_serve_subprocess_smoke(sandbox_dir):
    server = ServiceProcess(sandbox_dir, "--max-concurrency", "2", "--shutdown-timeout", "1", "--log-format", "text")
    marker = "9" + str(uuid.uuid4().int)[:8]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            async with http.get(f"{server.url}/health") as response:
                health = await response.json()
            assert health["backend"] == "bwrap" and health["max_concurrency"] == 2, health
            async with http.post(
                f"{server.url}/run_code", json=sandboxfusion_request("print(sum(range(10)))")
            ) as response:
                answer = await response.json()
            assert answer["status"] == "Success" and answer["run_result"]["stdout"] == "45\n", answer
            async with http.post(f"{server.url}/sessions", json={}) as response:
                session = (await response.json())["session_id"]
            async with http.post(f"{server.url}/sessions/{session}/files", json={"files": {"a": b64("a")}}) as response:
                assert response.status == 200

            # a program still running when SIGTERM arrives is killed once the shutdown timeout passes
            pending = asyncio.create_task(
                http.post(
                    f"{server.url}/run", json={"code": f"sleep {marker}", "language": "bash", "limits": {"wall_s": 60}}
                )
            )
            deadline = time.monotonic() + 10
            while not processes_with(marker) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert processes_with(marker), "the program never started"
            started = time.monotonic()
            status = await asyncio.to_thread(server.terminate)
            assert status == 0, "".join(server._stderr)
            assert time.monotonic() - started < 15
            await asyncio.gather(pending, return_exceptions=True)
    finally:
        server.kill()
    assert processes_with(marker) == []
    assert "Traceback" not in "".join(server._stderr), "".join(server._stderr)
    # sessions' work directories: checked empty by the sandbox_dir fixture


ATTACKS = {
    "fork bomb": ("bash", ":(){ :|:& };:"),
    "memory bomb": ("python", "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))"),
    "output flood": ("python", "while True:\n    print('x' * 4096)"),
    "kill everything": ("python", "import os, signal\nos.kill(-1, signal.SIGKILL)"),
    "sleep forever": ("python", "import time\ntime.sleep(1000)"),
}


async def test_the_service_stays_healthy_under_attack(service):
    """The security matrix's attacks sent through the service, all at once: each is answered
    with its status, and the service keeps serving a normal program and /health afterwards."""
    limits = {"wall_s": 3, "memory_mb": 128, "max_procs": 32, "max_output_bytes": 100_000}
    answers = await asyncio.gather(
        *(
            service.post("/run", {"code": code, "language": language, "limits": limits})
            for language, code in ATTACKS.values()
        )
    )
    statuses = dict(zip(ATTACKS, (answer["status"] for _, answer in answers), strict=True))
    assert all(status == 200 for status, _ in answers), answers
    assert statuses["memory bomb"] == "memory" and statuses["output flood"] == "output_limit", statuses
    assert statuses["sleep forever"] == "timeout", statuses
    status, answer = await service.post("/run", {"code": "print('still here')"})
    assert status == 200 and answer["stdout"] == "still here\n"
    status, health = await service.get("/health")
    assert status == 200 and health["status"] == "ok" and health["running"] == 0
