"""Tasks from a user's JSONL file: HumanEval's format, MBPP's, or agentgym's own.

`load_jsonl_tasks(path, format=...)` reads one JSON object per line (blank lines are skipped)
and returns `CodeTask`s; anything malformed raises `TaskFileError` with the line number and the
field. The formats:

- `humaneval`: `task_id`, `prompt`, `test` (a module defining `check(candidate)`),
  `entry_point`, optional `canonical_solution` (the reference is `prompt + canonical_solution`).
  The hidden tests are the asserts of `check`, one test each, when its body is nothing but
  asserts on `candidate`; otherwise one test: the source of `check` and `check(candidate)`.
  The rest of the `test` module (without `check`, which holds the hidden tests) runs as the
  tests' setup, also for the visible tests. The visible tests are the prompt's doctest examples (`>>> f(1)` / `2`, up
  to three), which the agent sees in the prompt anyway.
- `mbpp`: `task_id`, `text`, `code`, `test_list` (assert statements), optional
  `test_setup_code` and `challenge_test_list`. The entry point is the first function the first
  test calls; the first `visible` tests (default 1) are shown with the text, the rest of
  `test_list` and the challenge tests are hidden (all of `test_list` if that leaves none).
- `agentgym`: the fields of `CodeTask` (as in the shipped `tasks.json`).
- `auto` (default): chosen from the first record's fields.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentgym.environments.code.tasks import CodeTask, TaskFileError, check_unique_ids

FORMATS = ("auto", "humaneval", "mbpp", "agentgym")
MAX_DOCTEST_TESTS = 3


def load_jsonl_tasks(path: str | Path, format: str = "auto", *, visible: int = 1) -> tuple[CodeTask, ...]:
    """The tasks of the JSONL file at `path` (see the module docstring); `visible` is the number
    of MBPP tests shown. Raises `TaskFileError` for a malformed file, FileNotFoundError if absent."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    path = Path(path)
    records = list(_read_jsonl(path))
    if not records:
        raise TaskFileError("the file holds no tasks", path=str(path))
    if format == "auto":
        format = _detect(records[0][1], str(path), records[0][0])
    convert = _CONVERTERS[format]
    tasks = tuple(convert(record, _Where(str(path), line), visible) for line, record in records)
    check_unique_ids(tasks, str(path))
    return tasks


class _Where:
    """Builds `TaskFileError`s located at one line of one file."""

    def __init__(self, path: str, line: int):
        self.path, self.line = path, line

    def error(self, message: str, field: str | None = None) -> TaskFileError:
        return TaskFileError(message, path=self.path, line=self.line, field=field)

    def require(self, record: dict[str, Any], fields: tuple[str, ...]) -> None:
        for name in fields:
            if name not in record:
                raise self.error(f"missing field {name!r}", name)

    def text(self, record: dict[str, Any], name: str, default: str | None = None) -> str:
        value = record.get(name, default)
        if not isinstance(value, str):
            raise self.error(f"field {name!r} must be a string, got {type(value).__name__}", name)
        return value

    def strings(self, record: dict[str, Any], name: str) -> list[str]:
        value = record.get(name) or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.error(f"field {name!r} must be a list of strings", name)
        return value


def _read_jsonl(path: Path):
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise TaskFileError(f"not valid JSON ({error.msg})", path=str(path), line=number) from None
            if not isinstance(record, dict):
                raise TaskFileError(
                    f"a task must be a JSON object, got {type(record).__name__}", path=str(path), line=number
                )
            yield number, record


def _detect(record: dict[str, Any], path: str, line: int) -> str:
    if "test_list" in record:
        return "mbpp"
    if "hidden_tests" in record:
        return "agentgym"
    if "entry_point" in record or "canonical_solution" in record:
        return "humaneval"
    raise TaskFileError(
        f"cannot tell the format from the fields {sorted(record)}; pass format='humaneval', 'mbpp' or 'agentgym'",
        path=path,
        line=line,
    )


def _parse(source: str, where: _Where, name: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as error:
        raise where.error(f"field {name!r} is not valid Python ({error.msg}, line {error.lineno})", name) from None


# --- HumanEval -----------------------------------------------------------------------------


def _humaneval(record: dict[str, Any], where: _Where, visible: int) -> CodeTask:
    where.require(record, ("task_id", "prompt", "test", "entry_point"))
    prompt, test = where.text(record, "prompt"), where.text(record, "test")
    entry_point = where.text(record, "entry_point")
    if not entry_point.isidentifier():
        raise where.error(f"entry_point {entry_point!r} is not a Python name", "entry_point")
    solution = prompt + where.text(record, "canonical_solution", "")
    module = _parse(test, where, "test")
    setup, check = _split_check(test, module)
    if check is None:
        raise where.error("field 'test' defines no function check(candidate)", "test")
    return CodeTask(
        task_id=str(record["task_id"]),
        prompt=prompt,
        entry_point=entry_point,
        solution=solution,
        visible_tests=_doctest_asserts(prompt),
        hidden_tests=_check_asserts(check, test),
        setup=setup,
    )


def _split_check(source: str, module: ast.Module) -> tuple[str, ast.FunctionDef | None]:
    """(the module's source without its `check` functions, the last `check`)."""
    checks = [node for node in module.body if isinstance(node, ast.FunctionDef) and node.name == "check"]
    lines = source.splitlines(keepends=True)
    for node in reversed(checks):
        start = min([node.lineno] + [decorator.lineno for decorator in node.decorator_list]) - 1
        del lines[start : node.end_lineno]
    return "".join(lines), (checks[-1] if checks else None)


def _check_asserts(check: ast.FunctionDef, source: str) -> tuple[str, ...]:
    """The asserts of `check(candidate)`, one test each, or the single test that defines
    `check` and calls `check(candidate)`."""
    whole = (ast.get_source_segment(source, check) or ast.unparse(check)) + "\n\n\ncheck(candidate)\n"
    params = [arg.arg for arg in check.args.args]
    body = [s for s in check.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if params != ["candidate"] or check.decorator_list or not body or not all(isinstance(s, ast.Assert) for s in body):
        return (whole,)
    asserts = [ast.unparse(s) for s in body if not (isinstance(s.test, ast.Constant) and s.test.value is True)]
    return tuple(asserts) or (whole,)


def _doctest_asserts(prompt: str) -> tuple[str, ...]:
    """Up to MAX_DOCTEST_TESTS asserts built from the prompt's `>>>` examples that are plain
    `expression` / `value` pairs."""
    try:
        examples = doctest.DocTestParser().get_examples(prompt)
    except ValueError:
        return ()
    tests: list[str] = []
    for example in examples:
        source = example.source.strip()
        want_lines = example.want.strip().splitlines()
        while want_lines and want_lines[-1].strip() in ('"""', "'''"):  # the docstring's end, read as output
            want_lines.pop()
        want = "\n".join(want_lines).strip()
        try:
            ast.parse(source, mode="eval")
            ast.parse(want, mode="eval")
        except SyntaxError:
            continue
        if want:
            tests.append(f"assert {source} == {want}")
    return tuple(tests[:MAX_DOCTEST_TESTS])


# --- MBPP ----------------------------------------------------------------------------------


def _mbpp(record: dict[str, Any], where: _Where, visible: int) -> CodeTask:
    where.require(record, ("task_id", "text", "code", "test_list"))
    text, code = where.text(record, "text"), where.text(record, "code")
    tests = where.strings(record, "test_list")
    if not tests:
        raise where.error("field 'test_list' is empty: a task needs at least one test", "test_list")
    challenge = where.strings(record, "challenge_test_list")
    setup = where.text(record, "test_setup_code", "") if record.get("test_setup_code") is not None else ""
    for index, test in enumerate(tests + challenge):
        _parse(test, where, "test_list" if index < len(tests) else "challenge_test_list")
    entry_point = _called_function(tests[0], _parse(code, where, "code"))
    if entry_point is None:
        raise where.error("the first test calls no function, so the entry point is unknown", "test_list")
    shown = tests[:visible]
    hidden = tests[visible:] + challenge or tests
    prompt = (
        f"{text.strip()}\nWrite a Python function `{entry_point}`. It should pass "
        + ("this test" if len(shown) == 1 else "these tests")
        + ":\n"
        + "\n".join(shown)
        + "\n"
    )
    return CodeTask(
        task_id=str(record["task_id"]),
        prompt=prompt,
        entry_point=entry_point,
        solution=code,
        visible_tests=tuple(shown),
        hidden_tests=tuple(hidden),
        setup=setup,
    )


def _called_function(test: str, code: ast.Module) -> str | None:
    """The function `test` calls that `code` defines, else the first non-builtin one it calls."""
    defined = {node.name for node in ast.walk(code) if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    calls = sorted(
        (node for node in ast.walk(ast.parse(test)) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)),
        key=lambda node: (node.lineno, node.col_offset),
    )
    names = [node.func.id for node in calls]  # type: ignore[attr-defined]
    for name in names:
        if name in defined:
            return name
    return next((name for name in names if not hasattr(builtins, name)), None)


# --- agentgym's own format -----------------------------------------------------------------


def _agentgym(record: dict[str, Any], where: _Where, visible: int) -> CodeTask:
    return CodeTask.from_record(record, path=where.path, line=where.line)


_CONVERTERS: dict[str, Callable[[dict[str, Any], _Where, int], CodeTask]] = {
    "humaneval": _humaneval,
    "mbpp": _mbpp,
    "agentgym": _agentgym,
}
