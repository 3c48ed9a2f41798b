"""One MiniWoB++ task page in its own browser session, on a virtual clock.

`await MiniWoBPage.open(task)` opens a fresh session of the shared browser pool, loads the task's
HTML from the installed `miniwob` package over `file://` (every request to another scheme is
blocked: the tasks run offline) and leaves it on MiniWoB's start screen. `await page.start(seed)`
seeds the page's `Math.random` (`Math.seedrandom(seed)`, the seedrandom library that core.js
bundles, as the miniwob package itself does), sets the data mode and calls
`core.startEpisodeReal()`, which generates the problem (`genProblem`), shows the utterance in
`#query` and starts the episode's time limit (`core.EPISODE_MAX_TIME`, 10 s unless the task
sets its own). `status()` reads the reward globals core.js keeps: `WOB_DONE_GLOBAL`,
`WOB_REWARD_GLOBAL` (the raw reward, scaled down with elapsed time for tasks that ask for it),
`WOB_RAW_REWARD_GLOBAL` and `WOB_REWARD_REASON`. core.js ends the episode itself, with raw
reward -1 and reason "timed out", when the time limit passes.

Time: with `virtual_clock=True` (the default) the page runs on Playwright's fake clock, paused
at a fixed date: `Date`, timers and animation frames move only when `advance(ms)` runs them, so
the time-scaled reward, the time limit, animations and delays are the same on every run,
however long the agent thinks. With `virtual_clock=False` the page runs in real time.

Two adjustments make the page readable as an element tree: the reward panel that core.js draws
beside the task (outside the 160x210 task area) is hidden, and every element that gets a click
listener (MiniWoB attaches most handlers with d3 or jQuery, invisible in the DOM)
is given an empty `onclick` attribute, which does nothing but lets `dom.element_tree` list it as
clickable; such an element without text (an icon) is named by its CSS classes (`aria-label`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from agentgym.environments.web._dom_js import ID_ATTR
from agentgym.environments.web.browser import BrowserSession, crash_guard, shared_pool
from agentgym.environments.web.dom import click_at, click_element
from agentgym.environments.web.miniwob.tasks import task_path

TASK_SIZE = (160, 210)
"""MiniWoB's task area in CSS pixels (the 50 px query on top, the 160x160 task below it)."""

CLOCK_START = _dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=_dt.timezone.utc)
"""The virtual clock's date when a page is loaded (so `new Date()` is the same on every run)."""

_MARK_CLICKABLE_JS = """
(() => {
  const original = EventTarget.prototype.addEventListener;
  const kinds = new Set(['click', 'dblclick']);
  EventTarget.prototype.addEventListener = function (type, listener, options) {
    if (kinds.has(type) && this instanceof Element && this !== document.body &&
        this !== document.documentElement && !this.hasAttribute('onclick')) {
      this.setAttribute('onclick', '');
    }
    return original.call(this, type, listener, options);
  };
})();
"""

_NAME_ICONS_JS = """
() => {
  for (const el of document.querySelectorAll('[onclick=""]')) {
    if (el.hasAttribute('aria-label') || el.hasAttribute('title') || (el.innerText || '').trim()) continue;
    if (el.querySelector('input, select, textarea, button, img[alt]')) continue;
    const name = (typeof el.className === 'string' ? el.className : '').trim() || el.id;
    if (name) el.setAttribute('aria-label', name);
  }
}
"""

_HIDE_PANEL_CSS = "#reward-display { display: none !important; }"

_STATUS_JS = (
    "() => ({done: WOB_DONE_GLOBAL, reward: WOB_REWARD_GLOBAL, raw_reward: WOB_RAW_REWARD_GLOBAL, "
    "reason: WOB_REWARD_REASON === null || WOB_REWARD_REASON === undefined ? null : String(WOB_REWARD_REASON)})"
)

_UTTERANCE_JS = """
() => {
  const u = core.getUtterance();
  return (u && typeof u === 'object') ? String(u.utterance) : String(u);
}
"""


_VISIBLE_POINT_JS = """
([attr, id]) => {
  const el = document.querySelector('[' + attr + '="' + id + '"]');
  if (!el) return null;
  const r = el.getBoundingClientRect();
  const hits = (x, y) => {
    if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) return false;
    const top = document.elementFromPoint(x, y);
    return !!top && (top === el || el.contains(top));
  };
  if (hits(r.left + r.width / 2, r.top + r.height / 2)) return null;
  for (const fy of [0.5, 0.3, 0.7, 0.15, 0.85]) {
    for (const fx of [0.5, 0.3, 0.7, 0.15, 0.85]) {
      const x = r.left + r.width * fx, y = r.top + r.height * fy;
      if (hits(x, y)) return [x, y];
    }
  }
  return null;
}
"""


async def click_visible(page: Any, element_id: int, *, timeout_s: float = 5.0) -> None:
    """Click an element as a person would: at its centre, or, when another element covers the
    centre (MiniWoB overlaps buttons on purpose), at a point of it that is not covered.
    Raises `dom.ElementNotFound` / `dom.ActionFailed` like `dom.click_element`."""
    async with crash_guard(page):
        point = await page.evaluate(_VISIBLE_POINT_JS, [ID_ATTR, int(element_id)])
    if point is None:
        await click_element(page, element_id, timeout_s=timeout_s)
    else:
        await click_at(page, point[0], point[1])


@dataclass(frozen=True)
class EpisodeStatus:
    """The reward globals of core.js: `reward` is time-scaled where the task asks for it."""

    done: bool
    reward: float
    raw_reward: float
    reason: str | None


async def _block_other_schemes(route: Any) -> None:
    if route.request.url.startswith(("file:", "data:", "blob:", "about:")):
        await route.continue_()
    else:
        await route.abort()


@dataclass(frozen=True)
class EpisodeSettings:
    """How an environment runs MiniWoB episodes (the text and the GUI families alike):
    `step_ms` of virtual time per turn, the virtual clock (or real time), MiniWoB's data mode
    and an override of the task's time limit. Raises ValueError for a value out of range."""

    step_ms: int = 500
    virtual_clock: bool = True
    data_mode: str = "train"
    episode_max_ms: int | None = None

    def __post_init__(self) -> None:
        if self.step_ms <= 0:
            raise ValueError(f"step_ms must be positive, got {self.step_ms}")
        if self.data_mode not in ("train", "test", "default"):
            raise ValueError(f"data_mode must be 'train', 'test' or 'default', got {self.data_mode!r}")


class MiniWoBPage:
    """A MiniWoB++ task page in a fresh browser session (module docstring). Close it when done."""

    def __init__(self, task: str, session: BrowserSession, virtual_clock: bool):
        self.task = task
        self.session = session
        self.virtual_clock = virtual_clock

    @property
    def page(self) -> Any:
        """The Playwright page."""
        return self.session.page

    @classmethod
    async def open(cls, task: str, *, viewport: tuple[int, int] = TASK_SIZE, virtual_clock: bool = True) -> MiniWoBPage:
        """Load `task` (e.g. "click-button") in a new session; the episode is not started yet."""
        url = task_path(task).as_uri()
        session = await shared_pool().new_session(viewport=viewport)
        try:
            async with session.guard():
                await session.context.route("**/*", _block_other_schemes)
                await session.page.add_init_script(_MARK_CLICKABLE_JS)
                if virtual_clock:
                    start = CLOCK_START.timestamp()
                    await session.page.clock.install(time=start)
                    # time flows from `install` until `pause_at`; nothing is scheduled before the load
                    await session.page.clock.pause_at(start + 60)
            await session.goto(url)
            async with session.guard():
                await session.page.add_style_tag(content=_HIDE_PANEL_CSS)
        except BaseException:
            await session.close()
            raise
        return cls(task, session, virtual_clock)

    async def start(self, seed: int, *, data_mode: str = "train", episode_max_ms: int | None = None) -> None:
        """Seed the page, start an episode and wait (up to 2 s of page time) until the task says
        it is ready (`WOB_TASK_READY`)."""
        script = f"Math.seedrandom({int(seed)}); core.setDataMode({data_mode!r});"
        if episode_max_ms is not None:
            script += f" core.EPISODE_MAX_TIME = {int(episode_max_ms)};"
        async with self.session.guard():
            await self.page.evaluate(f"() => {{ {script} core.startEpisodeReal(); }}")
            for _ in range(20):
                if await self.page.evaluate("() => WOB_TASK_READY !== false"):
                    break
                await self.advance(100)

    async def utterance(self) -> str:
        """The task's instruction (the text of `#query`)."""
        async with self.session.guard():
            return " ".join((await self.page.evaluate(_UTTERANCE_JS)).split())

    async def name_icons(self) -> None:
        """Name clickable elements that have no text by their CSS classes (call before a tree)."""
        async with self.session.guard():
            await self.page.evaluate(_NAME_ICONS_JS)

    async def status(self) -> EpisodeStatus:
        """The episode's reward globals now."""
        async with self.session.guard():
            raw = await self.page.evaluate(_STATUS_JS)
        return EpisodeStatus(bool(raw["done"]), float(raw["reward"]), float(raw["raw_reward"]), raw["reason"])

    async def episode_max_ms(self) -> int:
        """The running episode's time limit in ms (`core.EPISODE_MAX_TIME`)."""
        async with self.session.guard():
            return int(await self.page.evaluate("() => core.EPISODE_MAX_TIME"))

    async def advance(self, ms: int) -> None:
        """Let `ms` of page time pass: run the virtual clock's timers and animation frames, or
        (real time) sleep."""
        if ms <= 0:
            return
        async with self.session.guard():
            if self.virtual_clock:
                await self.page.clock.run_for(int(ms))
            else:
                await self.page.wait_for_timeout(ms)

    async def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        return await self.session.screenshot()

    async def close(self) -> None:
        """Close the session; idempotent."""
        await self.session.close()
