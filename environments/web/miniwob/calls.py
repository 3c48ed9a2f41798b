"""Function-call actions for the browser environments: `click(12)`, `fill(3, "text")`, ...

Grammar (`parse_call`): the model's text may be

- a JSON tool call, by `agentgym.actions.parse_tool_call` (`<tool_call>{"name": "click",
  "arguments": {"id": 12}}</tool_call>`, the bare JSON object, or OpenAI's function form); or
- a call written as code, `name(arg, ...)`, anywhere in the text (inside `<answer>...</answer>`
  if there is such a block): the LAST well-formed call of a known action counts, so reasoning
  may come first. Arguments are Python/JSON literals (integers, numbers, quoted strings),
  `name=value` keywords, `[12]` for an element id as printed in the element tree, or, for a
  string parameter, one bare word (`press(Enter)`).

Each action has a fixed list of typed parameters (`ActionSpec`); all are required. Parsing
returns an `Action` with its arguments converted, or a `CallError` whose message says what was
wrong, for the environment's invalid-action feedback. `tools(specs)` builds the OpenAI tool
schemas that say the same thing.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentgym.actions import ToolCall, ToolCallError, answer_text, parse_tool_call
from agentgym.types import Tool

_JSON_TYPES = {int: "integer", float: "number", str: "string"}


@dataclass(frozen=True)
class ActionSpec:
    """One action: its name, what it does, and its (parameter, type, description) triples; the
    types are int, float or str."""

    name: str
    description: str
    params: tuple[tuple[str, type, str], ...] = ()

    def usage(self) -> str:
        """The call as written in text, e.g. `fill(id, "text")`."""
        shown = [f'"{name}"' if kind is str else name for name, kind, _ in self.params]
        return f"{self.name}({', '.join(shown)})"

    def tool(self) -> Tool:
        properties = {name: {"type": _JSON_TYPES[kind], "description": text} for name, kind, text in self.params}
        parameters = {"type": "object", "properties": properties, "required": [name for name, _, _ in self.params]}
        return Tool(function={"name": self.name, "description": self.description, "parameters": parameters})


@dataclass(frozen=True)
class Action:
    """A parsed action: the spec's name and its converted arguments by parameter name."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallError:
    """Text that is not a valid action; `message` says why (shown to the agent)."""

    message: str


def tools(specs: Sequence[ActionSpec]) -> tuple[Tool, ...]:
    """The OpenAI tool schemas of these actions."""
    return tuple(spec.tool() for spec in specs)


def parse_call(text: str, specs: Sequence[ActionSpec]) -> Action | CallError:
    """The action `text` names, by the module's grammar, or a `CallError`."""
    by_name = {spec.name: spec for spec in specs}
    usage = ", ".join(spec.usage() for spec in specs)
    tool_call = parse_tool_call(text, list(by_name))
    if isinstance(tool_call, ToolCallError):
        return CallError(tool_call.message)
    if isinstance(tool_call, ToolCall):
        return _bind(by_name[tool_call.name], [], tool_call.arguments)
    body = answer_text(text)
    pattern = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, by_name)) + r")\s*\(")
    error: CallError | None = None
    for match in reversed(list(pattern.finditer(body))):
        source = _call_source(body, match.start(), match.end() - 1)
        if source is None:
            error = error or CallError(f"The call {match.group(1)}(... is not closed with ')'.")
            continue
        parsed = _parse_source(source, by_name[match.group(1)])
        if isinstance(parsed, Action):
            return parsed
        error = error or parsed
    return error or CallError(f"No action found. Answer with one action: {usage}.")


def _call_source(text: str, start: int, open_paren: int) -> str | None:
    """`text[start:end]` up to the parenthesis closing the one at `open_paren` (quotes respected)."""
    depth, quote, index = 0, None, open_paren
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
            if depth == 0:
                return text[start : index + 1]
        index += 1
    return None


def _parse_source(source: str, spec: ActionSpec) -> Action | CallError:
    try:
        node = ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        return CallError(f"Could not read {source!r}; write it as {spec.usage()}.")
    if not isinstance(node, ast.Call):
        return CallError(f"Could not read {source!r}; write it as {spec.usage()}.")
    try:
        args = [_literal(arg) for arg in node.args]
        kwargs = {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg is not None}
    except ValueError:
        return CallError(f"The arguments of {source!r} must be numbers or quoted strings: {spec.usage()}.")
    return _bind(spec, args, kwargs)


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Name):
        return _Bare(node.id)
    if isinstance(node, ast.List) and len(node.elts) == 1:
        return _literal(node.elts[0])
    return ast.literal_eval(node)


class _Bare(str):
    """A bare word in a call (`press(Enter)`): usable only as a string argument."""


def _bind(spec: ActionSpec, args: list[Any], kwargs: Mapping[str, Any]) -> Action | CallError:
    names = [name for name, _, _ in spec.params]
    if len(args) > len(names):
        return CallError(f"{spec.name} takes {len(names)} argument(s): {spec.usage()}.")
    values = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names:
            return CallError(f"{spec.name} has no argument {key!r}: {spec.usage()}.")
        if key in values:
            return CallError(f"{spec.name} got {key!r} twice: {spec.usage()}.")
        values[key] = value
    missing = [name for name in names if name not in values]
    if missing:
        return CallError(f"{spec.name} needs {', '.join(missing)}: {spec.usage()}.")
    converted: dict[str, Any] = {}
    for name, kind, _ in spec.params:
        value = _convert(values[name], kind)
        if value is None:
            return CallError(f"{spec.name}'s {name} must be {_JSON_TYPES[kind]}, got {values[name]!r}: {spec.usage()}.")
        converted[name] = value
    return Action(spec.name, converted)


def _convert(value: Any, kind: type) -> Any:
    if kind is str:
        if isinstance(value, bool):
            return str(value).lower()
        return str(value) if isinstance(value, str | int | float) else None
    if isinstance(value, _Bare) or isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip().strip("[]"))
        except ValueError:
            return None
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if kind is int:
        return int(value) if float(value).is_integer() else None
    return float(value)
