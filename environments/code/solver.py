"""Scripted agents for the code environments: the expert and the baseline.

Both read only the observation text (the first line names the task, "Task <id> (...)."), so
they play a served environment as well as a local one.

- `ReferenceSolver` (the expert) looks the task up among the tasks it was given (default: the
  shipped set, public knowledge of the package) and plays its reference solution: it runs the
  visible tests on it first (`check_first=True`), then submits. With a JSONL env, give it the
  same tasks: `ReferenceSolver(load_jsonl_tasks(path))`.
- `StubAgent` (the baseline) submits a function of the required name that returns None, which
  is what an agent that ignores the task scores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agentgym.environments.code.tasks import CodeTask, shipped_tasks
from agentgym.types import Observation

_TASK_LINE = re.compile(r"^Task (?P<id>.+?)(?: \((?:easy|medium|hard)\))?\.$")
_ENTRY_POINT = re.compile(r"^Your solution must define `(?P<name>[A-Za-z_]\w*)`", re.MULTILINE)


def task_id_of(observation: Observation) -> str:
    """The task id named by a first observation of the code environment."""
    match = _TASK_LINE.match(observation.text.splitlines()[0] if observation.text else "")
    if match is None:
        raise ValueError("not a first observation of the code environment (no 'Task <id>.' line)")
    return match.group("id")


def fenced(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


class ReferenceSolver:
    """The expert: tests (optionally) and submits the task's reference solution."""

    def __init__(self, tasks: Sequence[CodeTask] | None = None, *, check_first: bool = True):
        self.by_id = {task.task_id: task for task in (tasks if tasks is not None else shipped_tasks())}
        self.check_first = check_first

    def reset(self, observation: Observation, system_prompt: str) -> None:
        task_id = task_id_of(observation)
        if task_id not in self.by_id:
            raise ValueError(f"ReferenceSolver does not know task {task_id!r}; pass it the env's tasks")
        self.task = self.by_id[task_id]
        self.tested = not self.check_first

    def act(self, observation: Observation) -> str:
        if not self.tested:
            self.tested = True
            return f"<test>\n{fenced(self.task.solution)}\n</test>"
        return "<submit></submit>"


class StubAgent:
    """The baseline: submits `def <entry point>(*args, **kwargs): return None`."""

    def reset(self, observation: Observation, system_prompt: str) -> None:
        match = _ENTRY_POINT.search(observation.text)
        self.name = match.group("name") if match else "solution"

    def act(self, observation: Observation) -> str:
        return f"<submit>\n{fenced(f'def {self.name}(*args, **kwargs):' + chr(10) + '    return None')}\n</submit>"
