"""The three desktop-like apps of the GUI family: seeded goals and how success is read.

Each app is one HTML page shipped with the package (`apps/<name>.html`) that defines
`window.app.init(config)` and `window.app.state()`. An `App` draws a task from the
environment's seeded generator (`generate(rng)` -> `Task`: the page's config, the goal and the
instruction), and judges the page's own state after every turn (`judge(goal, state)`):
`"success"`, `"failure"` (the goal can no longer be reached, e.g. the file to move was deleted,
or the settings were saved wrong) or None (not yet).

- filemanager: folders in a sidebar, files in a list; select a file, then Rename (type the new
  name, Enter), Move to... (pick a folder) or Delete (confirm). Goals: move a file into a
  folder, rename it, or delete it.
- calendar: a month grid with previous/next buttons; click a day, type a title and a time
  (HH:MM), Save. Goal: an event with this title on this date at this time (the date is in the
  month shown or the next one).
- settings: switches and choice buttons, and Save. Goal: change one to three settings and save
  (success is judged on the first Save: every setting as asked, the others unchanged).
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

APPS_DIR = Path(__file__).parent / "apps"
SCREEN_SIZE = (640, 480)
"""The apps' screen (viewport) in CSS pixels."""


@dataclass(frozen=True)
class Task:
    """One episode's task: the page's `config`, the `goal` the judge checks, the `instruction`."""

    config: dict[str, Any]
    goal: dict[str, Any]
    instruction: str


class App:
    """An app of the GUI family (module docstring)."""

    name: str = ""

    @property
    def path(self) -> Path:
        return APPS_DIR / f"{self.name}.html"

    def generate(self, rng: np.random.Generator) -> Task:
        raise NotImplementedError

    def judge(self, goal: dict[str, Any], state: dict[str, Any]) -> str | None:
        raise NotImplementedError


def _pick(rng: np.random.Generator, items: list[Any] | tuple[Any, ...], k: int | None = None) -> Any:
    if k is None:
        return items[int(rng.integers(len(items)))]
    return [items[int(i)] for i in rng.choice(len(items), size=k, replace=False)]


# --- file manager -----------------------------------------------------------------------------

_FOLDERS = ("Archive", "Documents", "Pictures", "Projects", "Music", "Taxes", "Backup", "Reports")
_STEMS = (
    "report",
    "notes",
    "budget",
    "invoice",
    "summary",
    "draft",
    "plan",
    "photo",
    "resume",
    "agenda",
    "letter",
    "todo",
    "slides",
    "contract",
    "receipt",
    "minutes",
    "roadmap",
    "schedule",
    "memo",
    "data",
)
_EXTENSIONS = (".txt", ".pdf", ".docx", ".xlsx", ".png", ".csv")
_NEW_STEMS = ("final", "old", "2024", "v2", "backup", "copy", "signed", "review")


class FileManager(App):
    name = "filemanager"

    def generate(self, rng: np.random.Generator) -> Task:
        folders = ["Home", *sorted(_pick(rng, _FOLDERS, 4))]
        names = [stem + _pick(rng, _EXTENSIONS) for stem in _pick(rng, _STEMS, 9)]
        files = [{"name": name, "folder": "Home" if i < 5 else _pick(rng, folders[1:])} for i, name in enumerate(names)]
        target = int(rng.integers(len(files)))
        name, where = files[target]["name"], files[target]["folder"]
        located = "" if where == "Home" else f" (in the {where} folder)"
        kind = _pick(rng, ("move", "rename", "delete"))
        goal: dict[str, Any] = {"kind": kind, "file": target, "name": name}
        if kind == "move":
            goal["folder"] = _pick(rng, [f for f in folders if f != where])
            instruction = f"Move {name}{located} into the {goal['folder']} folder."
        elif kind == "rename":
            stem, ext = name.rsplit(".", 1)
            goal["new_name"] = f"{stem}_{_pick(rng, _NEW_STEMS)}.{ext}"
            instruction = f"Rename {name}{located} to {goal['new_name']}."
        else:
            instruction = f"Delete {name}{located}."
        return Task({"folders": folders, "files": files}, goal, instruction)

    def judge(self, goal: dict[str, Any], state: dict[str, Any]) -> str | None:
        file = state["files"][goal["file"]]
        if goal["kind"] == "delete":
            return "success" if file["deleted"] else None
        if file["deleted"]:
            return "failure"
        if goal["kind"] == "move":
            return "success" if file["folder"] == goal["folder"] and file["name"] == goal["name"] else None
        return "success" if file["name"] == goal["new_name"] else None


# --- calendar -----------------------------------------------------------------------------------

_TITLES = (
    "Dentist",
    "Team meeting",
    "Lunch with Ana",
    "Gym",
    "Project review",
    "Call Mom",
    "Yoga",
    "Haircut",
    "Book club",
    "Flight to Oslo",
    "Piano lesson",
    "Standup",
    "Car service",
    "Coffee with Sam",
)


class Calendar(App):
    name = "calendar"

    def generate(self, rng: np.random.Generator) -> Task:
        year, month = int(rng.integers(2024, 2027)), int(rng.integers(1, 13))
        goal_year, goal_month = (year, month) if rng.random() < 0.7 else (year + month // 12, month % 12 + 1)
        day = int(rng.integers(1, _calendar.monthrange(goal_year, goal_month)[1] + 1))
        hour, minute = int(rng.integers(7, 21)), int(_pick(rng, (0, 15, 30, 45)))
        title = _pick(rng, _TITLES)
        date = f"{goal_year}-{goal_month:02d}-{day:02d}"
        time = f"{hour:02d}:{minute:02d}"
        weekday = _calendar.day_name[_calendar.weekday(goal_year, goal_month, day)]
        when = f"{weekday}, {_calendar.month_name[goal_month]} {day}, {goal_year}"
        instruction = f'Add an event "{title}" on {when} at {time}.'
        return Task(
            {"year": year, "month": month, "events": []}, {"date": date, "time": time, "title": title}, instruction
        )

    def judge(self, goal: dict[str, Any], state: dict[str, Any]) -> str | None:
        for event in state["events"]:
            same_title = event["title"].strip().lower() == goal["title"].lower()
            if same_title and event["date"] == goal["date"] and event["time"] == goal["time"]:
                return "success"
        return None


# --- settings -----------------------------------------------------------------------------------

SWITCHES = {
    "wifi": "Wi-Fi",
    "bluetooth": "Bluetooth",
    "airplane": "Airplane mode",
    "notifications": "Notifications",
    "sounds": "Sounds",
    "dnd": "Do not disturb",
}
CHOICES = {"theme": ("Theme", ("Light", "Dark", "Auto")), "text_size": ("Text size", ("Small", "Medium", "Large"))}


class Settings(App):
    name = "settings"

    def generate(self, rng: np.random.Generator) -> Task:
        values: dict[str, Any] = {key: bool(rng.random() < 0.5) for key in SWITCHES}
        values.update({key: _pick(rng, options) for key, (_, options) in CHOICES.items()})
        keys = _pick(rng, [*SWITCHES, *CHOICES], int(rng.integers(1, 4)))
        target, phrases = dict(values), []
        for key in keys:
            if key in SWITCHES:
                target[key] = not values[key]
                phrases.append(f"turn {SWITCHES[key]} {'on' if target[key] else 'off'}")
            else:
                label, options = CHOICES[key]
                target[key] = _pick(rng, [o for o in options if o != values[key]])
                phrases.append(f"set {label} to {target[key]}")
        listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
        instruction = f"In the settings, {listed}, then save."
        return Task({"values": values}, {"values": target}, instruction)

    def judge(self, goal: dict[str, Any], state: dict[str, Any]) -> str | None:
        if state["saved"] is None:
            return None
        return "success" if state["saved"] == goal["values"] else "failure"


APPS: dict[str, App] = {app.name: app for app in (FileManager(), Calendar(), Settings())}
