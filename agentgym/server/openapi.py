"""The OpenAPI 3.1 document of the HTTP API, built from the protocol's pydantic models so the
schemas are exactly what the server validates and answers."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from agentgym.server.protocol import (
    PROTOCOL_VERSION,
    CreateSessionRequest,
    EnvDescription,
    EnvList,
    ErrorBody,
    Health,
    ResetRequest,
    ResetResponse,
    SessionCreated,
    SessionInfo,
    SessionList,
    StepRequest,
    StepResponse,
)

_REQUESTS = (CreateSessionRequest, ResetRequest, StepRequest)
_ANSWERS = (SessionCreated, SessionInfo, SessionList, ResetResponse, StepResponse, EnvDescription, EnvList, Health, ErrorBody)

_ERROR_MEANINGS = {
    400: "malformed JSON, or an operation the environment does not support (not_forkable)",
    404: "unknown session or environment",
    409: "out-of-order or conflicting seq, step before reset or after the end, failed session",
    413: "action or request too large",
    422: "the body does not match the schema, or the environment refused the arguments",
    500: "the environment raised; the session is failed",
    503: "session cap reached or shutting down; see Retry-After",
    504: "the environment exceeded the step timeout; the session is failed",
}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_SESSION_LINKS = {
    name: {"operationId": operation_id, "parameters": {"session_id": "$response.body#/session_id"}}
    for name, operation_id in (
        ("GetSession", "getSession"),
        ("ResetSession", "resetSession"),
        ("StepSession", "stepSession"),
        ("ForkSession", "forkSession"),
        ("CloseSession", "closeSession"),
    )
}
"""OpenAPI links from a created (or forked) session to the operations on it."""


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document served at /v1/openapi.json."""
    keys = [(model, "validation") for model in _REQUESTS] + [(model, "serialization") for model in _ANSWERS]
    names, definitions = models_json_schema(keys, ref_template="#/components/schemas/{model}")

    def answer(model: type[BaseModel]) -> dict[str, Any]:
        return _json_content(names[(model, "serialization")])

    def operation(
        operation_id: str,
        summary: str,
        ok: tuple[int, type[BaseModel]],
        errors: tuple[int, ...],
        body: type[BaseModel] | None = None,
        body_required: bool = True,
        parameters: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        status, model = ok
        success: dict[str, Any] = {"description": "success", "content": answer(model)}
        if model is SessionCreated:
            success["links"] = _SESSION_LINKS  # a new session: what can be done with it next
        spec: dict[str, Any] = {
            "operationId": operation_id,
            "summary": summary,
            "responses": {str(status): success},
        }
        for code in errors:
            spec["responses"][str(code)] = {"description": _ERROR_MEANINGS[code], "content": answer(ErrorBody)}
        if body is not None:
            spec["requestBody"] = {"required": body_required, "content": _json_content(names[(body, "validation")])}
        if parameters:
            spec["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in parameters
            ]
        return spec

    session = ("session_id",)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "agentgym environment service",
            "version": PROTOCOL_VERSION,
            "description": "Sessions of registered environments; see docs/serving.md for the WebSocket protocol.",
        },
        "paths": {
            "/healthz": {"get": operation("health", "Liveness and load", (200, Health), (503,))},
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics: open sessions, steps, step latency, errors by type",
                    "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}},
                }
            },
            "/v1/envs": {"get": operation("listEnvs", "Describe every served environment", (200, EnvList), ())},
            "/v1/envs/{env_id}": {
                "get": operation(
                    "describeEnv", "Describe one environment", (200, EnvDescription), (404,), parameters=("env_id",)
                )
            },
            "/v1/sessions": {
                "get": operation("listSessions", "List open sessions", (200, SessionList), ()),
                "post": operation(
                    "createSession",
                    "Create a session",
                    (201, SessionCreated),
                    (400, 404, 413, 422, 503),
                    body=CreateSessionRequest,
                ),
            },
            "/v1/sessions/{session_id}": {
                "get": operation("getSession", "Describe a session", (200, SessionInfo), (404,), parameters=session),
                "delete": operation("closeSession", "Close a session", (200, SessionInfo), (404,), parameters=session),
            },
            "/v1/sessions/{session_id}/reset": {
                "post": operation(
                    "resetSession",
                    "Start a new episode",
                    (200, ResetResponse),
                    (400, 404, 409, 413, 422, 500, 503, 504),
                    body=ResetRequest,
                    body_required=False,
                    parameters=session,
                )
            },
            "/v1/sessions/{session_id}/step": {
                "post": operation(
                    "stepSession",
                    "Apply one action",
                    (200, StepResponse),
                    (400, 404, 409, 413, 422, 500, 503, 504),
                    body=StepRequest,
                    parameters=session,
                )
            },
            "/v1/sessions/{session_id}/fork": {
                "post": operation(
                    "forkSession",
                    "Copy the session's environment into a new session",
                    (201, SessionCreated),
                    (400, 404, 409, 500, 503, 504),
                    parameters=session,
                )
            },
        },
        "components": {"schemas": definitions.get("$defs", {})},
    }
