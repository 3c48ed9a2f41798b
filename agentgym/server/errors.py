"""The JSON error answers every agentgym service gives: `{"error": {"type", "message"}}` with
the status of the `ServiceError`, also for aiohttp's own errors (an unknown route, a wrong
method, a body over the size limit) and for an unexpected exception (500, logged)."""

from __future__ import annotations

import logging

from aiohttp import web
from pydantic import ValidationError

from agentgym.server.protocol import ServiceError

HTTP_ERROR_TYPES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
"""`error.type` of aiohttp's own HTTP errors; any other status is "http_error"."""


def error_response(error: ServiceError) -> web.Response:
    """The JSON answer of `error`."""
    return web.Response(
        body=error.body().model_dump_json(), status=error.status, content_type="application/json", headers=error.headers
    )


def http_error(error: web.HTTPException) -> ServiceError:
    """aiohttp's own error (status >= 400) as ours, keeping the headers that carry meaning (a
    405's Allow, which RFC 9110 requires)."""
    error_type = HTTP_ERROR_TYPES.get(error.status, "http_error")
    headers = {
        name: value for name, value in error.headers.items() if name.lower() not in ("content-type", "content-length")
    }
    return ServiceError(error.status, error_type, error.reason or error.text or error_type, headers)


def internal_error(error: Exception, request: web.Request, log: logging.Logger) -> ServiceError:
    """An exception no handler expected: logged with its traceback, answered as a 500."""
    log.exception("unhandled error", extra={"path": request.path})
    return ServiceError(500, "internal_error", f"{type(error).__name__}: {error}")


def validation_problems(error: ValidationError, prefix: str = "") -> str:
    """A short, readable summary of a pydantic ValidationError (the first five problems), each
    located by its field path under `prefix` ("body" for the whole body)."""
    problems = []
    for detail in error.errors()[:5]:
        where = ".".join(str(part) for part in (prefix, *detail["loc"]) if part != "") or "body"
        problems.append(f"{where}: {detail['msg']}")
    return "; ".join(problems)
