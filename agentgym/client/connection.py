"""One multiplexed WebSocket connection to an environment server (protocol v1).

Many `RemoteEnv`s share one `Connection`. Each request gets an id; a reader task matches
answers (and the binary image frames sent before them) to the waiting requests. When the
socket drops, every waiting request fails with `ConnectionLost`, and the next request opens a
new socket; retrying a numbered operation is safe because the server keeps the last answer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from agentgym.errors import ConnectionLost
from agentgym.server.protocol import IMAGE_HEADER
from agentgym.timeouts import with_timeout

logger = logging.getLogger("agentgym.client")


def http_base_url(url: str) -> str:
    """`ws://h:p/...`, `http://h:p/...` -> `http://h:p` (wss/https -> https)."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.netloc:
        raise ValueError(f"not a server URL: {url!r} (expected ws://host:port or http://host:port)")
    scheme = "https" if parts.scheme in ("wss", "https") else "http"
    return urlunsplit((scheme, parts.netloc, "", "", ""))


class Connection:
    """A lazily (re)connected WebSocket to `base_url`/v1/ws carrying many concurrent requests."""

    def __init__(self, base_url: str, *, request_timeout_s: float = 300.0, connect_timeout_s: float = 10.0):
        self.base_url = http_base_url(base_url)
        self.request_timeout_s = request_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[tuple[int, dict[str, Any], list[bytes]]]] = {}
        self._sent_on: dict[int, aiohttp.ClientWebSocketResponse] = {}  # request id -> its socket
        self._images: dict[int, dict[int, bytes]] = {}
        self._http: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connect_lock = asyncio.Lock()
        self.closed = False

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def request(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any], list[bytes]]:
        """Send one operation; return the answer's status, body and images.

        Raises:
            ConnectionLost: the socket dropped before the answer came, or could not be opened.
        """
        socket = await self._connected()
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._sent_on[request_id] = socket
        try:
            await socket.send_str(json.dumps({**payload, "id": request_id}))
            return await with_timeout(future, self.request_timeout_s)
        except ConnectionLost:  # the reader failed the request: its reason is the right message
            raise
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as error:
            raise ConnectionLost(f"sending to {self.base_url} failed: {error}") from error
        except asyncio.TimeoutError:
            raise ConnectionLost(f"no answer from {self.base_url} within {self.request_timeout_s} s") from None
        finally:
            self._pending.pop(request_id, None)
            self._sent_on.pop(request_id, None)
            self._images.pop(request_id, None)

    async def close(self) -> None:
        self.closed = True
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        self._fail_pending("the connection was closed")

    async def _connected(self) -> aiohttp.ClientWebSocketResponse:
        if self.closed:
            raise ConnectionLost("the connection was closed by its owner")
        socket = self._socket
        if socket is not None and not socket.closed:
            return socket
        async with self._connect_lock:
            if self._socket is not None and not self._socket.closed:
                return self._socket
            if self._http is None:
                connector = aiohttp.TCPConnector(limit=0)
                self._http = aiohttp.ClientSession(connector=connector)
            try:
                connecting = self._http.ws_connect(
                    f"{self.base_url}/v1/ws",
                    timeout=aiohttp.ClientWSTimeout(ws_close=self.connect_timeout_s),
                    max_msg_size=0,
                    heartbeat=30.0,
                )
                self._socket = await with_timeout(connecting, self.connect_timeout_s)
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as error:
                raise ConnectionLost(f"cannot open a WebSocket to {self.base_url}/v1/ws: {error}") from error
            self._reader = asyncio.create_task(self._read(self._socket))
            return self._socket

    async def _read(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for message in socket:
                if message.type == aiohttp.WSMsgType.BINARY:
                    request_id, index = IMAGE_HEADER.unpack_from(message.data)
                    self._images.setdefault(request_id, {})[index] = message.data[IMAGE_HEADER.size :]
                elif message.type == aiohttp.WSMsgType.TEXT:
                    answers = json.loads(message.data)  # one answer, or several as an array
                    for answer in answers if isinstance(answers, list) else (answers,):
                        self._deliver(answer)
        except Exception as error:  # a broken frame or socket: every waiter learns of it below
            logger.warning("WebSocket to %s failed: %s", self.base_url, error)
        finally:
            self._fail_pending(f"the WebSocket to {self.base_url} closed ({socket.close_code})", socket)
            # Nobody reads this socket any more. If a bad frame stopped the reader it is still open:
            # close it (marked closed before the first await), so the next request opens a new one
            # instead of waiting for an answer that no one would deliver.
            if not socket.closed:
                await socket.close()

    def _deliver(self, answer: dict[str, Any]) -> None:
        request_id = answer.get("id")
        future = self._pending.get(request_id) if isinstance(request_id, int) else None
        frames = self._images.pop(request_id, {}) if isinstance(request_id, int) else {}
        if future is None or future.done():
            logger.warning("answer for an unknown request id %r: %s", request_id, answer.get("body"))
            return
        images = [frames[index] for index in sorted(frames)]
        if len(images) != answer.get("images", 0):
            future.set_exception(ConnectionLost(f"expected {answer.get('images')} image frames, got {len(images)}"))
            return
        future.set_result((answer["status"], answer["body"], images))

    def _fail_pending(self, reason: str, socket: aiohttp.ClientWebSocketResponse | None = None) -> None:
        """Fail the waiting requests sent on `socket` (all of them when None). Requests already
        sent on a newer socket are left alone: an old reader that finishes late must not fail them."""
        for request_id, future in self._pending.items():
            if not future.done() and (socket is None or self._sent_on.get(request_id) is socket):
                future.set_exception(ConnectionLost(reason))
