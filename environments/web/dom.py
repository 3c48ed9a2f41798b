"""Page helpers shared by the web and GUI environments: an accessibility-style element tree with
stable ids, actions by id or by coordinates, and set-of-marks screenshots.

`await element_tree(page)` walks the visible DOM in ONE `evaluate` call. Every interactive
element (links, buttons, fields, checkboxes, [role=...] widgets, [onclick]/[tabindex] elements)
and, by default, every element that directly holds text gets a stable id: the attribute
`data-agentgym-id="N"`, kept across calls for the same element of the same document (new
elements get new numbers; a navigation starts again at 1). The text is one line per entry,
indented by nesting inside forms, lists, tables, dialogs and widgets:

    [3] heading "Results"
    form
      [4] textbox "Search" value="red shoes" focused
      [5] button "Go"
    [6] text "Page 1 of 3"
    [7] link "Next >"
    [8] checkbox "red" checked
    [9] combobox "Size" value="M"
      option "S"
      option "M" selected

Elements hidden by CSS (display, visibility, opacity 0), by `aria-hidden="true"` or with an
empty box are left out; elements scrolled out of view are kept (`Element.in_viewport` says
which). Boxes are CSS pixels relative to the viewport at the time of the call.

The actions raise `ElementNotFound` for an id that is not on the page, `ActionFailed` when the
browser refuses the action (element disabled or covered, unknown key name, timeout), and, via
`browser.crash_guard`, `BrowserCrashed` when the page's browser died. Environments turn the
first two into invalid-action feedback; the third ends the episode.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from agentgym.environments.web._dom_js import ELEMENT_TREE_JS, ID_ATTR, MARKS_JS, REMOVE_MARKS_JS
from agentgym.environments.web.browser import BrowserError, bounded, crash_guard, looks_fatal

__all__ = [
    "ActionFailed",
    "DomActionError",
    "Element",
    "ElementNotFound",
    "ElementTree",
    "click_at",
    "click_element",
    "element_tree",
    "fill_element",
    "press_key",
    "screenshot_with_marks",
    "scroll",
    "type_text",
]


class DomActionError(BrowserError):
    """An action on the page could not be carried out (the environment's invalid action)."""

    error_type = "dom_action_error"


class ElementNotFound(DomActionError, LookupError):
    """No element with the given id is on the page (ids come from the latest `element_tree`)."""

    error_type = "element_not_found"


class ActionFailed(DomActionError):
    """The browser refused or could not complete the action (disabled, covered, timed out...)."""

    error_type = "action_failed"


@dataclass(frozen=True)
class Element:
    """One entry of the tree: its id, role ("button", "textbox", "text", "heading"...), accessible
    name, tag, and bounding box in CSS pixels relative to the viewport."""

    id: int
    role: str
    name: str
    tag: str
    x: float
    y: float
    width: float
    height: float
    in_viewport: bool

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.width / 2, self.y + self.height / 2)

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom)."""
        return (self.x, self.y, self.x + self.width, self.y + self.height)


@dataclass
class ElementTree:
    """The text of the tree, its elements by id, and the page's url, title and scroll offset."""

    text: str
    elements: dict[int, Element] = field(default_factory=dict)
    url: str = ""
    title: str = ""
    scroll: tuple[float, float] = (0.0, 0.0)
    viewport: tuple[int, int] = (0, 0)

    def __getitem__(self, element_id: int) -> Element:
        try:
            return self.elements[element_id]
        except KeyError:
            raise ElementNotFound(f"no element [{element_id}] in the element tree") from None

    def find(self, role: str | None = None, name: str | None = None) -> list[Element]:
        """Elements with this role and/or exact name, in document order."""
        return [
            el
            for el in self.elements.values()
            if (role is None or el.role == role) and (name is None or el.name == name)
        ]


async def element_tree(
    page: Any,
    *,
    text_ids: bool = True,
    max_name_chars: int = 100,
    max_text_chars: int = 300,
    timeout_s: float = 10.0,
) -> ElementTree:
    """The visible page as an id-tagged text tree (module docstring); one `evaluate` call.

    `text_ids=False` prints static text as plain lines without ids (shorter; then only
    interactive elements, headings and images have ids). A page that does not answer within
    `timeout_s` (a script stuck in a loop) is given up: `BrowserCrashed`."""
    opts = {"textIds": text_ids, "maxName": max_name_chars, "maxText": max_text_chars}
    data = await bounded(page, lambda: page.evaluate(ELEMENT_TREE_JS, opts), timeout_s, "the element tree")
    elements: dict[int, Element] = {}
    for raw in data["elements"]:
        elements.setdefault(int(raw["id"]), Element(**raw))
    return ElementTree(
        text="\n".join(data["lines"]),
        elements=elements,
        url=data["url"],
        title=data["title"],
        scroll=tuple(data["scroll"]),  # type: ignore[arg-type]
        viewport=tuple(data["viewport"]),  # type: ignore[arg-type]
    )


def _playwright_errors() -> tuple[type[Exception], type[Exception]]:
    from playwright.async_api import Error, TimeoutError

    return Error, TimeoutError


async def _locate(page: Any, element_id: int | str) -> Any:
    try:
        number = int(element_id)
    except (TypeError, ValueError):
        raise ElementNotFound(f"element ids are integers, got {element_id!r}") from None
    locator = page.locator(f'[{ID_ATTR}="{number}"]')
    if await locator.count() == 0:
        raise ElementNotFound(f"no element [{number}] on the page (it may have gone; look at the latest page)")
    return locator.first


async def _act(page: Any, what: str, action: Any) -> Any:
    """Run `action()` under the crash guard, turning Playwright's refusals into `ActionFailed`."""
    error, timeout = _playwright_errors()
    async with crash_guard(page):
        try:
            return await action()
        except timeout as exc:
            raise ActionFailed(f"{what} timed out: {_first_line(exc)}") from exc
        except error as exc:
            if page.is_closed() or looks_fatal(exc):
                raise  # crash_guard tells a crash (BrowserCrashed) from other errors
            raise ActionFailed(f"{what} failed: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


async def click_element(page: Any, element_id: int | str, *, timeout_s: float = 5.0) -> None:
    """Click the element with this id (scrolled into view; Playwright waits until it is visible,
    stable, enabled and not covered, up to `timeout_s`)."""

    async def action() -> None:
        locator = await _locate(page, element_id)
        await locator.click(timeout=timeout_s * 1000)

    await _act(page, f"click [{element_id}]", action)


async def fill_element(page: Any, element_id: int | str, text: str, *, timeout_s: float = 5.0) -> None:
    """Put `text` into the element with this id: replaces a text field's value, chooses the
    option of a <select> whose label (else value) is `text`, and checks a checkbox or radio for
    "true"/"on"/"yes"/"checked" (unchecks it for "false"/"off"/"no"/"unchecked")."""

    async def action() -> None:
        locator = await _locate(page, element_id)
        kind = await locator.evaluate(
            "el => el.tagName === 'SELECT' ? 'select' : (el.tagName === 'INPUT' && "
            "(el.type === 'checkbox' || el.type === 'radio')) ? 'check' : 'fill'"
        )
        if kind == "select":
            try:
                await locator.select_option(label=text, timeout=timeout_s * 1000)
            except _playwright_errors()[0]:
                await locator.select_option(value=text, timeout=timeout_s * 1000)
        elif kind == "check":
            value = text.strip().lower()
            if value not in ("true", "on", "yes", "checked", "false", "off", "no", "unchecked"):
                raise ActionFailed(f"[{element_id}] is a checkbox or radio: fill it with true or false")
            await locator.set_checked(value in ("true", "on", "yes", "checked"), timeout=timeout_s * 1000)
        else:
            await locator.fill(text, timeout=timeout_s * 1000)

    await _act(page, f"fill [{element_id}]", action)


async def click_at(page: Any, x: float, y: float, *, button: str = "left", click_count: int = 1) -> None:
    """Click at viewport coordinates (CSS pixels)."""
    width, height = _viewport(page)
    if not (0 <= x < width and 0 <= y < height):
        raise ActionFailed(f"({x:g}, {y:g}) is outside the {width}x{height} viewport")
    await _act(page, f"click at ({x:g}, {y:g})", lambda: page.mouse.click(x, y, button=button, click_count=click_count))


async def type_text(page: Any, text: str, *, delay_ms: float = 0) -> None:
    """Type `text` with the keyboard into whatever has focus."""
    await _act(page, "type", lambda: page.keyboard.type(text, delay=delay_ms))


async def press_key(page: Any, name: str) -> None:
    """Press a key or chord by Playwright's name: "Enter", "Tab", "ArrowDown", "Control+A"..."""
    await _act(page, f"press {name!r}", lambda: page.keyboard.press(name))


async def scroll(page: Any, dx: float, dy: float, *, at: tuple[float, float] | None = None) -> None:
    """Scroll by (dx, dy) CSS pixels: the window, or with `at` the element under that point
    (a mouse wheel there)."""
    if at is None:
        await bounded(page, lambda: page.evaluate("([dx, dy]) => window.scrollBy(dx, dy)", [dx, dy]), 10.0, "a scroll")
        return

    async def wheel() -> None:
        await page.mouse.move(*at)
        await page.mouse.wheel(dx, dy)

    await _act(page, "scroll", wheel)


async def screenshot_with_marks(page: Any, elements: ElementTree | list[Element] | None = None) -> bytes:
    """A PNG of the viewport with a numbered box on each element (set-of-marks). `elements`:
    a list of elements to mark, or a tree (its non-text elements); default: a fresh tree. Only
    elements in the viewport are marked. The overlay is removed again before this returns."""
    if elements is None:
        elements = await element_tree(page)
    if isinstance(elements, ElementTree):
        items = [el for el in elements.elements.values() if el.role != "text"]
    else:
        items = list(elements)
    marks = [
        {"id": el.id, "x": el.x, "y": el.y, "width": el.width, "height": el.height} for el in items if el.in_viewport
    ]
    await bounded(page, lambda: page.evaluate(MARKS_JS, marks), 10.0, "the set-of-marks overlay")
    try:
        async with crash_guard(page):
            return await page.screenshot(type="png")
    finally:
        if not page.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(page.evaluate(REMOVE_MARKS_JS), 10.0)


def _viewport(page: Any) -> tuple[int, int]:
    size = page.viewport_size or {"width": 1 << 30, "height": 1 << 30}
    return size["width"], size["height"]
