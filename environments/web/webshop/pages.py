"""The shop's pages as data: one page model rendered both as text (`render_text`) and as HTML
(`html.render_html`), so the text mode shows exactly what the web application serves.

A shopper's position is a `State` (immutable): the search page, a results page of a query, a
product page (with the options picked so far and the main, description or features view), or
the confirmation after a purchase. `build_page(shop, state)` turns a state into a `Page`: a
sequence of blocks (text, buttons, option groups, result rows, the search box), each `Button`
naming the state a click leads to. Button labels are unique on a page, compared
case-insensitively, so "click[label]" selects exactly one.

Text rendering follows WebShop's text mode: a clickable element is `[button] label [button_]`,
a picked option `[clicked button] label [clicked button_]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from agentgym.environments.web.webshop.catalogue import Catalogue, Product

RESULTS_PER_PAGE = 10


@dataclass(frozen=True)
class SearchState:
    """The search page."""


@dataclass(frozen=True)
class ResultsState:
    """Results page `page` (1-based) of `query`."""

    query: str
    page: int = 1


@dataclass(frozen=True)
class ItemState:
    """Product `asin`, reached from results page `page` of `query`; `options` are the picked
    (kind, value) pairs in the product's kind order; `view` is "main", "description" or "features"."""

    asin: str
    query: str
    page: int = 1
    options: tuple[tuple[str, str], ...] = ()
    view: str = "main"


@dataclass(frozen=True)
class DoneState:
    """After buying `asin` with `options`."""

    asin: str
    options: tuple[tuple[str, str], ...] = ()


State = SearchState | ResultsState | ItemState | DoneState
VIEWS = ("main", "description", "features")


def anchor(state: State) -> str:
    """A canonical key of the page identity (GiGPO's anchor)."""
    if isinstance(state, SearchState):
        return "search"
    if isinstance(state, ResultsState):
        return f"results:{state.query.lower().strip()}:{state.page}"
    if isinstance(state, ItemState):
        options = ",".join(f"{k}={v}" for k, v in state.options)
        return f"item:{state.asin}:{options}:{state.view}"
    options = ",".join(f"{k}={v}" for k, v in state.options)
    return f"done:{state.asin}:{options}"


@dataclass(frozen=True)
class Text:
    """Plain text; `role` is "heading", "title", "price", "line" or "notice"."""

    text: str
    role: str = "line"


@dataclass(frozen=True)
class Button:
    """A clickable element that leads to `target`. `selected`: a picked option."""

    label: str
    target: State
    selected: bool = False


@dataclass(frozen=True)
class OptionGroup:
    """The values of one option kind, as radio-style buttons."""

    kind: str
    buttons: tuple[Button, ...]


@dataclass(frozen=True)
class ResultRow:
    """One search result: its ASIN button, title and price."""

    button: Button
    title: str
    price: str


@dataclass(frozen=True)
class SearchBox:
    """The search form: `search[query]` in text mode."""


@dataclass(frozen=True)
class Page:
    state: State
    title: str
    instruction: str
    blocks: tuple[Text | Button | OptionGroup | ResultRow | SearchBox, ...]
    buttons: dict[str, Button] = field(default_factory=dict)

    @property
    def has_search(self) -> bool:
        return any(isinstance(block, SearchBox) for block in self.blocks)

    @property
    def anchor(self) -> str:
        return anchor(self.state)


class PageError(ValueError):
    """A state that names no page (unknown product, option or view, page out of range)."""


def price_text(price: float) -> str:
    return f"${price:.2f}"


def validate(catalogue: Catalogue, state: State) -> Product | None:
    """Check `state` against the catalogue; returns its product (None for search/results pages)."""
    if isinstance(state, ResultsState):
        if state.page < 1:
            raise PageError(f"page must be at least 1, got {state.page}")
        return None
    if isinstance(state, ItemState | DoneState):
        product = catalogue.by_asin.get(state.asin)
        if product is None:
            raise PageError(f"no product {state.asin!r}")
        offered = product.option_dict
        for kind, value in state.options:
            if value not in offered.get(kind, ()):
                raise PageError(f"product {state.asin} has no option {kind}={value!r}")
        if isinstance(state, ItemState) and state.view not in VIEWS:
            raise PageError(f"view must be one of {VIEWS}, got {state.view!r}")
        return product
    return None


def _with_option(state: ItemState, product: Product, kind: str, value: str) -> ItemState:
    picked = dict(state.options)
    picked[kind] = value
    ordered = tuple((k, picked[k]) for k, _ in product.options if k in picked)
    return replace(state, options=ordered, view="main")


def build_page(catalogue: Catalogue, state: State, instruction: str, *, done_text: tuple[str, ...] = ()) -> Page:
    """The page at `state`. `done_text` is the confirmation's score lines (set by the shop)."""
    product = validate(catalogue, state)
    blocks: list = []
    back = Button("Back to Search", SearchState())
    if isinstance(state, SearchState):
        title = "WebShop"
        blocks.append(SearchBox())
    elif isinstance(state, ResultsState):
        results = catalogue.search(state.query)
        pages = max(1, -(-len(results) // RESULTS_PER_PAGE))
        if state.page > pages:
            raise PageError(f"results of {state.query!r} have {pages} page(s), not {state.page}")
        title = f"Results for {state.query}"
        blocks.append(back)
        blocks.append(Text(f"Page {state.page} (Total results: {len(results)})", "heading"))
        if state.page > 1:
            blocks.append(Button("< Prev", replace(state, page=state.page - 1)))
        if state.page < pages:
            blocks.append(Button("Next >", replace(state, page=state.page + 1)))
        start = (state.page - 1) * RESULTS_PER_PAGE
        for asin in results[start : start + RESULTS_PER_PAGE]:
            hit = catalogue.by_asin[asin]
            blocks.append(
                ResultRow(Button(asin, ItemState(asin, state.query, state.page)), hit.title, price_text(hit.price))
            )
        if not results:
            blocks.append(Text("No products match your search.", "notice"))
    elif isinstance(state, ItemState):
        assert product is not None
        title = product.title
        blocks.append(back)
        if state.view == "main":
            blocks.append(Button("< Prev", ResultsState(state.query, state.page)))
            picked = dict(state.options)
            for kind, values in product.options:
                buttons = tuple(
                    Button(value, _with_option(state, product, kind, value), selected=picked.get(kind) == value)
                    for value in values
                )
                blocks.append(OptionGroup(kind, buttons))
            blocks.append(Text(product.title, "title"))
            blocks.append(Text(f"Price: {price_text(product.price)}", "price"))
            blocks.append(Text(f"Rating: {product.rating:.1f} out of 5", "line"))
            blocks.append(Button("Description", replace(state, view="description")))
            blocks.append(Button("Features", replace(state, view="features")))
            blocks.append(Button("Buy Now", DoneState(product.asin, state.options)))
        else:
            blocks.append(Button("< Prev", replace(state, view="main")))
            blocks.append(Text(state.view.capitalize(), "heading"))
            lines = (product.description,) if state.view == "description" else product.features
            blocks.extend(Text(line, "line") for line in lines)
    else:
        assert product is not None
        title = "Thank you for shopping with us!"
        blocks.append(Text(title, "heading"))
        blocks.append(Text(f"You bought: {product.title} ({product.asin})", "line"))
        chosen = ", ".join(f"{k}: {v}" for k, v in state.options) or "none"
        blocks.append(Text(f"Options: {chosen}", "line"))
        blocks.append(Text(f"Price: {price_text(product.price)}", "price"))
        blocks.extend(Text(line, "notice") for line in done_text)
    buttons: dict[str, Button] = {}
    for block in blocks:
        for button in _buttons_of(block):
            key = button.label.lower()
            if key in buttons:
                raise PageError(f"two buttons labelled {button.label!r} on one page")  # the generator prevents it
            buttons[key] = button
    return Page(state, title, instruction, tuple(blocks), buttons)


def _buttons_of(block) -> tuple[Button, ...]:
    if isinstance(block, Button):
        return (block,)
    if isinstance(block, OptionGroup):
        return block.buttons
    if isinstance(block, ResultRow):
        return (block.button,)
    return ()


def _button_text(button: Button) -> str:
    tag = "clicked button" if button.selected else "button"
    return f"[{tag}] {button.label} [{tag}_]"


def render_text(page: Page) -> str:
    """WebShop's simplified text page: the instruction, then every block in order."""
    lines = [f"Instruction: {page.instruction}"]
    for block in page.blocks:
        if isinstance(block, SearchBox):
            lines.append("[button] Search [button_]")
        elif isinstance(block, Button):
            lines.append(_button_text(block))
        elif isinstance(block, OptionGroup):
            lines.append(f"{block.kind}: " + " ".join(_button_text(b) for b in block.buttons))
        elif isinstance(block, ResultRow):
            lines.append(f"{_button_text(block.button)} {block.title} | {block.price}")
        else:
            lines.append(block.text)
    return "\n".join(lines)
