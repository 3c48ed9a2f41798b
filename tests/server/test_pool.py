"""EnvPool over two real servers: least-loaded placement, skipping full servers, ServerBusy."""

from __future__ import annotations

import asyncio

import pytest

import agentgym
from agentgym.client import EnvPool, RemoteEnv
from agentgym.errors import ServerBusy, UnknownEnvironment
from tests.server.api import HttpApi
from tests.server.helpers import local_server


async def test_sessions_spread_over_the_least_loaded_server() -> None:
    async with local_server() as a, local_server() as b:
        async with EnvPool([a.url, b.url]) as pool:
            envs = [await pool.make("servertest/counting-v0") for _ in range(6)]
            assert pool.load == {a.url: 3, b.url: 3}
            assert (len(a.manager.sessions), len(b.manager.sessions)) == (3, 3)
            # closing frees a slot on that server, and the next session goes there
            on_a = [env for env in envs if env.connection.base_url == a.url]
            await on_a[0].close()
            assert pool.load == {a.url: 2, b.url: 3}
            replacement = await pool.make("guess-number-v0")
            assert replacement.connection.base_url == a.url
            # concurrent makes spread too (the load is counted before the await)
            more = await asyncio.gather(*(pool.make("servertest/counting-v0") for _ in range(10)))
            assert pool.load == {a.url: 8, b.url: 8}
            # pooled envs are ordinary RemoteEnvs
            await replacement.reset(seed=2)
            local = agentgym.make("guess-number-v0")
            await local.reset(seed=2)
            assert await replacement.step("50") == await local.step("50")
            await asyncio.gather(*(env.close() for env in (*envs[1:], *on_a[1:], replacement, *more) if not env.closed))
            assert pool.load == {a.url: 0, b.url: 0}
            assert a.manager.sessions == {} and b.manager.sessions == {}


async def test_a_fork_stays_on_its_server_and_counts_as_load() -> None:
    async with local_server() as a, local_server() as b:
        async with EnvPool([a.url, b.url]) as pool:
            env = await pool.make("guess-number-v0")
            await env.reset(seed=1)
            await env.step("50")
            forked = await env.fork()
            assert isinstance(forked, RemoteEnv) and forked.connection is env.connection
            home = env.connection.base_url
            assert pool.load[home] == 2
            assert forked.last_seq == env.last_seq == 2
            assert (await forked.step("25")) == (await env.step("25"))
            await forked.close()
            assert pool.load[home] == 1
            await env.close()


async def test_a_full_server_is_skipped_and_all_full_is_server_busy() -> None:
    async with local_server(max_sessions=2) as a, local_server(max_sessions=3) as b:
        outsider = HttpApi(a.url)  # another client fills server a
        for _ in range(2):
            await outsider.create("servertest/counting-v0")
        async with EnvPool([a.url, b.url]) as pool:
            envs = [await pool.make("servertest/counting-v0") for _ in range(3)]
            assert all(env.connection.base_url == b.url for env in envs)
            assert pool.load == {a.url: 0, b.url: 3}
            with pytest.raises(ServerBusy) as caught:
                await pool.make("servertest/counting-v0")
            assert caught.value.status == 503 and caught.value.remote_type == "all_servers_busy"
            assert a.url in str(caught.value) and b.url in str(caught.value)
            assert pool.load == {a.url: 0, b.url: 3}  # refusals leave no phantom load
            await envs[0].close()
            assert (await pool.make("servertest/counting-v0")).connection.base_url == b.url
        await outsider.close()


async def test_errors_other_than_busy_are_raised_at_once() -> None:
    async with local_server() as a:
        async with EnvPool([a.url]) as pool:
            with pytest.raises(UnknownEnvironment):
                await pool.make("servertest/nothing-v0")
            assert pool.load == {a.url: 0}


async def test_several_connections_per_server_are_used_in_turn() -> None:
    async with local_server() as a:
        async with EnvPool([a.url], connections_per_server=3) as pool:
            envs = [await pool.make("servertest/counting-v0") for _ in range(6)]
            assert len({id(env.connection) for env in envs}) == 3
            await asyncio.gather(*(env.reset() for env in envs))
            await asyncio.gather(*(env.close() for env in envs))


def test_pool_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        EnvPool([])
    with pytest.raises(ValueError):
        EnvPool(["http://127.0.0.1:1"], connections_per_server=0)


async def test_closing_the_pool_closes_its_open_sessions_and_forks_keep_the_system_prompt() -> None:
    async with local_server() as server:
        pool = EnvPool([server.url])
        env = await pool.make("guess-number-v0", low=1, high=8)
        assert "between 1 and 8" in env.system_prompt  # the server sends Env.system_prompt on create
        await env.reset(seed=0)
        branch = await env.fork()
        assert branch.system_prompt == env.system_prompt
        assert pool.load == {server.url: 2} and len(server.manager.sessions) == 2
        await pool.close()
        assert pool.load == {server.url: 0}
        assert server.manager.sessions == {}


async def test_an_unreachable_server_is_skipped_like_a_full_one() -> None:
    async with local_server() as live:
        dead = "http://127.0.0.1:9"  # nothing listens on the discard port
        async with EnvPool([dead, live.url], retries=0) as pool:
            envs = [await pool.make("guess-number-v0") for _ in range(3)]
            assert pool.load == {dead: 0, live.url: 3}
            for env in envs:
                await env.close()
        async with EnvPool([dead], retries=0) as pool:
            with pytest.raises(ServerBusy, match="every server refused"):
                await pool.make("guess-number-v0")
