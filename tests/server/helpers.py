"""Helpers of the environment-service suites: servers in-process and in a subprocess, a raw
WebSocket client, Prometheus parsing, and a TCP proxy that injects connection drops."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from agentgym.server import ServerLimits, create_app
from agentgym.server.app import MANAGER, METRICS, TASKS
from agentgym.server.protocol import IMAGE_HEADER, WSResponse
from tests.server.envs import TEST_ENV_IDS

REPO_ROOT = Path(__file__).resolve().parents[2]
ALL_ENV_IDS = [*TEST_ENV_IDS, "guess-number-v0"]


class LocalServer:
    """A real server on 127.0.0.1 (random port) in this process and event loop."""

    def __init__(self, app: web.Application, server: TestServer):
        self.app, self._server = app, server
        self.url = str(server.make_url("")).rstrip("/")
        self.ws_url = self.url.replace("http://", "ws://", 1)
        self.port = server.port
        self.manager = app[MANAGER]
        self.metrics = app[METRICS]

    @property
    def tasks(self) -> set[asyncio.Task[Any]]:
        return self.app[TASKS]

    def metric(self, name: str, **labels: str) -> float:
        """The current value of one sample of this server's metrics (0 when absent)."""
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    async def close(self) -> None:
        await self._server.close()


@asynccontextmanager
async def local_server(env_ids: list[str] | None = None, **limits: Any) -> AsyncIterator[LocalServer]:
    """Serve `env_ids` (default: every test environment and guess-number) with `limits`
    (ServerLimits fields; the step timeout defaults to 2 s here) until the block exits."""
    limits.setdefault("step_timeout_s", 2.0)
    shutdown_timeout_s = limits.pop("shutdown_timeout_s", 5.0)
    app = create_app(env_ids or ALL_ENV_IDS, ServerLimits(**limits), shutdown_timeout_s=shutdown_timeout_s)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    local = LocalServer(app, server)
    try:
        yield local
    finally:
        await local.close()


class ServerProcess:
    """`agentgym serve ... --import tests.server.serve_envs` in a subprocess (port 0)."""

    def __init__(self, *args: str, env_ids: list[str] | None = None):
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        env["PYTHONPATH"] = str(REPO_ROOT)
        command = [sys.executable, "-m", "agentgym.cli", "serve", *(env_ids or ALL_ENV_IDS)]
        command += ["--import", "tests.server.serve_envs", "--port", "0", "--log-format", "json", *args]
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._stderr: list[str] = []
        self._stderr_reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_reader.start()
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r" on (http://\S+)", line)
        if match is None:
            self.kill()
            raise RuntimeError(f"the server did not start: {line!r}\n{self.stderr}")
        self.url = match.group(1)
        self.ws_url = self.url.replace("http://", "ws://", 1)

    def _drain_stderr(self) -> None:
        for line in self.process.stderr:  # type: ignore[union-attr]
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the exit status."""
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout)
        self._stderr_reader.join(5)
        return status

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._stderr_reader.join(5)


class RawSocket:
    """The WebSocket protocol by hand: send request frames, read answers and image frames."""

    def __init__(self, http: aiohttp.ClientSession, socket: aiohttp.ClientWebSocketResponse):
        self.http, self.socket = http, socket
        self._ids = iter(range(1, 1 << 62))
        self._unread: list[dict[str, Any]] = []  # answers that arrived batched in one frame

    @classmethod
    async def open(cls, url: str) -> RawSocket:
        http = aiohttp.ClientSession()
        return cls(http, await http.ws_connect(f"{url}/v1/ws", max_msg_size=0))

    async def send(self, op: str, **fields: Any) -> int:
        request_id = next(self._ids)
        await self.socket.send_str(json.dumps({"id": request_id, "op": op, **fields}))
        return request_id

    async def receive(self) -> tuple[dict[str, Any], dict[int, list[bytes]]]:
        """The next answer, and the image frames that came before it (by request id)."""
        images: dict[int, list[bytes]] = {}
        if self._unread:
            return self._unread.pop(0), images
        while True:
            message = await asyncio.wait_for(self.socket.receive(), 30)
            if message.type == aiohttp.WSMsgType.BINARY:
                request_id, index = IMAGE_HEADER.unpack_from(message.data)
                assert index == len(images.setdefault(request_id, []))
                images[request_id].append(message.data[IMAGE_HEADER.size :])
            elif message.type == aiohttp.WSMsgType.TEXT:
                answers = json.loads(message.data)
                answers = answers if isinstance(answers, list) else [answers]  # several answers may share a frame
                for answer in answers:
                    WSResponse.model_validate(answer)  # every answer has the documented envelope
                self._unread.extend(answers[1:])
                return answers[0], images
            else:
                raise ConnectionError(f"the socket closed: {message}")

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request and return its answer (no other request may be outstanding)."""
        request_id = await self.send(op, **fields)
        answer, _ = await self.receive()
        assert answer["id"] == request_id
        return answer

    async def close(self) -> None:
        await self.socket.close()
        await self.http.close()


def parse_prometheus(text: str) -> dict[str, float]:
    """`{'name{label="v"}': value}` for every sample of a Prometheus text exposition."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


class ChaosProxy:
    """A TCP proxy on 127.0.0.1 in front of `target_port` that breaks connections on purpose.

    Each accepted connection gets a byte budget drawn from a seeded RNG (`budget=(low, high)`,
    counted over both directions); once it is spent, the proxy forwards only the bytes that
    fit and aborts both sides (RST), so a frame can be cut anywhere: before the server read a
    request, after it applied it but before its answer arrived, or in the middle of a frame.
    `budget=None` never aborts on its own; `abort_all()` aborts every open connection now.
    While `swallow_requests` is True, bytes from clients are dropped instead of forwarded.
    """

    def __init__(self, target_port: int, *, seed: int = 0, budget: tuple[int, int] | None = None):
        self.target_port = target_port
        self.rng = random.Random(seed)
        self.budget = budget
        self.swallow_requests = False
        self.aborted = 0
        self.accepted = 0
        self._connections: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> ChaosProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        self.abort_all(count=False)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def abort_all(self, *, count: bool = True) -> int:
        """Abort every open connection (both sides); return how many there were."""
        connections = list(self._connections)
        for pair in connections:
            self._abort(pair, count=count)
        return len(connections)

    def _abort(self, pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter], *, count: bool = True) -> None:
        if pair in self._connections:
            self._connections.discard(pair)
            self.aborted += count
        for writer in pair:
            writer.transport.abort()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        pair = (client_writer, server_writer)
        self._connections.add(pair)
        budget = [self.rng.randint(*self.budget) if self.budget else -1]
        for reader, writer, upstream in ((client_reader, server_writer, True), (server_reader, client_writer, False)):
            task = asyncio.create_task(self._pump(reader, writer, pair, budget, upstream))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        budget: list[int],
        upstream: bool,
    ) -> None:
        try:
            while pair in self._connections:
                data = await reader.read(4096)
                if not data:
                    break
                if upstream and self.swallow_requests:
                    continue
                if budget[0] >= 0 and len(data) >= budget[0]:
                    writer.write(data[: budget[0]])  # the bytes that fit, then the cut
                    self._abort(pair)
                    return
                if budget[0] >= 0:
                    budget[0] -= len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        # one side closed (or broke): take the whole connection down without counting a drop
        if pair in self._connections:
            self._connections.discard(pair)
            for side in pair:
                side.transport.abort()
