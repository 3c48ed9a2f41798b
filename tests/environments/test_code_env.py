"""code-v0 and its family: the shipped tasks and their reference solutions, the action protocols
(tags, tool calls, malformed text), the visible-test feedback loop, hidden tests kept out of
observations, the HumanEval/MBPP loaders, determinism, fork, and the expert and baseline.

Everything that runs code uses the real bubblewrap sandbox; those tests are skipped, with the
reason, where bubblewrap cannot run.
"""

from __future__ import annotations

import ast
import asyncio
import json
from collections import Counter

import pytest

import agentgym
from agentgym.agents import play_episode
from agentgym.environments.code import sandbox_runner
from agentgym.environments.code.actions import Action, ActionError, parse_action
from agentgym.environments.code.checks import Check, parse_check, unverified
from agentgym.environments.code.env import CodeEnv
from agentgym.environments.code.execution import ExecutionSettings, run_tests
from agentgym.environments.code.loaders import load_jsonl_tasks
from agentgym.environments.code.solver import ReferenceSolver, StubAgent
from agentgym.environments.code.tasks import CodeTask, TaskFileError, shipped_tasks
from agentgym.errors import NotForkable
from agentgym.sandboxes.bwrap import BwrapSandbox

BWRAP_MISSING = BwrapSandbox.unavailable_reason()
needs_bwrap = pytest.mark.skipif(BWRAP_MISSING is not None, reason=f"bubblewrap cannot run here: {BWRAP_MISSING}")

TASKS = shipped_tasks()
CLAMP_MISSING_CHECK = "def clamp(value, low, high):\n    return max(low, min(value, high))\n"


def code_env(env_id: str = "code-v0", **kwargs):
    return agentgym.make(env_id, sandbox="bwrap", **kwargs)


def submit(code: str) -> str:
    return f"<submit>\n```python\n{code}\n```\n</submit>"


def run_visible(code: str) -> str:
    return f"I will check it.\n<test>\n```python\n{code}\n```\n</test>"


def everything_shown(observation) -> str:
    """All an observation shows the policy: text, tools and metadata."""
    return observation.text + json.dumps([t.model_dump() for t in observation.tools]) + json.dumps(observation.metadata)


# --- the shipped task set ------------------------------------------------------------------


def test_the_shipped_set_is_graded_and_complete():
    counts = Counter(task.difficulty for task in TASKS)
    assert len(TASKS) >= 50 and set(counts) == {"easy", "medium", "hard"}
    assert min(counts.values()) >= 15, counts
    assert len({task.task_id for task in TASKS}) == len(TASKS)
    for task in TASKS:
        assert 2 <= len(task.visible_tests) <= 3, task.task_id
        assert len(task.hidden_tests) >= 5, task.task_id
        assert not set(task.hidden_tests) & set(task.visible_tests), task.task_id
        assert task.entry_point in task.prompt and task.entry_point in task.solution


@needs_bwrap
async def test_every_reference_solution_passes_all_its_tests():
    sandbox = BwrapSandbox()
    settings = ExecutionSettings(test_timeout_s=10.0)
    limit = asyncio.Semaphore(4)

    async def check(task: CodeTask) -> tuple[str, list[str]]:
        async with limit, sandbox.session() as session:
            tests = task.visible_tests + task.hidden_tests
            reports = await run_tests(session, task, task.solution, tests, settings, details=True)
        return task.task_id, [f"{r.outcome}: {r.detail}" for r in reports if not r.passed]

    failures = dict(await asyncio.gather(*(check(task) for task in TASKS)))
    assert {task_id: problems for task_id, problems in failures.items() if problems} == {}


# --- actions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<run>print(1)</run>", Action("run", "print(1)")),
        (
            "thinking...\n<test>\n```python\ndef f():\n    return 1\n```\n</test>",
            Action("test", "def f():\n    return 1"),
        ),
        ("<test></test>", Action("test", None)),
        ("<SUBMIT>```py\nx = 1\n```</SUBMIT>", Action("submit", "x = 1")),
        (
            "<run>print(1)</run> then <submit>```python\ny = 2\n```",
            Action("submit", "y = 2"),
        ),  # the last tag, left open
        ("<submit>```python\nz = 3\n```</submit><run>print(2)</run>", Action("run", "print(2)")),
        ('<tool_call>{"name": "run", "arguments": {"code": "print(5)"}}</tool_call>', Action("run", "print(5)")),
        ('{"name": "submit", "arguments": {}}', Action("submit", None)),
        (
            '{"type": "function", "function": {"name": "test", "arguments": "{\\"code\\": \\"a = 1\\"}"}}',
            Action("test", "a = 1"),
        ),
    ],
)
def test_actions_parse(text, expected):
    assert parse_action(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I think the answer is 42.",
        "```python\ndef f():\n    pass\n```",
        "<run></run>",
        "<tool_call>{not json}</tool_call>",
        '<tool_call>{"name": "delete_everything", "arguments": {}}</tool_call>',
        '<tool_call>{"name": "run", "arguments": {"code": 5}}</tool_call>',
        '<tool_call>{"name": "run", "arguments": {"code": "x", "shell": true}}</tool_call>',
    ],
)
def test_malformed_actions_parse_to_errors(text):
    assert isinstance(parse_action(text), ActionError)


@needs_bwrap
@pytest.mark.parametrize(
    "text",
    [
        "",
        "just prose",
        "```python\nprint(1)\n```",
        "<run></run>",
        "<tool_call>{oops</tool_call>",
        "<test></test>",
        "<submit></submit>",
    ],
)
async def test_malformed_action_is_a_penalised_step_that_changes_nothing(text):
    env = code_env()
    try:
        first = await env.reset(seed=0)
        result = await env.step(text)
        assert result.info["invalid_action"] is True and result.reward == pytest.approx(-0.1)
        assert not result.terminated and not result.truncated
        assert result.observation.text.startswith("Invalid action:")
        assert result.observation.anchor == first.anchor and env.unwrapped.solution is None
        assert (await env.step(submit(env.unwrapped.task.solution))).info["success"] is True
    finally:
        await env.close()


@needs_bwrap
async def test_tool_calls_drive_a_whole_episode():
    env = code_env()
    try:
        observation = await env.reset(options={"task_id": "clamp"})
        assert [tool.function.name for tool in observation.tools] == ["run", "test", "submit"]
        call = {"name": "run", "arguments": {"code": "print(6 * 7)"}}
        result = await env.step(f"<tool_call>{json.dumps(call)}</tool_call>")
        assert "42" in result.observation.text and not result.invalid_action
        call = {
            "type": "function",
            "function": {"name": "test", "arguments": json.dumps({"code": CLAMP_MISSING_CHECK})},
        }
        result = await env.step(json.dumps(call))
        assert "Visible tests: 3 of 3 passed." in result.observation.text
        result = await env.step('<tool_call>{"name": "submit", "arguments": {}}</tool_call>')
        assert result.terminated and result.info["passed"] == 5 and result.info["total"] == 6
        assert result.observation.tools == ()
    finally:
        await env.close()


# --- the episode: feedback loop, reward, hidden tests ----------------------------------------


@needs_bwrap
async def test_visible_test_feedback_loop_then_submit_the_current_solution():
    env = code_env()
    try:
        observation = await env.reset(options={"task_id": "digit-sum"})
        assert observation.anchor == "code digit-sum tests=-"
        assert "assert digit_sum(1234) == 10" in observation.text and "Turns left: 8." in observation.text

        wrong = "def digit_sum(n):\n    print('debug', n)\n    return sum(int(d) for d in str(n))\n"
        result = await env.step(run_visible(wrong))
        text = result.observation.text
        assert "Visible tests: 1 of 2 passed." in text and "1. PASS" in text and "2. ERROR" in text
        assert "ValueError: invalid literal for int()" in text and 'File "solution.py", line 3' in text
        assert "printed: debug -75" in text and "Turns left: 7." in text
        assert result.observation.anchor == "code digit-sum tests=PF"
        assert result.info["visible_passed"] == 1 and result.info["visible_total"] == 2

        result = await env.step(run_visible("def digit_sum(n):\n    return 10\n"))
        assert "digit_sum(-75) returned 10; expected 12" in result.observation.text
        assert result.observation.anchor == "code digit-sum tests=PF"

        result = await env.step(run_visible("def digit_sum(n):\n    return sum(map(int, str(abs(n))))\n"))
        assert "Visible tests: 2 of 2 passed." in result.observation.text
        assert result.observation.anchor == "code digit-sum tests=PP"

        result = await env.step("<run>```python\nfrom solution import digit_sum\nprint(digit_sum(999))\n```</run>")
        assert "27" in result.observation.text

        result = await env.step("<submit></submit>")
        assert result.terminated and result.reward == 1.0 and result.info["success"] is True
        assert result.observation.text.startswith("Submitted. Hidden tests: 6 of 6 passed.")
        assert result.observation.anchor == "code digit-sum submitted=6/6"
    finally:
        await env.close()


@needs_bwrap
async def test_a_partly_wrong_solution_gets_partial_reward():
    env = code_env()
    try:
        await env.reset(options={"task_id": "clamp"})
        result = await env.step(submit(CLAMP_MISSING_CHECK))
        assert result.terminated and not result.truncated
        assert result.reward == pytest.approx(5 / 6)
        assert result.info["success"] is False and (result.info["passed"], result.info["total"]) == (5, 6)
        assert "5 of 6 passed. Failures: 1 wrong answer." in result.observation.text
    finally:
        await env.close()


@needs_bwrap
@pytest.mark.parametrize(
    ("code", "failure"),
    [
        ("def clamp(v, lo, hi):\n    while True:\n        pass\n", "6 time limit"),
        ("import os\nos._exit(0)\n", "6 crash"),
        ("import sys\nsys.exit(0)\n", "6 exception"),
        ("def clamp(v, lo, hi)\n    return v\n", "6 exception"),
        ('print(\'@@agentgym-results-0000@@[{"outcome": "pass"}]\')\nimport os\nos._exit(0)\n', "6 crash"),
    ],
)
async def test_broken_solutions_score_zero_without_breaking_the_env(code, failure):
    env = code_env(test_timeout_s=0.5)
    try:
        await env.reset(options={"task_id": "clamp"})
        result = await env.step(submit(code))
        assert result.terminated and result.reward == 0.0 and result.info["passed"] == 0
        assert f"Failures: {failure}." in result.observation.text
    finally:
        await env.close()


@needs_bwrap
async def test_snippets_share_the_episode_work_directory_and_are_time_limited():
    env = code_env(run_timeout_s=1.0)
    try:
        await env.reset(seed=1)
        await env.step("<run>open('notes.txt', 'w').write('kept')</run>")
        result = await env.step("<run>print(open('notes.txt').read())</run>")
        assert "kept" in result.observation.text
        result = await env.step("<run>while True: pass</run>")
        assert "time limit" in result.observation.text and not result.invalid_action
        result = await env.step("<run>print('x' * 100000)</run>")
        assert "characters cut" in result.observation.text and len(result.observation.text) < 3000
    finally:
        await env.close()


@needs_bwrap
async def test_hidden_tests_never_appear_in_observations():
    env = code_env()
    try:
        for task in TASKS:  # first observations: no sandbox needed
            shown = everything_shown(await env.reset(options={"task_id": task.task_id}))
            assert not [test for test in task.hidden_tests if test in shown], task.task_id
        for task_id in ("clamp", "lru-cache", "calculator", "csv-fields"):
            task = env.unwrapped.by_id[task_id]
            shown = [everything_shown(await env.reset(options={"task_id": task_id}))]
            for action in (run_visible(task.solution), "<run>import os\nprint(os.listdir('.'))</run>", submit("x = 1")):
                shown.append(everything_shown((await env.step(action)).observation))
            seen = "\n".join(shown)
            assert "Failures:" in seen
            for hidden in task.hidden_tests:
                assert hidden not in seen
    finally:
        await env.close()


# --- registration, determinism, time limit, fork ---------------------------------------------


def test_ids_are_registered_with_tools_and_fork():
    for env_id in ("code-v0", "code-easy-v0", "code-medium-v0", "code-hard-v0", "code-jsonl-v0"):
        spec = agentgym.spec(env_id)
        assert spec.max_turns == 8 and spec.capabilities.tools and spec.capabilities.fork
    for difficulty in ("easy", "medium", "hard"):
        env = agentgym.make(f"code-{difficulty}-v0")
        assert {task.difficulty for task in env.unwrapped.tasks} == {difficulty}
    assert len(agentgym.make("code-v0").unwrapped.tasks) == len(TASKS)
    with pytest.raises(ValueError, match="needs the task file"):
        agentgym.make("code-jsonl-v0")


async def test_task_choice_is_deterministic_per_seed():
    env = agentgym.make("code-v0")
    chosen = []
    for seed in list(range(20)) * 2:
        chosen.append((await env.reset(seed=seed)).text)
    assert chosen[:20] == chosen[20:]
    assert len(set(chosen[:20])) >= 12
    await env.close()


@needs_bwrap
async def test_same_seed_and_actions_replay_identically():
    actions = [
        "<run>print(sum(range(10)))</run>",
        "nonsense",
        run_visible("def f():\n    return 1\n"),
        "<submit></submit>",
    ]

    async def episode() -> list:
        env = code_env()
        try:
            steps = [(await env.reset(seed=11)).model_dump()]
            for action in actions:
                result = await env.step(action)
                steps.append((result.observation.model_dump(), result.reward, result.terminated, result.info))
            return steps
        finally:
            await env.close()

    assert await episode() == await episode()


@needs_bwrap
async def test_the_turn_limit_truncates():
    env = code_env(max_turns=2)
    try:
        await env.reset(seed=2)
        first = await env.step("<run>print(1)</run>")
        assert "Turns left: 1. Submit now" in first.observation.text and not first.done
        last = await env.step("<run>print(2)</run>")
        assert last.truncated and not last.terminated and last.info["success"] is False
    finally:
        await env.close()


@needs_bwrap
async def test_fork_copies_the_work_directory_and_diverges():
    env = code_env()
    try:
        await env.reset(options={"task_id": "clamp"})
        await env.step("<run>open('data.txt', 'w').write('parent')</run>")
        await env.step(run_visible(CLAMP_MISSING_CHECK))
        clone = await env.fork()
        try:
            result = await clone.step("<run>print(open('data.txt').read())\nopen('data.txt', 'w').write('child')</run>")
            assert "parent" in result.observation.text
            assert (await env.step("<run>print(open('data.txt').read())</run>")).observation.text.count("parent") == 1
            assert (await clone.step("<submit></submit>")).reward == pytest.approx(5 / 6)
            assert (await env.step(submit(env.unwrapped.task.solution))).reward == 1.0
        finally:
            await clone.close()
    finally:
        await env.close()


# --- expert and baseline ---------------------------------------------------------------------


@needs_bwrap
async def test_expert_solves_every_task_and_the_stub_baseline_none():
    async def play(agent_factory, index: int):
        env = code_env()
        try:
            return await play_episode(env, agent_factory(), options={"task_index": index})
        finally:
            await env.close()

    limit = asyncio.Semaphore(8)

    async def bounded(agent_factory, index):
        async with limit:
            return await play(agent_factory, index)

    expert = await asyncio.gather(*(bounded(ReferenceSolver, i) for i in range(len(TASKS))))
    stub = await asyncio.gather(*(bounded(StubAgent, i) for i in range(len(TASKS))))
    assert all(report.success and report.total_reward == 1.0 and report.turns == 2 for report in expert)
    assert not any(report.success for report in stub)
    assert sum(report.total_reward for report in stub) / len(stub) < 0.1


@needs_bwrap
async def test_expert_through_a_served_environment(run_agent):
    report = await run_agent("code-v0", lambda seed: ReferenceSolver(), range(6), remote=True, sandbox="bwrap")
    assert report.success_rate == 1.0


# --- JSONL loaders ---------------------------------------------------------------------------

HUMANEVAL_RECORDS = [
    {
        "task_id": "Mini/0",
        "prompt": 'def triple(x: int) -> int:\n    """Three times x.\n    >>> triple(2)\n    6\n    >>> triple(-1)\n    -3\n    """\n',
        "canonical_solution": "    return 3 * x\n",
        "test": "METADATA = {'author': 'tests'}\n\n\ndef check(candidate):\n    assert candidate(0) == 0\n"
        "    assert candidate(5) == 15\n    assert True\n    assert candidate(-4) == -12\n",
        "entry_point": "triple",
    },
    {
        "task_id": "Mini/1",
        "prompt": 'def evens(n: int) -> list:\n    """The even numbers below n, ascending."""\n',
        "canonical_solution": "    return list(range(0, n, 2))\n",
        "test": "def check(candidate):\n    for n in range(6):\n        assert candidate(n) == [k for k in range(n) if k % 2 == 0]\n",
        "entry_point": "evens",
    },
]

MBPP_RECORDS = [
    {
        "task_id": 901,
        "text": "Write a function that returns the longest word of a sentence (the first one on ties).",
        "code": "def longest_word(sentence):\n    return max(sentence.split(), key=len)\n",
        "test_list": [
            "assert longest_word('a bb ccc') == 'ccc'",
            "assert longest_word('tie tie') == 'tie'",
            "assert longest_word('one three five') == 'three'",
        ],
        "test_setup_code": "",
        "challenge_test_list": ["assert longest_word('xx yy z') == 'xx'"],
    },
    {
        "task_id": 902,
        "text": "Write a function that scales every value of a list by FACTOR.",
        "code": "def scale_all(values):\n    return [v * FACTOR for v in values]\n\nFACTOR = 3\n",
        "test_list": ["assert scale_all([1, 2]) == [3, 6]", "assert len(scale_all(SAMPLE)) == 4"],
        "test_setup_code": "SAMPLE = [1, 2, 3, 4]",
        "challenge_test_list": [],
    },
]


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return str(path)


def test_humaneval_loader_splits_check_and_reads_doctests(tmp_path):
    first, second = load_jsonl_tasks(write_jsonl(tmp_path / "he.jsonl", HUMANEVAL_RECORDS), "humaneval")
    assert first.task_id == "Mini/0" and first.entry_point == "triple"
    assert first.visible_tests == ("assert triple(2) == 6", "assert triple(-1) == -3")
    assert first.hidden_tests == (
        "assert candidate(0) == 0",
        "assert candidate(5) == 15",
        "assert candidate(-4) == -12",
    )
    assert first.solution == HUMANEVAL_RECORDS[0]["prompt"] + "    return 3 * x\n"
    assert first.setup.strip() == "METADATA = {'author': 'tests'}"  # check, which holds the hidden tests, is cut
    assert second.visible_tests == () and second.setup == ""
    assert second.hidden_tests == (HUMANEVAL_RECORDS[1]["test"] + "\n\ncheck(candidate)\n",)


def test_mbpp_loader_finds_the_entry_point_and_hides_the_rest(tmp_path):
    first, second = load_jsonl_tasks(write_jsonl(tmp_path / "mbpp.jsonl", MBPP_RECORDS))  # format detected
    assert first.task_id == "901" and first.entry_point == "longest_word"
    assert first.visible_tests == ("assert longest_word('a bb ccc') == 'ccc'",)
    assert len(first.hidden_tests) == 3 and "assert longest_word('xx yy z') == 'xx'" in first.hidden_tests
    assert "longest_word" in first.prompt and "a bb ccc" in first.prompt and "three" not in first.prompt
    assert second.entry_point == "scale_all" and second.setup == "SAMPLE = [1, 2, 3, 4]"
    assert load_jsonl_tasks(tmp_path / "mbpp.jsonl", "mbpp", visible=2)[1].hidden_tests == tuple(
        MBPP_RECORDS[1]["test_list"]
    )


@needs_bwrap
@pytest.mark.parametrize(("records", "format"), [(HUMANEVAL_RECORDS, "humaneval"), (MBPP_RECORDS, "mbpp")])
async def test_jsonl_env_plays_through_make(tmp_path, records, format):
    path = write_jsonl(tmp_path / "tasks.jsonl", records)
    tasks = load_jsonl_tasks(path, format)
    for index in range(len(records)):
        env = agentgym.make("code-jsonl-v0", path=path, format=format, sandbox="bwrap")
        try:
            report = await play_episode(env, ReferenceSolver(tasks), options={"task_index": index})
            assert report.success and report.total_reward == 1.0
            await env.reset(options={"task_index": index})
            result = await env.step(submit(f"def {tasks[index].entry_point}(*args):\n    return None\n"))
            assert result.reward < 1.0 and result.info["success"] is False
        finally:
            await env.close()


@pytest.mark.parametrize(
    ("lines", "format", "line", "field"),
    [
        ([{"task_id": "a", "prompt": "def f(): ...", "test": "def check(c): pass"}], "humaneval", 1, "entry_point"),
        (
            [HUMANEVAL_RECORDS[0], {k: v for k, v in HUMANEVAL_RECORDS[1].items() if k != "test"}],
            "humaneval",
            2,
            "test",
        ),
        ([{**HUMANEVAL_RECORDS[0], "test": "def check(:"}], "humaneval", 1, "test"),
        ([{**HUMANEVAL_RECORDS[0], "entry_point": "not a name"}], "humaneval", 1, "entry_point"),
        ([MBPP_RECORDS[0], {"task_id": 3, "text": "t", "code": "x = 1"}], "mbpp", 2, "test_list"),
        ([{**MBPP_RECORDS[0], "test_list": []}], "mbpp", 1, "test_list"),
        ([{**MBPP_RECORDS[0], "test_list": "assert f(1) == 1"}], "mbpp", 1, "test_list"),
        ([{**MBPP_RECORDS[0], "code": 7}], "mbpp", 1, "code"),
        ([MBPP_RECORDS[0], MBPP_RECORDS[0]], "mbpp", None, "task_id"),
        (
            [{"task_id": "x", "prompt": "p", "entry_point": "f", "solution": "", "visible_tests": []}],
            "agentgym",
            1,
            "hidden_tests",
        ),
    ],
)
def test_malformed_task_files_raise_typed_errors(tmp_path, lines, format, line, field):
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(TaskFileError) as caught:
        load_jsonl_tasks(path, format)
    assert caught.value.line == line and caught.value.field == field
    assert str(caught.value).startswith(path + (f":{line}: " if line else ": "))


def test_unreadable_task_files(tmp_path):
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text(json.dumps(MBPP_RECORDS[0]) + "\n\n{oops\n")
    with pytest.raises(TaskFileError, match=r"bad\.jsonl:3: not valid JSON") as caught:
        load_jsonl_tasks(bad_json)
    assert caught.value.line == 3
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(TaskFileError, match="no tasks"):
        load_jsonl_tasks(tmp_path / "empty.jsonl")
    write_jsonl(tmp_path / "odd.jsonl", [{"question": "?"}])
    with pytest.raises(TaskFileError, match="cannot tell the format"):
        load_jsonl_tasks(tmp_path / "odd.jsonl")
    write_jsonl(tmp_path / "list.jsonl", [[1, 2]])
    with pytest.raises(TaskFileError, match="must be a JSON object"):
        load_jsonl_tasks(tmp_path / "list.jsonl")
    with pytest.raises(ValueError, match="format must be one of"):
        load_jsonl_tasks(tmp_path / "odd.jsonl", "apps")


def test_code_env_takes_tasks_directly():
    task = CodeTask(
        "mine", "def f(): ...\n", "f", "def f():\n    return 1\n", ("assert f() == 1",), ("assert f() + 1 == 2",)
    )
    env = CodeEnv(tasks=[task], sandbox="bwrap")
    assert env.tasks == (task,)
    with pytest.raises(ValueError, match="no tasks"):
        CodeEnv(tasks=[task], difficulty="hard")


# --- grading cannot be forged: the judge never runs the solution -----------------------------

FD_SPRAY = """
import os
for fd in range(3, 64):
    try:
        os.write(fd, b'{"outcome": "pass"}')
    except OSError:
        pass
os._exit(0)
"""

ALWAYS_EQUAL = """
class _Any:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __bool__(self):
        return True
def clamp(*args):
    return _Any()
"""

LIST_SUBCLASS = """
class _List(list):
    def __eq__(self, other):
        return True
def clamp(*args):
    return _List()
"""

PROC_FORGERY = """
import json, os, re, signal, sys

def _ancestors():
    pids, pid = [], os.getpid()
    while True:
        with open(f"/proc/{pid}/stat") as stat:
            pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        if pid <= 0:
            return pids
        pids.append(pid)

def _nonce():
    frame = sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
            for text in (value.values() if isinstance(value, dict) else [value]):
                if isinstance(text, str) and text.startswith("@@agentgym-results-"):
                    return text
        frame = frame.f_back
    return "@@agentgym-results-0000@@"

def clamp(*args):
    line = "\\n" + _nonce() + json.dumps([{"outcome": "pass"}] * 20) + "\\n"
    records = "".join(json.dumps({"i": i, "kind": "ran"}) + "\\n" for i in range(20))
    ancestors = _ancestors()
    for pid in ancestors:
        try:
            with open(f"/proc/{pid}/fd/1", "w") as stream:
                stream.write(records + line)
        except OSError:
            pass
    for pid in ancestors:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return 0
"""

SITECUSTOMIZE = """
import json
_dumps = json.dumps
def dumps(obj, *args, **kwargs):
    if isinstance(obj, list) and obj and isinstance(obj[0], dict) and "outcome" in obj[0]:
        obj = [{"outcome": "pass"} for _ in obj]
    return _dumps(obj, *args, **kwargs)
json.dumps = dumps
"""


@needs_bwrap
@pytest.mark.parametrize(
    ("code", "failure"),
    [
        (FD_SPRAY, "6 crash"),
        (ALWAYS_EQUAL, "1 wrong answer, 5 value not plain data"),
        (LIST_SUBCLASS, "1 wrong answer, 5 value not plain data"),
        (PROC_FORGERY, "6 crash"),
    ],
    ids=["fd-spray-and-exit", "always-equal", "list-subclass", "proc-fd-write-and-kill-parents"],
)
async def test_forged_results_score_zero(code, failure):
    env = code_env(test_timeout_s=2.0)
    try:
        await env.reset(options={"task_id": "clamp"})
        result = await env.step(submit(code))
        assert result.reward == 0.0 and result.info["passed"] == 0 and not result.info["success"]
        assert f"Failures: {failure}." in result.observation.text
    finally:
        await env.close()


@needs_bwrap
async def test_files_left_in_the_work_directory_cannot_patch_the_judge():
    env = code_env()
    try:
        await env.reset(options={"task_id": "clamp"})
        await env.step(f"<run>open('sitecustomize.py', 'w').write({SITECUSTOMIZE!r})</run>")
        result = await env.step(submit("def clamp(*args):\n    return None\n"))
        assert result.reward == 0.0 and result.info["passed"] == 0
    finally:
        await env.close()


TOKEN = "tok-9f8e7d6c5b4a39281706"
SECRET_TASK = CodeTask(
    "secret",
    "def lookup(x): ...\n",
    "lookup",
    f"def lookup(x):\n    return 'shown' if x == 5 else {TOKEN!r}\n",
    ("assert lookup(5) == 'shown'",),
    tuple(f"assert lookup({x}) == {TOKEN!r}" for x in range(3)),
)

MEMORY_SEARCH = """
import gc, os, re, sys
PREFIX = "tok" + "-"
PATTERN = re.compile(PREFIX.encode() + rb"[0-9a-f]{20}")

def _strings(value, depth=0):
    if isinstance(value, str):
        yield value
    elif depth < 6 and isinstance(value, dict):
        for item in list(value.values()) + list(value.keys()):
            yield from _strings(item, depth + 1)
    elif depth < 6 and isinstance(value, (list, tuple, set, frozenset)):
        for item in list(value):
            yield from _strings(item, depth + 1)

def _in_memory(pid):
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
            for line in maps:
                span, perms = line.split()[:2]
                if not perms.startswith("r"):
                    continue
                start, end = (int(part, 16) for part in span.split("-"))
                if end - start > 1 << 28:
                    continue
                try:
                    mem.seek(start)
                    found = PATTERN.search(mem.read(end - start))
                except (OSError, OverflowError, ValueError):
                    continue
                if found:
                    return found.group().decode()
    except OSError:
        return None

def lookup(x):
    frame = sys._getframe()
    while frame is not None:
        for text in _strings(dict(frame.f_locals)) if frame.f_locals is not frame.f_globals else ():
            match = PATTERN.search(text.encode("utf-8", "replace"))
            if match:
                return match.group().decode()
        frame = frame.f_back
    for obj in gc.get_objects():
        for text in _strings(obj):
            match = PATTERN.search(text.encode("utf-8", "replace"))
            if match:
                return match.group().decode()
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            found = _in_memory(int(name))
            if found:
                return found
    return "shown" if x == 5 else None
"""

PROC_PROBE = """
import os

def lookup(x):
    chain, pid = [], os.getpid()
    while True:
        with open(f"/proc/{pid}/stat") as stat:
            pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        if pid <= 0:
            return chain
        reachable = []
        for path, mode in ((f"/proc/{pid}/fd/1", "wb"), (f"/proc/{pid}/mem", "rb"), (f"/proc/{pid}/environ", "rb")):
            try:
                open(path, mode).close()
                reachable.append(path.rsplit("/", 1)[1])
            except OSError:
                pass
        chain.append(reachable)
"""


@needs_bwrap
async def test_the_solution_cannot_find_expected_values_in_any_process():
    env = CodeEnv(tasks=[SECRET_TASK], sandbox="bwrap", test_timeout_s=5.0)
    try:
        await env.reset()
        result = await env.step(run_visible(MEMORY_SEARCH))
        assert "Visible tests: 1 of 1 passed." in result.observation.text  # the search runs and finds nothing
        result = await env.step(run_visible(PROC_PROBE))
        chain = ast.literal_eval(result.observation.text.split("returned ", 1)[1].split("; expected", 1)[0])
        # worker -> the solution's process (reachable: it holds only the calls) -> the judge
        # (nothing reachable) -> bubblewrap's init (its memory holds nothing of the run; no fd 1)
        assert len(chain) >= 2 and chain[0] and chain[1] == [], chain
        assert not any("1" in reachable for reachable in chain[2:]), chain
        await env.reset()
        result = await env.step(submit(MEMORY_SEARCH))
        assert result.reward == 0.0 and TOKEN not in everything_shown(result.observation)
    finally:
        await env.close()


HUMANEVAL_LEAK = """
import sys
def triple(x):
    frame = sys._getframe()
    while frame is not None and "request" not in frame.f_locals:
        frame = frame.f_back
    if frame is not None:
        raise ValueError(repr(frame.f_locals["request"]))
    raise ValueError(repr([f.f_globals.get("__builtins__") and dict(f.f_globals) for f in [sys._getframe()]]))
"""


@needs_bwrap
@pytest.mark.parametrize("index", [0, 1], ids=["asserts-extracted", "whole-check"])
async def test_humaneval_hidden_tests_do_not_reach_visible_runs(tmp_path, index):
    path = write_jsonl(tmp_path / "he.jsonl", HUMANEVAL_RECORDS)
    task = load_jsonl_tasks(path, "humaneval")[index]
    assert "def check" not in task.setup and "candidate(5)" not in task.setup
    env = agentgym.make("code-jsonl-v0", path=path, sandbox="bwrap")
    try:
        await env.reset(options={"task_index": 0})
        result = await env.step(run_visible(HUMANEVAL_LEAK))
        shown = everything_shown(result.observation)
        assert "ValueError" in shown and "METADATA" in shown  # the setup, without check, reached the solution
        for secret in ("candidate(5)", "15", "candidate(-4)", "-12", "def check", "for n in range"):
            assert secret not in shown
    finally:
        await env.close()


def test_shipped_tests_are_all_verifiable_and_unverified_ones_are_counted(tmp_path):
    assert [t for task in TASKS for t in unverified(task.visible_tests + task.hidden_tests)] == []
    env = agentgym.make("code-jsonl-v0", path=write_jsonl(tmp_path / "he.jsonl", HUMANEVAL_RECORDS))
    assert env.unwrapped.unverified_tasks == ("Mini/1",)
    assert parse_check("assert f(1) == [1, (2, 3)]") == Check("f(1)", "eq", "[1, (2, 3)]")
    assert parse_check("assert g(x) is None").kind == "is" and parse_check("assert not h(2)").kind == "falsy"
    assert parse_check("assert abs(m(1) - 0.5) < 1e-06") == Check("m(1)", "close", "0.5", 1e-06)
    assert parse_check("try:\n    f(0)\nexcept KeyError:\n    pass\nelse:\n    raise AssertionError()").kind == "raises"
    for test in ("assert f(1) == g(2)", "assert f(1) is 1", "x = f()\nassert x == 1", "assert f(1) > 2"):
        assert parse_check(test) is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -(10**30),
        1.5,
        float("inf"),
        "é",
        [1, [2]],
        (1, (2,)),
        {1: "a", (2, 3): [None]},
        {1, 2},
        frozenset({3}),
    ],
)
def test_plain_values_round_trip_exactly(value):
    data = json.loads(json.dumps(sandbox_runner.encode(value)))
    decoded = sandbox_runner.decode(data)
    assert decoded == value and type(decoded) is type(value)


@pytest.mark.parametrize("value", [object(), type("L", (list,), {})(), {"a": print}, [1, {2: range(3)}], 1j])
def test_anything_but_plain_data_is_unencodable(value):
    with pytest.raises(sandbox_runner.Unencodable):
        sandbox_runner.encode(value)


@needs_bwrap
@pytest.mark.parametrize(
    ("snippet", "reason"),
    [
        ("open('locked', 'w').write('x')\nimport os\nos.chmod('locked', 0)", "Permission"),
        ("for name in 'ab':\n    open(name, 'wb').write(bytes(10 << 20))", "killed|error"),
    ],
    ids=["unreadable-file", "over-the-file-size-limit"],
)
async def test_a_fork_that_cannot_copy_the_work_directory_raises(snippet, reason):
    env = code_env()
    try:
        await env.reset(options={"task_id": "clamp"})
        await env.step(f"<run>{snippet}</run>")
        with pytest.raises(NotForkable, match=f"could not copy the work directory.*({reason})"):
            await env.fork()
    finally:
        await env.close()
