"""The OpenAPI document, fuzzed with schemathesis against a live server in another process.

Every operation gets schema-valid (positive) and schema-invalid (negative) requests; each
answer must be documented (status code, content type, headers, body schema), never a 5xx,
invalid data must be refused with a 4xx and valid data accepted. Operations on a session
get, for part of the positive cases, a real session (new, running or ended) instead of a
random id, so the fuzzer reaches the environment code and not only the 404 path.

A second test runs the schemathesis CLI over the whole API: its coverage phase (boundary
values), stateful phase (following the document's links) and the unsupported-method check.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from agentgym.server.openapi import openapi_document
from tests.server.helpers import ServerProcess

FUZZ_ENV_IDS = ["servertest/counting-v0", "guess-number-v0", "servertest/unforkable-v0"]

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.positive_data_acceptance,
]

_PATHS = openapi_document()["paths"]
CASES = [(method.upper(), path, GenerationMode.POSITIVE) for path, methods in _PATHS.items() for method in methods]
# Negative data needs something that can be invalid: a request body (a path parameter is any string).
CASES += [
    (method.upper(), path, GenerationMode.NEGATIVE)
    for path, methods in _PATHS.items()
    for method, spec in methods.items()
    if "requestBody" in spec
]


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[ServerProcess]:
    process = ServerProcess(
        "--max-sessions", "200", "--step-timeout", "5", "--max-action-bytes", "4096", env_ids=FUZZ_ENV_IDS
    )
    yield process
    process.kill()
    # aiohttp itself logs requests it cannot parse (a NUL in a header) and answers them 400;
    # the service's own code must never have failed
    failures = [
        line for line in process.stderr.splitlines() if '"logger": "agentgym' in line and '"level": "error"' in line
    ]
    assert not failures, "\n".join(failures)[-5000:]


@pytest.fixture(scope="module")
def api_schema(fuzz_server: ServerProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzz_server.url}/v1/openapi.json")


class LiveSessions:
    """Real sessions for the fuzzer to act on, each in a chosen state; all closed afterwards."""

    def __init__(self, url: str):
        self.url, self.http, self.opened = url, requests.Session(), []

    def make(self, state: str) -> str:
        answer = self.http.post(f"{self.url}/v1/sessions", json={"env_id": "servertest/counting-v0"})
        assert answer.status_code == 201, answer.text
        session_id = answer.json()["session_id"]
        self.opened.append(session_id)
        if state in ("running", "ended"):
            assert self.http.post(f"{self.url}/v1/sessions/{session_id}/reset", json={"seed": 1}).status_code == 200
        if state == "ended":
            assert (
                self.http.post(f"{self.url}/v1/sessions/{session_id}/step", json={"action": "stop"}).status_code == 200
            )
        return session_id

    def adopt(self, response: requests.Response) -> None:
        """Remember a session the fuzzed request itself created (or forked), to close it."""
        if response.status_code == 201:
            self.opened.append(response.json()["session_id"])

    def close_all(self) -> None:
        for session_id in self.opened:
            self.http.delete(f"{self.url}/v1/sessions/{session_id}")
        self.opened.clear()


@pytest.mark.parametrize(
    "method, path, mode", CASES, ids=[f"{method} {path} {mode.value}" for method, path, mode in CASES]
)
def test_every_operation_answers_as_documented(
    api_schema: schemathesis.BaseSchema, fuzz_server: ServerProcess, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    sessions = LiveSessions(fuzz_server.url)
    # negative cases keep their generated ids: putting a real one in could make them valid
    states = ["generated", "new", "running", "ended"] if mode is GenerationMode.POSITIVE else ["generated"]

    @given(case=operation.as_strategy(generation_mode=mode), state=st.sampled_from(states), served=st.booleans())
    @settings(
        max_examples=50,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case, state: str, served: bool) -> None:
        try:
            if "session_id" in (case.path_parameters or {}) and state != "generated":
                case.path_parameters["session_id"] = sessions.make(state)
            if "env_id" in (case.path_parameters or {}) and mode is GenerationMode.POSITIVE and served:
                case.path_parameters["env_id"] = "servertest/counting-v0"  # its slash travels as %2F
            if path == "/v1/sessions" and method == "POST" and mode is GenerationMode.POSITIVE and served:
                # a served id, with the kwargs every environment accepts (the schema cannot know
                # each environment's keyword arguments)
                case.body = {"env_id": "servertest/counting-v0", "kwargs": {}}
            response = case.call_and_validate(base_url=fuzz_server.url, checks=CHECKS)
            statuses.append(response.status_code)
            sessions.adopt(response)
        finally:
            sessions.close_all()

    statuses: list[int] = []
    fuzz()
    assert fuzz_server.process.poll() is None
    if mode is GenerationMode.POSITIVE:
        # the fuzzer got past validation and lookups into the real thing, not only 404s
        assert any(200 <= status < 300 for status in statuses), statuses


def test_the_schemathesis_cli_finds_nothing(fuzz_server: ServerProcess, tmp_path: Path) -> None:
    """`st run` over the whole API: examples, coverage (boundaries and edge cases), fuzzing and
    stateful phases, with every conformance check plus the unsupported-method one."""
    checks_list = ",".join(
        [
            "not_a_server_error",
            "status_code_conformance",
            "content_type_conformance",
            "response_headers_conformance",
            "response_schema_conformance",
            "negative_data_rejection",
            "positive_data_acceptance",
            "unsupported_method",
        ]
    )
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{fuzz_server.url}/v1/openapi.json",
            "--checks",
            checks_list,
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--workers",
            "2",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--no-color",
        ],
        cwd=tmp_path,  # it keeps a cache in ./.schemathesis
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stdout[-8000:] + completed.stderr[-2000:]
    requests.get(f"{fuzz_server.url}/healthz", timeout=5).raise_for_status()
