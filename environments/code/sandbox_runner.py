"""The program the code environment runs inside the sandbox (stdlib only, Python 3.9+).

It is sent as the sandbox's program source, never imported by agentgym, and reads one JSON
request from stdin:

- `{"mode": "run", "code": SRC}`: runs SRC as a script named `snippet.py` with `/work` on
  `sys.path` (so `import solution` loads the current solution); its output is the run's own.
  An uncaught exception prints a traceback trimmed to the snippet's and the solution's frames
  and exits with code 1.
- `{"mode": "tests", "nonce": N, "solution": SRC, "setup": SRC, "entry_point": NAME,
  "tests": [CHECK, ...], "float_tolerance": X, "timeout_s": T, "details": BOOL}`: the judge.
  A CHECK is `{"call": EXPR, "kind": K, "expected": LITERAL, "tolerance": X}` (see `checks.py`)
  or `{"script": SRC}` (an unverified test, run whole). It prints, as its last line, N followed
  by a JSON list with one object per test: `{"outcome": "pass"|"fail"|"error"|"timeout"|
  "crash"|"unencodable", "detail": TEXT, "output": TEXT}` (`detail` and `output` only when
  `details` is true).
- `{"mode": "calls", ...}`: the solution's process, started by the judge (below).

The judge never runs the solution's code and cannot be reached by it. It makes itself
non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`: no ptrace, no /proc/<pid>/fd, mem or environ for
other processes of the uid) and starts a fresh interpreter (this file in `calls` mode, not a
fork of the judge, so its memory never held an expected value or the nonce) with only its own
stdin and stdout pipes. It sends it the solution, the setup and the expressions, never the
expected values. That process runs each test in a forked worker (killed after `timeout_s`):
the worker executes the solution as module `solution.py`, then `setup` in a copy of its
namespace, binds `candidate` to the entry point, evaluates the expression and returns its value
through a strict encoder (exact int, float, str, bool, None, list, tuple, dict, set, frozenset,
recursively; anything else is `unencodable`) as one JSON line. The judge decodes the plain data
and compares it with the expected value itself, so a value that claims to equal anything, a
forged report line, or a process that exits or dies cannot pass a test: a test passes only
when the judge saw the right value (or, for `raises`, the right built-in exception).
"""

import os
import sys

# Nothing of the work directory (PYTHONPATH, the current directory) may shadow the modules this
# program imports; the solution's workers put /work back on the path for the solution.
_SHADOWING = {entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry}
sys.path[:] = [entry for entry in sys.path if entry and entry not in _SHADOWING and entry != os.getcwd()]

import ast  # noqa: E402 - after the path is cleaned
import builtins  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import linecache  # noqa: E402
import math  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

WORK_DIR = "/work"
USER_FILES = ("solution.py", "snippet.py", "test")
"""Files whose frames tracebacks show (never setup.py)."""
DETAIL_CHARS = 1500
OUTPUT_CHARS = 800
VALUE_CHARS = 300
STARTUP_S = 5.0
"""Time the judge allows the solution's process to start, on top of each test's own."""
GRACE_S = 0.5
MAX_RECORD_BYTES = 4 << 20
MAX_TOTAL_BYTES = 32 << 20
MAX_DEPTH = 100
PR_SET_DUMPABLE, PR_GET_DUMPABLE = 4, 3
PLAIN = (int, float, str, bool, type(None), list, tuple, dict, set, frozenset)


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


# --- snippets --------------------------------------------------------------------------------


def _run_snippet(code):
    sys.path.insert(0, WORK_DIR)
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


# --- plain data: the only thing the solution's process can hand the judge ---------------------


class Unencodable(Exception):
    pass


def encode(value, depth=0):
    """`value` as JSON-ready data if it is plain (exact built-in types, recursively, no
    subclasses), else Unencodable. Lists are arrays; tuples, sets, frozensets and dicts are
    `{"t"|"s"|"f": [...]}` and `{"d": [[key, value], ...]}`."""
    kind = type(value)
    if depth > MAX_DEPTH:
        raise Unencodable("nested too deeply")
    if kind is bool or kind is str or value is None:
        return value
    if kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"x": repr(value)}
    if kind is list:
        return [encode(item, depth + 1) for item in value]
    if kind is tuple:
        return {"t": [encode(item, depth + 1) for item in value]}
    if kind is set or kind is frozenset:
        return {"s" if kind is set else "f": [encode(item, depth + 1) for item in value]}
    if kind is dict:
        return {"d": [[encode(key, depth + 1), encode(item, depth + 1)] for key, item in value.items()]}
    raise Unencodable(f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__name__)


def decode(data, depth=0):
    """The value `encode` encoded; ValueError for anything it cannot have produced."""
    if depth > MAX_DEPTH + 1:
        raise ValueError("nested too deeply")
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        return [decode(item, depth + 1) for item in data]
    if kind is dict and len(data) == 1:
        ((tag, items),) = data.items()
        if tag == "x" and items in ("nan", "inf", "-inf"):
            return float(items)
        if tag == "d" and type(items) is list:
            pairs = [(decode(pair[0], depth + 1), decode(pair[1], depth + 1)) for pair in items if _is_pair(pair)]
            if len(pairs) != len(items):
                raise ValueError("malformed dict")
            return dict(pairs)
        if tag in ("t", "s", "f") and type(items) is list:
            values = [decode(item, depth + 1) for item in items]
            return {"t": tuple, "s": set, "f": frozenset}[tag](values)
    raise ValueError("not an encoded value")


def _is_pair(pair):
    return type(pair) is list and len(pair) == 2


# --- the solution's process (mode "calls") ---------------------------------------------------


def _builtin_exception(kind):
    """The name of the first built-in exception class among `kind`'s bases."""
    for base in getattr(kind, "__mro__", ()):
        if getattr(base, "__module__", None) == "builtins" and isinstance(base, type):
            return base.__name__
    return "BaseException"


def _work(request, item):
    """Run one test in this (worker) process; returns its record."""
    sys.path.insert(0, WORK_DIR)
    namespace = {"__name__": "solution", "__file__": "/work/solution.py"}
    source = item.get("script", item.get("call", ""))
    _remember("solution.py", request["solution"])
    if request.get("details"):
        _remember("test", source)
    exec(compile(request["solution"], "solution.py", "exec"), namespace)
    scope = dict(namespace)
    if request.get("setup"):
        exec(compile(request["setup"], "setup.py", "exec"), scope)
    entry_point = request.get("entry_point")
    if entry_point:
        if not callable(scope.get(entry_point)):
            raise NameError(f"solution.py does not define a function {entry_point!r}")
        scope["candidate"] = scope[entry_point]
    if "script" in item:
        exec(compile(source, "test", "exec"), scope)
        return {"kind": "ran"}
    value = eval(compile(source, "test", "eval"), scope)
    try:
        data = encode(value)
    except (Unencodable, RecursionError) as problem:
        return {"kind": "unencodable", "type": str(problem)}
    return {"kind": "value", "value": data}


def _worker(request, item, channel):
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    captured = io.StringIO()
    sys.stdout = sys.stderr = captured
    sys.setrecursionlimit(3000)
    try:
        record = _work(request, item)
    except BaseException as error:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are failures too
        record = {"kind": "raised", "exception": _builtin_exception(type(error))}
        if request.get("details"):
            record["detail"] = _short(_user_traceback(error), DETAIL_CHARS)
    if request.get("details"):
        record["output"] = _short(captured.getvalue(), OUTPUT_CHARS)
    try:
        data = json.dumps(record).encode()
    except (ValueError, RecursionError):
        data = json.dumps({"kind": "unencodable", "type": "a value JSON cannot hold"}).encode()
    if len(data) > MAX_RECORD_BYTES:
        data = json.dumps({"kind": "unencodable", "type": "a value too large to send"}).encode()
    with os.fdopen(channel, "wb") as pipe:
        pipe.write(data)
    os._exit(0)


def _run_worker(request, item):
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:  # the worker never returns
        os.close(read_end)
        try:
            _worker(request, item, write_end)
        finally:
            os._exit(70)
    os.close(write_end)
    timeout = float(request.get("timeout_s", 5.0))
    deadline = time.monotonic() + timeout
    chunks, size, timed_out = [], 0, False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_end], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(read_end, 1 << 16)
        if not chunk or size > MAX_RECORD_BYTES:
            break
        chunks.append(chunk)
        size += len(chunk)
    os.close(read_end)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    if timed_out:
        return {"kind": "timeout"}
    try:
        record = json.loads(b"".join(chunks))
    except ValueError:
        record = None
    return record if isinstance(record, dict) else {"kind": "crash"}


def _run_calls(request):
    for index, item in enumerate(request["items"]):
        record = _run_worker(request, item)
        record["i"] = index
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


# --- the judge (mode "tests") ----------------------------------------------------------------


def _undumpable():
    """Make this process non-dumpable; True if it is now."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 and libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    except (ImportError, OSError, AttributeError):
        return False


def _collect(request, items):
    """Start the solution's process, send it `items`, and read one record per item (None for
    each it did not answer in time). The process and its workers are killed at the end."""
    count = len(items)
    timeout = float(request.get("timeout_s", 5.0))
    child_request = {
        "mode": "calls",
        "solution": request["solution"],
        "setup": request.get("setup", ""),
        "entry_point": request.get("entry_point"),
        "items": items,
        "timeout_s": timeout,
        "details": bool(request.get("details")),
    }
    records, timed_out = [None] * count, False
    process = subprocess.Popen(
        [sys.executable, "-u", os.path.abspath(__file__)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=True,
    )
    try:
        try:
            process.stdin.write(json.dumps(child_request).encode("utf-8"))
            process.stdin.close()
        except OSError:
            pass
        deadline = time.monotonic() + STARTUP_S + count * (timeout + GRACE_S)
        stream, buffer, total = process.stdout.fileno(), bytearray(), 0
        while any(record is None for record in records):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([stream], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(stream, 1 << 16)
            total += len(chunk)
            if not chunk or total > MAX_TOTAL_BYTES:
                break
            buffer += chunk
            while b"\n" in buffer:
                end = buffer.index(b"\n")
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                _accept(line, records)
            if len(buffer) > MAX_RECORD_BYTES + 1024:
                break
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
        process.wait()
    return records, timed_out


def _accept(line, records):
    """Keep `line`'s record if it is a JSON object answering a test not answered yet."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return
    index = record.get("i") if isinstance(record, dict) else None
    if type(index) is int and 0 <= index < len(records) and records[index] is None:
        records[index] = record


def _same(value, expected, tolerance):
    """`value == expected` on plain data, floats within `tolerance` (relative, or absolute
    near zero) when it is positive."""
    if tolerance <= 0:
        return value == expected
    if type(value) in (int, float) and type(expected) in (int, float) and float in (type(value), type(expected)):
        return math.isclose(value, expected, rel_tol=tolerance, abs_tol=tolerance)
    if type(value) is not type(expected):
        return value == expected
    if type(value) in (list, tuple):
        return len(value) == len(expected) and all(_same(a, b, tolerance) for a, b in zip(value, expected))  # noqa: B905 - Python 3.9
    if type(value) is dict:
        return value.keys() == expected.keys() and all(_same(value[key], expected[key], tolerance) for key in value)
    return value == expected


def _shown(value):
    return _short(repr(value), VALUE_CHARS)


def _verdict(check, expected, record, request):
    """The report of one test from the solution's record of it."""
    details = bool(request.get("details"))
    if record is None:
        return {"outcome": "crash", "detail": "the process running the tests ended without answering this test"}
    output = record.get("output", "") if details else ""
    report = _judge_record(check, expected, record, float(request.get("float_tolerance") or 0.0))
    report["output"] = output if isinstance(output, str) else ""
    if report["outcome"] in ("error", "fail") and details and not report.get("detail"):
        detail = record.get("detail", "")
        report["detail"] = detail if isinstance(detail, str) else ""
    return report


def _judge_record(check, expected, record, float_tolerance):
    kind = record.get("kind")
    if kind == "timeout":
        return {"outcome": "timeout", "detail": "the test did not finish in time"}
    if kind == "raised":
        name = record.get("exception")
        error = getattr(builtins, name, None) if isinstance(name, str) else None
        if not (isinstance(error, type) and issubclass(error, BaseException)):
            return {"outcome": "crash", "detail": "the test's process sent a malformed answer"}
        if "script" in check:
            return {"outcome": "fail" if error is AssertionError else "error"}
        if check["kind"] == "raises" and issubclass(error, getattr(builtins, check["expected"])):
            return {"outcome": "pass"}
        return {"outcome": "error"}
    if kind == "ran" and "script" in check:
        return {"outcome": "pass"}
    if kind == "unencodable" and "script" not in check:
        what = record.get("type") if isinstance(record.get("type"), str) else "an object"
        if check["kind"] == "raises":
            return {"outcome": "fail", "detail": f"{check['call']} returned; expected it to raise {check['expected']}"}
        return {
            "outcome": "unencodable",
            "detail": f"{check['call']} returned {_short(what, 200)}; tests compare only plain data (int, float, "
            "str, bool, None, and lists, tuples, dicts, sets and frozensets of them)",
        }
    if kind != "value" or "script" in check:
        return {"outcome": "crash", "detail": "the process running the test ended without a report (exit, crash)"}
    try:
        value = decode(record.get("value"))
    except (ValueError, TypeError, RecursionError, KeyError, IndexError):
        return {"outcome": "crash", "detail": "the test's process sent a malformed value"}
    call, test_kind = check["call"], check["kind"]
    if test_kind == "raises":
        return {"outcome": "fail", "detail": f"{call} returned {_shown(value)}; expected it to raise {expected}"}
    if test_kind == "eq":
        passed = _same(value, expected, float_tolerance)
    elif test_kind == "is":
        passed = value is expected
    elif test_kind == "close":
        tolerance = float(check.get("tolerance") or 0.0)
        passed = type(value) in (int, float) and abs(value - expected) <= tolerance
    elif test_kind in ("truthy", "falsy"):
        passed = bool(value) is (test_kind == "truthy")
        expected = "a true value" if test_kind == "truthy" else "a false value"
        return (
            {"outcome": "pass"}
            if passed
            else {"outcome": "fail", "detail": f"{call} returned {_shown(value)}; expected {expected}"}
        )
    else:
        return {"outcome": "crash", "detail": f"unknown kind of test {test_kind!r}"}
    if passed:
        return {"outcome": "pass"}
    return {"outcome": "fail", "detail": f"{call} returned {_shown(value)}; expected {_shown(expected)}"}


def _expected(check):
    kind = check.get("kind")
    if kind in ("eq", "is", "close"):
        return ast.literal_eval(check["expected"])
    return check.get("expected")


def _run_tests(request):
    checks = request["tests"]
    if not _undumpable():
        reports = [{"outcome": "crash", "detail": "the judge could not make itself non-dumpable"} for _ in checks]
    else:
        expected = [_expected(check) if "script" not in check else None for check in checks]
        items = [{"script": c["script"]} if "script" in c else {"call": c["call"]} for c in checks]
        records, timed_out = _collect(request, items) if checks else ([], False)
        answers = zip(checks, expected, records)  # noqa: B905 - Python 3.9 has no strict
        reports = [_verdict(check, value, record, request) for check, value, record in answers]
        unanswered = [report for report, record in zip(reports, records) if record is None]  # noqa: B905
        if timed_out and unanswered:
            unanswered[0].update(outcome="timeout", detail="the test did not finish in time")
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
    elif request["mode"] == "calls":
        _run_calls(request)
    else:
        _run_tests(request)


if __name__ == "__main__":
    main()
