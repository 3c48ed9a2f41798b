"""Tests as checks the grader can verify without trusting the solution's process.

A test is Python source (`tasks.py`). Most tests have a form this module reads as a `Check`: an
expression to evaluate (`call`) and what its value must be, with the expected value a literal.
The in-sandbox judge (`sandbox_runner.py`) sends only the expressions to a fresh interpreter
that runs the solution, gets back plain data (int, float, str, bool, None and lists, tuples,
dicts, sets and frozensets of them) and compares it with the expected values itself, so the
solution's process never sees what it is compared with. The forms (`E` any expression):

- `assert E == LITERAL` (kind `eq`; floats compared exactly, or within the task's
  `float_tolerance`), `assert E is None|True|False` (kind `is`);
- `assert E` / `assert not E` with E a call (kinds `truthy` / `falsy`: `bool` of the value);
- `assert abs(E - NUMBER) < TOLERANCE` (or `<=`; kind `close`);
- `try: E` / `except NAME: pass` / `else: raise ...` with NAME a built-in exception (kind
  `raises`: E must raise NAME or a subclass of it).

Any other test is *unverified*: it runs whole in the solution's process, which reports whether
it raised, so a solution written to forge its result can pass it. The shipped tasks have none.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable
from dataclasses import dataclass

KINDS = ("eq", "is", "truthy", "falsy", "close", "raises")
SINGLETONS = (None, True, False)


@dataclass(frozen=True)
class Check:
    """A verifiable test: `call` (an expression's source), `kind` (one of KINDS) and `expected`
    (a literal's source for `eq`, `is` and `close`, an exception's name for `raises`)."""

    call: str
    kind: str
    expected: str = ""
    tolerance: float = 0.0

    def as_request(self) -> dict[str, object]:
        return {"call": self.call, "kind": self.kind, "expected": self.expected, "tolerance": self.tolerance}


def parse_check(test: str) -> Check | None:
    """The `Check` of `test`, or None when it has none of the verifiable forms."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return None
    if len(tree.body) != 1:
        return None
    node = tree.body[0]
    if isinstance(node, ast.Assert):
        return _assert_check(node.test)
    if isinstance(node, ast.Try):
        return _raises_check(node)
    return None


def is_verified(test: str) -> bool:
    return parse_check(test) is not None


def unverified(tests: Iterable[str]) -> list[str]:
    """The tests among `tests` that would run whole in the solution's process."""
    return [test for test in tests if parse_check(test) is None]


def _literal(node: ast.expr) -> str | None:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return ast.unparse(node)


def _number(node: ast.expr) -> float | None:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return float(value) if type(value) in (int, float) else None


def _assert_check(test: ast.expr) -> Check | None:
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, op, right = test.left, test.ops[0], test.comparators[0]
        if isinstance(op, ast.Eq):
            expected = _literal(right)
            return Check(ast.unparse(left), "eq", expected) if expected is not None else None
        if isinstance(op, ast.Is) and isinstance(right, ast.Constant) and any(right.value is v for v in SINGLETONS):
            return Check(ast.unparse(left), "is", repr(right.value))
        if isinstance(op, (ast.Lt, ast.LtE)):
            return _close_check(left, right)
        return None
    if isinstance(test, ast.Call):
        return Check(ast.unparse(test), "truthy")
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and isinstance(test.operand, ast.Call):
        return Check(ast.unparse(test.operand), "falsy")
    return None


def _close_check(left: ast.expr, right: ast.expr) -> Check | None:
    """`abs(E - NUMBER) < TOLERANCE`."""
    tolerance = _number(right)
    if not (
        tolerance is not None
        and tolerance > 0
        and isinstance(left, ast.Call)
        and isinstance(left.func, ast.Name)
        and left.func.id == "abs"
        and len(left.args) == 1
        and not left.keywords
        and isinstance(left.args[0], ast.BinOp)
        and isinstance(left.args[0].op, ast.Sub)
    ):
        return None
    difference = left.args[0]
    if _number(difference.right) is None:
        return None
    return Check(ast.unparse(difference.left), "close", ast.unparse(difference.right), tolerance)


def _raises_check(node: ast.Try) -> Check | None:
    """`try: E / except NAME: pass / else: raise ...` with NAME a built-in exception."""
    if len(node.body) != 1 or not isinstance(node.body[0], ast.Expr) or node.finalbody or len(node.handlers) != 1:
        return None
    handler = node.handlers[0]
    name = handler.type.id if isinstance(handler.type, ast.Name) else None
    error = getattr(builtins, name, None) if name else None
    if not (isinstance(error, type) and issubclass(error, BaseException)) or handler.name:
        return None
    if not all(isinstance(statement, ast.Pass) for statement in handler.body):
        return None
    if len(node.orelse) != 1 or not isinstance(node.orelse[0], ast.Raise):
        return None
    return Check(ast.unparse(node.body[0].value), "raises", name)
