"""The code environment's actions, parsed from the model's raw text.

Two equivalent protocols:

- Tags: `<run>CODE</run>` runs a snippet; `<test>CODE</test>` makes CODE the current solution
  and runs the visible tests on it (`<test></test>`: the current solution again);
  `<submit>CODE</submit>` submits CODE (or, empty, the current solution) to the hidden tests.
  CODE is the last fenced block (```python ... ```) inside the tag, or the tag's whole content
  when it has no fence. Only the last tag of the text counts, and a last tag left open (the
  closing tag cut off by a stop sequence) runs to the end of the text.
- Tool calls, the OpenAI function-calling tools `run`, `test` and `submit` with one string
  argument `code` (optional for test and submit): `<tool_call>{"name": ..., "arguments":
  {...}}</tool_call>` (Hermes/Qwen style; the last block counts), or the whole text being
  one such JSON object, or OpenAI's `{"function": {"name": ..., "arguments": "<JSON text>"}}`.
  A tool call, when present, is read before tags.

`parse_action` returns an `Action` or an `ActionError` whose message tells the agent what to fix.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import Any, Literal

from agentgym.actions import ToolCallError, last_tag, parse_tool_call
from agentgym.types import Tool

Kind = Literal["run", "test", "submit"]
KINDS: tuple[str, ...] = ("run", "test", "submit")

_FENCE = re.compile(r"```[ \t]*(?:[A-Za-z0-9_+-]+)?[ \t]*\n(.*?)```", re.DOTALL)

FORMAT_HELP = (
    "Answer with one action: <run>```python\\nCODE\\n```</run> to run a snippet, "
    "<test>```python\\nSOLUTION\\n```</test> to run the visible tests on a solution, or "
    "<submit>```python\\nSOLUTION\\n```</submit> to submit it (or call the tools run, test, submit)."
)


@dataclass(frozen=True)
class Action:
    """A parsed action: `kind` and its `code` (None: use the current solution)."""

    kind: Kind
    code: str | None


@dataclass(frozen=True)
class ActionError:
    """Text that is no valid action; `message` says why and how to write one."""

    message: str


def parse_action(text: str) -> Action | ActionError:
    """The action `text` asks for, by the module's grammar."""
    call = _tool_call(text)
    if call is not None:
        return call
    tag = last_tag(text, KINDS)
    if tag is None:
        if _FENCE.search(text):
            return ActionError("Your code is not inside an action tag. " + FORMAT_HELP)
        return ActionError("No action found. " + FORMAT_HELP)
    kind, body = tag
    return _action(kind, _code_of(body))


def _code_of(body: str) -> str | None:
    fences = _FENCE.findall(body)
    code = fences[-1] if fences else body
    code = textwrap.dedent(code).strip("\n")
    return code if code.strip() else None


def _action(kind: str, code: str | None) -> Action | ActionError:
    if kind == "run" and code is None:
        return ActionError("The run action needs code to run. " + FORMAT_HELP)
    return Action(kind, code)  # type: ignore[arg-type]


def _tool_call(text: str) -> Action | ActionError | None:
    """The tool call in `text`, an error for a malformed one, or None when there is none."""
    call = parse_tool_call(text, KINDS)
    if call is None:
        return None
    if isinstance(call, ToolCallError):
        return ActionError(f"{call.message} " + FORMAT_HELP)
    code: Any = call.arguments.get("code")
    if code is not None and not isinstance(code, str):
        return ActionError("The tool argument 'code' must be a string of Python source.")
    unknown = set(call.arguments) - {"code"}
    if unknown:
        return ActionError(f"Unknown tool arguments {sorted(unknown)}; the only argument is 'code'.")
    return _action(call.name, _code_of(code) if code is not None else None)


def _tool(name: str, description: str, required: bool) -> Tool:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"code": {"type": "string", "description": "Python source"}},
        "required": ["code"] if required else [],
    }
    return Tool(function={"name": name, "description": description, "parameters": schema})


TOOLS: tuple[Tool, ...] = (
    _tool(
        "run",
        "Run a Python snippet in the sandbox and see its output; `import solution` loads the current solution.",
        True,
    ),
    _tool(
        "test",
        "Make `code` the current solution (omit it to keep the current one) and run the visible tests on it.",
        False,
    ),
    _tool(
        "submit", "Submit `code` (omit it for the current solution) to the hidden tests; this ends the episode.", False
    ),
)
"""The tools offered in every observation, OpenAI function schemas."""
