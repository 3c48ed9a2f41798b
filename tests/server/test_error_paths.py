"""Every error path of the service, over HTTP and over the WebSocket: each gets its status and
a machine-readable `{"error": {"type", "message"}}` body, and the server keeps serving."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from tests.server.api import Api, HttpApi, open_api
from tests.server.helpers import LocalServer, local_server


@pytest.fixture(params=["http", "ws"])
async def api(request: pytest.FixtureRequest, server: LocalServer) -> AsyncIterator[Api]:
    client = await open_api(request.param, server.url)
    yield client
    await client.close()


async def assert_still_serving(api: Api) -> None:
    """The server (and this connection) still plays a whole episode."""
    session_id = await api.started("servertest/counting-v0", seed=1)
    answer = await api.op("step", session_id=session_id, action="a", seq=2)
    assert answer.status == 200 and answer.body["result"]["info"]["step"] == 1
    assert (await api.op("close", session_id=session_id)).status == 200


# --- unknown ids --------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["get", "reset", "step", "fork", "close"])
async def test_unknown_session_is_404(api: Api, op: str) -> None:
    body = {"action": "x"} if op == "step" else {}
    answer = await api.op(op, session_id="no-such-session", **body)
    assert answer.status == 404
    assert answer.error_type == "unknown_session"
    await assert_still_serving(api)


async def test_unknown_environment_is_404_with_suggestions(api: Api) -> None:
    answer = await api.op("create", env_id="servertest/countin-v0", kwargs={})
    assert answer.status == 404
    assert answer.error_type == "unknown_environment"
    assert "servertest/counting-v0" in answer.body["error"]["message"]  # the closest ids are suggested
    answer = await api.op("describe", env_id="nothing-v9")
    assert (answer.status, answer.error_type) == (404, "unknown_environment")


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_registered_but_not_served_environment_is_404(transport: str) -> None:
    async with local_server(["servertest/counting-v0"]) as server:
        api = await open_api(transport, server.url)
        answer = await api.op("create", env_id="guess-number-v0", kwargs={})
        assert (answer.status, answer.error_type) == (404, "env_not_served")
        await api.close()


async def test_describe_lists_the_served_environments(api: Api) -> None:
    answer = await api.op("describe")
    assert answer.status == 200
    assert {env["id"] for env in answer.body["envs"]} >= {"servertest/counting-v0", "guess-number-v0"}
    answer = await api.op("describe", env_id="guess-number-v0")
    assert answer.body["capabilities"]["fork"] is True and answer.body["max_turns"] == 10


# --- malformed and mistyped requests -------------------------------------------------------


async def test_malformed_json_over_http_is_400(server: LocalServer) -> None:
    api = HttpApi(server.url)
    session_id = await api.started("servertest/counting-v0")
    for body in (b"{not json", b'{"action": "x"', b"\xff\xfe", b""):
        answer = await api.request("POST", f"/v1/sessions/{session_id}/step", data=body)
        assert (answer.status, answer.error_type) == (400, "invalid_json"), body
    answer = await api.request("POST", "/v1/sessions", data=b"{'env_id': 'x'}")
    assert (answer.status, answer.error_type) == (400, "invalid_json")
    assert answer.headers["Content-Type"].startswith("application/json")
    await assert_still_serving(api)
    await api.close()


async def test_malformed_frames_on_the_websocket_are_answered_and_the_socket_stays_open(server: LocalServer) -> None:
    api = await open_api("ws", server.url)
    socket = api.socket  # type: ignore[attr-defined]
    await socket.socket.send_str("{not json")
    answer, _ = await socket.receive()
    assert (answer["id"], answer["status"], answer["body"]["error"]["type"]) == (None, 400, "invalid_json")
    # a frame that is JSON but no request is still answered under its id
    await socket.socket.send_str(json.dumps({"id": 77, "op": "dance"}))
    answer, _ = await socket.receive()
    assert (answer["id"], answer["status"], answer["body"]["error"]["type"]) == (77, 422, "validation_error")
    await socket.socket.send_str("[1, 2]")
    answer, _ = await socket.receive()
    assert (answer["id"], answer["status"]) == (None, 422)
    await socket.socket.send_bytes(b"\x00\x01binary")
    answer, _ = await socket.receive()
    assert (answer["id"], answer["status"], answer["body"]["error"]["type"]) == (None, 400, "binary_request")
    await assert_still_serving(api)
    await api.close()


@pytest.mark.parametrize(
    "op, body",
    [
        ("step", {"action": 5}),
        ("step", {"action": None}),
        ("step", {"action": ["a"]}),
        ("step", {}),
        ("step", {"action": "a", "seq": "2"}),
        ("step", {"action": "a", "seq": 0}),
        ("step", {"action": "a", "seq": 2.5}),
        ("step", {"action": "a", "seq": True}),
        ("step", {"action": "a", "surprise": 1}),
        ("reset", {"seed": -1}),
        ("reset", {"seed": "1"}),
        ("reset", {"seed": 2**63}),
        ("reset", {"options": [1]}),
    ],
)
async def test_wrong_types_are_422(api: Api, op: str, body: dict) -> None:
    session_id = await api.started("servertest/counting-v0")
    answer = await api.op(op, session_id=session_id, **body)
    assert (answer.status, answer.error_type) == (422, "validation_error"), answer.body
    # nothing was applied: the session goes on with the next seq
    assert (await api.op("step", session_id=session_id, action="a", seq=2)).status == 200


@pytest.mark.parametrize(
    "body", [{"env_id": 5}, {"env_id": "servertest/counting-v0", "kwargs": []}, {"env_id": "x" * 300}, {}]
)
async def test_create_with_wrong_types_is_422(api: Api, body: dict) -> None:
    answer = await api.op("create", **body)
    assert (answer.status, answer.error_type) == (422, "validation_error"), answer.body


async def test_integral_numbers_are_integers(api: Api) -> None:
    """JSON has one number type: 2.0 is the integer 2 (JSON Schema agrees), 2.5 is not."""
    session_id = await api.create("servertest/counting-v0")
    assert (await api.op("reset", session_id=session_id, seed=7.0, seq=1.0)).status == 200
    answer = await api.op("step", session_id=session_id, action="a", seq=2.0)
    assert answer.status == 200 and answer.body["seq"] == 2


async def test_environment_refusing_its_arguments_is_422(api: Api) -> None:
    answer = await api.op("create", env_id="servertest/counting-v0", kwargs={"bogus": 1})
    assert (answer.status, answer.error_type) == (422, "invalid_kwargs")
    answer = await api.op("create", env_id="guess-number-v0", kwargs={"low": 5, "high": 1})
    assert (answer.status, answer.error_type) == (422, "invalid_kwargs")
    session_id = await api.create("guess-number-v0")
    answer = await api.op("reset", session_id=session_id, options={"colour": "red"})
    assert (answer.status, answer.error_type) == (422, "invalid_argument")
    # a refused reset leaves the session usable
    assert (await api.op("reset", session_id=session_id, seed=3, seq=1)).status == 200


async def test_the_time_limit_is_the_servers_not_the_clients(api: Api) -> None:
    """`max_turns` is applied by the server; a client cannot lift it through kwargs."""
    answer = await api.op("create", env_id="guess-number-v0", kwargs={"max_turns": None})
    assert (answer.status, answer.error_type) == (422, "invalid_kwargs")


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_a_create_with_a_client_chosen_id_is_retry_safe(transport: str) -> None:
    async with local_server(max_sessions=1) as server:
        api = await open_api(transport, server.url)
        chosen = "c0ffee" * 4
        first = await api.op("create", env_id="servertest/counting-v0", kwargs={"tag": "x"}, session_id=chosen)
        assert (first.status, first.body["session_id"]) == (201, chosen)
        # a retry (even at the session cap) answers the session it made the first time
        again = await api.op("create", env_id="servertest/counting-v0", kwargs={"tag": "x"}, session_id=chosen)
        assert (again.status, again.body["session_id"]) == (201, chosen)
        assert list(server.manager.sessions) == [chosen]
        for clash in (
            {"env_id": "guess-number-v0", "kwargs": {}},
            {"env_id": "servertest/counting-v0", "kwargs": {"tag": "y"}},
        ):
            answer = await api.op("create", session_id=chosen, **clash)
            assert (answer.status, answer.error_type) == (409, "session_exists")
        for bad in ("short", "has/slash" * 3, "x" * 129, 5):
            answer = await api.op("create", env_id="servertest/counting-v0", kwargs={}, session_id=bad)
            assert (answer.status, answer.error_type) == (422, "validation_error")
        await api.close()


# --- oversized requests -------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_oversized_action_is_413_and_counts_bytes_not_characters(transport: str) -> None:
    async with local_server(max_action_bytes=1000) as server:
        api = await open_api(transport, server.url)
        session_id = await api.started("servertest/counting-v0")
        assert (await api.op("step", session_id=session_id, action="x" * 1000, seq=2)).status == 200
        for action in ("x" * 1001, "é" * 501):
            answer = await api.op("step", session_id=session_id, action=action, seq=3)
            assert (answer.status, answer.error_type) == (413, "action_too_large")
        assert (await api.op("step", session_id=session_id, action="y", seq=3)).status == 200
        await api.close()


async def test_http_body_over_the_request_limit_is_413(server: LocalServer) -> None:
    api = HttpApi(server.url)
    session_id = await api.started("servertest/counting-v0")
    answer = await api.request("POST", f"/v1/sessions/{session_id}/step", data=json.dumps({"action": "x" * (3 << 20)}))
    assert (answer.status, answer.error_type) == (413, "request_too_large")
    await assert_still_serving(api)
    await api.close()


async def test_websocket_frame_over_the_message_limit_closes_only_that_socket(server: LocalServer) -> None:
    """A frame too large to read cannot be answered: that socket is closed with 1009 (message
    too big); every other connection goes on."""
    other = await open_api("ws", server.url)
    victim = await open_api("ws", server.url)
    session_id = await victim.started("servertest/counting-v0")
    await victim.socket.socket.send_str(
        json.dumps({"id": 1, "op": "step", "session_id": session_id, "action": "x" * (3 << 20)})
    )  # type: ignore[attr-defined]
    with pytest.raises(ConnectionError):
        await victim.socket.receive()  # type: ignore[attr-defined]
    assert victim.socket.socket.close_code == 1009  # type: ignore[attr-defined]
    await assert_still_serving(other)
    await other.close()
    await victim.close()


# --- HTTP routing -------------------------------------------------------------------------


async def test_unknown_path_and_wrong_method_are_json_errors(server: LocalServer) -> None:
    api = HttpApi(server.url)
    answer = await api.request("GET", "/v1/nothing")
    assert (answer.status, answer.error_type) == (404, "not_found")
    answer = await api.request("PUT", "/v1/sessions")
    assert (answer.status, answer.error_type) == (405, "method_not_allowed")
    assert {"GET", "POST"} <= set(answer.headers["Allow"].split(","))  # RFC 9110 requires Allow on a 405
    await api.close()


# --- the episode protocol -----------------------------------------------------------------


async def test_step_before_reset_is_409_reset_needed(api: Api) -> None:
    session_id = await api.create("servertest/counting-v0")
    answer = await api.op("step", session_id=session_id, action="a")
    assert (answer.status, answer.error_type) == (409, "reset_needed")


async def test_step_after_the_end_is_409_episode_ended(api: Api) -> None:
    session_id = await api.started("servertest/counting-v0")
    answer = await api.op("step", session_id=session_id, action="stop", seq=2)
    assert answer.status == 200 and answer.body["result"]["terminated"] is True
    answer = await api.op("step", session_id=session_id, action="a", seq=3)
    assert (answer.status, answer.error_type) == (409, "episode_ended")
    assert (await api.op("get", session_id=session_id)).body["state"] == "ended"
    # the refused step used no seq: a reset as seq 3 starts the next episode
    assert (await api.op("reset", session_id=session_id, seq=3)).status == 200
    assert (await api.op("step", session_id=session_id, action="a", seq=4)).status == 200


async def test_step_after_truncation_is_409_episode_ended(api: Api) -> None:
    session_id = await api.started("guess-number-v0")
    for seq in range(2, 12):
        answer = await api.op("step", session_id=session_id, action="nope", seq=seq)
        assert answer.status == 200
    assert answer.body["result"]["truncated"] is True  # max_turns=10 is a time limit
    answer = await api.op("step", session_id=session_id, action="50", seq=12)
    assert (answer.status, answer.error_type) == (409, "episode_ended")


async def test_fork_of_an_unforkable_environment_is_400(api: Api) -> None:
    session_id = await api.started("servertest/unforkable-v0")
    answer = await api.op("fork", session_id=session_id)
    assert (answer.status, answer.error_type) == (400, "not_forkable")
    assert (await api.op("step", session_id=session_id, action="a", seq=2)).status == 200


# --- sequence numbers ---------------------------------------------------------------------


async def test_sequence_numbers(api: Api, server: LocalServer, step_calls) -> None:
    session_id = await api.started("servertest/counting-v0", tag="seq")
    first = await api.op("step", session_id=session_id, action="a", seq=2)
    assert first.status == 200 and first.body["seq"] == 2
    # a retry (same seq, same request) gets the stored answer without acting again
    again = await api.op("step", session_id=session_id, action="a", seq=2)
    assert (again.status, again.body) == (200, first.body)
    assert step_calls["seq"] == 1
    assert server.metric("agentgym_replayed_answers_total") == 1
    # the same seq for a different request is a conflict
    answer = await api.op("step", session_id=session_id, action="b", seq=2)
    assert (answer.status, answer.error_type) == (409, "seq_conflict")
    # skipping ahead, or going back further than the last one, is out of order
    for seq in (4, 1):
        answer = await api.op("step", session_id=session_id, action="b", seq=seq)
        assert (answer.status, answer.error_type) == (409, "seq_out_of_order")
        assert "expected 3" in answer.body["error"]["message"]
    assert step_calls["seq"] == 1
    # without seq the server takes the next number
    answer = await api.op("step", session_id=session_id, action="b")
    assert (answer.status, answer.body["seq"]) == (200, 3)
    assert step_calls["seq"] == 2
    # a retried reset is answered from the store too
    reset = await api.op("reset", session_id=session_id, seed=5, seq=4)
    assert (await api.op("reset", session_id=session_id, seed=5, seq=4)).body == reset.body
    assert (await api.op("reset", session_id=session_id, seed=6, seq=4)).error_type == "seq_conflict"


async def test_a_retry_of_an_image_step_gets_the_same_images(api: Api) -> None:
    session_id = await api.started("servertest/png-v0")
    first = await api.op("step", session_id=session_id, action="8", seq=2)
    again = await api.op("step", session_id=session_id, action="8", seq=2)
    assert again.body == first.body and again.images == first.images
    if api.transport == "ws":
        assert len(first.images) == 2 and "images" not in first.body["result"]["observation"]


# --- environment failures -----------------------------------------------------------------


async def test_an_environment_that_raises_fails_only_its_session(api: Api, server: LocalServer) -> None:
    healthy = await api.started("servertest/counting-v0")
    broken = await api.started("servertest/raising-v0", fail_at=2)
    assert (await api.op("step", session_id=broken, action="a", seq=2)).status == 200
    answer = await api.op("step", session_id=broken, action="a", seq=3)
    assert (answer.status, answer.error_type) == (500, "env_error")
    assert "RuntimeError" in answer.body["error"]["message"] and "boom at step 2" in answer.body["error"]["message"]
    assert (await api.op("get", session_id=broken)).body["state"] == "failed"
    for op, body in (("step", {"action": "a", "seq": 3}), ("reset", {"seq": 3}), ("fork", {})):
        answer = await api.op(op, session_id=broken, **body)
        assert (answer.status, answer.error_type) == (409, "session_failed"), op
    # every other session, and the server, go on
    assert (await api.op("step", session_id=healthy, action="a", seq=2)).status == 200
    await assert_still_serving(api)
    assert (await api.op("close", session_id=broken)).status == 200
    assert server.metric("agentgym_failed_sessions_total") == 1


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_a_step_past_the_timeout_fails_the_session(transport: str) -> None:
    async with local_server(step_timeout_s=0.2) as server:
        api = await open_api(transport, server.url)
        slow = await api.started("servertest/slow-v0")
        healthy = await api.started("servertest/counting-v0")
        answer = await api.op("step", session_id=slow, action="a", seq=2)
        assert (answer.status, answer.error_type) == (504, "step_timeout")
        assert (await api.op("get", session_id=slow)).body["state"] == "failed"
        answer = await api.op("step", session_id=slow, action="a", seq=2)
        assert (answer.status, answer.error_type) == (409, "session_failed")
        assert (await api.op("step", session_id=healthy, action="a", seq=2)).status == 200
        await api.close()


# --- limits -------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_over_the_session_cap_is_503_with_retry_after(transport: str) -> None:
    async with local_server(max_sessions=2) as server:
        api = await open_api(transport, server.url)
        first = await api.started("guess-number-v0")
        await api.create("servertest/counting-v0")
        answer = await api.op("create", env_id="servertest/counting-v0", kwargs={})
        assert (answer.status, answer.error_type) == (503, "too_many_sessions")
        answer = await api.op("fork", session_id=first)
        assert (answer.status, answer.error_type) == (503, "too_many_sessions")
        if transport == "http":
            assert answer.headers["Retry-After"] == "1"
        # existing sessions keep working, and closing one makes room
        assert (await api.op("step", session_id=first, action="50", seq=2)).status == 200
        assert (await api.op("close", session_id=first)).status == 200
        await api.create("servertest/counting-v0")
        await api.close()


async def test_concurrent_creates_never_exceed_the_cap() -> None:
    async with local_server(max_sessions=5) as server:
        clients = [HttpApi(server.url) for _ in range(20)]
        answers = await asyncio.gather(
            *(client.op("create", env_id="servertest/counting-v0", kwargs={}) for client in clients)
        )
        statuses = sorted(answer.status for answer in answers)
        assert statuses == [201] * 5 + [503] * 15
        assert len(server.manager.sessions) == 5
        await asyncio.gather(*(client.close() for client in clients))
