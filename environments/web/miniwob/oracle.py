"""Scripted agents for MiniWoB++: an oracle for a set of tasks, and a random clicker.

Both read only the observation text (the `Task:` line and the element listing), through the
public Env API, so they play a served environment exactly as a local one. The oracle decides
from the page as it is now (which boxes are checked, what a field holds, which tab is shown),
not from a memory of what it did, so one wrong turn does not derail it.

`ORACLE_TASKS` lists the tasks it solves; `MiniWoBOracle(task)` raises ValueError for others.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from agentgym.types import Observation

_LINE = re.compile(r'^(?P<indent>\s*)\[(?P<id>\d+)\] (?P<role>\w+) "(?P<name>(?:[^"\\]|\\.)*)"(?P<rest>.*)$')
_VALUE = re.compile(r'value="((?:[^"\\]|\\.)*)"')
_QUOTED = re.compile(r'"([^"]*)"')
_ORDINAL = re.compile(r"(\d+)(?:st|nd|rd|th)")


@dataclass(frozen=True)
class PageElement:
    """One line of the element listing."""

    id: int
    role: str
    name: str
    value: str
    flags: frozenset[str]


def parse_page(text: str) -> tuple[str, list[PageElement]]:
    """The utterance (the `Task:` line) and the elements of an observation's text."""
    utterance, elements = "", []
    for line in text.splitlines():
        if line.startswith("Task: ") and not utterance:
            utterance = line[len("Task: ") :]
            continue
        match = _LINE.match(line)
        if not match:
            continue
        rest = match["rest"]
        value = _VALUE.search(rest)
        flags = frozenset(_VALUE.sub("", rest).split())
        elements.append(
            PageElement(
                int(match["id"]),
                match["role"],
                json.loads(f'"{match["name"]}"'),
                json.loads(f'"{value.group(1)}"') if value else "",
                flags,
            )
        )
    return utterance, elements


def _quoted(utterance: str) -> list[str]:
    return _QUOTED.findall(utterance)


def _q(text: str) -> str:
    return json.dumps(text)


def _named(elements: list[PageElement], roles: tuple[str, ...], name: str) -> PageElement | None:
    for el in elements:
        if el.role in roles and el.name == name:
            return el
    return None


def _of_role(elements: list[PageElement], *roles: str) -> list[PageElement]:
    return [el for el in elements if el.role in roles]


def _submit(elements: list[PageElement], name: str = "Submit") -> str:
    button = _named(elements, ("button",), name)
    return f"click({button.id})" if button else "wait()"


# --- one policy per task: (utterance, elements) -> action -----------------------------------


def _click_button(utterance: str, elements: list[PageElement]) -> str:
    button = _named(elements, ("button",), _quoted(utterance)[0])
    return f"click({button.id})" if button else "wait()"


def _click_link(utterance: str, elements: list[PageElement]) -> str:
    link = _named(elements, ("clickable", "link"), _quoted(utterance)[0])
    return f"click({link.id})" if link else "wait()"


def _click_dialog(utterance: str, elements: list[PageElement]) -> str:
    wanted = _quoted(utterance)[0] if _quoted(utterance) else "x"
    name = "Close" if wanted.lower() in ("x", "\u00d7") else wanted
    button = _named(elements, ("button",), name)
    return f"click({button.id})" if button else "wait()"


def _fill_then_submit(value: str, elements: list[PageElement], submit: str = "Submit") -> str:
    for box in _of_role(elements, "textbox"):
        if box.value != value:
            return f"fill({box.id}, {_q(value)})"
    return _submit(elements, submit)


def _enter_text(utterance: str, elements: list[PageElement]) -> str:
    value = _quoted(utterance)[0]
    if "lower case" in utterance:
        value = value.lower()
    elif "upper case" in utterance:
        value = value.upper()
    return _fill_then_submit(value, elements)


def _enter_password(utterance: str, elements: list[PageElement]) -> str:
    return _fill_then_submit(_quoted(utterance)[0], elements)


def _login_user(utterance: str, elements: list[PageElement]) -> str:
    username, password = _quoted(utterance)[:2]
    boxes = _of_role(elements, "textbox")
    for box, value in zip(boxes, (username, password), strict=False):
        if box.value != value:
            return f"fill({box.id}, {_q(value)})"
    return _submit(elements, "Login")


def _focus_text(utterance: str, elements: list[PageElement]) -> str:
    boxes = _of_role(elements, "textbox")
    ordinal = _ORDINAL.search(utterance)
    index = int(ordinal.group(1)) - 1 if ordinal else 0
    return f"click({boxes[index].id})" if index < len(boxes) else "wait()"


def _click_checkboxes(utterance: str, elements: list[PageElement]) -> str:
    listed = re.search(r"Select (.*) and click Submit", utterance)
    wanted = set() if not listed or listed.group(1) == "nothing" else {w.strip() for w in listed.group(1).split(",")}
    for box in _of_role(elements, "checkbox"):
        if (box.name in wanted) != ("checked" in box.flags):
            return f"click({box.id})"
    return _submit(elements)


def _click_option(utterance: str, elements: list[PageElement]) -> str:
    wanted = re.search(r"Select (.*) and click Submit", utterance).group(1)  # type: ignore[union-attr]
    radio = _named(elements, ("radio",), wanted)
    if radio and "checked" not in radio.flags:
        return f"click({radio.id})"
    return _submit(elements)


def _choose_list(utterance: str, elements: list[PageElement]) -> str:
    wanted = re.search(r"Select (.*) from the list", utterance).group(1)  # type: ignore[union-attr]
    for box in _of_role(elements, "combobox"):
        if box.value != wanted:
            return f"fill({box.id}, {_q(wanted)})"
    return _submit(elements)


def _click_tab(utterance: str, elements: list[PageElement]) -> str:
    number = re.search(r"Tab #(\d+)", utterance).group(1)  # type: ignore[union-attr]
    link = _named(elements, ("link",), f"Tab #{number}")
    return f"click({link.id})" if link else "wait()"


def _click_tab_2(utterance: str, elements: list[PageElement]) -> str:
    target = _named(elements, ("clickable", "link"), _quoted(utterance)[0])
    if target:
        return f"click({target.id})"
    tabs = _of_role(elements, "tab")
    shown = next((i for i, tab in enumerate(tabs) if "selected" in tab.flags), -1)
    if not tabs:
        return "wait()"
    following = tabs[(shown + 1) % len(tabs)]
    link = _named(elements, ("link",), following.name)
    return f"click({(link or following).id})"


def _click_collapsible(utterance: str, elements: list[PageElement]) -> str:
    sections = [el for el in _of_role(elements, "tab") if el.name.startswith("Section")]
    if sections and "collapsed" in sections[0].flags:
        return f"click({sections[0].id})"
    return _submit(elements)


def _click_test(utterance: str, elements: list[PageElement]) -> str:
    buttons = _of_role(elements, "button")
    return f"click({buttons[0].id})" if buttons else "wait()"


def _click_button_one(utterance: str, elements: list[PageElement]) -> str:
    button = _named(elements, ("button",), "ONE")
    return f"click({button.id})" if button else "wait()"


class _Sequence:
    """click-button-sequence: ONE, then TWO (the page does not show which was clicked)."""

    def __init__(self) -> None:
        self.clicked_one = False

    def __call__(self, utterance: str, elements: list[PageElement]) -> str:
        name = "TWO" if self.clicked_one else "ONE"
        self.clicked_one = True
        button = _named(elements, ("button",), name)
        return f"click({button.id})" if button else "wait()"


_POLICIES: dict[str, Callable[[], Callable[[str, list[PageElement]], str]]] = {
    "click-button": lambda: _click_button,
    "click-button-sequence": _Sequence,
    "click-checkboxes": lambda: _click_checkboxes,
    "click-collapsible": lambda: _click_collapsible,
    "click-dialog": lambda: _click_dialog,
    "click-dialog-2": lambda: _click_dialog,
    "click-link": lambda: _click_link,
    "click-option": lambda: _click_option,
    "click-tab": lambda: _click_tab,
    "click-tab-2": lambda: _click_tab_2,
    "click-tab-2-easy": lambda: _click_tab_2,
    "click-test": lambda: _click_test,
    "click-test-2": lambda: _click_button_one,
    "choose-list": lambda: _choose_list,
    "enter-password": lambda: _enter_password,
    "enter-text": lambda: _enter_text,
    "enter-text-2": lambda: _enter_text,
    "focus-text": lambda: _focus_text,
    "focus-text-2": lambda: _focus_text,
    "login-user": lambda: _login_user,
}

ORACLE_TASKS: tuple[str, ...] = tuple(sorted(_POLICIES))
"""The tasks `MiniWoBOracle` solves."""


class MiniWoBOracle:
    """The scripted expert for one task of `ORACLE_TASKS` (an `agentgym.agents.Agent`)."""

    def __init__(self, task: str):
        if task not in _POLICIES:
            raise ValueError(f"no MiniWoB oracle for {task!r}; the oracle knows {', '.join(ORACLE_TASKS)}")
        self.task = task
        self._factory = _POLICIES[task]
        self._policy = self._factory()

    def reset(self, observation: Observation, system_prompt: str) -> None:
        self._policy = self._factory()

    def act(self, observation: Observation) -> str:
        utterance, elements = parse_page(observation.text)
        return self._policy(utterance, elements)


class RandomClicker:
    """The baseline: each turn clicks a uniformly chosen element of the listing (seeded)."""

    def __init__(self, seed: int | None = None):
        self.rng = random.Random(seed)

    def reset(self, observation: Observation, system_prompt: str) -> None:
        pass

    def act(self, observation: Observation) -> str:
        _, elements = parse_page(observation.text)
        ids = sorted({el.id for el in elements})
        return f"click({self.rng.choice(ids)})" if ids else "wait()"
