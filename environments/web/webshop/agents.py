"""The oracle shopper and the random baseline of webshop (text mode).

Both read only the observation text, as a shopper reads the page, so they play a served
environment exactly as a local one.

`WebShopOracle` reads the instruction with the shop's public vocabulary (`vocab`: which product
types, attribute phrases and option values exist; no product): the product type, the wanted
attributes, the option values and the price limit. It searches for those words, then walks
the results in order (turning pages when needed), opening only products whose title names the
type and every wanted attribute at a price within the limit; on a product page it checks that
each wanted option value is offered, picks the ones not picked yet and buys; otherwise it goes
back to the results. When nothing fits it buys the first result.

`RandomShopper` searches for a few random words of the instruction on the search page and
otherwise clicks a random clickable element (seeded).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field

from agentgym.environments.web.webshop.vocab import OPTION_PHRASES, PRODUCT_TYPES, TYPES_BY_NAME
from agentgym.types import Observation

_INSTRUCTION = re.compile(r"^Instruction: (.*)$", re.MULTILINE)
_PRICE = re.compile(r"price lower than ([\d.]+) dollars")
_RESULT = re.compile(r"^\[button\] (B0[A-Z0-9]{8}) \[button_\] (.*) \| \$([\d.]+)$", re.MULTILINE)
_BUTTON = re.compile(r"\[(clicked button|button)\] (.+?) \[(?:clicked button|button)_\]")
_OPTION_LINE = re.compile(r"^(\w+): (\[.*)$", re.MULTILINE)
_PRICE_LINE = re.compile(r"^Price: \$([\d.]+)$", re.MULTILINE)


def _find(phrase: str, text: str) -> int:
    match = re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text)
    return match.start() if match else -1


def _longest_matches(phrases, text: str) -> list[str]:
    """The phrases found in `text`, longest first, skipping ones inside an earlier match."""
    taken: list[tuple[int, int]] = []
    found = []
    for phrase in sorted(phrases, key=len, reverse=True):
        for match in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text):
            span = match.span()
            if all(span[1] <= s or span[0] >= e for s, e in taken):
                taken.append(span)
                found.append(phrase)
                break
    return found


class ParsedInstruction:
    """What an instruction asks for, read with the public vocabulary."""

    def __init__(self, instruction: str):
        text = instruction.lower()
        price = _PRICE.search(text)
        self.price_upper = float(price.group(1)) if price else float("inf")
        names = sorted((t.name for t in PRODUCT_TYPES), key=len, reverse=True)
        positions = [(name, _find(name, text)) for name in names]
        self.product_type, at = next(((n, p) for n, p in positions if p >= 0), ("", len(text)))
        ptype = TYPES_BY_NAME.get(self.product_type)
        before, after = text[:at], text[at + len(self.product_type) :]
        self.attributes = _longest_matches(ptype.attributes, before) if ptype else []
        self.options: dict[str, str] = {}
        for kind, values in ptype.options if ptype else ():
            phrases = {OPTION_PHRASES[kind].format(v): v for v in values}
            found = _longest_matches(phrases, after)
            if found:
                self.options[kind] = phrases[found[0]]

    @property
    def query(self) -> str:
        return " ".join([*self.attributes, self.product_type, *self.options.values()])

    def title_fits(self, title: str, price: float) -> bool:
        lowered = title.lower()
        return (
            price <= self.price_upper
            and _find(self.product_type, lowered) >= 0
            and all(_find(a, lowered) >= 0 for a in self.attributes)
        )


@dataclass
class PageView:
    """What a shopper reads off a page, in either mode: the instruction, the labels of the
    clickable elements, whether there is a search box, whether it is a results page, the result
    rows (asin, title, price) and the option groups (kind -> value -> picked)."""

    instruction: str = ""
    labels: list[str] = field(default_factory=list)
    has_search: bool = False
    is_results: bool = False
    rows: list[tuple[str, str, float]] = field(default_factory=list)
    options: dict[str, dict[str, bool]] = field(default_factory=dict)


_TREE_ENTRY = re.compile(r'^\s*(?:\[\d+\] )?(\w+) ("(?:[^"\\]|\\.)*")( checked)?', re.MULTILINE)


def read_page(text: str) -> PageView:
    """Parse a text-mode page or a browser-mode element tree (first line "URL: ...")."""
    view = PageView()
    if text.startswith("URL: ") or "\nURL: /" in text:
        entries = [(role, json.loads(name), checked) for role, name, checked in _TREE_ENTRY.findall(text)]
        kind = None
        for index, (role, name, checked) in enumerate(entries):
            if role == "text" and name.startswith("Instruction: "):
                view.instruction = name.removeprefix("Instruction: ")
            elif role in ("link", "button", "radio"):
                view.labels.append(name)
            view.has_search |= role == "textbox" and name == "Search"
            view.is_results |= role == "heading" and "(Total results:" in name
            if role == "text" and name.endswith(":") and index + 1 < len(entries) and entries[index + 1][0] == "radio":
                kind = name[:-1]
                view.options[kind] = {}
            elif role == "radio" and kind is not None:
                view.options[kind][name] = bool(checked)
            else:
                kind = None
            if role == "link" and re.fullmatch(r"B0[A-Z0-9]{8}", name) and index + 2 < len(entries):
                title, price = entries[index + 1][1], entries[index + 2][1]
                if price.startswith("$"):
                    view.rows.append((name, title, float(price[1:])))
        return view
    match = _INSTRUCTION.search(text)
    view.instruction = match.group(1) if match else ""
    view.labels = [label for _, label in _BUTTON.findall(text)]
    view.has_search = "Search" in view.labels and "Buy Now" not in view.labels
    view.is_results = "(Total results:" in text
    view.rows = [(asin, title, float(price)) for asin, title, price in _RESULT.findall(text)]
    for kind, line in _OPTION_LINE.findall(text):
        view.options[kind] = {label: state == "clicked button" for state, label in _BUTTON.findall(line)}
    return view


class WebShopOracle:
    """Searches for the instruction's words and buys the first product that fits (module
    docstring). Plays both modes (it answers with search[...] and click[...])."""

    def reset(self, observation: Observation, system_prompt: str) -> None:
        self.goal = ParsedInstruction(read_page(observation.text).instruction)
        self.visited: set[str] = set()
        self.first_result: str | None = None
        self.giving_up = False

    def act(self, observation: Observation) -> str:
        view = read_page(observation.text)
        if view.has_search:
            return f"search[{self.goal.query}]"
        if "Buy Now" in view.labels:
            return self._on_item(view)
        if view.is_results:
            return self._on_results(view)
        if "< Prev" in view.labels:  # a description or features view
            return "click[< Prev]"
        return "click[Back to Search]"

    def _on_results(self, view: PageView) -> str:
        asins = [asin for asin, _, _ in view.rows]
        if asins and self.first_result is None:
            self.first_result = asins[0]
        if self.giving_up and self.first_result in asins:
            return f"click[{self.first_result}]"
        for asin, title, price in view.rows:
            if asin not in self.visited and self.goal.title_fits(title, price):
                self.visited.add(asin)
                return f"click[{asin}]"
        if "Next >" in view.labels and not self.giving_up:
            return "click[Next >]"
        self.giving_up = True
        return "click[< Prev]" if "< Prev" in view.labels else "click[Back to Search]"

    def _on_item(self, view: PageView) -> str:
        if not self.giving_up:
            if any(value not in view.options.get(kind, {}) for kind, value in self.goal.options.items()):
                return "click[< Prev]"
        for kind, value in self.goal.options.items():
            if view.options.get(kind, {}).get(value) is False:
                return f"click[{value}]"
        return "click[Buy Now]"


class RandomShopper:
    """Random searches (words of the instruction) and random clicks; the baseline."""

    def __init__(self, seed: int | None = None):
        self.rng = random.Random(seed)

    def reset(self, observation: Observation, system_prompt: str) -> None:
        instruction = read_page(observation.text).instruction
        self.words = re.findall(r"[a-z0-9-]+", instruction.lower()) or ["product"]

    def act(self, observation: Observation) -> str:
        view = read_page(observation.text)
        labels = view.labels
        if view.has_search:
            return f"search[{' '.join(self.rng.sample(self.words, min(len(self.words), self.rng.randint(1, 4))))}]"
        return f"click[{self.rng.choice(labels)}]" if labels else "click[Back to Search]"
