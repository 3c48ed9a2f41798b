"""The browser layer of the web and GUI environments: a pool of headless Chromium processes
that hands out isolated sessions (one browser context and one page each).

Contracts:

- `BrowserPool(settings)` owns one Playwright instance and at most `settings.max_browsers`
  Chromium processes, started on demand. `await pool.new_session()` returns a `BrowserSession`
  on a FRESH browser context (no cookies, storage or cache shared with any other session),
  placed on the least-loaded live browser (a new browser is launched while every live one is
  busy and the limit allows). When all `max_browsers * max_contexts_per_browser` sessions are
  taken, it waits for one to close, up to `acquire_timeout_s`, then raises `PoolExhausted`.
  To make resets fast, `spare_sessions` fresh contexts are opened in the background on browsers
  that already run (a spare is a context nobody has used; taking one skips the ~0.1-0.2 s a new
  renderer takes); a spare goes to the next `new_session` without context options, wherever it
  sits, and a caller waiting for a slot evicts spares first.
- Crashes: when a Chromium process dies (killed, out of memory) or a session's renderer
  crashes, only the sessions on it fail: their operations raise `BrowserCrashed` (the episode
  must be reset, which opens a new session), the dead browser's processes are reaped, and the
  next `new_session` launches a replacement. Other sessions keep working.
- `await pool.close()` closes every session and browser and VERIFIES that the processes it
  started are gone (found by an environment token and process group, see `_procs`), SIGKILLing
  any that linger. A safety net kills them at interpreter exit as well.
- Everything runs on the caller's event loop (Playwright's async API); a pool belongs to the loop
  that first used it. `shared_pool()` returns one pool per running loop that closes its browsers
  once it has had no session for `idle_close_s` (relaunched on the next `new_session`), so a
  served environment reuses Chromium across episodes and a short script leaves nothing behind;
  `close_shared_pools()` closes them explicitly.
- Operations of a session (its methods, `crash_guard`, the helpers in `dom`) raise
  `BrowserCrashed` after a crash and `SessionClosed` after `close()`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import shutil
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.environments.web import _features, _procs
from agentgym.errors import AgentGymError

__all__ = [
    "BrowserCrashed",
    "BrowserError",
    "BrowserPool",
    "BrowserSession",
    "BrowserSettings",
    "BrowserUnavailable",
    "bounded",
    "looks_fatal",
    "PoolExhausted",
    "SessionClosed",
    "DEFAULT_ARGS",
    "close_shared_pools",
    "crash_guard",
    "find_chromium",
    "shared_pool",
    "unavailable_reason",
]

DEFAULT_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
)
"""Chromium flags every launch gets: no sandbox (containers), no GPU, and no background
traffic (the machines often have no network, and Chromium would keep retrying). A launch also
gets one merged `--disable-features` (see `_features`: Playwright's list, the omnibox WebUI
pages headless never shows, and any from `extra_args`)."""

_log = logging.getLogger(__name__)
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserError(AgentGymError):
    """Base class of the browser layer's errors."""

    error_type = "browser_error"


class BrowserUnavailable(BrowserError):
    """No Chromium executable was found, or it could not be started."""

    error_type = "browser_unavailable"


class BrowserCrashed(BrowserError):
    """The Chromium process or renderer behind a session died; the session is unusable and the
    episode must be reset (which opens a new session). Other sessions are not affected."""

    error_type = "browser_crashed"


class SessionClosed(BrowserError):
    """An operation on a session that was closed (by `close()` or by closing its pool)."""

    error_type = "session_closed"


class PoolExhausted(BrowserError):
    """Every session slot of the pool stayed taken for `acquire_timeout_s`."""

    error_type = "pool_exhausted"


def find_chromium() -> str | None:
    """The Chromium to use: $AGENTGYM_CHROMIUM when set, else the first of chromium,
    chromium-browser, google-chrome, google-chrome-stable on PATH; None when there is none."""
    env = os.environ.get("AGENTGYM_CHROMIUM")
    if env:
        return env
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def unavailable_reason() -> str | None:
    """Why browsers cannot be launched here (Playwright or Chromium missing), or None; for
    skipping tests and choosing fallbacks without starting anything."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright; `playwright install` is not needed)"
    if find_chromium() is None:
        return "no Chromium found (apt-get install chromium, or set AGENTGYM_CHROMIUM)"
    return None


def _require_chromium() -> str:
    path = find_chromium()
    if path is None:
        raise BrowserUnavailable(
            "No Chromium found: install it (Debian/Ubuntu: `apt-get install chromium`) or set "
            "AGENTGYM_CHROMIUM to a Chromium or Chrome executable. (`playwright install` is not needed.)"
        )
    return path


class BrowserSettings(BaseModel):
    """How a `BrowserPool` launches and shares Chromium."""

    model_config = ConfigDict(extra="forbid")

    executable_path: str | None = Field(
        default=None, description="Chromium executable; None: $AGENTGYM_CHROMIUM or the first found on PATH"
    )
    headless: bool = True
    max_browsers: int = Field(default=2, ge=1)
    max_contexts_per_browser: int = Field(default=8, ge=1)
    viewport_width: int = Field(default=1280, ge=1)
    viewport_height: int = Field(default=720, ge=1)
    extra_args: list[str] = Field(default_factory=list, description="flags added after DEFAULT_ARGS")
    launch_timeout_s: float = Field(default=30.0, gt=0)
    acquire_timeout_s: float = Field(default=60.0, gt=0, description="how long new_session waits for a free slot")
    action_timeout_s: float = Field(default=10.0, gt=0, description="default timeout of Playwright page operations")
    close_timeout_s: float = Field(default=5.0, gt=0, description="grace for a browser to exit before SIGKILL")
    spare_sessions: int = Field(
        default=1,
        ge=0,
        description="fresh contexts kept open in the background on running browsers, so that new_session "
        "(without context options) returns at once instead of waiting ~0.1-0.2 s for a new renderer",
    )

    def resolved_executable(self) -> str:
        """The executable to launch; raises `BrowserUnavailable` when none is configured or found."""
        if self.executable_path:
            if not (os.path.isfile(self.executable_path) or shutil.which(self.executable_path)):
                raise BrowserUnavailable(
                    f"Chromium executable {self.executable_path!r} does not exist; install Chromium "
                    "(`apt-get install chromium`) or fix BrowserSettings.executable_path / $AGENTGYM_CHROMIUM"
                )
            return self.executable_path
        return _require_chromium()


def _playwright_error() -> type[Exception]:
    from playwright.async_api import Error

    return Error


# --- processes that must not outlive this interpreter -------------------------------------

_LIVE_LAUNCHES: dict[str, int | None] = {}
"""token -> browser pid of every launch not yet verified gone (for the exit-time safety net)."""


def _kill_launch(token: str, browser_pid: int | None) -> None:
    _procs.kill(_procs.launch_processes(token, browser_pid))


@atexit.register
def _kill_all_at_exit() -> None:
    for token, pid in list(_LIVE_LAUNCHES.items()):
        _kill_launch(token, pid)
    _LIVE_LAUNCHES.clear()


# --- sessions ------------------------------------------------------------------------------

_SESSION_OF_PAGE: weakref.WeakKeyDictionary[Any, BrowserSession] = weakref.WeakKeyDictionary()


class BrowserSession:
    """One isolated browser context with one page, handed out by `BrowserPool.new_session`.

    Use `page` and `context` (Playwright objects) directly, or the methods here; wrap direct
    Playwright calls in `async with session.guard():` to get `BrowserCrashed` instead of
    Playwright's generic errors after a crash. `close()` is idempotent and frees the slot.
    """

    def __init__(self, pool: BrowserPool, slot: _Browser, context: Any, page: Any):
        self._pool, self._slot = pool, slot
        self.context = context
        self.page = page
        self._closed = False
        self._crash_reason: str | None = None
        _SESSION_OF_PAGE[page] = self
        page.on("crash", lambda _page: self._mark_crashed("the page's renderer process crashed"))

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def crashed(self) -> bool:
        """True once the browser or renderer behind this session died."""
        return self._crash_reason is not None

    @property
    def browser_pid(self) -> int | None:
        """Pid of the Chromium process this session runs in (None where unknown)."""
        return self._slot.pid

    def _mark_crashed(self, reason: str) -> None:
        if self._crash_reason is None and not self._closed:
            self._crash_reason = reason

    def check(self) -> None:
        """Raise `SessionClosed` or `BrowserCrashed` when the session cannot be used."""
        if self._crash_reason is not None:
            raise BrowserCrashed(f"browser session lost: {self._crash_reason}; reset the episode to get a new session")
        if self._closed:
            raise SessionClosed("this browser session is closed; reset the episode to get a new one")

    def _detect_crash(self) -> None:
        if self._crash_reason is None and not self._closed:
            if self._slot.dead or not self._slot.connected():
                self._mark_crashed("the Chromium process exited")
            elif self.page.is_closed():
                self._mark_crashed("the page was closed by the browser")

    @contextlib.asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Check the session, run the body, and turn a Playwright error caused by a crash (or
        by closing) into `BrowserCrashed` (or `SessionClosed`); other errors pass unchanged."""
        self.check()
        try:
            yield
        except _playwright_error() as exc:
            if not (self.crashed or self._closed):
                self._detect_crash()
                if not self.crashed and looks_fatal(exc):
                    for _ in range(20):  # the crash or disconnect event may trail the error
                        await asyncio.sleep(0.025)
                        self._detect_crash()
                        if self.crashed:
                            break
            if self.crashed or self._closed:
                self.check()
            raise exc

    def mark_unresponsive(self, what: str, timeout_s: float) -> BrowserCrashed:
        """Give up on a page that did not answer (e.g. a script stuck in a loop): the session
        counts as crashed from now on. Returns the error to raise."""
        self._mark_crashed(f"the page did not answer {what} within {timeout_s:g} s (a script may be stuck)")
        return BrowserCrashed(f"browser session lost: {self._crash_reason}; reset the episode to get a new session")

    async def goto(self, url: str, *, wait_until: str = "load", timeout_s: float | None = None) -> Any:
        """Navigate the page to `url`; returns Playwright's Response (or None)."""
        async with self.guard():
            timeout = None if timeout_s is None else timeout_s * 1000
            return await self.page.goto(url, wait_until=wait_until, timeout=timeout)

    async def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        async with self.guard():
            return await self.page.screenshot(type="png")

    async def close(self) -> None:
        """Close the context and free the slot; safe to call more than once, also after a crash."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._slot.connected():  # also after a renderer crash or hang: free the context
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.context.close(), self._pool.settings.close_timeout_s)
        finally:
            self._pool._release(self)

    def __repr__(self) -> str:
        state = "crashed" if self.crashed else "closed" if self._closed else "open"
        return f"<BrowserSession {state} browser_pid={self.browser_pid}>"


_FATAL_HINTS = ("crash", "has been closed", "disconnected", "Target closed")


def looks_fatal(exc: BaseException) -> bool:
    """True for Playwright errors that usually mean the page, context or browser is gone."""
    text = str(exc)
    return any(hint in text for hint in _FATAL_HINTS)


async def bounded(page: Any, operation: Callable[[], Awaitable[Any]], timeout_s: float, what: str) -> Any:
    """Run `operation()`, a page call without a timeout of its own (`evaluate`), under `crash_guard`,
    for at most `timeout_s`; a page that does not answer in time is given up as crashed
    (`BrowserCrashed`), since a renderer stuck in a script cannot be used again."""
    async with crash_guard(page):
        try:
            return await asyncio.wait_for(operation(), timeout_s)
        except asyncio.TimeoutError:
            session = _SESSION_OF_PAGE.get(page)
            if session is None:
                raise
            raise session.mark_unresponsive(what, timeout_s) from None


@contextlib.asynccontextmanager
async def crash_guard(page: Any) -> AsyncIterator[None]:
    """`session.guard()` for the session that owns `page`; a plain passthrough for a page that
    no `BrowserSession` owns (e.g. one the caller created with Playwright directly)."""
    session = _SESSION_OF_PAGE.get(page)
    if session is None:
        yield
        return
    async with session.guard():
        yield


# --- the pool ------------------------------------------------------------------------------


class _Browser:
    """One Chromium process (a slot of the pool): its launch, load and sessions."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.browser: Any = None
        self.pid: int | None = None
        self.load = 0  # sessions open or being opened on it, spares included
        self.spares = 0  # of which spare contexts nobody holds yet
        self.sessions: set[BrowserSession] = set()
        self.ready: asyncio.Future[None] | None = None
        self.dead = False
        self.closing = False

    def connected(self) -> bool:
        return self.browser is not None and self.browser.is_connected()


class BrowserPool:
    """Up to `max_browsers` Chromium processes handing out isolated sessions (module docstring).

    `idle_close_s`: when set, the browsers (and Playwright) are closed once the pool has had no
    session for that long; the next `new_session` starts them again. The pool stays usable.
    """

    def __init__(self, settings: BrowserSettings | None = None, *, idle_close_s: float | None = None):
        self.settings = settings or BrowserSettings()
        self.idle_close_s = idle_close_s
        self._executable: str | None = None
        self._playwright: Any = None
        self._driver: _procs.ProcRef | None = None
        self._playwright_lock: asyncio.Lock | None = None
        self._slots: list[_Browser] = []
        self._cond: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._idle_handle: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._spares: list[tuple[_Browser, Any, Any]] = []  # (slot, context, page), ready to hand out
        self._making_spare = False
        self.launches = 0
        self.crashes = 0

    # -- introspection

    @property
    def sessions(self) -> int:
        """Sessions open or being opened (spare contexts not counted)."""
        return sum(slot.load - slot.spares for slot in self._slots)

    @property
    def capacity(self) -> int:
        return self.settings.max_browsers * self.settings.max_contexts_per_browser

    def browser_pids(self) -> list[int]:
        """Pids of the live Chromium browser processes of this pool."""
        return [slot.pid for slot in self._slots if slot.pid is not None and not slot.dead]

    def processes(self) -> list[_procs.ProcRef]:
        """Every live process (browser, zygotes, renderers, crash handlers) of this pool's launches."""
        refs: list[_procs.ProcRef] = []
        for slot in self._slots:
            refs.extend(_procs.launch_processes(slot.token, slot.pid))
        return refs

    def memory(self) -> dict[str, int]:
        """Summed RSS and PSS in bytes of this pool's Chromium processes (Linux; zeros elsewhere)."""
        return _procs.memory(self.processes())

    # -- sessions

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._cond = asyncio.Condition()
            self._playwright_lock = asyncio.Lock()
        elif self._loop is not loop:
            raise BrowserError(
                "a BrowserPool belongs to the event loop that first used it (Playwright objects are "
                "bound to one loop); use shared_pool() to get the pool of the running loop"
            )

    async def new_session(
        self, viewport: tuple[int, int] | None = None, *, timeout_s: float | None = None, **context_options: Any
    ) -> BrowserSession:
        """A fresh context and page on the least-loaded live browser.

        `viewport`: (width, height) in CSS pixels, default the settings' viewport.
        `context_options`: passed to Playwright's `browser.new_context` (e.g. `locale`, `user_agent`).
        Waits up to `timeout_s` (default `acquire_timeout_s`) for a free slot, then raises
        `PoolExhausted`; raises `BrowserUnavailable` when Chromium cannot be started.
        """
        if self._closed:
            raise BrowserError("this BrowserPool is closed")
        self._bind_loop()
        if self._executable is None:
            self._executable = self.settings.resolved_executable()
        self._cancel_idle()
        width, height = viewport or (self.settings.viewport_width, self.settings.viewport_height)
        if not context_options:
            session = await self._session_from_spare(width, height)
            if session is not None:
                self._replenish()
                return session
        slot = await self._reserve(self.settings.acquire_timeout_s if timeout_s is None else timeout_s)
        try:
            await self._ensure_launched(slot)
            context, page = await self._open_context(slot, width, height, context_options)
        except BaseException as exc:
            slot.load -= 1
            self._after_release()
            if isinstance(exc, _playwright_error()) and (slot.dead or not slot.connected()):
                raise BrowserCrashed(f"the browser died while opening a session: {exc}") from exc
            raise
        if slot.dead:  # died between the context opening and now
            slot.load -= 1
            self._after_release()
            raise BrowserCrashed("the browser died while opening a session; try again")
        session = BrowserSession(self, slot, context, page)
        slot.sessions.add(session)
        self._replenish()
        return session

    async def _open_context(self, slot: _Browser, width: int, height: int, context_options: dict[str, Any]) -> Any:
        options: dict[str, Any] = {"viewport": {"width": width, "height": height}, "device_scale_factor": 1}
        options.update(context_options)
        context = await slot.browser.new_context(**options)
        context.set_default_timeout(self.settings.action_timeout_s * 1000)
        page = await context.new_page()
        return context, page

    # -- spare contexts

    def _pop_spare(self) -> tuple[_Browser, Any, Any] | None:
        """A usable spare (its slot keeps the load, now for a session), dropping dead ones."""
        while self._spares:
            slot, context, page = self._spares.pop(0)
            slot.spares -= 1
            if not slot.dead and slot.connected() and not page.is_closed():
                return slot, context, page
            slot.load -= 1
        return None

    def _evict_spare(self) -> bool:
        """Close one spare to free its slot for a waiting caller; True if there was one."""
        spare = self._pop_spare()
        if spare is None:
            return False
        slot, context, _page = spare
        slot.load -= 1
        self._spawn(self._close_quietly(context))
        return True

    async def _close_quietly(self, context: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(context.close(), self.settings.close_timeout_s)

    async def _session_from_spare(self, width: int, height: int) -> BrowserSession | None:
        spare = self._pop_spare()
        if spare is None:
            return None
        slot, context, page = spare
        try:
            if (width, height) != (self.settings.viewport_width, self.settings.viewport_height):
                await page.set_viewport_size({"width": width, "height": height})
        except Exception:
            slot.load -= 1
            self._spawn(self._close_quietly(context))
            self._after_release()
            return None
        session = BrowserSession(self, slot, context, page)
        slot.sessions.add(session)
        return session

    def _replenish(self) -> None:
        """Open spare contexts in the background, on browsers that already run (never launching
        one for a spare) and only while at least one more slot stays free for callers."""
        if self._making_spare or self._closed or len(self._spares) >= self.settings.spare_sessions:
            return
        self._making_spare = True
        self._spawn(self._make_spares())

    async def _make_spares(self) -> None:
        try:
            while not self._closed and len(self._spares) < self.settings.spare_sessions:
                if sum(slot.load for slot in self._slots) >= self.capacity - 1:
                    return
                running = [
                    slot
                    for slot in self._slots
                    if slot.connected()
                    and not (slot.dead or slot.closing)
                    and slot.load < self.settings.max_contexts_per_browser
                ]
                if not running:
                    return
                slot = min(running, key=lambda slot: slot.load)
                slot.load += 1
                slot.spares += 1
                try:
                    context, page = await self._open_context(
                        slot, self.settings.viewport_width, self.settings.viewport_height, {}
                    )
                except Exception:
                    slot.load -= 1
                    slot.spares -= 1
                    return
                if slot.dead or slot.closing or self._closed:
                    slot.load -= 1
                    slot.spares -= 1
                    await self._close_quietly(context)
                    return
                self._spares.append((slot, context, page))
                self._after_release()  # a waiter may take it; the idle timer ignores spares
        finally:
            self._making_spare = False

    async def _reserve(self, timeout_s: float) -> _Browser:
        assert self._cond is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with self._cond:
            while True:
                if self._closed:
                    raise BrowserError("this BrowserPool was closed while waiting for a session")
                slot = self._pick()
                if slot is not None:
                    slot.load += 1
                    return slot
                if self._evict_spare():
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise PoolExhausted(
                        f"all {self.capacity} browser sessions of the pool stayed busy for {timeout_s:g} s "
                        "(max_browsers x max_contexts_per_browser); close sessions or raise the limits"
                    )
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._cond.wait(), remaining)

    def _pick(self) -> _Browser | None:
        live = [slot for slot in self._slots if not slot.dead and not slot.closing]
        with_room = [slot for slot in live if slot.load < self.settings.max_contexts_per_browser]
        # placement by sessions, not spares: a browser holding only a spare counts as idle
        best = min(with_room, key=lambda slot: (slot.load - slot.spares, slot.load), default=None)
        if best is not None and best.load == best.spares:
            return best
        if len(live) < self.settings.max_browsers:
            slot = _Browser()
            self._slots.append(slot)
            return slot
        return best

    async def _ensure_launched(self, slot: _Browser) -> None:
        if slot.ready is None:
            slot.ready = asyncio.get_running_loop().create_future()
            try:
                await self._launch(slot)
            except BaseException as exc:
                slot.dead = True
                self._remove(slot)
                slot.ready.set_exception(exc)
                slot.ready.exception()  # retrieved: waiters re-raise it, nobody else must
                raise
            slot.ready.set_result(None)
        else:
            await asyncio.shield(slot.ready)

    async def _start_playwright(self) -> Any:
        assert self._playwright_lock is not None
        async with self._playwright_lock:
            if self._playwright is None:
                try:
                    from playwright.async_api import async_playwright
                except ImportError as exc:
                    raise BrowserUnavailable(
                        "the web environments need Playwright's Python package: pip install playwright "
                        "(its browser download, `playwright install`, is not needed)"
                    ) from exc
                self._playwright = await async_playwright().start()
                self._driver = _driver_process(self._playwright)
            return self._playwright

    async def _launch(self, slot: _Browser) -> None:
        playwright = await self._start_playwright()
        args = _features.merged_args([*DEFAULT_ARGS, *self.settings.extra_args])
        env = {**os.environ, _procs.OWNER_VAR: str(os.getpid()), _procs.TOKEN_VAR: slot.token}
        _LIVE_LAUNCHES[slot.token] = None
        try:
            slot.browser = await playwright.chromium.launch(
                executable_path=self._executable,
                headless=self.settings.headless,
                args=args,
                env=env,
                timeout=self.settings.launch_timeout_s * 1000,
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
            )
        except _playwright_error() as exc:
            await asyncio.to_thread(_kill_launch, slot.token, None)
            _LIVE_LAUNCHES.pop(slot.token, None)
            raise BrowserUnavailable(f"Chromium ({self._executable}) failed to start: {exc}") from exc
        self.launches += 1
        slot.pid = next(
            (ref.pid for ref in await asyncio.to_thread(_procs.launch_processes, slot.token) if ref.pgid == ref.pid),
            None,
        )
        _LIVE_LAUNCHES[slot.token] = slot.pid
        if not _features.learn_from_command_line(slot.pid):
            _log.warning(
                "Playwright's --disable-features list changed; merged it from the command line for next launches"
            )
        slot.browser.on("disconnected", lambda _browser: self._on_disconnected(slot))

    def _on_disconnected(self, slot: _Browser) -> None:
        if slot.closing or slot.dead:
            return
        slot.dead = True
        self.crashes += 1
        self._spares = [spare for spare in self._spares if spare[0] is not slot]
        for session in list(slot.sessions):
            session._mark_crashed("the Chromium process exited")
        self._remove(slot)
        self._spawn(self._reap(slot))

    async def _reap(self, slot: _Browser) -> None:
        """Make sure nothing of a dead browser lingers (its renderers may outlive it briefly)."""
        refs = await asyncio.to_thread(_procs.launch_processes, slot.token, slot.pid)
        left = await asyncio.to_thread(_procs.terminate, refs, 0.5)
        if not left:
            _LIVE_LAUNCHES.pop(slot.token, None)
        self._after_release()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _remove(self, slot: _Browser) -> None:
        if slot in self._slots:
            self._slots.remove(slot)
        self._after_release()

    def _release(self, session: BrowserSession) -> None:
        slot = session._slot
        if session in slot.sessions:
            slot.sessions.discard(session)
            slot.load -= 1
        self._after_release()
        if not slot.dead and self.sessions:  # an idle pool keeps no spare beyond the one it has
            self._replenish()

    def _after_release(self) -> None:
        """Wake waiters and, for an idle-closing pool without sessions, start the idle timer."""
        if self._cond is None or self._loop is None or self._loop.is_closed():
            return
        self._spawn(self._notify())
        if self.idle_close_s is not None and self.sessions == 0 and self._slots and self._idle_handle is None:
            self._idle_handle = self._loop.call_later(self.idle_close_s, self._idle_fired)

    async def _notify(self) -> None:
        assert self._cond is not None
        async with self._cond:
            self._cond.notify_all()

    def _cancel_idle(self) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None

    def _idle_fired(self) -> None:
        self._idle_handle = None
        if self.sessions == 0 and not self._closed:
            self._spawn(self._close_browsers(only_if_idle=True))

    # -- closing

    async def _close_browsers(self, only_if_idle: bool = False) -> list[_procs.ProcRef]:
        """Close every browser and Playwright; return processes that survived a SIGKILL (normally none)."""
        if only_if_idle and self.sessions:
            return []
        self._spares = [spare for spare in self._spares if spare[0] not in self._slots]
        for slot in self._slots:
            slot.load -= slot.spares
            slot.spares = 0
        slots = list(self._slots)
        leftovers: list[_procs.ProcRef] = []
        for slot in slots:
            slot.closing = True
        for slot in slots:
            for session in list(slot.sessions):
                session._closed = True
                slot.sessions.discard(session)
            refs = await asyncio.to_thread(_procs.launch_processes, slot.token, slot.pid)
            if slot.browser is not None and slot.connected():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(slot.browser.close(), self.settings.close_timeout_s)
            refs += await asyncio.to_thread(_procs.launch_processes, slot.token, slot.pid)
            left = await asyncio.to_thread(_procs.terminate, list(set(refs)), self.settings.close_timeout_s)
            leftovers.extend(left)
            if not left:
                _LIVE_LAUNCHES.pop(slot.token, None)
            if slot in self._slots:
                self._slots.remove(slot)
        if self._playwright is not None and (only_if_idle is False or not self._slots):
            playwright, self._playwright = self._playwright, None
            with contextlib.suppress(Exception):
                await playwright.stop()
        return leftovers

    async def close(self) -> None:
        """Close every session and browser, stop Playwright, and verify that the Chromium
        processes this pool started are gone (SIGKILLing stragglers). Idempotent; the pool
        cannot be used afterwards. Raises `BrowserError` if a process survives SIGKILL."""
        if self._closed:
            return
        self._closed = True
        self._cancel_idle()
        left = await self._close_browsers()
        for task in list(self._background):
            if task is not asyncio.current_task():
                task.cancel()
        if self._cond is not None:
            async with self._cond:
                self._cond.notify_all()
        if left:
            raise BrowserError(f"Chromium processes survived SIGKILL: {[ref.pid for ref in left]}")

    def kill_now(self) -> None:
        """Synchronously SIGKILL every process of this pool, Playwright's driver included, and
        wait (up to a second) until they are gone: for a pool whose event loop is closed."""
        self._closed = True
        refs = [ref for slot in self._slots for ref in _procs.launch_processes(slot.token, slot.pid)]
        if self._driver is not None:
            refs.append(self._driver)
        _procs.kill(refs)
        _procs.wait_gone(refs, 3.0)
        for slot in self._slots:
            _LIVE_LAUNCHES.pop(slot.token, None)
        self._slots = []

    async def __aenter__(self) -> BrowserPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _driver_process(playwright: Any) -> _procs.ProcRef | None:
    """Playwright's node driver process (private attributes; None if they change)."""
    try:
        pid = playwright._impl_obj._connection._transport._proc.pid
    except AttributeError:
        return None
    return _procs.ref(pid)


# --- one shared pool per event loop --------------------------------------------------------

_SHARED: dict[asyncio.AbstractEventLoop, BrowserPool] = {}
"""Strong references: a loop closed without `close_shared_pools()` stays here until the next
`shared_pool()` / `close_shared_pools()` call kills its pool's processes (or interpreter exit)."""
DEFAULT_IDLE_CLOSE_S = 10.0


def shared_pool(settings: BrowserSettings | None = None, *, idle_close_s: float = DEFAULT_IDLE_CLOSE_S) -> BrowserPool:
    """The browser pool of the running event loop, created on first use with `settings` (later
    calls return the same pool and ignore their arguments). It closes its browsers after
    `idle_close_s` without sessions and relaunches them when needed. Pools of event loops that
    were closed without `close_shared_pools()` have their processes killed here."""
    loop = asyncio.get_running_loop()
    for other, pool in list(_SHARED.items()):
        if other.is_closed():
            pool.kill_now()
            del _SHARED[other]
    pool = _SHARED.get(loop)
    if pool is None or pool._closed:
        pool = BrowserPool(settings, idle_close_s=idle_close_s)
        _SHARED[loop] = pool
    return pool


async def close_shared_pools() -> None:
    """Close the shared pool of the running loop (and kill those of closed loops)."""
    loop = asyncio.get_running_loop()
    for other, pool in list(_SHARED.items()):
        if other is loop:
            del _SHARED[other]
            await pool.close()
        elif other.is_closed():
            pool.kill_now()
            del _SHARED[other]
