"""`EnvPool`: environment sessions spread over several servers."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

from agentgym.client.connection import Connection
from agentgym.client.remote_env import RemoteEnv
from agentgym.errors import ConnectionLost, ServerBusy


class _PooledEnv(RemoteEnv):
    """A RemoteEnv that the pool counts towards its server's load while it is open."""

    def __init__(self, pool: EnvPool, server: str, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._pool, self._server = pool, server
        pool._opened(self)

    async def fork(self) -> RemoteEnv:
        forked = await super().fork()
        return _PooledEnv(
            self._pool,
            self._server,
            forked.connection,
            forked.env_id,
            forked.kwargs,
            session_id=forked.session_id,
            last_seq=forked.last_seq,
            system_prompt=forked.system_prompt,
            retries=self.retries,
        )

    async def close(self) -> None:
        self._pool._closed(self)
        await super().close()


class EnvPool:
    """Opens sessions on the least loaded of several servers and shares connections.

    Load is the number of open sessions this pool holds on each server; a server that answers
    503 (full or shutting down) or cannot be reached is skipped and the next least loaded is tried. Each server gets
    `connections_per_server` WebSockets, used in turn. Use as `async with EnvPool(urls) as pool:`;
    closing the pool closes the sessions still open, then the connections.
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
        self._open: set[_PooledEnv] = set()

    @property
    def load(self) -> dict[str, int]:
        """Open sessions per server URL."""
        return dict(self._load)

    async def make(self, env_id: str, **kwargs: Any) -> RemoteEnv:
        """Open a session of `env_id` on the least loaded server that accepts it.

        Raises:
            ServerBusy: every server refused (full, shutting down or unreachable).
        """
        refusals: list[str] = []
        for server in sorted(self._load, key=self._load.__getitem__):
            # counted from construction, before the await, so concurrent makes spread out
            env = _PooledEnv(self, server, next(self._next_connection[server]), env_id, kwargs, retries=self.retries)
            try:
                await env.create_session()
            except (ServerBusy, ConnectionLost) as error:  # full, shutting down or unreachable: try the next
                self._closed(env)
                refusals.append(f"{server}: {error}")
                continue
            except BaseException:
                self._closed(env)
                raise
            return env
        raise ServerBusy(503, "all_servers_busy", "every server refused a new session: " + "; ".join(refusals))

    def _opened(self, env: _PooledEnv) -> None:
        self._open.add(env)
        self._load[env._server] += 1

    def _closed(self, env: _PooledEnv) -> None:
        if env in self._open:
            self._open.remove(env)
            self._load[env._server] -= 1

    async def close(self) -> None:
        """Close the sessions still open (best effort), then every connection."""
        await asyncio.gather(*(env.close() for env in list(self._open)), return_exceptions=True)
        await asyncio.gather(*(conn.close() for conns in self._connections.values() for conn in conns))

    async def __aenter__(self) -> EnvPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
