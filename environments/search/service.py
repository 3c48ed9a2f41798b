"""The retrieval service: a retriever over HTTP, compatible with Search-R1's retrieval server.

    POST /retrieve   {"queries": [str, ...], "topk": k, "return_scores": bool}
                     -> {"result": [[hit, ...] per query]}
    GET  /health     {"status", "retriever", "documents", "default_topk", "max_topk", "max_queries"}

/retrieve is Search-R1's (Jin et al., arXiv 2503.09516; search_r1/search/retrieval_server.py):
`topk` missing, null or 0 means the server's default (3, as Search-R1's `--topk`); a hit is
`{"document": {"id", "contents"}, "score": float}` with `return_scores` true and the bare
`{"id", "contents"}` document without (the default), `contents` being `'"<title>"\\n<text>'`.
Values are read as leniently as Search-R1's pydantic model reads them ("3" is 3, unknown fields
are ignored), so a client written for Search-R1 works unchanged.

Contracts: every error answer is `{"error": {"type", "message"}}`: malformed JSON is a 400, a
body of the wrong shape (queries not a list of strings, negative topk) a 422 `validation_error`,
more than `max_queries` queries a 422 `too_many_queries`, topk above `max_topk` a 422
`topk_too_large`, a body over `max_request_bytes` a 413. Searches run in a pool of
`search_threads` threads, never on the event loop, so /health answers while they run. The
index is loaded before the socket is bound: once `serve_until_stopped` reports its URL, it serves.
Run it with `agentgym search serve`; query it with `RemoteRetriever(url)` or any Search-R1 client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentgym.environments.search.documents import Document
from agentgym.environments.search.retrieval import Hit, Retriever
from agentgym.server.errors import error_response, http_error, internal_error, validation_problems
from agentgym.server.protocol import ServiceError
from agentgym.server.run import bind, stop_signal

log = logging.getLogger("agentgym.environments.search.service")

DEFAULT_PORT = 8000
"""Search-R1's retrieval server port (its clients default to http://127.0.0.1:8000/retrieve)."""


class ServiceConfig(BaseModel):
    """The service's settings (the flags of `agentgym search serve`)."""

    model_config = ConfigDict(extra="forbid")

    default_topk: int = Field(3, ge=1, description="hits per query when a request gives no topk (Search-R1: 3)")
    max_topk: int = Field(100, ge=1, description="largest topk a request may ask for; 422 beyond")
    max_queries: int = Field(512, ge=1, description="most queries in one request; 422 beyond")
    max_request_bytes: int = Field(4 << 20, ge=1024, description="largest request body; 413 beyond")
    search_threads: int = Field(2, ge=1, description="threads running searches (the event loop never does)")
    shutdown_timeout_s: float = Field(10.0, ge=0, description="grace for requests in flight at shutdown")


class RetrieveRequest(BaseModel):
    """Search-R1's QueryRequest: lax types as pydantic reads them by default, extra fields ignored."""

    model_config = ConfigDict(extra="ignore")

    queries: list[str]
    topk: int | None = Field(None, description="hits per query; missing, null or 0: the server's default")
    return_scores: bool = Field(False, description="wrap each hit as {document, score}")


class ServiceState:
    """What the handlers share."""

    def __init__(self, retriever: Retriever, num_documents: int, config: ServiceConfig):
        self.retriever = retriever
        self.num_documents = num_documents
        self.config = config
        self.executor = ThreadPoolExecutor(config.search_threads, thread_name_prefix="retrieve")


STATE = web.AppKey("search_service", ServiceState)


def create_app(retriever: Retriever, num_documents: int, config: ServiceConfig | None = None) -> web.Application:
    """The aiohttp application serving `retriever` (over `num_documents` documents, for /health)."""
    config = config or ServiceConfig()
    app = web.Application(middlewares=[_errors_as_json], client_max_size=config.max_request_bytes)
    app[STATE] = ServiceState(retriever, num_documents, config)
    app.add_routes([web.get("/health", health), web.post("/retrieve", retrieve)])
    app.on_cleanup.append(_stop_threads)
    return app


# --- middleware and helpers ------------------------------------------------------------------


@web.middleware
async def _errors_as_json(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServiceError as error:
        return error_response(error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return error_response(http_error(error))
    except Exception as error:
        return error_response(internal_error(error, request, log))


async def _retrieve_request(request: web.Request) -> RetrieveRequest:
    raw = await request.read()
    try:
        return RetrieveRequest.model_validate_json(raw)
    except ValidationError as error:
        if any(detail["type"] == "json_invalid" for detail in error.errors()):
            raise ServiceError(400, "invalid_json", f"the body is not valid JSON: {error.errors()[0]['msg']}") from None
        raise ServiceError(422, "validation_error", validation_problems(error)) from None


def document_json(document: Document) -> dict[str, str]:
    """A document as Search-R1's corpus row: `{"id", "contents"}`."""
    return {"id": document.id, "contents": document.contents}


def _answer(retriever: Retriever, queries: list[str], topk: int, return_scores: bool) -> bytes:
    """Search and serialise (both in a worker thread: a large answer takes a while to encode)."""
    results = retriever.search(queries, topk)
    if return_scores:
        body = [[{"document": document_json(h.document), "score": h.score} for h in hits] for hits in results]
    else:
        body = [[document_json(h.document) for h in hits] for hits in results]
    return json.dumps({"result": body}, ensure_ascii=False).encode()


# --- handlers --------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        {
            "status": "ok",
            "retriever": state.retriever.name,
            "documents": state.num_documents,
            "default_topk": state.config.default_topk,
            "max_topk": state.config.max_topk,
            "max_queries": state.config.max_queries,
        }
    )


async def retrieve(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _retrieve_request(request)
    config = state.config
    topk = body.topk or config.default_topk  # Search-R1: `if not request.topk: default`
    if topk < 0:
        raise ServiceError(
            422, "validation_error", f"topk: must be a positive integer (or 0 for the default), got {topk}"
        )
    if topk > config.max_topk:
        raise ServiceError(422, "topk_too_large", f"topk {topk} is above this server's limit of {config.max_topk}")
    if len(body.queries) > config.max_queries:
        raise ServiceError(
            422,
            "too_many_queries",
            f"{len(body.queries)} queries in one request; this server takes at most {config.max_queries}",
        )
    loop = asyncio.get_running_loop()
    payload = await loop.run_in_executor(
        state.executor, _answer, state.retriever, body.queries, topk, body.return_scores
    )
    return web.Response(body=payload, content_type="application/json")


# --- lifecycle -------------------------------------------------------------------------------


async def _stop_threads(app: web.Application) -> None:
    app[STATE].executor.shutdown(wait=False, cancel_futures=True)


async def serve_until_stopped(
    retriever: Retriever,
    num_documents: int,
    config: ServiceConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    access_log: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Load the retriever's index, serve it until SIGTERM or SIGINT, then shut down (requests in
    flight get `config.shutdown_timeout_s` to finish). `on_ready` receives the base URL once the
    socket is bound (port 0 picks a free port)."""
    config = config or ServiceConfig()
    load = getattr(retriever, "load", None)
    if load is not None:
        await asyncio.to_thread(load)
    app = create_app(retriever, num_documents, config)
    runner = web.AppRunner(app, access_log=log if access_log else None, shutdown_timeout=config.shutdown_timeout_s)
    url = await bind(runner, host, port)
    log.info("serving", extra={"url": url, "retriever": retriever.name, "documents": num_documents})
    if on_ready is not None:
        on_ready(url)
    try:
        await stop_signal()
        log.info("signal received; shutting down")
    finally:
        await runner.cleanup()


# --- the client ------------------------------------------------------------------------------


class RemoteRetrieverError(RuntimeError):
    """The retrieval service answered an error (or none)."""

    def __init__(self, status: int, error_type: str, message: str):
        super().__init__(f"{status} {error_type}: {message}")
        self.status, self.error_type, self.message = status, error_type, message


def parse_contents(contents: str) -> tuple[str, str]:
    """(title, text) from Search-R1's `'"<title>"\\n<text>'` (the inverse of `Document.contents`)."""
    first, _, text = contents.partition("\n")
    title = first[1:-1] if len(first) >= 2 and first[0] == first[-1] == '"' else first
    return title, text


class RemoteRetriever:
    """A Retriever that asks a retrieval service (ours, or any Search-R1-compatible /retrieve).

    `url` is the service's base URL or its /retrieve URL. Hits carry Documents rebuilt from the
    answer's id and contents. A 4xx/5xx or an unreachable service raises RemoteRetrieverError.
    `search` blocks (urllib); `asearch` uses one aiohttp session per event loop (close it with
    `aclose`).
    """

    name = "remote"

    def __init__(self, url: str, *, timeout_s: float = 60.0):
        url = url.rstrip("/")
        self.url = url if url.endswith("/retrieve") else f"{url}/retrieve"
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def _payload(queries: Sequence[str], topk: int) -> bytes:
        if isinstance(queries, str):
            raise TypeError("search takes a list of queries, not one string")
        if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
            raise ValueError(f"topk must be a positive integer, got {topk!r}")
        return json.dumps({"queries": list(queries), "topk": topk, "return_scores": True}).encode()

    @staticmethod
    def _hits(status: int, raw: bytes) -> list[list[Hit]]:
        try:
            body = json.loads(raw)
        except ValueError:
            raise RemoteRetrieverError(status, "invalid_response", raw[:200].decode(errors="replace")) from None
        if status >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise RemoteRetrieverError(status, error.get("type", "http_error"), error.get("message", str(body)[:200]))
        out = []
        try:
            for hits in body["result"]:
                row = []
                for hit in hits:
                    document = hit["document"] if "document" in hit else hit  # a server that left out scores
                    title, text = parse_contents(document["contents"])
                    row.append(Hit(Document(str(document.get("id", "")), title, text), float(hit.get("score", 0.0))))
                out.append(row)
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise RemoteRetrieverError(status, "invalid_response", f"not a /retrieve answer ({error!r})") from None
        return out

    def search(self, queries: Sequence[str], topk: int = 3) -> list[list[Hit]]:
        """The best `topk` hits for each query, from the service (blocking)."""
        payload = self._payload(queries, topk)
        request = urllib.request.Request(self.url, data=payload, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return self._hits(response.status, response.read())
        except urllib.error.HTTPError as error:
            return self._hits(error.code, error.read())
        except (urllib.error.URLError, OSError) as error:
            raise RemoteRetrieverError(0, "unreachable", f"{self.url}: {error}") from None

    async def asearch(self, queries: Sequence[str], topk: int = 3) -> list[list[Hit]]:
        """`search` without blocking the event loop."""
        payload = self._payload(queries, topk)
        session = self._client()
        try:
            async with session.post(self.url, data=payload, headers={"Content-Type": "application/json"}) as response:
                return self._hits(response.status, await response.read())
        except aiohttp.ClientError as error:
            raise RemoteRetrieverError(0, "unreachable", f"{self.url}: {error}") from None

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
            self._session_loop = loop
        return self._session

    async def aclose(self) -> None:
        """Close the aiohttp session of `asearch` (if any)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
