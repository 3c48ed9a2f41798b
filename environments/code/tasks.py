"""Coding tasks: the `CodeTask` record, its validation, and the task set shipped with agentgym.

A task is a function to write: `prompt` (the stub and its description, shown to the agent),
`entry_point` (the function's name), a reference `solution` (a complete module), `visible_tests`
(shown to the agent and run by its test action) and `hidden_tests` (run on submit, never shown).
A test is Python source over the solution's namespace, with `candidate` bound to the entry
point, after `setup`: usually `assert CALL == LITERAL`, which the grader checks without trusting
the solution's process (`checks.py`); other tests pass when they raise nothing, run in that
process (unverified). `float_tolerance` > 0 lets floats returned by the solution differ from the
expected ones by that much (relative, or absolute near zero); 0 (default) compares exactly.

The shipped set (`tasks.json`) was written for agentgym: every task has a difficulty (`easy`,
`medium`, `hard`), 2-3 visible and at least 5 hidden tests. Code fields in the JSON may be a
string or a list of lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from agentgym.errors import AgentGymError

DIFFICULTIES = ("easy", "medium", "hard")
TASKS_FILE = "tasks.json"


class TaskFileError(AgentGymError, ValueError):
    """A task file is malformed. `path`, `line` (1-based, None when not line-oriented) and
    `field` (None when the problem is not one field) locate the problem."""

    error_type = "task_file_error"

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field = path, line, field
        where = ":".join(str(part) for part in (path, line) if part is not None)
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class CodeTask:
    """One coding task; see the module docstring for what each field means."""

    task_id: str
    prompt: str
    entry_point: str
    solution: str
    visible_tests: tuple[str, ...]
    hidden_tests: tuple[str, ...]
    setup: str = ""
    difficulty: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    float_tolerance: float = 0.0

    def __post_init__(self) -> None:
        if not self.task_id:
            raise ValueError("a task needs a non-empty task_id")
        if not self.entry_point.isidentifier():
            raise ValueError(f"task {self.task_id}: entry_point {self.entry_point!r} is not a Python name")
        if not self.hidden_tests:
            raise ValueError(f"task {self.task_id}: a task needs at least one hidden test")

    @classmethod
    def from_record(cls, record: Any, *, path: str | None = None, line: int | None = None) -> CodeTask:
        """A task from one record of the agentgym format (the fields of this class; code fields
        may be lists of lines). Raises `TaskFileError` naming the missing or malformed field."""

        def fail(message: str, name: str | None = None) -> TaskFileError:
            return TaskFileError(message, path=path, line=line, field=name)

        if not isinstance(record, dict):
            raise fail(f"a task must be a JSON object, got {type(record).__name__}")
        values: dict[str, Any] = {}
        for name in ("task_id", "prompt", "entry_point", "solution", "visible_tests", "hidden_tests"):
            if name not in record:
                raise fail(f"missing field {name!r}", name)
        for name in ("task_id", "prompt", "entry_point", "solution", "setup", "difficulty"):
            if name in record:
                values[name] = _code(record[name], name, fail)
        for name in ("visible_tests", "hidden_tests", "tags"):
            if name in record:
                items = record[name]
                if not isinstance(items, list) or not all(isinstance(item, (str, list)) for item in items):
                    raise fail(f"field {name!r} must be a list of strings", name)
                values[name] = tuple(_code(item, name, fail) for item in items)
        if "float_tolerance" in record:
            tolerance = record["float_tolerance"]
            if type(tolerance) not in (int, float) or not 0 <= tolerance < 1:
                raise fail("field 'float_tolerance' must be a number in [0, 1)", "float_tolerance")
            values["float_tolerance"] = float(tolerance)
        unknown = set(record) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise fail(f"unknown fields {sorted(unknown)}", sorted(unknown)[0])
        if values.get("difficulty") and values["difficulty"] not in DIFFICULTIES:
            raise fail(f"difficulty must be one of {DIFFICULTIES}, got {values['difficulty']!r}", "difficulty")
        try:
            return cls(**values)
        except ValueError as error:
            raise fail(str(error)) from None


def _code(value: Any, name: str, fail) -> str:
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "\n".join(value) + ("\n" if value else "")
    if not isinstance(value, str):
        raise fail(f"field {name!r} must be a string (or a list of lines), got {type(value).__name__}", name)
    return value


@lru_cache(maxsize=1)
def shipped_tasks() -> tuple[CodeTask, ...]:
    """The tasks shipped with agentgym, in file order (ids unique)."""
    source = resources.files(__package__).joinpath(TASKS_FILE)
    records = json.loads(source.read_text(encoding="utf-8"))
    tasks = tuple(CodeTask.from_record(record, path=TASKS_FILE) for record in records)
    check_unique_ids(tasks, TASKS_FILE)
    return tasks


def select_tasks(tasks: tuple[CodeTask, ...], difficulty: str | None) -> tuple[CodeTask, ...]:
    """The tasks of one difficulty (None or "all": every task)."""
    if difficulty in (None, "all"):
        return tasks
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES} or 'all', got {difficulty!r}")
    return tuple(task for task in tasks if task.difficulty == difficulty)


def check_unique_ids(tasks: tuple[CodeTask, ...], path: str | None = None) -> None:
    seen: set[str] = set()
    for task in tasks:
        if task.task_id in seen:
            raise TaskFileError(f"task_id {task.task_id!r} appears twice", path=path, field="task_id")
        seen.add(task.task_id)
