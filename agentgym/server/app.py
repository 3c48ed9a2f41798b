"""The aiohttp application that serves registered environments over HTTP and WebSocket.

Handlers validate the request with the protocol's pydantic models, call one `SessionManager`
method and serialise its answer. Every error leaves as `{"error": {"type", "message"}}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, TypeVar

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from agentgym.server.errors import error_response, http_error, internal_error, validation_problems
from agentgym.server.metrics import ServerMetrics
from agentgym.server.openapi import openapi_document
from agentgym.server.protocol import (
    IMAGE_HEADER,
    CreateSessionRequest,
    Health,
    ResetRequest,
    ResetResponse,
    ServiceError,
    SessionList,
    StepRequest,
    StepResponse,
    WSCreate,
    WSDescribe,
    WSListSessions,
    WSRequest,
    WSReset,
    WSSessionOp,
    WSStep,
)
from agentgym.server.sessions import ServerLimits, SessionManager

logger = logging.getLogger("agentgym.server")

M = TypeVar("M", bound=BaseModel)

MANAGER = web.AppKey("manager", SessionManager)
METRICS = web.AppKey("metrics", ServerMetrics)
SOCKETS = web.AppKey("sockets", set)
TASKS = web.AppKey("tasks", set)
SHUTDOWN_TIMEOUT = web.AppKey("shutdown_timeout", float)
MAX_MESSAGE_BYTES = web.AppKey("max_message_bytes", int)

_ws_request_adapter: TypeAdapter[Any] = TypeAdapter(
    WSRequest, config=ConfigDict(cache_strings="keys")
)  # see protocol._Request


def create_app(
    env_ids: list[str], limits: ServerLimits | None = None, *, shutdown_timeout_s: float = 30.0
) -> web.Application:
    """An application serving sessions of `env_ids` (registered ids) within `limits`."""
    limits = limits or ServerLimits()
    metrics = ServerMetrics()
    max_message_bytes = max(1 << 20, 2 * limits.max_action_bytes + (64 << 10))
    app = web.Application(middlewares=[_errors_as_json], client_max_size=max_message_bytes)
    app[MAX_MESSAGE_BYTES] = max_message_bytes
    app[METRICS] = metrics
    app[MANAGER] = SessionManager(env_ids, limits, metrics)
    app[SOCKETS] = set()
    app[TASKS] = set()
    app[SHUTDOWN_TIMEOUT] = shutdown_timeout_s
    app.add_routes(
        [
            web.get("/healthz", health),
            web.get("/metrics", prometheus_metrics),
            web.get("/v1/openapi.json", openapi),
            web.get("/v1/envs", list_envs),
            web.get("/v1/envs/{env_id:.+}", describe_env),
            web.post("/v1/sessions", create_session),
            web.get("/v1/sessions", list_sessions),
            web.get("/v1/sessions/{session_id}", get_session),
            web.delete("/v1/sessions/{session_id}", close_session),
            web.post("/v1/sessions/{session_id}/reset", reset_session),
            web.post("/v1/sessions/{session_id}/step", step_session),
            web.post("/v1/sessions/{session_id}/fork", fork_session),
            web.get("/v1/ws", websocket),
        ]
    )
    app.cleanup_ctx.append(_reaper)
    app.on_shutdown.append(drain)
    app.on_cleanup.append(_close_sessions)
    return app


# --- middleware and helpers --------------------------------------------------------------


def _json(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=model.model_dump_json(), status=status, content_type="application/json", headers=headers)


def _error_response(request: web.Request, error: ServiceError) -> web.Response:
    request.app[METRICS].errors.labels(error.error_type).inc()
    return error_response(error)


@web.middleware
async def _errors_as_json(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServiceError as error:
        return _error_response(request, error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _error_response(request, http_error(error))
    except Exception as error:
        return _error_response(request, internal_error(error, request, logger))


def _validate(model: type[M], raw: bytes | str) -> M:
    """Parse and validate a JSON body; malformed JSON is 400, a schema violation 422."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise _validation_error(error) from None


def _validation_error(error: ValidationError) -> ServiceError:
    if any(detail["type"] == "json_invalid" for detail in error.errors()):
        return ServiceError(400, "invalid_json", f"the body is not valid JSON: {error.errors()[0]['msg']}")
    return ServiceError(422, "validation_error", validation_problems(error))


async def _body(request: web.Request, model: type[M], *, empty_ok: bool = False) -> M:
    raw = await request.read()
    if empty_ok and not raw.strip():
        raw = b"{}"
    return _validate(model, raw)


def _manager(request: web.Request) -> SessionManager:
    return request.app[MANAGER]


# --- HTTP handlers -----------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    manager = _manager(request)
    body = Health(
        status="ok" if manager.accepting else "shutting_down",
        sessions=len(manager.sessions),
        max_sessions=manager.limits.max_sessions,
    )
    return _json(body, 200 if manager.accepting else 503)


async def prometheus_metrics(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.content_type})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


async def list_envs(request: web.Request) -> web.Response:
    return _json(_manager(request).describe_all())


async def describe_env(request: web.Request) -> web.Response:
    return _json(_manager(request).describe(request.match_info["env_id"]))


async def create_session(request: web.Request) -> web.Response:
    return _json(await _manager(request).create(await _body(request, CreateSessionRequest)), 201)


async def list_sessions(request: web.Request) -> web.Response:
    return _json(SessionList(sessions=_manager(request).list()))


async def get_session(request: web.Request) -> web.Response:
    return _json(_manager(request).get(request.match_info["session_id"]).info())


async def close_session(request: web.Request) -> web.Response:
    return _json(await _manager(request).close(request.match_info["session_id"]))


async def reset_session(request: web.Request) -> web.Response:
    body = await _body(request, ResetRequest, empty_ok=True)
    return _json(await _manager(request).reset(request.match_info["session_id"], body))


async def step_session(request: web.Request) -> web.Response:
    body = await _body(request, StepRequest)
    return _json(await _manager(request).step(request.match_info["session_id"], body))


async def fork_session(request: web.Request) -> web.Response:
    return _json(await _manager(request).fork(request.match_info["session_id"]), 201)


# --- WebSocket ---------------------------------------------------------------------------


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """Multiplex many operations on one connection; each request frame runs as its own task,
    so one connection carries many concurrent steps (of different sessions)."""
    socket = web.WebSocketResponse(max_msg_size=request.app[MAX_MESSAGE_BYTES], heartbeat=30.0)
    await socket.prepare(request)
    outbox = _Outbox(socket)
    tasks = request.app[TASKS]
    request.app[SOCKETS].add(socket)
    try:
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                task = asyncio.create_task(_answer(request.app, outbox, message.data))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif message.type == WSMsgType.BINARY:
                error = ServiceError(
                    400,
                    "binary_request",
                    "requests are JSON text frames; binary frames only carry images to the client",
                )
                await outbox.send(None, 400, error.body().model_dump_json(), [])
    finally:
        request.app[SOCKETS].discard(socket)
    return socket


async def _answer(app: web.Application, outbox: _Outbox, raw: str) -> None:
    request_id: int | None = None
    images: list[bytes] = []
    try:
        try:
            operation = _ws_request_adapter.validate_json(raw)
        except ValidationError as error:
            request_id = _peek_id(raw)  # answer even a rejected request under its id, if it has one
            raise _validation_error(error) from None
        request_id = operation.id
        status, answer = await _run(app[MANAGER], operation)
        body, images = _split_images(answer)
    except ServiceError as error:
        app[METRICS].errors.labels(error.error_type).inc()
        status, body = error.status, error.body().model_dump_json()
    except Exception as error:
        logger.exception("unhandled error on the WebSocket")
        app[METRICS].errors.labels("internal_error").inc()
        status, body = (
            500,
            ServiceError(500, "internal_error", f"{type(error).__name__}: {error}").body().model_dump_json(),
        )
    await outbox.send(request_id, status, body, images)


async def _run(manager: SessionManager, operation: Any) -> tuple[int, BaseModel]:
    """Apply one WebSocket operation; the same calls the HTTP handlers make."""
    if isinstance(operation, WSStep):
        return 200, await manager.step(operation.session_id, operation)
    if isinstance(operation, WSReset):
        return 200, await manager.reset(operation.session_id, operation)
    if isinstance(operation, WSCreate):
        return 201, await manager.create(operation)
    if isinstance(operation, WSSessionOp):
        if operation.op == "fork":
            return 201, await manager.fork(operation.session_id)
        if operation.op == "close":
            return 200, await manager.close(operation.session_id)
        return 200, manager.get(operation.session_id).info()
    if isinstance(operation, WSListSessions):
        return 200, SessionList(sessions=manager.list())
    assert isinstance(operation, WSDescribe)
    return 200, manager.describe(operation.env_id) if operation.env_id else manager.describe_all()


def _peek_id(raw: str) -> int | None:
    """The request id of a frame, when it has a usable one, so even a rejected request is answered under its id."""
    try:
        request_id = json.loads(raw).get("id")
    except (ValueError, AttributeError):
        return None
    return request_id if isinstance(request_id, int) and 0 <= request_id < 2**64 else None


def _split_images(answer: BaseModel) -> tuple[str, list[bytes]]:
    """The answer as JSON without its observation's images, and those images."""
    if isinstance(answer, ResetResponse):
        return answer.model_dump_json(exclude={"observation": {"images"}}), list(answer.observation.images)
    if isinstance(answer, StepResponse):
        exclude = {"result": {"observation": {"images"}}}
        return answer.model_dump_json(exclude=exclude), list(answer.result.observation.images)
    return answer.model_dump_json(), []


class _Outbox:
    """The answers on their way to one WebSocket.

    An answer is a `WSResponse`, written out here around the body's JSON (so each answer is
    serialised once). Answers without images that are ready in the same event-loop iteration
    leave together in one text frame, as a JSON array: under load this saves a frame and a
    system call per answer. An answer with images is sent on its own, right after its binary
    image frames. A vanished client is not an error: the operation was applied, and its retry
    with the same seq gets the stored answer.
    """

    def __init__(self, socket: web.WebSocketResponse):
        self.socket = socket
        self._lock = asyncio.Lock()
        self._ready: list[str] = []
        self._rescued: set[asyncio.Task[None]] = set()

    async def send(self, request_id: int | None, status: int, body: str, images: list[bytes]) -> None:
        answer = f'{{"id":{"null" if request_id is None else request_id},"status":{status},"body":{body},"images":{len(images)}}}'
        if images:
            await self._write(
                [IMAGE_HEADER.pack(request_id or 0, index) + image for index, image in enumerate(images)], answer
            )
            return
        self._ready.append(answer)
        if len(self._ready) > 1:
            return  # the first answer's task sends this one with it
        try:
            await asyncio.sleep(0)  # let the answers completed in this loop iteration join
        except asyncio.CancelledError:  # the answers collected here are others' too: they still leave
            task = asyncio.get_running_loop().create_task(self._write_ready())
            self._rescued.add(task)
            task.add_done_callback(self._rescued.discard)
            raise
        await self._write_ready()

    async def _write_ready(self) -> None:
        ready, self._ready = self._ready, []
        await self._write([], ready[0] if len(ready) == 1 else f"[{','.join(ready)}]")

    async def _write(self, binary_frames: list[bytes], text: str) -> None:
        if self.socket.closed:
            return
        try:
            async with self._lock:
                for frame in binary_frames:
                    await self.socket.send_bytes(frame)
                await self.socket.send_str(text)
        except (ConnectionError, RuntimeError) as error:
            logger.info("client went away before its answers were sent", extra={"reason": str(error)})


# --- lifecycle ---------------------------------------------------------------------------


async def _reaper(app: web.Application) -> Any:
    task = asyncio.create_task(app[MANAGER].reap_idle_forever())
    yield
    task.cancel()


async def drain(app: web.Application) -> None:
    """Graceful shutdown, step one: refuse new work (503 `shutting_down`), finish what is in
    flight (and send its answers), then close the WebSockets with 1001 (going away).

    Runs on the app's shutdown, and is safe to call again. Call it yourself *before* the
    runner's cleanup, as `serve_until_stopped` does: once aiohttp's runner starts its cleanup
    it closes the listening socket and stops reading from open connections, so requests that
    arrived on a WebSocket during the drain would get no answer instead of a 503, and
    `/healthz` could not say `shutting_down` to a load balancer.
    """
    manager = app[MANAGER]
    if manager.accepting:
        logger.info("shutting down", extra={"sessions": len(manager.sessions)})
    await manager.drain(app[SHUTDOWN_TIMEOUT])
    if app[TASKS]:
        await asyncio.wait(set(app[TASKS]), timeout=app[SHUTDOWN_TIMEOUT])
    for socket in set(app[SOCKETS]):
        await socket.close(code=1001, message=b"server shutting down")


async def _close_sessions(app: web.Application) -> None:
    """Graceful shutdown, step two: close every environment."""
    await app[MANAGER].close_all()
    logger.info("stopped")
