"""RemoteEnv and the WebSocket against a real in-process server: results identical to an
in-process run, typed errors, fork over the wire, images as binary frames, many concurrent
steps on one connection, and the observability endpoints."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest

import agentgym
from agentgym.client import Connection, RemoteEnv
from agentgym.errors import (
    AgentGymError,
    EpisodeEnded,
    NotForkable,
    RemoteError,
    ResetNeeded,
    SessionFailed,
    UnknownEnvironment,
)
from agentgym.types import PNG_SIGNATURE
from tests.server.api import HttpApi
from tests.server.helpers import LocalServer, RawSocket, local_server, parse_prometheus

ACTIONS = ["a", "b", "?", "c", "d", "e", "f", "g"]


async def play(env: agentgym.Env, seed: int, actions: list[str]) -> list[tuple]:
    first = await env.reset(seed=seed)
    outcome = [(first.text, first.anchor)]
    for action in actions:
        result = await env.step(action)
        outcome.append(
            (result.observation.model_dump(), result.reward, result.terminated, result.truncated, result.info)
        )
        if result.done:
            break
    return outcome


async def test_make_with_a_url_plays_exactly_like_the_local_env(server: LocalServer) -> None:
    remote = agentgym.make(f"{server.ws_url}/servertest/counting-v0", tag="remote")
    assert isinstance(remote, RemoteEnv)
    local = agentgym.make("servertest/counting-v0", tag="local")
    for seed in (0, 1, 12345):
        assert await play(remote, seed, ACTIONS) == await play(local, seed, ACTIONS)
    await remote.close()
    await remote.close()  # idempotent
    assert remote.connection.closed  # make() gave it its own connection
    assert server.manager.sessions == {}


async def test_guess_number_over_the_wire(server: LocalServer) -> None:
    async with agentgym.make(f"{server.url}/guess-number-v0") as remote:
        local = agentgym.make("guess-number-v0")
        actions = ["50", "25", "75", "hello", "12", "88", "60", "40", "30", "20", "10"]
        assert await play(remote, 7, actions) == await play(local, 7, actions)


# --- typed errors -------------------------------------------------------------------------


async def test_remote_env_raises_the_typed_errors(server: LocalServer) -> None:
    connection = Connection(server.url)
    env = RemoteEnv(connection, "servertest/counting-v0")
    with pytest.raises(ResetNeeded):
        await env.step("a")  # no session yet: refused locally
    await env.create_session()
    with pytest.raises(ResetNeeded) as caught:
        await env.step("a")  # the server refuses: its session was never reset
    assert not isinstance(caught.value, EpisodeEnded)
    await env.reset(seed=0)
    assert (await env.step("stop")).terminated
    with pytest.raises(EpisodeEnded):
        await env.step("a")
    await env.reset(seed=0)  # a reset starts over, as locally
    assert (await env.step("a")).info["step"] == 1

    plain = RemoteEnv(connection, "servertest/unforkable-v0")
    await plain.reset()
    with pytest.raises(NotForkable):
        await plain.fork()
    await plain.step("still fine")

    with pytest.raises(UnknownEnvironment, match="servertest/counting-v0"):
        await RemoteEnv(connection, "servertest/countng-v0").reset()
    for error_class in (ResetNeeded, NotForkable, UnknownEnvironment):
        assert issubclass(error_class, AgentGymError)
    await asyncio.gather(env.close(), plain.close())
    await connection.close()


async def test_an_environment_error_is_session_failed_and_the_rest_goes_on(server: LocalServer) -> None:
    connection = Connection(server.url)
    broken = RemoteEnv(connection, "servertest/raising-v0", {"fail_at": 1})
    healthy = RemoteEnv(connection, "servertest/counting-v0")
    await asyncio.gather(broken.reset(), healthy.reset(seed=1))
    with pytest.raises(SessionFailed) as caught:
        await broken.step("a")
    assert caught.value.remote_type == "env_error" and caught.value.status == 500
    assert "boom" in str(caught.value)
    with pytest.raises(SessionFailed) as caught:
        await broken.step("a")
    assert caught.value.remote_type == "session_failed"
    with pytest.raises(SessionFailed):
        await broken.reset()
    assert (await healthy.step("a")).info["step"] == 1  # same connection, untouched
    await broken.close()  # a failed session still closes
    await healthy.close()
    await connection.close()


async def test_a_timeout_is_session_failed() -> None:
    async with local_server(step_timeout_s=0.2) as server:
        env = agentgym.make(f"{server.url}/servertest/slow-v0")
        await env.reset()
        started = time.monotonic()
        with pytest.raises(SessionFailed) as caught:
            await env.step("a")
        assert caught.value.remote_type == "step_timeout" and caught.value.status == 504
        assert time.monotonic() - started < 2
        with pytest.raises(SessionFailed):
            await env.step("a")
        await env.close()


async def test_a_closed_or_reaped_session_is_a_remote_error(server: LocalServer) -> None:
    env = agentgym.make(f"{server.url}/servertest/counting-v0")
    await env.reset()
    await server.manager.close(env.session_id)
    with pytest.raises(RemoteError) as caught:
        await env.step("a")
    assert (caught.value.status, caught.value.remote_type) == (404, "unknown_session")
    await env.close()  # closing a session the server already dropped is fine


# --- fork over the wire -------------------------------------------------------------------


async def test_fork_over_the_wire_branches_independently(server: LocalServer) -> None:
    connection = Connection(server.url)
    remote = RemoteEnv(connection, "guess-number-v0")
    local = agentgym.make("guess-number-v0")
    await remote.reset(seed=11)
    await local.reset(seed=11)
    for action in ("50", "25"):
        assert (await remote.step(action)) == (await local.step(action))
    remote_fork, local_fork = await remote.fork(), await local.fork()
    assert remote_fork.session_id != remote.session_id and remote_fork.last_seq == remote.last_seq
    assert len(server.manager.sessions) == 2
    # the fork continues the same episode; stepping one never changes the other
    for action in ("12", "37", "30"):
        assert (await remote_fork.step(action)) == (await local_fork.step(action))
    for action in ("75", "60"):
        assert (await remote.step(action)) == (await local.step(action))
    # forks of forks, several at once
    branches = await asyncio.gather(*(remote_fork.fork() for _ in range(4)))
    outcomes = await asyncio.gather(*(branch.step("31") for branch in branches))
    assert len({outcome.model_dump_json() for outcome in outcomes}) == 1
    assert outcomes[0] == await (await local_fork.fork()).step("31")
    await asyncio.gather(*(env.close() for env in (remote, remote_fork, *branches)))
    assert server.manager.sessions == {}
    await connection.close()


async def test_fork_of_a_counting_env_keeps_the_random_stream(server: LocalServer) -> None:
    async with agentgym.make(f"{server.url}/servertest/counting-v0") as env:
        await env.reset(seed=3)
        await env.step("x")
        forked = await env.fork()
        assert (await forked.step("y")) == (await env.step("y"))
        await forked.close()


# --- images -------------------------------------------------------------------------------


async def test_png_observations_round_trip_byte_exactly_through_remote_env(server: LocalServer) -> None:
    remote = agentgym.make(f"{server.ws_url}/servertest/png-v0", count=3)
    local = agentgym.make("servertest/png-v0", count=3)
    first_remote, first_local = await remote.reset(seed=4), await local.reset(seed=4)
    assert first_remote.images == first_local.images and len(first_remote.images) == 3
    for side in ("1", "64", "300"):  # 300x300 RGB stored uncompressed: a 270 kB image
        got, want = await remote.step(side), await local.step(side)
        assert got == want
        assert all(image.startswith(PNG_SIGNATURE) for image in got.observation.images)
        assert set(b"".join(got.observation.images)) == set(range(256)) or side == "1"
    await remote.close()


async def test_images_travel_as_binary_frames_never_inside_json(server: LocalServer) -> None:
    socket = await RawSocket.open(server.url)
    created = await socket.call("create", env_id="servertest/png-v0", kwargs={"count": 2})
    session_id = created["body"]["session_id"]
    request_id = await socket.send("reset", session_id=session_id, seed=9)
    answer, images = await socket.receive()
    assert answer["id"] == request_id and answer["images"] == 2
    assert "images" not in answer["body"]["observation"]
    local = agentgym.make("servertest/png-v0", count=2)
    assert tuple(images[request_id]) == (await local.reset(seed=9)).images
    await socket.close()


async def test_png_observations_over_http_are_standard_base64(server: LocalServer) -> None:
    api = HttpApi(server.url)
    session_id = await api.create("servertest/png-v0", count=2)
    answer = await api.op("reset", session_id=session_id, seed=9)
    local = agentgym.make("servertest/png-v0", count=2)
    expected = (await local.reset(seed=9)).images
    assert [base64.b64decode(text, validate=True) for text in answer.body["observation"]["images"]] == list(expected)
    answer = await api.op("step", session_id=session_id, action="40")
    assert (
        tuple(base64.b64decode(text) for text in answer.body["result"]["observation"]["images"])
        == (await local.step("40")).observation.images
    )
    await api.close()


# --- concurrency on one connection ---------------------------------------------------------


async def test_hundreds_of_concurrent_sessions_on_one_connection_keep_their_order(
    server: LocalServer, step_calls
) -> None:
    connection = Connection(server.url)
    sessions = 300
    actions = [f"act{i}" for i in range(8)]
    envs = [RemoteEnv(connection, "servertest/counting-v0", {"tag": "many"}) for _ in range(sessions)]

    async def run(index: int, env: RemoteEnv) -> list[tuple]:
        await asyncio.sleep(0.0001 * (index % 7))  # interleave the sessions' steps differently
        return await play(env, index, actions)

    outcomes = await asyncio.gather(*(run(index, env) for index, env in enumerate(envs)))
    for index, outcome in enumerate(outcomes):
        local = agentgym.make("servertest/counting-v0")
        assert outcome == await play(local, index, actions), index
    assert step_calls["many"] == sessions * len(actions)
    assert server.metric("agentgym_steps_total", env_id="servertest/counting-v0") == sessions * len(actions)
    await asyncio.gather(*(env.close() for env in envs))
    await connection.close()


async def test_pipelined_steps_of_one_session_apply_in_arrival_order(server: LocalServer) -> None:
    """Frames sent back to back without waiting (each its own task on the server) are applied
    in the order they arrived, so explicit seqs 2..N all succeed: 6 sessions x 49 steps, all
    on the wire at once, interleaved."""
    socket = await RawSocket.open(server.url)
    session_ids = []
    for _ in range(6):
        session_id = (await socket.call("create", env_id="servertest/counting-v0", kwargs={}))["body"]["session_id"]
        await socket.call("reset", session_id=session_id, seed=0, seq=1)
        session_ids.append(session_id)
    count = 49  # the counting env's time limit is 50 turns
    sent = {}
    for step in range(1, count + 1):
        for index, session_id in enumerate(session_ids):
            sent[await socket.send("step", session_id=session_id, action=f"s{index}-{step}", seq=step + 1)] = (
                index,
                step,
            )
    answers = {}
    while len(answers) < len(sent):
        answer, _ = await socket.receive()
        answers[answer["id"]] = answer
    for request_id, (index, step) in sent.items():
        answer = answers[request_id]
        assert answer["status"] == 200, answer
        assert answer["body"]["seq"] == step + 1
        assert answer["body"]["result"]["info"] == {"step": step, "action": f"s{index}-{step}"}
    await socket.close()


async def test_a_blocking_sync_env_does_not_stall_the_server(server: LocalServer) -> None:
    connection = Connection(server.url)
    sleepy = [RemoteEnv(connection, "servertest/sync-sleep-v0", {"delay": 1.0}) for _ in range(3)]
    quick = RemoteEnv(connection, "servertest/counting-v0")
    await asyncio.gather(*(env.reset() for env in (*sleepy, quick)))
    started = time.monotonic()
    sleeping = asyncio.gather(*(env.step("zzz") for env in sleepy))
    await asyncio.sleep(0.05)
    for _ in range(20):  # answered while three threads sleep
        await quick.step("a")
    api = HttpApi(server.url)
    assert (await api.request("GET", "/healthz")).status == 200
    quick_done = time.monotonic() - started
    results = await sleeping
    assert quick_done < 0.9, f"quick steps waited for the sleeping ones ({quick_done:.2f} s)"
    assert [result.observation.text for result in results] == ["slept on zzz"] * 3
    assert time.monotonic() - started < 2.5  # the three sleeps ran in parallel threads, not one after another
    await api.close()
    await asyncio.gather(*(env.close() for env in (*sleepy, quick)))
    await connection.close()


# --- observability ------------------------------------------------------------------------


async def test_healthz(server: LocalServer) -> None:
    api = HttpApi(server.url)
    answer = await api.request("GET", "/healthz")
    assert answer.status == 200
    assert answer.body == {"status": "ok", "sessions": 0, "max_sessions": 4096, "protocol": "1"}
    await api.create("servertest/counting-v0")
    assert (await api.request("GET", "/healthz")).body["sessions"] == 1
    await api.close()


async def test_metrics_change_as_expected(server: LocalServer) -> None:
    api = HttpApi(server.url)

    async def scrape() -> dict[str, float]:
        answer = await api.request("GET", "/metrics")
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain")
        return parse_prometheus(answer.body)

    env_label = '{env_id="servertest/counting-v0"}'
    before = await scrape()
    assert before["agentgym_open_sessions"] == 0
    session_id = await api.started("servertest/counting-v0")
    other = await api.started("servertest/counting-v0")
    for seq in range(2, 5):
        await api.op("step", session_id=session_id, action="a", seq=seq)
    await api.op("step", session_id=session_id, action="a", seq=4)  # a replay
    await api.op("step", session_id=session_id, action="a", seq=9)  # out of order
    await api.op("step", session_id="nope", action="a")
    await api.op("step", session_id="nope", action="a")
    await api.request("POST", f"/v1/sessions/{session_id}/step", data=b"{")
    after = await scrape()
    assert after["agentgym_open_sessions"] == 2
    assert after[f"agentgym_steps_total{env_label}"] == 3
    assert after[f"agentgym_step_latency_seconds_count{env_label}"] == 3
    assert after['agentgym_step_latency_seconds_bucket{env_id="servertest/counting-v0",le="+Inf"}'] == 3
    assert 0 < after[f"agentgym_step_latency_seconds_sum{env_label}"] < 1
    assert after["agentgym_replayed_answers_total"] == 1
    assert after['agentgym_errors_total{type="seq_out_of_order"}'] == 1
    assert after['agentgym_errors_total{type="unknown_session"}'] == 2
    assert after['agentgym_errors_total{type="invalid_json"}'] == 1
    # WebSocket errors are counted the same way
    socket = await RawSocket.open(server.url)
    await socket.call("step", session_id="nope", action="a")
    await socket.call("close", session_id=other)
    after = await scrape()
    assert after['agentgym_errors_total{type="unknown_session"}'] == 3
    assert after["agentgym_open_sessions"] == 1
    await socket.close()
    await api.close()


async def test_the_openapi_document_is_served(server: LocalServer) -> None:
    api = HttpApi(server.url)
    answer = await api.request("GET", "/v1/openapi.json")
    assert answer.status == 200 and answer.body["openapi"].startswith("3.1")
    paths = answer.body["paths"]
    assert {"/healthz", "/v1/sessions", "/v1/sessions/{session_id}/step", "/v1/sessions/{session_id}/fork"} <= set(
        paths
    )
    step = paths["/v1/sessions/{session_id}/step"]["post"]
    assert {"200", "404", "409", "413", "422", "500", "504"} <= set(step["responses"])
    # integer bounds are JSON Schema keywords (minimum/maximum), which validators and fuzzers read
    seq = answer.body["components"]["schemas"]["StepRequest"]["properties"]["seq"]["anyOf"][0]
    assert (seq["type"], seq["minimum"]) == ("integer", 1) and "ge" not in seq
    await api.close()


async def test_a_remote_env_carries_the_system_prompt_of_the_served_env(server) -> None:
    local = agentgym.make("guess-number-v0", high=20)
    remote = agentgym.make(server.url.replace("http", "ws", 1) + "/guess-number-v0", high=20)
    try:
        assert remote.system_prompt == ""  # no session yet: nothing has been sent
        await remote.reset(seed=1)
        assert remote.system_prompt == local.system_prompt != ""
    finally:
        await remote.close()
