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
    SessionInfo,
    SessionList,
    StepRequest,
    StepResponse,
)

_REQUESTS = (CreateSessionRequest, ResetRequest, StepRequest)
_ANSWERS = (SessionInfo, SessionList, ResetResponse, StepResponse, EnvDescription, EnvList, Health, ErrorBody)

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


def _ref(model: type[BaseModel], names: dict[tuple[type[BaseModel], str], dict[str, Any]], mode: str) -> dict[str, Any]:
    return names[(model, mode)]


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document served at /v1/openapi.json."""
    keys = [(model, "validation") for model in _REQUESTS] + [(model, "serialization") for model in _ANSWERS]
    names, definitions = models_json_schema(keys, ref_template="#/components/schemas/{model}")

    def answer(model: type[BaseModel]) -> dict[str, Any]:
        return _json_content(_ref(model, names, "serialization"))

    def operation(
        summary: str,
        ok: tuple[int, type[BaseModel]],
        errors: tuple[int, ...],
        body: type[BaseModel] | None = None,
        body_required: bool = True,
        parameters: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        status, model = ok
        spec: dict[str, Any] = {
            "summary": summary,
            "responses": {str(status): {"description": "success", "content": answer(model)}},
        }
        for code in errors:
            spec["responses"][str(code)] = {"description": _ERROR_MEANINGS[code], "content": answer(ErrorBody)}
        if body is not None:
            spec["requestBody"] = {"required": body_required, "content": _json_content(_ref(body, names, "validation"))}
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
            "/healthz": {"get": operation("Liveness and load", (200, Health), (503,))},
            "/v1/envs": {"get": operation("Describe every served environment", (200, EnvList), ())},
            "/v1/envs/{env_id}": {
                "get": operation("Describe one environment", (200, EnvDescription), (404,), parameters=("env_id",))
            },
            "/v1/sessions": {
                "get": operation("List open sessions", (200, SessionList), ()),
                "post": operation(
                    "Create a session", (201, SessionInfo), (400, 404, 413, 422, 503), body=CreateSessionRequest
                ),
            },
            "/v1/sessions/{session_id}": {
                "get": operation("Describe a session", (200, SessionInfo), (404,), parameters=session),
                "delete": operation("Close a session", (200, SessionInfo), (404,), parameters=session),
            },
            "/v1/sessions/{session_id}/reset": {
                "post": operation(
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
                    "Apply one action",
                    (200, StepResponse),
                    (400, 404, 409, 413, 422, 500, 503, 504),
                    body=StepRequest,
                    parameters=session,
                )
            },
            "/v1/sessions/{session_id}/fork": {
                "post": operation(
                    "Copy the session's environment into a new session",
                    (201, SessionInfo),
                    (400, 404, 409, 500, 503, 504),
                    parameters=session,
                )
            },
        },
        "components": {"schemas": definitions.get("$defs", {})},
    }
