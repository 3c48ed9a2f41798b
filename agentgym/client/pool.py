"""`EnvPool`: environment sessions spread over several servers."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

from agentgym.client.connection import Connection
from agentgym.client.remote_env import RemoteEnv
from agentgym.errors import ServerBusy


class _PooledEnv(RemoteEnv):
    """A RemoteEnv that tells its pool when it closes, so the pool's load counts stay true."""

    def __init__(self, pool: EnvPool, server: str, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._pool, self._server = pool, server

    async def fork(self) -> RemoteEnv:
        forked = await super().fork()
        return self._pool._adopt(self._server, forked)

    async def close(self) -> None:
        if not self.closed:
            self._pool._load[self._server] -= 1
        await super().close()


class EnvPool:
    """Opens sessions on the least loaded of several servers and shares connections.

    Load is the number of open sessions this pool holds on each server; a server that answers
    503 (full or shutting down) is skipped and the next least loaded is tried. Each server gets
    `connections_per_server` WebSockets, used in turn. Use as `async with EnvPool(urls) as pool:`.
    """

    def __init__(self, urls: Sequence[str], *, connections_per_server: int = 1, retries: int = 5):
        if not urls:
            raise ValueError("EnvPool needs at least one server URL")
        if connections_per_server < 1:
            raise ValueError("connections_per_server must be at least 1")
        self.retries = retries
        self._connections = {url: [Connection(url) for _ in range(connections_per_server)] for url in urls}
        self._next_connection = {url: itertools.cycle(conns) for url, conns in self._connections.items()}
        self._load = {url: 0 for url in urls}

    @property
    def load(self) -> dict[str, int]:
        """Open sessions per server URL."""
        return dict(self._load)

    async def make(self, env_id: str, **kwargs: Any) -> RemoteEnv:
        """Open a session of `env_id` on the least loaded server that accepts it.

        Raises:
            ServerBusy: every server refused (all full or shutting down).
        """
        refusals: list[str] = []
        for server in sorted(self._load, key=self._load.__getitem__):
            env = _PooledEnv(self, server, next(self._next_connection[server]), env_id, kwargs, retries=self.retries)
            self._load[server] += 1  # counted before the await, so concurrent makes spread out
            try:
                await env.create_session()
            except ServerBusy as error:
                self._load[server] -= 1
                refusals.append(f"{server}: {error}")
                continue
            except BaseException:
                self._load[server] -= 1
                raise
            return env
        raise ServerBusy(503, "all_servers_busy", "every server refused a new session: " + "; ".join(refusals))

    def _adopt(self, server: str, env: RemoteEnv) -> RemoteEnv:
        self._load[server] += 1
        return _PooledEnv(
            self, server, env.connection, env.env_id, env.kwargs, session_id=env.session_id, last_seq=env.last_seq, retries=self.retries
        )

    async def close(self) -> None:
        """Close every connection (the servers reap sessions left open, after their TTL)."""
        await asyncio.gather(*(conn.close() for conns in self._connections.values() for conn in conns))

    async def __aenter__(self) -> EnvPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
