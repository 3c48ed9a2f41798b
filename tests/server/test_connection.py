"""`Connection` against a scripted fake server: what it does when the server misbehaves."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agentgym.client import Connection
from agentgym.errors import ConnectionLost
from agentgym.server.protocol import IMAGE_HEADER

Script = Callable[[web.WebSocketResponse, dict, int], "asyncio.Future[None] | None"]


@pytest.fixture
async def fake_server() -> AsyncIterator[Callable[[Script], asyncio.Future[str]]]:
    """`await fake_server(script)` serves /v1/ws, calling `script(socket, request, connection_number)`
    for every request frame; returns the base URL. `.connections` counts the sockets opened."""
    servers: list[TestServer] = []

    async def start(script: Script) -> str:
        connections = [0]

        async def websocket(request: web.Request) -> web.WebSocketResponse:
            socket = web.WebSocketResponse()
            await socket.prepare(request)
            connections[0] += 1
            number = connections[0]
            async for message in socket:
                await script(socket, json.loads(message.data), number)
            return socket

        app = web.Application()
        app.router.add_get("/v1/ws", websocket)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        start.connections = connections  # type: ignore[attr-defined]
        return str(server.make_url("")).rstrip("/")

    yield start  # type: ignore[misc]
    for server in servers:
        await server.close()


def answer(request: dict, **body: object) -> str:
    return json.dumps({"id": request["id"], "status": 200, "body": body, "images": 0})


async def test_a_broken_frame_fails_the_waiters_at_once_and_the_next_request_reconnects(fake_server) -> None:
    async def script(socket: web.WebSocketResponse, request: dict, number: int) -> None:
        if number == 1:
            await socket.send_bytes(b"\x00")  # shorter than an image header
        else:
            await socket.send_str(answer(request, ok=number))

    url = await fake_server(script)
    connection = Connection(url, request_timeout_s=30)
    started = time.monotonic()
    with pytest.raises(ConnectionLost):
        await connection.request({"op": "list"})
    assert time.monotonic() - started < 5  # not the 30 s request timeout
    assert await connection.request({"op": "list"}) == (200, {"ok": 2}, [])
    assert fake_server.connections[0] == 2
    await connection.close()


async def test_images_of_an_unknown_request_are_not_kept(fake_server) -> None:
    async def script(socket: web.WebSocketResponse, request: dict, number: int) -> None:
        await socket.send_bytes(IMAGE_HEADER.pack(999, 0) + b"\x89PNG\r\n\x1a\nstray")
        await socket.send_str(json.dumps({"id": 999, "status": 200, "body": {}, "images": 1}))
        await socket.send_str(answer(request, ok=True))

    url = await fake_server(script)
    connection = Connection(url)
    assert (await connection.request({"op": "list"}))[1] == {"ok": True}
    assert connection._images == {}
    await connection.close()


async def test_a_late_reader_of_an_old_socket_does_not_fail_requests_on_the_new_one(fake_server) -> None:
    release = asyncio.Event()

    async def script(socket: web.WebSocketResponse, request: dict, number: int) -> None:
        if number == 1:
            await socket.close()
            return
        await release.wait()
        await socket.send_str(answer(request, ok=number))

    url = await fake_server(script)
    connection = Connection(url)
    with pytest.raises(ConnectionLost):
        await connection.request({"op": "list"})
    old_socket = connection._socket
    waiting = asyncio.create_task(connection.request({"op": "list"}))
    await asyncio.sleep(0.05)
    assert connection._socket is not old_socket
    connection._fail_pending("the old socket's reader finished late", old_socket)
    release.set()
    assert (await waiting)[1] == {"ok": 2}
    await connection.close()


async def test_a_closed_connection_refuses_requests(fake_server) -> None:
    async def script(socket: web.WebSocketResponse, request: dict, number: int) -> None:
        await socket.send_str(answer(request))

    connection = Connection(await fake_server(script))
    await connection.request({"op": "list"})
    await connection.close()
    with pytest.raises(ConnectionLost):
        await connection.request({"op": "list"})


async def test_an_unreachable_server_is_connection_lost() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connection = Connection(f"http://127.0.0.1:{port}", connect_timeout_s=2)
    with pytest.raises(ConnectionLost, match="cannot open a WebSocket"):
        await connection.request({"op": "list"})
    await connection.close()


async def test_a_server_that_never_answers_the_upgrade_fails_within_the_connect_timeout() -> None:
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    connection = Connection(f"http://127.0.0.1:{port}", connect_timeout_s=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionLost, match="cannot open a WebSocket"):
            await connection.request({"op": "list"})
        assert time.monotonic() - started < 3.0
    finally:
        await connection.close()
        silent.close()
