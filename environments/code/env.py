"""code-v0 and its presets: write a Python function, test it in a sandbox, submit it.

Each episode is one task (`CodeTask`), chosen uniformly with the seeded generator among the
env's tasks (`reset(options={"task_id": ID})` or `{"task_index": i}` fixes it). Each turn the
agent sends one action (`actions.py`: tags or tool calls):

- run CODE: runs a snippet in the episode's sandbox session and shows its output. Reward 0.
- test [CODE]: CODE becomes the current solution (`/work/solution.py`); the visible tests run
  against it and their results (tracebacks, returned values, printed output, all cut to size)
  are shown. Reward 0.
- submit [CODE]: the hidden tests run against CODE (or the current solution); the reward is
  the fraction that passed, `terminated` is True, `info["success"]` is True iff all passed and
  `info["passed"]` / `info["total"]` count them. The observation gives only the counts.
- anything else: invalid (feedback on the format, reward -`invalid_penalty`,
  `info["invalid_action"] = True`); nothing runs and the state is unchanged.

Every run of an episode happens in one sandbox session, so files a snippet writes persist until
the episode ends (`close()`, the next `reset()`, or the submission). The time limit is the
spec's `max_turns` (truncation); observations say how many turns are left.

Anchor: `code <task_id> tests=<pattern>`, the pass pattern of the visible tests on the current
solution (`PPF`; `-` before any test run; `submitted=<passed>/<total>` after the submission).
Hidden tests never enter an observation (text, tools or metadata).
"""

from __future__ import annotations

import copy
import io
import logging
import secrets
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentgym.env import Env
from agentgym.environments.code import feedback
from agentgym.environments.code.actions import TOOLS, ActionError, parse_action
from agentgym.environments.code.checks import unverified
from agentgym.environments.code.execution import ExecutionSettings, TestReport, run_snippet, run_tests
from agentgym.environments.code.tasks import CodeTask, select_tasks, shipped_tasks
from agentgym.errors import NotForkable
from agentgym.sandboxes import ExecResult, Sandbox, SandboxSession, make_sandbox
from agentgym.types import Observation, StepResult

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = """\
You are solving a Python programming task in a sandbox (Python 3, standard library only, no \
network). Write the requested function, check it, and submit it. Each turn, answer with exactly \
one action:
- <run>```python
CODE
```</run> runs a snippet and shows its output (`import solution` loads your current solution).
- <test>```python
SOLUTION
```</test> makes SOLUTION your current solution (a complete module defining the function) and \
runs the visible tests on it. <test></test> re-runs them on the current solution.
- <submit>```python
SOLUTION
```</submit> submits SOLUTION (<submit></submit>: the current solution) to the hidden tests and \
ends the episode.
You may also call the tools run, test and submit (argument `code`). The reward is the fraction \
of hidden tests your submission passes. Each test has {test_timeout:g} s. Text that is no valid \
action costs {penalty:g} and a turn. You have a limited number of turns: submit before they run out."""


class CodeEnv(Env):
    """Multi-turn coding tasks graded in a sandbox; see the module docstring. Forkable.

    Args:
        tasks: the tasks to draw from (default: the shipped ones).
        difficulty: keep only tasks of this difficulty (`easy`, `medium`, `hard`; None: all).
        sandbox: a backend name for `make_sandbox` (`best`: the strongest available) or a
            `Sandbox` instance to share. It is created at the first `reset`.
        invalid_penalty: the cost of a turn whose text is no valid action.
        run_timeout_s, test_timeout_s, memory_mb: limits of a snippet, of one test, of a run.
        tools: offer the OpenAI tools `run`, `test`, `submit` in every observation.
    """

    def __init__(
        self,
        tasks: Sequence[CodeTask] | None = None,
        *,
        difficulty: str | None = None,
        sandbox: str | Sandbox = "best",
        invalid_penalty: float = 0.1,
        run_timeout_s: float = 10.0,
        test_timeout_s: float = 3.0,
        memory_mb: int = 512,
        tools: bool = True,
    ):
        self.tasks = select_tasks(tuple(tasks) if tasks is not None else shipped_tasks(), difficulty)
        if not self.tasks:
            raise ValueError(f"no tasks to play (difficulty={difficulty!r})")
        self.by_id = {task.task_id: task for task in self.tasks}
        self.settings = ExecutionSettings(
            run_timeout_s=run_timeout_s, test_timeout_s=test_timeout_s, memory_mb=memory_mb
        )
        self.invalid_penalty = invalid_penalty
        self.tools = TOOLS if tools else ()
        self.system_prompt = SYSTEM_PROMPT.format(test_timeout=test_timeout_s, penalty=invalid_penalty)
        self._sandbox_choice = sandbox
        self._sandbox: Sandbox | None = sandbox if isinstance(sandbox, Sandbox) else None
        self._session: SandboxSession | None = None
        self.task: CodeTask | None = None

    # --- episode -------------------------------------------------------------------------

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        self.task = self._choose_task(dict(options or {}))
        await self._close_session()
        if self._sandbox is None:
            self._sandbox = make_sandbox(str(self._sandbox_choice))
        self._session = self._sandbox.session(limits=self.settings.snippet_limits())
        self.solution: str | None = None
        self.visible: list[TestReport] | None = None
        self.submitted: tuple[int, int] | None = None
        self.turns = 0
        return self._observation(feedback.task_text(self.task))

    async def step(self, action: str) -> StepResult:
        self.turns += 1
        parsed = parse_action(action)
        if isinstance(parsed, ActionError):
            return StepResult(
                observation=self._observation(f"Invalid action: {parsed.message}"),
                reward=-self.invalid_penalty,
                info=self._info(invalid=True),
            )
        if parsed.kind == "run":
            result = await run_snippet(self._live_session(), parsed.code or "", self.settings)
            return StepResult(observation=self._observation(feedback.snippet_text(result)), info=self._info())
        code = parsed.code if parsed.code is not None else self.solution
        if code is None:
            message = f"Invalid action: there is no current solution yet; put your code in the {parsed.kind} action."
            return StepResult(
                observation=self._observation(message), reward=-self.invalid_penalty, info=self._info(invalid=True)
            )
        if parsed.kind == "test":
            return await self._test(code)
        return await self._submit(code)

    async def _test(self, code: str) -> StepResult:
        task = self.task
        self.solution = code
        reports = await run_tests(self._live_session(), task, code, task.visible_tests, self.settings, details=True)
        self.visible = reports
        text = feedback.visible_tests_text(task.visible_tests, reports)
        info = self._info()
        info.update(visible_passed=sum(r.passed for r in reports), visible_total=len(reports))
        return StepResult(observation=self._observation(text), info=info)

    async def _submit(self, code: str) -> StepResult:
        task = self.task
        self.solution = code
        self._live_session()
        await self._close_session()
        # A session of its own, holding nothing of the episode: files the agent left in /work
        # (a sitecustomize.py, a json.py) would otherwise run inside the judge's interpreter.
        async with self._sandbox.session(limits=self.settings.snippet_limits()) as grading:
            reports = await run_tests(grading, task, code, task.hidden_tests, self.settings, details=False)
        passed, total = sum(r.passed for r in reports), len(reports)
        self.submitted = (passed, total)
        info = self._info()
        info.update(success=passed == total, passed=passed, total=total)
        return StepResult(
            observation=self._observation(feedback.submission_text(reports), final=True),
            reward=passed / total,
            terminated=True,
            info=info,
        )

    # --- helpers --------------------------------------------------------------------------

    def _choose_task(self, options: dict[str, Any]) -> CodeTask:
        task_id, index = options.pop("task_id", None), options.pop("task_index", None)
        if options:
            raise ValueError(f"unknown options {sorted(options)}; the code env accepts 'task_id' and 'task_index'")
        if task_id is not None:
            if task_id not in self.by_id:
                raise ValueError(f"unknown task_id {task_id!r}; this env has {len(self.tasks)} tasks")
            return self.by_id[task_id]
        if index is not None:
            if not 0 <= int(index) < len(self.tasks):
                raise ValueError(f"task_index {index} is outside 0..{len(self.tasks) - 1}")
            return self.tasks[int(index)]
        return self.tasks[int(self.np_random.integers(len(self.tasks)))]

    def _live_session(self) -> SandboxSession:
        if self._session is None:
            raise RuntimeError("the episode's sandbox session is closed; call reset()")
        return self._session

    @property
    def anchor(self) -> str:
        if self.submitted is not None:
            state = f"submitted={self.submitted[0]}/{self.submitted[1]}"
        else:
            state = "tests=" + (feedback.pattern(self.visible) if self.visible is not None else "-")
        return f"code {self.task.task_id} {state}"

    def _observation(self, text: str, *, final: bool = False) -> Observation:
        limit = self.spec.max_turns if self.spec is not None else None
        if limit is not None and not final:
            left = max(limit - self.turns, 0)
            text += f"\nTurns left: {left}." + (" Submit now: this is your last turn." if left == 1 else "")
        return Observation(
            text=text,
            tools=() if final else self.tools,
            anchor=self.anchor,
            metadata={"task_id": self.task.task_id, "difficulty": self.task.difficulty},
        )

    def _info(self, *, invalid: bool = False) -> dict[str, Any]:
        return {"invalid_action": invalid, "task_id": self.task.task_id}

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def close(self) -> None:
        await self._close_session()

    async def fork(self) -> CodeEnv:
        """A copy continuing this episode in a new sandbox session holding a copy of the
        work directory (packed and unpacked with tar inside the sandboxes). Raises
        NotForkable, saying why, when the copy fails (the work directory over the limits, a
        file tar cannot take or a link the unpacking rejects): never a clone with part of it."""
        clone = copy.copy(self)
        clone._np_random = copy.deepcopy(self._np_random)
        clone.visible = list(self.visible) if getattr(self, "visible", None) is not None else None
        clone._session = None
        if self._session is not None:
            archive = await _pack(self._session)
            clone._session = self._sandbox.session(limits=self.settings.snippet_limits())
            try:
                await _unpack(clone._session, archive)
            except BaseException:
                await clone._close_session()
                raise
        return clone


_REASON_CHARS = 300


async def _pack(session: SandboxSession) -> bytes:
    name = f".agentgym-fork-{secrets.token_hex(8)}.tar"
    code = (
        "import tarfile, os\n"
        f"with tarfile.open({name!r}, 'x') as archive:\n"
        "    for entry in sorted(os.listdir('.')):\n"
        f"        if entry != {name!r}:\n"
        "            archive.add(entry)\n"
    )
    result = await session.run(code, fetch=[name])
    removal = await session.run(f"import os\nif os.path.lexists({name!r}):\n    os.remove({name!r})")
    archive = result.files.get(name)
    if not result.ok or archive is None:
        reason = "it is over the fetch limit" if name in result.files_omitted else _failure(result)
        raise NotForkable(f"code env: could not copy the work directory for the fork: {reason}")
    if not removal.ok:
        raise NotForkable(f"code env: could not remove the fork's archive: {_failure(removal)}")
    return archive


async def _unpack(session: SandboxSession, archive: bytes) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            if not tar.getmembers():
                return
    except tarfile.TarError as error:
        raise NotForkable(f"code env: the fork's archive of the work directory is unreadable: {error}") from None
    name = f".agentgym-fork-{secrets.token_hex(8)}.tar"
    code = (
        "import tarfile, os\n"
        f"with tarfile.open({name!r}) as archive:\n"
        "    safe = {'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}\n"
        "    archive.extractall('.', **safe)\n"
        f"os.remove({name!r})\n"
    )
    result = await session.run(code, files={name: archive})
    if not result.ok:
        raise NotForkable(f"code env: could not unpack the work directory into the fork: {_failure(result)}")


def _failure(result: ExecResult) -> str:
    text = (result.stderr.strip().splitlines() or [""])[-1] or result.stdout.strip()[-200:]
    return f"{result.status.value}" + (f" ({text[:_REASON_CHARS]})" if text else "")


class JsonlCodeEnv(CodeEnv):
    """`code-jsonl-v0`: CodeEnv over the tasks of a JSONL file (`loaders.load_jsonl_tasks`).

    Args:
        path: the file; format: `auto`, `humaneval`, `mbpp` or `agentgym`; visible: how many
            MBPP tests to show. Other arguments as for `CodeEnv`.
    """

    def __init__(self, path: str | Path | None = None, format: str = "auto", visible: int = 1, **kwargs: Any):
        if path is None:
            raise ValueError("code-jsonl-v0 needs the task file: agentgym.make('code-jsonl-v0', path='tasks.jsonl')")
        from agentgym.environments.code.loaders import load_jsonl_tasks

        super().__init__(load_jsonl_tasks(path, format, visible=visible), **kwargs)
        self.unverified_tasks = tuple(task.task_id for task in self.tasks if unverified(task.hidden_tests))
        """Ids of the tasks with hidden tests of no verifiable form (`checks.py`), which run whole
        in the solution's process, so a solution written to forge its result can pass them."""
        if self.unverified_tasks:
            logger.warning(
                "code-jsonl-v0: %d of %d tasks in %s have hidden tests the grader cannot verify "
                "(they run in the solution's process): %s",
                len(self.unverified_tasks),
                len(self.tasks),
                path,
                ", ".join(self.unverified_tasks[:10]) + (" ..." if len(self.unverified_tasks) > 10 else ""),
            )
