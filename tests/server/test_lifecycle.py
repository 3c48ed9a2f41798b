"""Session lifecycle and the server process: TTL reaping, graceful shutdown (in-process and by
SIGTERM to a separate process), and clients talking to a server in another process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

import agentgym
from agentgym.client import Connection, RemoteEnv
from agentgym.errors import AgentGymError, ConnectionLost, RemoteError, ServerBusy
from agentgym.server.run import serve_until_stopped
from tests.server.api import HttpApi
from tests.server.envs import STEP_CALLS
from tests.server.helpers import LocalServer, ServerProcess, local_server

# --- TTL reaping --------------------------------------------------------------------------


async def test_idle_sessions_are_reaped_after_the_ttl_and_busy_ones_are_not() -> None:
    async with local_server(session_ttl_s=0.5) as server:
        connection = Connection(server.url)
        idle = RemoteEnv(connection, "servertest/counting-v0")
        busy = RemoteEnv(connection, "servertest/counting-v0")
        slow = RemoteEnv(connection, "servertest/counting-v0", {"delay": 1.2})
        await asyncio.gather(idle.reset(), busy.reset(), slow.reset())
        slow_step = asyncio.create_task(slow.step("long"))  # in flight for longer than the TTL
        for _ in range(10):  # 1 s of activity, each gap well under the TTL
            await busy.step("a")
            await asyncio.sleep(0.1)
        assert idle.session_id not in server.manager.sessions
        assert busy.session_id in server.manager.sessions
        assert (await slow_step).info["step"] == 1  # an operation in flight is never reaped
        with pytest.raises(RemoteError) as caught:
            await idle.step("a")
        assert (caught.value.status, caught.value.remote_type) == (404, "unknown_session")
        assert server.metric("agentgym_reaped_sessions_total") == 1
        assert server.metric("agentgym_open_sessions") == 2
        await asyncio.sleep(1.0)  # now everything idles past the TTL
        assert server.manager.sessions == {}
        assert server.metric("agentgym_open_sessions") == 0
        await asyncio.gather(idle.close(), busy.close(), slow.close())  # closing reaped sessions is fine
        await connection.close()


async def test_reaping_closes_the_environment(server: LocalServer) -> None:
    closed = []
    session_id = (await server.manager.create(_create("servertest/counting-v0"))).session_id
    env = server.manager.sessions[session_id].env

    async def close() -> None:
        closed.append(session_id)

    env.close = close  # type: ignore[method-assign]
    server.manager.sessions[session_id].last_used -= 10_000
    assert await server.manager.reap_idle() == 1
    assert closed == [session_id]


def _create(env_id: str):
    from agentgym.server.protocol import CreateSessionRequest

    return CreateSessionRequest(env_id=env_id)


# --- graceful shutdown in-process ---------------------------------------------------------


async def test_serve_until_stopped_drains_on_sigterm() -> None:
    """`serve_until_stopped` in this process (port 0): on SIGTERM the steps in flight are
    answered, while new operations on an open WebSocket and /healthz answer 503
    `shutting_down`; then every environment is closed and the coroutine returns."""
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    serving = asyncio.create_task(
        serve_until_stopped(["servertest/counting-v0"], port=0, shutdown_timeout_s=10, on_ready=ready.set_result)
    )
    url = await ready  # the signal handlers are installed before the next await
    connection = Connection(url)
    envs = [
        RemoteEnv(connection, "servertest/counting-v0", {"delay": 0.6, "tag": "drain"}, retries=0) for _ in range(10)
    ]
    await asyncio.gather(*(env.reset(seed=i) for i, env in enumerate(envs)))
    STEP_CALLS.clear()
    steps = [asyncio.create_task(env.step("a")) for env in envs]
    while STEP_CALLS["drain"] < 10:  # all ten are inside env.step
        await asyncio.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.sleep(0.1)
    with pytest.raises(ServerBusy) as caught:  # the WebSocket still reads, and refuses new work
        await RemoteEnv(connection, "servertest/counting-v0", retries=0).create_session()
    assert caught.value.remote_type == "shutting_down"
    with pytest.raises(ServerBusy):
        await RemoteEnv(
            connection, "servertest/counting-v0", session_id=envs[0].session_id, last_seq=2, retries=0
        ).step("b")
    api = HttpApi(url)
    health = await api.request("GET", "/healthz")  # a balancer learns that this server drains
    assert (health.status, health.body["status"]) == (503, "shutting_down")
    await api.close()
    results = await asyncio.gather(*steps)
    assert [result.info["step"] for result in results] == [1] * 10
    await asyncio.wait_for(serving, 10)
    assert STEP_CALLS["drain"] == 10
    with pytest.raises(ConnectionLost):
        await RemoteEnv(connection, "servertest/counting-v0", retries=0).create_session()
    await connection.close()


async def test_healthz_says_shutting_down_with_503(server: LocalServer) -> None:
    api = HttpApi(server.url)
    server.manager.accepting = False  # what the first step of a graceful shutdown does
    answer = await api.request("GET", "/healthz")
    assert (answer.status, answer.body["status"]) == (503, "shutting_down")
    answer = await api.op("create", env_id="servertest/counting-v0", kwargs={})
    assert (answer.status, answer.error_type, answer.headers["Retry-After"]) == (503, "shutting_down", "1")
    server.manager.accepting = True
    await api.close()


# --- a server in another process ----------------------------------------------------------


async def test_a_client_talks_to_a_server_in_another_process(server_process: ServerProcess) -> None:
    actions = ["a", "b", "c", "stop"]
    remote = agentgym.make(f"{server_process.ws_url}/servertest/counting-v0")
    local = agentgym.make("servertest/counting-v0")
    for seed in (0, 99):
        for env in (remote, local):
            await env.reset(seed=seed)
        for action in actions:
            assert await remote.step(action) == await local.step(action)
    # fork and images across processes
    branch = await remote.fork()
    await branch.reset(seed=1)
    await branch.close()
    images = agentgym.make(f"{server_process.url}/servertest/png-v0", count=2)
    assert (await images.reset(seed=3)).images == (
        await agentgym.make("servertest/png-v0", count=2).reset(seed=3)
    ).images
    await images.close()
    await remote.close()
    health = HttpApi(server_process.url)
    assert (await health.request("GET", "/healthz")).body["sessions"] == 0
    await health.close()


async def test_the_server_process_keeps_serving_after_env_errors(server_process: ServerProcess) -> None:
    connection = Connection(server_process.url)
    broken = RemoteEnv(connection, "servertest/raising-v0")
    await broken.reset()
    with pytest.raises(AgentGymError):
        await broken.step("a")
    healthy = RemoteEnv(connection, "servertest/counting-v0")
    await healthy.reset()
    assert (await healthy.step("a")).info["step"] == 1
    await asyncio.gather(broken.close(), healthy.close())
    await connection.close()
    assert server_process.process.poll() is None
    assert '"environment error"' in server_process.stderr  # logged as JSON, with its traceback


def _applied(log: Path) -> Counter[tuple[str, str]]:
    lines = log.read_text().splitlines() if log.exists() else []
    return Counter(tuple(line.split(" ", 3)[1:3]) for line in lines if line.startswith("applied "))


def _started(log: Path, token_prefix: str) -> int:
    lines = log.read_text().splitlines() if log.exists() else []
    return sum(line.startswith(f"start {token_prefix}") for line in lines)


async def test_sigterm_loses_no_acknowledged_step(tmp_path: Path) -> None:
    """Many steps in flight (all inside env.step), and workers stepping as fast as they can,
    when SIGTERM arrives: every step a client got an answer for was applied by the
    environment, every step in flight is answered, and the process exits 0."""
    log = tmp_path / "applied.log"
    process = ServerProcess("--shutdown-timeout", "20", "--max-sessions", "100", env_ids=["servertest/counting-v0"])
    try:
        connection = Connection(process.url)
        slow = [
            RemoteEnv(connection, "servertest/counting-v0", {"delay": 1.0, "log": str(log)}, retries=0)
            for _ in range(12)
        ]
        fast = [
            RemoteEnv(connection, "servertest/counting-v0", {"delay": 0.005, "log": str(log)}, retries=0)
            for _ in range(12)
        ]
        await asyncio.gather(*(env.reset(options={"token": f"slow{i}"}) for i, env in enumerate(slow)))
        await asyncio.gather(*(env.reset(options={"token": f"fast{i}"}) for i, env in enumerate(fast)))
        acknowledged: Counter[tuple[str, str]] = Counter()
        refusals: list[str] = []

        async def step_until_refused(env: RemoteEnv, token: str) -> None:
            step = 0
            while step < 45:
                try:
                    result = await env.step(f"x{step}")
                except (ServerBusy, ConnectionLost) as error:
                    refusals.append(type(error).__name__)
                    return
                step += 1
                assert result.info["step"] == step
                acknowledged[(token, str(step))] += 1

        in_flight = [asyncio.create_task(env.step("slow")) for env in slow]
        workers = [asyncio.create_task(step_until_refused(env, f"fast{i}")) for i, env in enumerate(fast)]
        deadline = time.monotonic() + 10
        while _started(log, "slow") < len(slow):  # every slow step is inside env.step (for 1 s)
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        status_before = process.process.poll()
        assert status_before is None
        process.process.send_signal(__import__("signal").SIGTERM)
        slow_results = await asyncio.gather(*in_flight)
        await asyncio.gather(*workers)
        for index, result in enumerate(slow_results):
            assert result.info == {"step": 1, "action": "slow"}
            acknowledged[(f"slow{index}", "1")] += 1
        assert await asyncio.to_thread(process.process.wait, 30) == 0
        applied = _applied(log)
        # no acknowledged step lost; none applied twice; nothing applied that was not answered
        assert applied == acknowledged
        assert max(applied.values()) == 1
        assert "ServerBusy" in refusals, "workers were refused with 503 shutting_down while the server drained"
        assert "Traceback" not in process.stderr
        lines = [json.loads(line) for line in process.stderr.splitlines() if line.startswith("{")]
        assert any(line["msg"] == "signal received; shutting down gracefully" for line in lines)
        assert lines[-1]["msg"] == "stopped"
        await connection.close()
    finally:
        process.kill()


async def test_a_reaped_session_is_unregistered_before_any_environment_closes() -> None:
    """While the reaper awaits one slow close, a step for another idle session must find it
    gone (404), never run on an environment being closed."""
    async with local_server(session_ttl_s=3600) as server:
        api = HttpApi(server.url)
        ids = [await api.started("servertest/counting-v0", close_delay=0.3) for _ in range(2)]
        for session in server.manager.sessions.values():
            session.last_used -= 7200  # idle past the TTL
        reaping = asyncio.create_task(server.manager.reap_idle())
        await asyncio.sleep(0.05)  # the reaper is inside its first slow close
        late = await api.op("step", session_id=ids[1], action="go", seq=2)
        assert (late.status, late.error_type) == (404, "unknown_session")
        assert await reaping == 2
        await api.close()


async def test_a_fork_that_times_out_leaves_its_parent_usable() -> None:
    async with local_server(step_timeout_s=0.2) as server:
        api = HttpApi(server.url)
        session = await api.started("servertest/counting-v0", fork_delay=1.0)
        forked = await api.op("fork", session_id=session)
        assert (forked.status, forked.error_type) == (504, "step_timeout")
        assert "failed" not in forked.body["error"]["message"]
        assert (await api.op("step", session_id=session, action="go", seq=2)).status == 200
        await api.close()
