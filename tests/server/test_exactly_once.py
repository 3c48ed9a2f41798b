"""Exactly-once steps under injected connection drops: a TCP proxy between RemoteEnv and a real
server cuts connections (at random byte offsets, or on command), RemoteEnv retries, and the
environment's real step calls are counted on the server side."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import agentgym
from agentgym.client import Connection, RemoteEnv
from agentgym.errors import ConnectionLost
from tests.server.helpers import ChaosProxy, LocalServer


@pytest.fixture
async def proxy(server: LocalServer) -> AsyncIterator[ChaosProxy]:
    chaos = await ChaosProxy(server.port, seed=0).start()
    yield chaos
    await chaos.close()


async def play_steps(env: agentgym.Env, seed: int, actions: list[str]) -> list[tuple]:
    first = await env.reset(seed=seed)
    outcome: list[tuple] = [(first.text, first.images)]
    for action in actions:
        result = await env.step(action)
        outcome.append(
            (result.observation.text, result.observation.images, result.reward, result.terminated, result.info)
        )
    return outcome


@pytest.mark.parametrize("seed", [1, 2])
async def test_every_acknowledged_step_is_applied_exactly_once_under_random_drops(
    server: LocalServer, step_calls, seed: int
) -> None:
    # each connection through the proxy dies after 300..6000 bytes: mid-handshake, mid-frame,
    # before a request reached the server, or after it was applied but before its answer came
    chaos = await ChaosProxy(server.port, seed=seed, budget=(300, 6000)).start()
    connection = Connection(chaos.url, request_timeout_s=20)
    counting = [f"a{i}" for i in range(30)]
    imaging = ["8", "3", "12", "1", "5"] * 2

    def remote(env_id: str, **kwargs: object) -> RemoteEnv:
        return RemoteEnv(connection, env_id, kwargs, retries=25, retry_backoff_s=0.001)

    jobs = [
        (remote("servertest/counting-v0", tag="chaos"), "servertest/counting-v0", index, counting)
        for index in range(16)
    ]
    jobs += [(remote("servertest/png-v0", side=6), "servertest/png-v0", 100 + index, imaging) for index in range(4)]
    outcomes = await asyncio.gather(*(play_steps(env, index, actions) for env, _, index, actions in jobs))

    acknowledged = 16 * len(counting)
    assert step_calls["chaos"] == acknowledged  # not one step applied twice, none lost
    for (env, env_id, index, actions), outcome in zip(jobs, outcomes, strict=False):
        kwargs = {"side": 6} if env_id == "servertest/png-v0" else {}
        assert outcome == await play_steps(agentgym.make(env_id, **kwargs), index, actions), (env_id, index)
        session = server.manager.sessions[env.session_id]
        assert session.last_seq == 1 + len(actions)
        if env_id == "servertest/counting-v0":
            assert session.env.unwrapped.steps == len(actions)
    # the chaos really happened, and some retries were answered from the stored result
    assert chaos.aborted >= 10, chaos.aborted
    assert server.metric("agentgym_replayed_answers_total") >= 1
    assert server.metric("agentgym_steps_total", env_id="servertest/counting-v0") == acknowledged
    # creates are retry-safe too: closing every env leaves no session behind (no duplicates)
    await asyncio.gather(*(env.close() for env, *_ in jobs))
    assert server.manager.sessions == {}
    await connection.close()
    await chaos.close()


async def test_a_drop_after_the_server_applied_a_step_is_answered_from_the_store(
    server: LocalServer, proxy: ChaosProxy, step_calls
) -> None:
    env = RemoteEnv(
        Connection(proxy.url), "servertest/counting-v0", {"tag": "late", "delay": 0.3}, owns_connection=True
    )
    await env.reset(seed=5)
    stepping = asyncio.create_task(env.step("a"))
    while step_calls["late"] == 0:  # the server is inside env.step
        await asyncio.sleep(0.005)
    assert proxy.abort_all() == 1
    result = await stepping
    local = agentgym.make("servertest/counting-v0")
    await local.reset(seed=5)
    assert result == await local.step("a")
    assert step_calls["late"] == 1
    assert server.metric("agentgym_replayed_answers_total") == 1
    assert proxy.accepted == 2  # the retry came on a new connection
    assert (await env.step("b")).info["step"] == 2
    await env.close()


async def test_a_request_lost_before_the_server_read_it_is_applied_once(
    server: LocalServer, proxy: ChaosProxy, step_calls
) -> None:
    env = RemoteEnv(Connection(proxy.url), "servertest/counting-v0", {"tag": "lost"}, owns_connection=True)
    await env.reset(seed=5)
    proxy.swallow_requests = True
    stepping = asyncio.create_task(env.step("a"))
    await asyncio.sleep(0.1)
    assert step_calls["lost"] == 0  # the server never saw it
    proxy.swallow_requests = False
    proxy.abort_all()
    result = await stepping
    assert result.info == {"step": 1, "action": "a"}
    assert step_calls["lost"] == 1
    assert server.metric("agentgym_replayed_answers_total") == 0
    await env.close()


async def test_many_drops_on_command_with_many_sessions_in_flight(
    server: LocalServer, proxy: ChaosProxy, step_calls
) -> None:
    connection = Connection(proxy.url)
    envs = [
        RemoteEnv(
            connection, "servertest/counting-v0", {"tag": "cmd", "delay": 0.002}, retries=20, retry_backoff_s=0.001
        )
        for _ in range(40)
    ]

    async def run(index: int, env: RemoteEnv) -> int:
        await env.reset(seed=index)
        for step in range(1, 21):
            assert (await env.step(f"s{step}")).info["step"] == step
        return env.last_seq

    async def chaos_monkey() -> None:
        while True:
            await asyncio.sleep(0.005)  # the steps take ~0.1 s in all: several drops land in them
            proxy.abort_all()

    monkey = asyncio.create_task(chaos_monkey())
    results = await asyncio.gather(*(run(i, env) for i, env in enumerate(envs)))
    monkey.cancel()
    assert results == [21] * 40
    assert step_calls["cmd"] == 40 * 20
    assert proxy.aborted >= 5
    await connection.close()


async def test_retries_run_out_when_the_server_stays_unreachable(server: LocalServer, proxy: ChaosProxy) -> None:
    env = RemoteEnv(
        Connection(proxy.url), "servertest/counting-v0", retries=2, retry_backoff_s=0.01, owns_connection=True
    )
    await env.reset()
    proxy.swallow_requests = True

    async def keep_cutting() -> None:
        while True:
            await asyncio.sleep(0.05)
            proxy.abort_all()

    cutter = asyncio.create_task(keep_cutting())
    with pytest.raises(ConnectionLost):
        await env.step("a")
    cutter.cancel()
    proxy.swallow_requests = False
    # the step may or may not have been applied; the same seq settles it either way
    result = await env.step("a")
    assert result.info["step"] == 1
    await env.close()
