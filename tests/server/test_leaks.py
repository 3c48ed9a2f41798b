"""No growth in memory or open objects over 10,000 create/step/close cycles over the WebSocket
(client and server both in this process, so both are measured)."""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc

import pytest

from agentgym.client import Connection, RemoteEnv
from tests.server.helpers import local_server

WORKERS = 8


async def cycles(connection: Connection, count: int) -> None:
    """`count` create/reset/step/close cycles, spread over WORKERS concurrent loops."""

    async def worker(share: int) -> None:
        for index in range(share):
            env = RemoteEnv(connection, "servertest/counting-v0")
            await env.reset(seed=index)
            result = await env.step("a")
            assert result.info["step"] == 1
            await env.close()

    await asyncio.gather(*(worker(count // WORKERS) for _ in range(WORKERS)))


def measure() -> tuple[int, int]:
    gc.collect()
    gc.collect()
    return tracemalloc.get_traced_memory()[0], len(gc.get_objects())


@pytest.mark.slow
async def test_ten_thousand_cycles_do_not_grow_memory_or_objects() -> None:
    async with local_server() as server:
        connection = Connection(server.url)
        tracemalloc.start()
        try:
            await cycles(connection, 2_000)  # warm-up: caches, pools, lazily built things
            memory_before, objects_before = measure()
            tasks_before = len(asyncio.all_tasks())
            started = time.monotonic()
            await cycles(connection, 10_000)
            elapsed = time.monotonic() - started
            memory_after, objects_after = measure()
        finally:
            tracemalloc.stop()
        assert server.manager.sessions == {}
        assert server.metric("agentgym_open_sessions") == 0
        assert server.metric("agentgym_steps_total", env_id="servertest/counting-v0") == 12_000
        assert len(asyncio.all_tasks()) <= tasks_before
        assert len(server.tasks) <= 1  # at most the answer task of the last close, finishing
        assert connection.in_flight == 0 and connection._images == {} and connection._sent_on == {}
        growth, object_growth = memory_after - memory_before, objects_after - objects_before
        print(f"10,000 cycles in {elapsed:.1f} s: memory {growth / 1024:+.1f} KiB, objects {object_growth:+d}")
        # under 26 bytes and 0.1 objects a cycle: a leak of one small object per cycle fails
        assert growth < 256 << 10, f"memory grew by {growth / 1024:.0f} KiB over 10,000 cycles"
        assert object_growth < 1_000, f"{object_growth} more live objects after 10,000 cycles"
        await connection.close()
