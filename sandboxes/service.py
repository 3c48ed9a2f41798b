"""The sandbox service: code execution over HTTP, with our own API and SandboxFusion's.

    POST   /run                      one program in a fresh work directory -> ExecResult
    POST   /sessions                 open a session (a work directory that lasts) -> {session_id}
    POST   /sessions/{id}/run        one program in the session's work directory -> ExecResult
    POST   /sessions/{id}/files      write files: {"files": {path: base64}}
    GET    /sessions/{id}/files?path=a&path=b   read files -> {"files": {path: base64}}
    DELETE /sessions/{id}            close it (sessions idle past the timeout are closed too)
    GET    /health                   backend, programs running, sessions open
    POST   /run_code                 SandboxFusion's endpoint (see sandboxfusion.py)

Contracts: at most `max_concurrency` programs run at once (the rest wait in order); a request
body over `max_request_bytes` is a 413; malformed JSON is a 400 and a body of the wrong shape a
422; an unknown session is a 404; a bad file path or language is a 400; every error answer is
`{"error": {"type": ..., "message": ...}}` (except `/run_code`, which answers SandboxFusion's
SandboxError envelope for what the request asked that cannot run). A client that goes away
mid-run has its program killed. The service itself never stops for one request's fault.
Run it with `agentgym sandbox serve`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentgym.sandboxes.base import Sandbox
from agentgym.sandboxes.pool import SandboxPool
from agentgym.sandboxes.sandboxfusion import RunCodeRequest, run_code
from agentgym.sandboxes.service_protocol import (
    ClosedResponse,
    CreateSessionRequest,
    CreateSessionResponse,
    FilesResponse,
    Health,
    RunRequest,
    WriteFilesRequest,
    WrittenResponse,
)
from agentgym.sandboxes.service_sessions import SessionRegistry
from agentgym.sandboxes.types import (
    ExecResult,
    InvalidPath,
    Limits,
    SandboxError,
    SandboxUnavailable,
    UnsupportedLanguage,
)
from agentgym.server.errors import error_response, http_error, internal_error, validation_problems
from agentgym.server.protocol import ServiceError
from agentgym.server.run import bind, stop_signal

log = logging.getLogger("agentgym.sandboxes.service")

M = TypeVar("M", bound=BaseModel)


class ServiceConfig(BaseModel):
    """The service's settings (the flags of `agentgym sandbox serve`)."""

    model_config = ConfigDict(extra="forbid")

    max_concurrency: int = Field(8, ge=1, description="programs running at once; the rest wait in order")
    max_sessions: int = Field(256, ge=1, description="open sessions at most; 503 too_many_sessions beyond")
    session_idle_timeout_s: float = Field(600.0, gt=0, description="sessions idle this long are closed")
    max_request_bytes: int = Field(64 << 20, ge=1024, description="largest request body; 413 beyond")
    allow_network: bool = Field(False, description="False: a request asking for network access is a 403")
    max_limits: Limits = Field(
        default_factory=lambda: Limits(
            wall_s=300, cpu_s=300, memory_mb=4096, max_procs=512, max_output_bytes=64 << 20, max_file_bytes=1 << 30
        ),
        description="ceilings of what a request may ask for: above one, /run and sessions answer 403 "
        "limit_too_high and /run_code clamps to it",
    )
    shutdown_timeout_s: float = Field(10.0, ge=0, description="grace for programs in flight at shutdown")


class ServiceState:
    """What the handlers share: the backend behind its concurrency limit, and the sessions."""

    def __init__(self, sandbox: Sandbox, config: ServiceConfig):
        self.sandbox = sandbox
        self.config = config
        self.pool = SandboxPool(sandbox, config.max_concurrency)
        self.sessions = SessionRegistry(
            self.pool, max_sessions=config.max_sessions, idle_timeout_s=config.session_idle_timeout_s
        )
        self.accepting = True
        self.in_flight = 0
        self.drained = asyncio.Event()
        self.drained.set()


STATE = web.AppKey("sandbox_service", ServiceState)


def create_app(sandbox: Sandbox, config: ServiceConfig | None = None) -> web.Application:
    """The aiohttp application serving `sandbox` with `config`; closing the application
    (its cleanup) closes every session."""
    config = config or ServiceConfig()
    app = web.Application(middlewares=[_errors_as_json], client_max_size=config.max_request_bytes)
    app[STATE] = ServiceState(sandbox, config)
    app.add_routes(
        [
            web.get("/health", health),
            web.post("/run", run),
            web.post("/run_code", run_code_sandboxfusion),
            web.post("/sessions", create_session),
            web.post("/sessions/{session_id}/run", run_in_session),
            web.post("/sessions/{session_id}/files", write_files),
            web.get("/sessions/{session_id}/files", read_files),
            web.delete("/sessions/{session_id}", close_session),
        ]
    )
    app.cleanup_ctx.append(_reaper)
    app.on_shutdown.append(_stop_accepting)
    return app


# --- middleware and helpers --------------------------------------------------------------


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(body=model.model_dump_json(), status=status, content_type="application/json")


def _sandbox_error(error: SandboxError) -> ServiceError:
    if isinstance(error, (InvalidPath, UnsupportedLanguage)):
        return ServiceError(400, error.error_type, str(error))
    if isinstance(error, SandboxUnavailable):
        return ServiceError(503, error.error_type, str(error))
    return ServiceError(500, error.error_type, str(error))


@web.middleware
async def _errors_as_json(request: web.Request, handler: Any) -> web.StreamResponse:
    state = request.app[STATE]
    state.in_flight += 1
    state.drained.clear()
    try:
        return await handler(request)
    except ServiceError as error:
        return error_response(error)
    except SandboxError as error:
        if not isinstance(error, (InvalidPath, UnsupportedLanguage)):
            log.exception("sandbox failure", extra={"path": request.path})
        return error_response(_sandbox_error(error))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return error_response(http_error(error))
    except Exception as error:
        return error_response(internal_error(error, request, log))
    finally:
        state.in_flight -= 1
        if not state.in_flight:
            state.drained.set()


async def _body(request: web.Request, model: type[M], *, empty_ok: bool = False) -> M:
    """The request's JSON body as `model`: malformed JSON is 400, the wrong shape 422."""
    raw = await request.read()
    if empty_ok and not raw.strip():
        raw = b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        if any(detail["type"] == "json_invalid" for detail in error.errors()):
            raise ServiceError(400, "invalid_json", f"the body is not valid JSON: {error.errors()[0]['msg']}") from None
        raise ServiceError(422, "validation_error", validation_problems(error)) from None


def _state(request: web.Request) -> ServiceState:
    state = request.app[STATE]
    if not state.accepting:
        raise ServiceError(503, "shutting_down", "the sandbox service is shutting down", {"Retry-After": "1"})
    return state


def _limits(body: RunRequest | CreateSessionRequest, base: Limits, ceiling: Limits) -> Limits | None:
    if body.limits is None:
        return None
    try:
        limits = body.limits.over(base)
    except ValidationError as error:
        raise ServiceError(422, "validation_error", validation_problems(error, "limits")) from None
    asked = body.limits.model_dump(exclude_none=True)
    too_high = [
        f"{name}={getattr(limits, name)} (at most {getattr(ceiling, name)})"
        for name in asked
        if getattr(limits, name) > getattr(ceiling, name)
    ]
    if too_high:
        raise ServiceError(403, "limit_too_high", f"limits above this service's ceiling: {', '.join(too_high)}")
    return limits


def _check_network(state: ServiceState, network: bool | None) -> None:
    if network and not state.config.allow_network:
        raise ServiceError(403, "network_refused", "this sandbox service runs programs without network access")


def _run_kwargs(body: RunRequest, base: Limits, ceiling: Limits) -> dict[str, Any]:
    return {
        "language": body.language,
        "stdin": body.stdin,
        "files": body.files,
        "fetch": body.fetch,
        "limits": _limits(body, base, ceiling),
    }


def _result(result: ExecResult) -> web.Response:
    return web.Response(body=result.model_dump_json(), content_type="application/json")


# --- handlers ----------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = Health(
        status="ok" if state.accepting else "shutting_down",
        backend=state.sandbox.name,
        isolation=state.sandbox.isolation,
        running=state.pool.running,
        max_concurrency=state.pool.max_concurrency,
        sessions=len(state.sessions),
        max_sessions=state.sessions.max_sessions,
        session_idle_timeout_s=state.sessions.idle_timeout_s,
    )
    return _json(body, 200 if state.accepting else 503)


async def run(request: web.Request) -> web.Response:
    state = _state(request)
    body = await _body(request, RunRequest)
    _check_network(state, body.network)
    kwargs = _run_kwargs(body, state.sandbox.limits, state.config.max_limits)
    return _result(await state.pool.run(body.code, network=bool(body.network), **kwargs))


async def run_code_sandboxfusion(request: web.Request) -> web.Response:
    state = _state(request)
    body = await _body(request, RunCodeRequest)
    return _json(await run_code(state.pool, body, state.sandbox.limits, state.config.max_limits))


async def create_session(request: web.Request) -> web.Response:
    state = _state(request)
    body = await _body(request, CreateSessionRequest, empty_ok=True)
    _check_network(state, body.network)
    entry = await state.sessions.open(_limits(body, state.sandbox.limits, state.config.max_limits), body.network)
    return _json(CreateSessionResponse(session_id=entry.id, idle_timeout_s=state.sessions.idle_timeout_s), 201)


async def run_in_session(request: web.Request) -> web.Response:
    state = _state(request)
    state.sessions.get(request.match_info["session_id"])  # 404 before reading the body
    body = await _body(request, RunRequest)
    _check_network(state, body.network)
    async with state.sessions.use(request.match_info["session_id"]) as session:
        kwargs = _run_kwargs(body, session.limits, state.config.max_limits)
        return _result(await session.run(body.code, network=body.network, **kwargs))


async def write_files(request: web.Request) -> web.Response:
    state = _state(request)
    state.sessions.get(request.match_info["session_id"])
    body = await _body(request, WriteFilesRequest)
    async with state.sessions.use(request.match_info["session_id"]) as session:
        await session.write_files(body.files)
    return _json(WrittenResponse(written=list(body.files)))


async def read_files(request: web.Request) -> web.Response:
    state = _state(request)
    paths = request.query.getall("path", [])
    if not paths:
        raise ServiceError(400, "bad_request", "name the files to read with ?path=a.txt&path=b.txt")
    async with state.sessions.use(request.match_info["session_id"]) as session:
        return _json(FilesResponse(files=await session.read_files(paths)))


async def close_session(request: web.Request) -> web.Response:
    state = request.app[STATE]
    await state.sessions.close(request.match_info["session_id"])
    return _json(ClosedResponse(session_id=request.match_info["session_id"]))


# --- lifecycle ---------------------------------------------------------------------------


CLEANUP_GRACE_S = 15.0
"""How long closing the application waits for the requests aiohttp cancelled at shutdown to
finish killing their programs before it closes the sessions anyway."""


async def _reaper(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    task = asyncio.create_task(state.sessions.reap_forever())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # aiohttp cancels the handlers still running at the end of its shutdown timeout but does
    # not wait for them: wait here, so their programs are killed and reaped before we go on
    try:
        await asyncio.wait_for(state.drained.wait(), CLEANUP_GRACE_S)
    except asyncio.TimeoutError:
        log.warning("requests still in flight after the shutdown", extra={"in_flight": state.in_flight})
    await state.sessions.close_all()


async def _stop_accepting(app: web.Application) -> None:
    app[STATE].accepting = False


async def serve_until_stopped(
    sandbox: Sandbox,
    config: ServiceConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    access_log: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `sandbox` until SIGTERM or SIGINT, then shut down: stop listening, give the
    requests in flight `config.shutdown_timeout_s` to finish (then cancel them, which kills
    their programs), close every session. `on_ready` receives the base URL once the socket
    is bound (port 0 picks a free port)."""
    config = config or ServiceConfig()
    app = create_app(sandbox, config)
    runner = web.AppRunner(
        app,
        access_log=log if access_log else None,
        shutdown_timeout=config.shutdown_timeout_s,
        handler_cancellation=True,  # a client that hangs up has its program killed, not run on
    )
    url = await bind(runner, host, port)
    log.info("serving", extra={"url": url, "backend": sandbox.name, "config": json.loads(config.model_dump_json())})
    if on_ready is not None:
        on_ready(url)
    try:
        await stop_signal()
        log.info("signal received; shutting down")
    finally:
        await runner.cleanup()
