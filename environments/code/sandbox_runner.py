"""The program the code environment runs inside the sandbox (stdlib only, Python 3.9+).

It is sent as the sandbox's program source, never imported by agentgym, and reads one JSON
request from stdin:

- `{"mode": "run", "code": SRC}`: runs SRC as a script named `snippet.py` with `/work` on
  `sys.path` (so `import solution` loads the current solution); its output is the run's own.
  An uncaught exception prints a traceback trimmed to the snippet's and the solution's frames
  and exits with code 1.
- `{"mode": "tests", "nonce": N, "solution": SRC, "setup": SRC, "entry_point": NAME,
  "tests": [SRC, ...], "timeout_s": T, "details": BOOL}`: runs every test against the
  solution and prints, as its last line, N followed by a JSON list with one object per test:
  `{"outcome": "pass"|"fail"|"error"|"timeout"|"crash", "detail": TEXT, "output": TEXT}`
  (`detail` and `output` only when `details` is true).

Each test runs in its own forked child (the parent never executes the solution): the child
executes the solution as module `solution.py`, then `setup` in a copy of its namespace, binds
`candidate` to the entry point, and runs the test source. A test that is one
`assert A == B` is evaluated in two halves, so a failure says what `A` returned. The child
cannot write to the run's stdout or stderr (they point at /dev/null; its `print` output is
captured), it reports through a pipe, and it is killed after `timeout_s` seconds. This keeps
tests independent and the report intact against accidents (a solution that prints, exits,
crashes, recurses or loops); it is not a defence against code written to forge the report,
which the sandbox around it contains.
"""

import ast
import io
import json
import linecache
import os
import select
import signal
import sys
import time
import traceback

USER_FILES = ("solution.py", "snippet.py", "test")
"""Files whose frames tracebacks show (never setup.py: a HumanEval setup holds hidden tests)."""
DETAIL_CHARS = 1500
OUTPUT_CHARS = 800


def _short(text, limit):
    return text if len(text) <= limit else text[: limit - 15] + " ...[truncated]"


def _user_traceback(error):
    """The traceback of `error` with only the frames of the user's and the test's code."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename in USER_FILES]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(error), error)
    return "".join(lines).rstrip()


def _remember(filename, source):
    """Let tracebacks quote `source`'s lines as `filename`."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def _run_snippet(code):
    sys.path.insert(0, "/work")
    _remember("snippet.py", code)
    namespace = {"__name__": "__main__", "__file__": "/work/snippet.py"}
    try:
        exec(compile(code, "snippet.py", "exec"), namespace)
    except SystemExit:
        raise
    except BaseException as error:  # noqa: BLE001 - every failure of the user's code is reported
        sys.stdout.flush()
        print(_user_traceback(error), file=sys.stderr)
        sys.exit(1)


def _equality_halves(test):
    """(left, right) expressions when `test` is a single `assert A == B`, else None."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    comparison = tree.body[0].test
    if not (isinstance(comparison, ast.Compare) and len(comparison.ops) == 1 and isinstance(comparison.ops[0], ast.Eq)):
        return None
    return comparison.left, comparison.comparators[0]


def _check(request, test):
    """Run one test in this (child) process; returns its report."""
    namespace = {"__name__": "solution", "__file__": "/work/solution.py"}
    _remember("solution.py", request["solution"])
    if request.get("details"):
        _remember("test", test)
    exec(compile(request["solution"], "solution.py", "exec"), namespace)
    scope = dict(namespace)
    if request.get("setup"):
        exec(compile(request["setup"], "setup.py", "exec"), scope)
    entry_point = request.get("entry_point")
    if entry_point:
        if not callable(scope.get(entry_point)):
            return {"outcome": "error", "detail": f"solution.py does not define a function {entry_point!r}"}
        scope["candidate"] = scope[entry_point]
    halves = _equality_halves(test)
    if halves is None:
        exec(compile(test, "test", "exec"), scope)
        return {"outcome": "pass"}
    left, right = (eval(compile(ast.Expression(side), "test", "eval"), scope) for side in halves)
    if left == right:
        return {"outcome": "pass"}
    detail = f"{ast.unparse(halves[0])} returned {_short(repr(left), 300)}; expected {_short(repr(right), 300)}"
    return {"outcome": "fail", "detail": detail}


def _child(request, test, channel):
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    captured = io.StringIO()
    sys.stdout = sys.stderr = captured
    sys.setrecursionlimit(3000)
    try:
        report = _check(request, test)
    except AssertionError as error:
        report = {"outcome": "fail", "detail": _user_traceback(error)}
    except BaseException as error:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are failures too
        report = {"outcome": "error", "detail": _user_traceback(error)}
    report["output"] = captured.getvalue()
    data = json.dumps(report, default=repr).encode()
    with os.fdopen(channel, "wb") as pipe:
        pipe.write(data)
    os._exit(0)


def _run_test(request, test):
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:  # the child never returns
        os.close(read_end)
        try:
            _child(request, test, write_end)
        finally:
            os._exit(70)
    os.close(write_end)
    deadline = time.monotonic() + float(request.get("timeout_s", 5.0))
    chunks, timed_out = [], False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_end], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    if timed_out:
        return {"outcome": "timeout", "detail": f"the test did not finish within {request.get('timeout_s', 5.0)} s"}
    try:
        report = json.loads(b"".join(chunks))
        if not isinstance(report, dict) or report.get("outcome") not in ("pass", "fail", "error"):
            raise ValueError("malformed report")
    except ValueError:
        return {"outcome": "crash", "detail": "the process running the test ended without a report (exit, crash)"}
    return report


def _run_tests(request):
    try:
        compile(request["solution"], "solution.py", "exec")
    except (SyntaxError, ValueError) as error:
        failure = {"outcome": "error", "detail": _user_traceback(error)}
        reports = [dict(failure) for _ in request["tests"]]
    else:
        reports = [_run_test(request, test) for test in request["tests"]]
    for report in reports:
        if request.get("details"):
            report["detail"] = _short(str(report.get("detail", "")), DETAIL_CHARS)
            report["output"] = _short(str(report.get("output", "")), OUTPUT_CHARS)
        else:
            report.pop("detail", None)
            report.pop("output", None)
    sys.stdout.write("\n" + request["nonce"] + json.dumps(reports) + "\n")
    sys.stdout.flush()


def main():
    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    if request["mode"] == "run":
        _run_snippet(request["code"])
    else:
        _run_tests(request)


if __name__ == "__main__":
    main()
