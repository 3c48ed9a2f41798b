"""The shop as an aiohttp web application, and the process-wide server that browser mode uses.

`create_app(registry)` serves every shopper session in `registry` (a `SessionRegistry`) under
`/s/{sid}/...` (URL scheme in `html`). `GET /?task=N&seed=S&size=K` opens a new session for task
N of that catalogue (defaults: task 0 of the default catalogue) and redirects to its search page,
so a person can shop in an ordinary browser. A URL naming no page, product or option answers
404 (unknown session or page) or 400 (malformed parameters) with a short HTML message.

`shared_server()` starts one `ShopServer` per process on first use: the application runs on its
own event loop in a daemon thread, bound to a free loopback port, so it serves any caller's
event loop (and browsers) alike; `stop()` shuts it down cleanly, and an `atexit` hook does so at
interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import secrets
import threading
from urllib.parse import parse_qs

from aiohttp import web

from agentgym.environments.web.webshop.html import parse_options, render_html, state_from_url, url_for
from agentgym.environments.web.webshop.pages import DoneState, PageError
from agentgym.environments.web.webshop.shop import Shop, ShopSession, shared_shop


class SessionRegistry:
    """Shopper sessions by id, each with its shop; safe to use from any thread."""

    def __init__(self) -> None:
        self._sessions: dict[str, tuple[Shop, ShopSession]] = {}
        self._lock = threading.Lock()

    def add(self, shop: Shop, session: ShopSession) -> str:
        sid = secrets.token_hex(8)
        with self._lock:
            self._sessions[sid] = (shop, session)
        return sid

    def get(self, sid: str) -> tuple[Shop, ShopSession] | None:
        with self._lock:
            return self._sessions.get(sid)

    def remove(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)


def _error(status: int, message: str) -> web.Response:
    body = f"<!DOCTYPE html><html><body><h1>{status}</h1><p>{message}</p></body></html>"
    return web.Response(status=status, text=body, content_type="text/html")


def create_app(registry: SessionRegistry) -> web.Application:
    """The shop's web application over the sessions in `registry`."""
    routes = web.RouteTableDef()

    def lookup(request: web.Request) -> tuple[str, Shop, ShopSession]:
        sid = request.match_info["sid"]
        found = registry.get(sid)
        if found is None:
            raise web.HTTPNotFound(text=f"no shopper session {sid!r}; open / to start one")
        return sid, *found

    @routes.get("/")
    async def start(request: web.Request) -> web.Response:
        try:
            task = int(request.query.get("task", "0"))
            seed = int(request.query.get("seed", "0"))
            size = int(request.query.get("size", "5000"))
            if task < 0 or not 36 <= size <= 100_000:
                raise ValueError
        except ValueError:
            return _error(400, "task, seed and size must be integers (task >= 0, 36 <= size <= 100000)")
        shop = await asyncio.to_thread(shared_shop, seed, size)
        sid = registry.add(shop, ShopSession(shop.goal(task)))
        raise web.HTTPSeeOther(f"/s/{sid}/")

    @routes.get("/s/{sid}/{rest:.*}")
    async def page(request: web.Request) -> web.Response:
        sid, shop, session = lookup(request)
        rest = request.match_info["rest"]
        try:
            state = state_from_url(rest, parse_qs(request.query_string))
            if state is None:  # the confirmation page shows the session's purchase
                if session.purchase is None:
                    return _error(404, "nothing bought yet in this session")
                state = DoneState(session.purchase.asin, session.purchase.options)
            built = shop.page(session, state)
        except PageError as error:
            status = 404 if rest.startswith("item/") or rest not in ("", "search", "done") else 400
            return _error(status, str(error))
        session.state = state
        return web.Response(text=render_html(built, f"/s/{sid}"), content_type="text/html")

    @routes.post("/s/{sid}/buy")
    async def buy(request: web.Request) -> web.Response:
        sid, shop, session = lookup(request)
        form = await request.post()
        asin = form.get("asin")
        if not isinstance(asin, str):
            return _error(400, "buy needs the form field asin")
        try:
            options = parse_options([v for v in form.getall("opt", []) if isinstance(v, str)])
            shop.buy(session, asin, options)
        except PageError as error:
            return _error(400, str(error))
        raise web.HTTPSeeOther(url_for(f"/s/{sid}", DoneState(asin, options)))

    app = web.Application()
    app.add_routes(routes)
    return app


class ShopServer:
    """The web shop on a free loopback port, run on its own event loop in a daemon thread."""

    def __init__(self) -> None:
        self.registry = SessionRegistry()
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> str:
        """Start serving (idempotent); returns the base URL, e.g. "http://127.0.0.1:41234"."""
        if self.running:
            return self.base_url
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        async def serve() -> None:
            self._runner = web.AppRunner(create_app(self.registry), access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            host, port = self._runner.addresses[0][:2]
            self.base_url = f"http://{host}:{port}"

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(serve())
            except BaseException as error:  # reported to the starting thread
                failure.append(error)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="webshop-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise RuntimeError(f"the web shop could not start: {failure[0]}") from failure[0]
        return self.base_url

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        if not self.running:
            return
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None


_server: ShopServer | None = None
_server_lock = threading.Lock()


def shared_server() -> ShopServer:
    """The process's shop server, started on first use (and again after `stop_shared_server`)."""
    global _server
    with _server_lock:
        if _server is None:
            _server = ShopServer()
            atexit.register(stop_shared_server)
        _server.start()
        return _server


def stop_shared_server() -> None:
    """Stop the process's shop server if it runs."""
    with _server_lock:
        if _server is not None:
            _server.stop()
