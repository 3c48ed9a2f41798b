"""The text the code environment shows: the task, a snippet's output, visible test results and
the submission's score. Long text is cut (head and tail kept) so one turn never floods the
prompt. Hidden tests appear only as counts and outcome names, never as code or details.
"""

from __future__ import annotations

from collections import Counter

from agentgym.environments.code.execution import TestReport
from agentgym.environments.code.tasks import CodeTask
from agentgym.sandboxes import ExecResult

STREAM_CHARS = 1500
TEST_DETAIL_CHARS = 600
TEST_OUTPUT_CHARS = 300

_OUTCOME_LABEL = {
    "pass": "PASS",
    "fail": "FAIL",
    "error": "ERROR",
    "timeout": "TIMEOUT",
    "crash": "CRASH",
    "unencodable": "FAIL",
}
_OUTCOME_NAME = {
    "fail": "wrong answer",
    "error": "exception",
    "timeout": "time limit",
    "crash": "crash",
    "unencodable": "value not plain data",
}


def clip(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters, keeping its head and tail."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 2 // 3], text[-(limit // 3) :]
    return f"{head}\n... [{len(text) - len(head) - len(tail)} characters cut] ...\n{tail}"


def pattern(reports: list[TestReport]) -> str:
    """One letter per test: P passed, F failed (any other outcome)."""
    return "".join("P" if report.passed else "F" for report in reports)


def task_text(task: CodeTask) -> str:
    lines = [f"Task {task.task_id}" + (f" ({task.difficulty})" if task.difficulty else "") + ".", task.prompt.rstrip()]
    if task.visible_tests:
        lines += ["", "Visible tests:", *(test.rstrip() for test in task.visible_tests)]
    lines += ["", f"Your solution must define `{task.entry_point}`; it will be graded on hidden tests when you submit."]
    return "\n".join(lines)


def snippet_text(result: ExecResult) -> str:
    status = (
        "finished"
        if result.ok
        else {
            "error": f"exited with code {result.exit_code}",
            "timeout": "was stopped: time limit",
            "memory": "was stopped: memory limit",
            "output_limit": "was stopped: too much output",
            "killed": "was killed",
        }[result.status.value]
    )
    lines = [f"Your snippet {status}."]
    for name, stream in (("stdout", result.stdout), ("stderr", result.stderr)):
        if stream.strip():
            lines += [f"{name}:", clip(stream.rstrip(), STREAM_CHARS)]
    if not result.stdout.strip() and not result.stderr.strip():
        lines.append("(no output)")
    return "\n".join(lines)


def visible_tests_text(tests: tuple[str, ...], reports: list[TestReport]) -> str:
    if not tests:
        return "This task has no visible tests; check your solution with <run> and submit when ready."
    passed = sum(report.passed for report in reports)
    lines = [f"Visible tests: {passed} of {len(tests)} passed."]
    for number, (test, report) in enumerate(zip(tests, reports, strict=True), start=1):
        shown = clip(test.strip(), 400)
        label = f"{number}. {_OUTCOME_LABEL[report.outcome]}:"
        lines.append(f"{label} {shown}" if "\n" not in shown else f"{label}\n{_indent(shown)}")
        if not report.passed and report.detail:
            lines.append(_indent(clip(report.detail.rstrip(), TEST_DETAIL_CHARS)))
        if not report.passed and report.output.strip():
            lines.append(_indent("printed: " + clip(report.output.rstrip(), TEST_OUTPUT_CHARS)))
    return "\n".join(lines)


def submission_text(reports: list[TestReport]) -> str:
    passed = sum(report.passed for report in reports)
    text = f"Submitted. Hidden tests: {passed} of {len(reports)} passed."
    failures = Counter(report.outcome for report in reports if not report.passed)
    if failures:
        text += (
            " Failures: "
            + ", ".join(f"{count} {_OUTCOME_NAME[outcome]}" for outcome, count in sorted(failures.items()))
            + "."
        )
    return text


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())
