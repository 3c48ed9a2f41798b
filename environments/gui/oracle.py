"""Scripted agents for the GUI apps: an oracle per app and a random clicker.

The oracles read the instruction from the observation text and find where to click from the
element boxes in `Observation.metadata["elements"]` (the same boxes the set-of-marks labels
show); a policy never sees metadata, so these are experts, not baselines. They act only by
coordinates, like a policy, through the public Env API.
"""

from __future__ import annotations

import random
import re
from typing import Any

from agentgym.types import Observation


def _instruction(observation: Observation) -> str:
    for line in observation.text.splitlines():
        if line.startswith("Task: "):
            return line[len("Task: ") :]
    return ""


def _find(observation: Observation, role: str, name: str, last: bool = False) -> dict[str, Any] | None:
    found = [el for el in observation.metadata.get("elements", []) if el["role"] == role and el["name"] == name]
    if not found:
        return None
    return found[-1] if last else found[0]


def _click(element: dict[str, Any]) -> str:
    x, y, width, height = element["box"]
    return f"click({x + width / 2:.0f}, {y + height / 2:.0f})"


class FileManagerOracle:
    """Navigates to the file's folder, selects it, then Move to... / Rename / Delete."""

    _GOAL = re.compile(
        r"^(?P<kind>Move|Rename|Delete) (?P<name>\S+?)(?: \(in the (?P<where>\w+) folder\))?"
        r"(?: into the (?P<folder>\w+) folder| to (?P<new>\S+?))?\.$"
    )

    def reset(self, observation: Observation, system_prompt: str) -> None:
        self.goal = self._GOAL.match(_instruction(observation))
        if self.goal is None:
            raise ValueError(f"not a file manager task: {_instruction(observation)!r}")
        self.last = ""
        self.typed = False

    def act(self, observation: Observation) -> str:
        goal, last, self.last = self.goal, self.last, ""
        kind = goal["kind"]
        if _find(observation, "textbox", "New name"):
            if not self.typed:
                self.typed = True
                return f"type({goal['new']!r})"
            return 'key("Enter")'
        if _find(observation, "button", "Cancel"):  # a dialog is open
            target = _find(observation, "button", goal["folder"]) if kind == "Move" else None
            target = target or _find(observation, "button", "Delete", last=True)
            return _click(target) if target else 'key("Escape")'
        row = _find(observation, "option", goal["name"])
        if row is None:
            folder = _find(observation, "treeitem", goal["where"] or "Home")
            return _click(folder) if folder else "wait()"
        if last == "selected":
            button = _find(observation, "button", "Move to..." if kind == "Move" else kind)
            if button:
                return _click(button)
        self.last = "selected"
        return _click(row)


class CalendarOracle:
    """Moves to the goal's month, clicks the day, types the title and the time, saves."""

    _GOAL = re.compile(r'^Add an event "(?P<title>[^"]+)" on \w+, (?P<date>\w+ \d+, \d+) at (?P<time>\d\d:\d\d)\.$')

    def reset(self, observation: Observation, system_prompt: str) -> None:
        self.goal = self._GOAL.match(_instruction(observation))
        if self.goal is None:
            raise ValueError(f"not a calendar task: {_instruction(observation)!r}")
        self.queue: list[str] = []

    def act(self, observation: Observation) -> str:
        title_box = _find(observation, "textbox", "Title")
        if title_box:
            if not self.queue:
                time_box = _find(observation, "textbox", "Time (HH:MM)")
                save = _find(observation, "button", "Save")
                if time_box is None or save is None:
                    return "wait()"
                self.queue = [
                    _click(title_box),
                    f"type({self.goal['title']!r})",
                    _click(time_box),
                    f"type({self.goal['time']!r})",
                    _click(save),
                ]
            return self.queue.pop(0)
        self.queue = []
        day = _find(observation, "gridcell", self.goal["date"])
        if day:
            return _click(day)
        following = _find(observation, "button", "Next month")
        return _click(following) if following else "wait()"


class SettingsOracle:
    """Clicks each switch or choice the instruction names, then Save."""

    _SWITCH = re.compile(r"turn (.+?) (?:on|off)$")
    _CHOICE = re.compile(r"set (.+?) to (\w+)$")

    def reset(self, observation: Observation, system_prompt: str) -> None:
        text = _instruction(observation)
        found = re.match(r"^In the settings, (.*), then save\.$", text)
        if found is None:
            raise ValueError(f"not a settings task: {text!r}")
        self.todo: list[tuple[str, str]] = []
        for phrase in re.split(r", | and ", found.group(1)):
            switch, choice = self._SWITCH.match(phrase), self._CHOICE.match(phrase)
            if switch:
                self.todo.append(("switch", switch.group(1)))
            elif choice:
                self.todo.append(("radio", f"{choice.group(1)}: {choice.group(2)}"))
        self.todo.append(("button", "Save"))

    def act(self, observation: Observation) -> str:
        if not self.todo:
            return "wait()"
        role, name = self.todo.pop(0)
        element = _find(observation, role, name)
        return _click(element) if element else "wait()"


ORACLES = {"filemanager": FileManagerOracle, "calendar": CalendarOracle, "settings": SettingsOracle}
"""The oracle class of each app."""


class RandomGuiAgent:
    """The baseline: random clicks on the screen (size read from `metadata["screen"]`), with a
    random key or text now and then (seeded)."""

    def __init__(self, seed: int | None = None):
        self.rng = random.Random(seed)

    def reset(self, observation: Observation, system_prompt: str) -> None:
        pass

    def act(self, observation: Observation) -> str:
        width, height = observation.metadata.get("screen", (160, 210))
        roll = self.rng.random()
        if roll < 0.1:
            return f'key("{self.rng.choice(["Enter", "Tab", "Escape", "Backspace"])}")'
        if roll < 0.2:
            return f'type("{self.rng.choice(["a", "hello", "12:00", "report.txt"])}")'
        return f"click({self.rng.uniform(0, width - 1):.0f}, {self.rng.uniform(0, height - 1):.0f})"
