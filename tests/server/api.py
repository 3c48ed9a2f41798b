"""One client interface over both transports of the service, so each error path is tested
once per transport: `HttpApi` (JSON over /v1/...) and `WsApi` (frames on /v1/ws)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from tests.server.helpers import RawSocket


@dataclass
class Answer:
    status: int
    body: Any
    headers: CIMultiDict[str] | CIMultiDictProxy[str] = field(default_factory=CIMultiDict)
    images: list[bytes] = field(default_factory=list)

    @property
    def error_type(self) -> str:
        """The typed error of an error answer, after checking the body has exactly the shape
        `{"error": {"type": str, "message": str}}`."""
        assert self.status >= 400, f"expected an error, got {self.status}: {self.body}"
        assert isinstance(self.body, dict) and set(self.body) == {"error"}, self.body
        assert set(self.body["error"]) == {"type", "message"}, self.body
        assert isinstance(self.body["error"]["type"], str) and isinstance(self.body["error"]["message"], str)
        assert self.body["error"]["message"], "an error message says what went wrong"
        return self.body["error"]["type"]


class Api:
    transport = ""

    async def op(self, op: str, *, session_id: str | None = None, env_id: str | None = None, **body: Any) -> Answer:
        raise NotImplementedError

    async def create(self, env_id: str, **kwargs: Any) -> str:
        answer = await self.op("create", env_id=env_id, kwargs=kwargs)
        assert answer.status == 201, answer.body
        return answer.body["session_id"]

    async def started(self, env_id: str, seed: int = 0, **kwargs: Any) -> str:
        """A new session of `env_id`, reset with `seed` (as seq 1)."""
        session_id = await self.create(env_id, **kwargs)
        answer = await self.op("reset", session_id=session_id, seed=seed, seq=1)
        assert answer.status == 200, answer.body
        return session_id

    async def close(self) -> None:
        pass


class HttpApi(Api):
    transport = "http"
    _routes = {
        "create": ("POST", "/v1/sessions"),
        "list": ("GET", "/v1/sessions"),
        "get": ("GET", "/v1/sessions/{session_id}"),
        "close": ("DELETE", "/v1/sessions/{session_id}"),
        "reset": ("POST", "/v1/sessions/{session_id}/reset"),
        "step": ("POST", "/v1/sessions/{session_id}/step"),
        "fork": ("POST", "/v1/sessions/{session_id}/fork"),
    }

    def __init__(self, url: str):
        self.url = url
        self.http = aiohttp.ClientSession()

    async def op(self, op: str, *, session_id: str | None = None, env_id: str | None = None, **body: Any) -> Answer:
        if op == "describe":
            method, path = "GET", "/v1/envs" + (f"/{env_id}" if env_id else "")
        else:
            method, path = self._routes[op]
            path = path.format(session_id=session_id)
        if op == "create":  # the ids travel in the body
            body.update({"env_id": env_id} if env_id is not None else {})
            body.update({"session_id": session_id} if session_id is not None else {})
        data = json.dumps(body) if method == "POST" else None
        return await self.request(method, path, data=data)

    async def request(self, method: str, path: str, data: str | bytes | None = None, **kwargs: Any) -> Answer:
        async with self.http.request(method, self.url + path, data=data, **kwargs) as response:
            raw = await response.read()
            if response.content_type == "application/json":
                body = json.loads(raw)
            else:
                body = raw.decode()
            return Answer(response.status, body, response.headers)

    async def close(self) -> None:
        await self.http.close()


class WsApi(Api):
    transport = "ws"

    def __init__(self, socket: RawSocket):
        self.socket = socket

    @classmethod
    async def open(cls, url: str) -> WsApi:
        return cls(await RawSocket.open(url))

    async def op(self, op: str, *, session_id: str | None = None, env_id: str | None = None, **body: Any) -> Answer:
        if session_id is not None:
            body["session_id"] = session_id
        if env_id is not None:
            body["env_id"] = env_id
        request_id = await self.socket.send(op, **body)
        answer, images = await self.socket.receive()
        assert answer["id"] == request_id, answer
        assert answer["images"] == len(images.get(request_id, [])), answer
        return Answer(answer["status"], answer["body"], images=images.get(request_id, []))

    async def close(self) -> None:
        await self.socket.close()


async def open_api(transport: str, url: str) -> Api:
    return HttpApi(url) if transport == "http" else await WsApi.open(url)
