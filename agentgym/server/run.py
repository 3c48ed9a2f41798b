"""Running the environment service: bind, log where, serve until SIGTERM/SIGINT, shut down gracefully."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from agentgym.server.app import create_app, drain
from agentgym.server.logs import configure_logging
from agentgym.server.sessions import ServerLimits

logger = logging.getLogger("agentgym.server")


async def bind(runner: web.AppRunner, host: str, port: int) -> str:
    """Set up `runner`, listen on host:port (port 0 picks a free one) and return the base URL."""
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    return f"http://[{bound_host}]:{bound_port}" if ":" in bound_host else f"http://{bound_host}:{bound_port}"


async def stop_signal() -> None:
    """Return once SIGTERM or SIGINT arrives; the handlers are removed again afterwards."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def serve_until_stopped(
    env_ids: list[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: ServerLimits | None = None,
    shutdown_timeout_s: float = 30.0,
    access_log: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `env_ids` until SIGTERM or SIGINT, then shut down gracefully: answer new
    operations (and /healthz) 503 `shutting_down`, finish the operations in flight and send
    their answers, close the WebSockets, stop listening, close every environment. `on_ready`
    receives the base URL once the socket is bound (port 0 picks a free port)."""
    app = create_app(env_ids, limits, shutdown_timeout_s=shutdown_timeout_s)
    runner = web.AppRunner(app, access_log=logger if access_log else None, shutdown_timeout=shutdown_timeout_s)
    url = await bind(runner, host, port)  # the shutdown timeout is the runner's
    logger.info("serving", extra={"url": url, "envs": sorted(env_ids), "limits": vars(limits or ServerLimits())})
    if on_ready is not None:
        on_ready(url)
    try:
        await stop_signal()
        logger.info("signal received; shutting down gracefully")
        await drain(app)  # while the site still reads: new requests get 503 shutting_down, not silence
    finally:
        await runner.cleanup()


def serve(env_ids: list[str], *, log_format: str = "json", **options: object) -> None:
    """Blocking entry point of `agentgym serve`; see `serve_until_stopped` for the options.

    It owns the process, so it also tunes the garbage collector for a server holding thousands
    of sessions: the objects of start-up are frozen out of collection, and the young
    generation is collected less often (at 4,096 sessions the default thresholds made
    collection the largest cost per step; see benchmarks/server/README.md).
    """
    configure_logging(log_format)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    asyncio.run(serve_until_stopped(env_ids, **options))  # type: ignore[arg-type]
