"""Running an episode's code in its sandbox session: snippets, and test suites through the
in-sandbox runner (`sandbox_runner.py`), with the reports parsed back.

Tests go to the runner as checks (`checks.py`): the expression to evaluate and the expected
value, which only the runner's judge sees; tests of no verifiable form go whole (unverified).

Nothing here raises for anything the agent's code does: a crash, a timeout or a flood of output
comes back as a result. Only a broken sandbox raises (`agentgym.sandboxes.SandboxError`).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from agentgym.environments.code.checks import parse_check
from agentgym.environments.code.tasks import CodeTask
from agentgym.sandboxes import ExecResult, ExecStatus, Limits, SandboxSession

SOLUTION_FILE = "solution.py"
"""Where the current solution lives in the session's work directory (`import solution`)."""

OUTCOMES = ("pass", "fail", "error", "timeout", "crash", "unencodable")


@dataclass(frozen=True)
class TestReport:
    """The outcome of one test: `outcome` is one of OUTCOMES; `detail` (what went wrong: the
    returned value, a traceback) and `output` (what the solution printed) only for visible tests."""

    outcome: str
    detail: str = ""
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


@lru_cache(maxsize=1)
def runner_source() -> str:
    """The source of the program that runs tests inside the sandbox."""
    return resources.files(__package__).joinpath("sandbox_runner.py").read_text(encoding="utf-8")


@dataclass(frozen=True)
class ExecutionSettings:
    """Limits of the code an episode runs: `run_timeout_s` per snippet, `test_timeout_s` per
    test, `memory_mb` for a whole run (snippet or test suite), `max_output_bytes` of a snippet."""

    run_timeout_s: float = 10.0
    test_timeout_s: float = 3.0
    memory_mb: int = 512
    max_output_bytes: int = 64 << 10

    def snippet_limits(self) -> Limits:
        return Limits(
            wall_s=self.run_timeout_s,
            cpu_s=self.run_timeout_s,
            memory_mb=self.memory_mb,
            max_output_bytes=self.max_output_bytes,
        )

    def suite_limits(self, tests: int) -> Limits:
        # The judge waits at most 5 s for the solution's process to start and each test's
        # time plus 0.5 s; its own start and report fit in the rest.
        seconds = min(3600.0, (self.test_timeout_s + 0.5) * max(tests, 1) + 10.0)
        return Limits(wall_s=seconds, cpu_s=seconds, memory_mb=self.memory_mb, max_output_bytes=1 << 20)


async def run_snippet(session: SandboxSession, code: str, settings: ExecutionSettings) -> ExecResult:
    """Run `code` as a script in the session (`/work` on its path, so `import solution` works)."""
    request = json.dumps({"mode": "run", "code": code})
    return await session.run(runner_source(), stdin=request, limits=settings.snippet_limits())


async def run_tests(
    session: SandboxSession,
    task: CodeTask,
    solution: str,
    tests: tuple[str, ...],
    settings: ExecutionSettings,
    *,
    details: bool,
) -> list[TestReport]:
    """Save `solution` as the session's current solution and run `tests` against it; one report
    per test, in order. With `details` False the reports carry outcomes only (hidden tests).
    Only `tests` and the task's setup enter the session (never the task's other tests)."""
    nonce = f"@@agentgym-results-{secrets.token_hex(16)}@@"
    request = {
        "mode": "tests",
        "nonce": nonce,
        "solution": solution,
        "setup": task.setup,
        "entry_point": task.entry_point,
        "tests": [test_request(test) for test in tests],
        "float_tolerance": task.float_tolerance,
        "timeout_s": settings.test_timeout_s,
        "details": details,
    }
    result = await session.run(
        runner_source(),
        stdin=json.dumps(request),
        files={SOLUTION_FILE: solution},
        limits=settings.suite_limits(len(tests)),
    )
    return parse_reports(result, nonce, len(tests), details=details)


def test_request(test: str) -> dict[str, object]:
    """What the runner gets for `test`: its check, or the whole source when it has none."""
    check = parse_check(test)
    return check.as_request() if check is not None else {"script": test}


def parse_reports(result: ExecResult, nonce: str, count: int, *, details: bool) -> list[TestReport]:
    """The runner's reports from its output; every test it did not report counts as failed,
    with the run's status as the reason (the memory limit, the wall clock)."""
    reports: list[TestReport] = []
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(nonce):
            try:
                raw = json.loads(line[len(nonce) :])
            except json.JSONDecodeError:
                break
            for item in raw[:count] if isinstance(raw, list) else []:
                outcome = item.get("outcome") if isinstance(item, dict) else None
                if outcome not in OUTCOMES:
                    outcome = "crash"
                reports.append(
                    TestReport(
                        outcome=outcome,
                        detail=str(item.get("detail", "")) if details else "",
                        output=str(item.get("output", "")) if details else "",
                    )
                )
            break
    if len(reports) < count:
        reason = _run_failure(result) if details else ""
        outcome = "timeout" if result.status is ExecStatus.timeout else "crash"
        reports += [TestReport(outcome, reason) for _ in range(count - len(reports))]
    return reports


def _run_failure(result: ExecResult) -> str:
    reasons = {
        ExecStatus.timeout: "the test run went over its time limit",
        ExecStatus.memory: "the test run went over its memory limit",
        ExecStatus.output_limit: "the test run printed too much",
    }
    return reasons.get(result.status, f"the test run ended abnormally ({result.status.value})")
