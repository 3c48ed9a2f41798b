"""The browser mode of `WebShopEnv`: the shop served over HTTP, driven in headless Chromium.

`BrowserDriver` registers the episode's shopper session with the process's shop server
(`app.shared_server`), opens a browser session from the shared pool (`browser.shared_pool`) and
navigates to the session's search page. The observation is the page's element tree
(`dom.element_tree`, ids such as `[12] link "Buy Now"`) under a `URL:` line, plus a set-of-marks
screenshot (PNG) in `Observation.images`; the anchor is the page identity parsed from the URL.

Actions (the last one in the text counts):

- `click(12)`: click element 12; `fill(7, "red shoes")`: type into element 7; `press(Enter)`: a key;
- `search[query]`: fill the search box and submit it; `click[label]`: click the link or button
  whose visible label is `label` (case-insensitive), as in the text mode.

An action the page cannot carry out (unknown id or label, refused click, no search box) is an
invalid action (feedback, penalty). The purchase is read from the server's session: when a
step's action led to Buy Now, the step ends the episode with WebShop's reward. A crashed
browser raises `BrowserCrashed` (reset the episode).
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from agentgym.actions import answer_text
from agentgym.environments.web.webshop.app import ShopServer, shared_server
from agentgym.environments.web.webshop.html import state_from_url
from agentgym.environments.web.webshop.pages import DoneState, PageError, anchor
from agentgym.environments.web.webshop.shop import Shop, ShopSession
from agentgym.types import Observation, StepResult

if TYPE_CHECKING:
    from agentgym.environments.web.webshop.env import WebShopEnv

BROWSER_PROMPT = (
    "You are shopping in a web shop shown in a browser. The instruction at the top of every page says what "
    'to buy. Each turn you see the page as a list of elements with ids, e.g. [12] link "Buy Now", and a '
    "screenshot with the ids marked. Answer with exactly one action: click(ID) to click an element, "
    'fill(ID, "text") to type into a field, press(Enter) to press a key, or the shortcuts search[query] '
    "(type into the search box and submit) and click[label] (click the link or button with that label). "
    "Pick every option (radio) the instruction asks for before you click Buy Now; buying ends the episode "
    "and is scored by how well the product matches the instruction (type, attributes, options, price)."
)

_ACTIONS = re.compile(
    r"(?P<verb>click|fill|press|search)\s*(?:\(\s*(?P<args>[^()]*?)\s*\)|\[(?P<label>[^\]]*)\])", re.IGNORECASE
)
NAVIGATION_WAIT_S = 3.0
"""How long a click or key press may take to start a navigation before the page is read."""
_FILL_ARGS = re.compile(r"^(\d+)\s*,\s*(?:\"(.*)\"|'(.*)')$", re.DOTALL)


def parse_browser_action(text: str) -> tuple[str, tuple[str, ...]] | None:
    """(verb, arguments) of the last action in the text (or its last <answer> block):
    ("click", (id,)), ("fill", (id, text)), ("press", (key,)), ("search", (query,)),
    ("click_label", (label,)); None when there is no well-formed action."""
    matches = list(_ACTIONS.finditer(answer_text(text)))
    if not matches:
        return None
    match = matches[-1]
    verb, args, label = match.group("verb").lower(), match.group("args"), match.group("label")
    if label is not None:
        label = " ".join(label.split())
        if verb == "search":
            return ("search", (label,)) if label else None
        return ("click_label", (label,)) if verb == "click" and label else None
    if verb == "click" and args and args.isdigit():
        return "click", (args,)
    if verb == "press" and args and re.fullmatch(r"[\w+]+", args):
        return "press", (args,)
    if verb == "fill" and args:
        fill = _FILL_ARGS.match(args)
        if fill:
            return "fill", (fill.group(1), fill.group(2) if fill.group(2) is not None else fill.group(3))
    return None


class BrowserDriver:
    """One episode's browser: the shopper session on the server and the Chromium page."""

    def __init__(self, viewport: tuple[int, int]):
        self.viewport = viewport
        self.browser: Any = None  # browser.BrowserSession
        self.sid: str | None = None
        self.server: ShopServer | None = None
        self.session: ShopSession | None = None
        self.reported = False

    async def start(self, shop: Shop, session: ShopSession) -> Observation:
        from agentgym.environments.web.browser import shared_pool

        server = self.server = await asyncio.to_thread(shared_server)
        if self.sid is not None:
            server.registry.remove(self.sid)
        self.sid, self.session, self.reported = server.registry.add(shop, session), session, False
        if self.browser is None or self.browser.closed or self.browser.crashed:
            self.browser = await shared_pool().new_session(viewport=self.viewport)
        await self.browser.goto(f"{server.base_url}/s/{self.sid}/")
        return await self.observe()

    async def observe(self, feedback: str = "") -> Observation:
        from agentgym.environments.web.browser import BrowserCrashed
        from agentgym.environments.web.dom import element_tree, screenshot_with_marks

        page = self.browser.page
        for attempt in range(3):  # a late navigation can destroy the page mid-read: read again
            try:
                tree = await element_tree(page)
                image = await screenshot_with_marks(page, tree)
                break
            except BrowserCrashed:
                raise
            except Exception:
                if attempt == 2:
                    raise
                async with self.browser.guard():
                    await page.wait_for_load_state("load")
        path = urlsplit(tree.url)
        text = f"URL: {path.path}{'?' + path.query if path.query else ''}\n{tree.text}"
        if feedback:
            text = f"{feedback}\n\n{text}"
        return Observation(text=text, images=(image,), anchor=self._anchor(tree.url), metadata={"url": tree.url})

    def _anchor(self, url: str) -> str:
        parts = urlsplit(url)
        prefix = f"/s/{self.sid}/"
        if not parts.path.startswith(prefix):
            return f"other:{parts.path}"
        try:
            state = state_from_url(parts.path[len(prefix) :], parse_qs(parts.query))
        except PageError:
            return f"error:{parts.path}"
        if state is None:
            purchase = self.session.purchase if self.session else None
            state = DoneState(purchase.asin, purchase.options) if purchase else None
        return anchor(state) if state is not None else "done:"

    async def step(self, action: str, env: WebShopEnv) -> StepResult:
        from agentgym.environments.web.dom import DomActionError, element_tree, fill_element, press_key

        parsed = parse_browser_action(action)
        if parsed is None:
            return await self._invalid(
                env,
                'Invalid action: answer with click(ID), fill(ID, "text"), press(Key), search[query] or click[label].',
            )
        verb, args = parsed
        page = self.browser.page
        try:
            if verb == "click":
                await self._click(args[0])
            elif verb == "fill":
                await fill_element(page, args[0], args[1])
            elif verb == "press":
                await self._navigating(press_key(page, args[0]))
            else:
                tree = await element_tree(page)
                if verb == "search":
                    boxes = tree.find(role="textbox", name="Search") or tree.find(role="searchbox")
                    if not boxes:
                        return await self._invalid(
                            env, "There is no search box on this page; click[Back to Search] first."
                        )
                    await fill_element(page, boxes[0].id, args[0])
                    await self._navigating(press_key(page, "Enter"))
                else:
                    wanted = args[0].lower()
                    found = [
                        el
                        for el in tree.elements.values()
                        if el.role in ("link", "button", "radio") and el.name.lower() == wanted
                    ]
                    if not found:
                        return await self._invalid(
                            env, f"There is no link or button labelled {args[0]!r} on this page."
                        )
                    await self._click(found[0].id)
        except DomActionError as error:
            return await self._invalid(env, f"That action failed: {error}")
        observation = await self.observe()
        if self.session is not None and self.session.purchase is not None and not self.reported:
            self.reported = True
            return env.bought(self.session.purchase, observation)
        return StepResult(observation=observation, info={"invalid_action": False})

    async def _click(self, element_id: str | int) -> None:
        from agentgym.environments.web.dom import click_element

        await self._navigating(click_element(self.browser.page, element_id))

    async def _navigating(self, action: Any) -> None:
        """Run `action` (a coroutine) and wait for the page load it may start (up to 3 s for the
        navigation to begin; actions that do not navigate just cost that wait)."""
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        page = self.browser.page
        try:
            async with (
                self.browser.guard(),
                page.expect_navigation(wait_until="load", timeout=NAVIGATION_WAIT_S * 1000),
            ):
                await action
        except PlaywrightTimeout:
            pass

    async def _invalid(self, env: WebShopEnv, message: str) -> StepResult:
        return env.invalid(None, message, await self.observe(feedback=message))

    async def close(self) -> None:
        if self.sid is not None and self.server is not None:
            self.server.registry.remove(self.sid)
            self.sid = None
        if self.browser is not None:
            browser, self.browser = self.browser, None
            await browser.close()
