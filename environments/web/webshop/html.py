"""HTML rendering of the page model and the URL scheme of the shop (state <-> URL).

URLs, under a shopper's prefix `/s/{sid}` (the session id carries the shopper's task):

- `/s/{sid}/`: the search page (a GET form to `search`);
- `/s/{sid}/search?q=QUERY&page=N`: results page N;
- `/s/{sid}/item/{asin}?q=QUERY&page=N&opt=KIND:VALUE...&view=VIEW`: a product page;
- `POST /s/{sid}/buy` (form fields `asin`, `opt`...): buy; answered with a redirect to
- `/s/{sid}/done`: the confirmation of the session's purchase.

Every clickable element is a plain link (option values: links with role=radio and aria-checked,
in a radiogroup named by the option kind) or form button with the same visible label as in the
text mode, so a browser (or a person) can drive the shop without JavaScript.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from agentgym.environments.web.webshop.pages import (
    Button,
    DoneState,
    ItemState,
    OptionGroup,
    Page,
    PageError,
    ResultRow,
    ResultsState,
    SearchBox,
    SearchState,
    State,
    Text,
)

_STYLE = """
body { font-family: sans-serif; margin: 24px; font-size: 16px; color: #222; max-width: 1100px; }
.instruction { background: #fff8dc; border: 1px solid #e0d090; padding: 8px 12px; margin-bottom: 16px; }
a.button, button { display: inline-block; padding: 4px 10px; margin: 3px; border: 1px solid #888; border-radius: 4px;
  background: #f0f0f0; color: #123; text-decoration: none; font-size: 15px; cursor: pointer; }
a.button.selected { background: #2a6ebb; color: white; border-color: #2a6ebb; }
.result { margin: 6px 0; } .result span { display: inline-block; }
.result .title { margin-left: 6px; } .result .price { margin-left: 8px; color: #a00; }
.options { margin: 6px 0; } .options .kind { font-weight: bold; margin-right: 6px; }
.title { font-weight: bold; } .price { color: #a00; } h1 { font-size: 22px; } h2 { font-size: 18px; }
input[type=text] { font-size: 16px; padding: 4px; width: 420px; }
"""


def url_for(prefix: str, state: State) -> str:
    """The URL path (with query) of `state` under `prefix` (e.g. "/s/abc"); DoneState maps to the
    confirmation page."""
    if isinstance(state, SearchState):
        return f"{prefix}/"
    if isinstance(state, ResultsState):
        return f"{prefix}/search?" + urlencode({"q": state.query, "page": state.page})
    if isinstance(state, ItemState):
        params: list[tuple[str, str]] = [("q", state.query), ("page", str(state.page))]
        params += [("opt", f"{kind}:{value}") for kind, value in state.options]
        if state.view != "main":
            params.append(("view", state.view))
        return f"{prefix}/item/{state.asin}?" + urlencode(params)
    return f"{prefix}/done"


def parse_options(values: list[str]) -> tuple[tuple[str, str], ...]:
    """`["kind:value", ...]` -> ((kind, value), ...); raises PageError when malformed."""
    options = []
    for item in values:
        kind, sep, value = item.partition(":")
        if not sep or not kind or not value:
            raise PageError(f"option {item!r} must look like KIND:VALUE")
        options.append((kind, value))
    return tuple(options)


def _page_number(raw: str | None) -> int:
    try:
        return int(raw) if raw is not None else 1
    except ValueError:
        raise PageError(f"page must be an integer, got {raw!r}") from None


def state_from_url(rest: str, query: dict[str, list[str]]) -> State | None:
    """The state a GET of `{prefix}/{rest}` shows (None for the confirmation page, whose state
    is the session's purchase); raises PageError for a path that names no page."""
    first = lambda key: (query.get(key) or [None])[0]  # noqa: E731
    if rest in ("", "/"):
        return SearchState()
    if rest == "search":
        q = (first("q") or "").strip()
        if not q:
            return SearchState()
        return ResultsState(q, _page_number(first("page")))
    if rest.startswith("item/"):
        view = first("view") or "main"
        return ItemState(
            rest[5:], first("q") or "", _page_number(first("page")), parse_options(query.get("opt", [])), view
        )
    if rest == "done":
        return None
    raise PageError(f"no page at {rest!r}")


def _button_html(prefix: str, button: Button, option: bool = False) -> str:
    label = escape(button.label)
    if isinstance(button.target, DoneState):
        fields = [f'<input type="hidden" name="asin" value="{escape(button.target.asin)}">']
        fields += [
            f'<input type="hidden" name="opt" value="{escape(kind)}:{escape(value)}">'
            for kind, value in button.target.options
        ]
        return f'<form method="post" action="{prefix}/buy" style="display:inline">{"".join(fields)}<button type="submit">{label}</button></form>'
    href = escape(url_for(prefix, button.target))
    if option:
        checked = "true" if button.selected else "false"
        css = "button selected" if button.selected else "button"
        return f'<a class="{css}" role="radio" aria-checked="{checked}" href="{href}">{label}</a>'
    return f'<a class="button" href="{href}">{label}</a>'


def render_html(page: Page, prefix: str) -> str:
    """The full HTML document of `page` for a shopper under `prefix`."""
    body = [f'<div class="instruction">Instruction: {escape(page.instruction)}</div>']
    for block in page.blocks:
        if isinstance(block, SearchBox):
            body.append(
                f'<form method="get" action="{prefix}/search" role="search">'
                '<input type="text" name="q" aria-label="Search" placeholder="Search products" autofocus>'
                '<button type="submit">Search</button></form>'
            )
        elif isinstance(block, Button):
            body.append(f"<div>{_button_html(prefix, block)}</div>")
        elif isinstance(block, OptionGroup):
            buttons = " ".join(_button_html(prefix, b, option=True) for b in block.buttons)
            kind = escape(block.kind)
            body.append(
                f'<div class="options" role="radiogroup" aria-label="{kind}"><span class="kind">{kind}:</span>{buttons}</div>'
            )
        elif isinstance(block, ResultRow):
            body.append(
                f'<div class="result">{_button_html(prefix, block.button)}<span class="title">{escape(block.title)}</span>'
                f'<span class="price">{escape(block.price)}</span></div>'
            )
        elif isinstance(block, Text):
            tag = {"heading": "h2", "title": "h1"}.get(block.role, "p")
            body.append(f'<{tag} class="{block.role}">{escape(block.text)}</{tag}>')
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(page.title)}</title>'
        f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>"
    )
