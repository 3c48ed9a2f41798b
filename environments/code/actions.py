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

import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any, Literal

from agentgym.types import Tool

Kind = Literal["run", "test", "submit"]
KINDS: tuple[str, ...] = ("run", "test", "submit")

_TAG = re.compile(r"<(run|test|submit)>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
_OPEN_TAG = re.compile(r"<(run|test|submit)>", re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*(?:[A-Za-z0-9_+-]+)?[ \t]*\n(.*?)```", re.DOTALL)
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_JSON_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n```$", re.DOTALL)

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
    tags = list(_TAG.finditer(text))
    opens = list(_OPEN_TAG.finditer(text))
    last_open = opens[-1] if opens else None
    if last_open is not None and (not tags or last_open.start() >= tags[-1].end()):
        kind, body = last_open.group(1).lower(), text[last_open.end() :]
    elif tags:
        kind, body = tags[-1].group(1).lower(), tags[-1].group(2)
    else:
        if _FENCE.search(text):
            return ActionError("Your code is not inside an action tag. " + FORMAT_HELP)
        return ActionError("No action found. " + FORMAT_HELP)
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
    blocks = _TOOL_CALL.findall(text)
    if blocks:
        payload = blocks[-1].strip()
    else:
        stripped = text.strip()
        fenced = _JSON_FENCE.match(stripped)
        payload = fenced.group(1).strip() if fenced else stripped
        if not (payload.startswith("{") and payload.endswith("}")):
            return None
    try:
        call = json.loads(payload)
    except json.JSONDecodeError as error:
        if not blocks:
            return None  # not meant as a tool call
        return ActionError(f"The tool call is not valid JSON ({error.msg}). " + FORMAT_HELP)
    if not isinstance(call, dict):
        return ActionError("A tool call must be a JSON object with 'name' and 'arguments'. " + FORMAT_HELP)
    if isinstance(call.get("function"), dict):
        call = call["function"]
    name, arguments = call.get("name"), call.get("arguments", {})
    if name not in KINDS:
        if not blocks and name is None:
            return None
        return ActionError(f"Unknown tool {name!r}; the tools are run, test and submit. " + FORMAT_HELP)
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as error:
            return ActionError(f"The tool call's arguments are not valid JSON ({error.msg}).")
    if not isinstance(arguments, dict):
        return ActionError('A tool call\'s arguments must be a JSON object such as {"code": "..."}.')
    code: Any = arguments.get("code")
    if code is not None and not isinstance(code, str):
        return ActionError("The tool argument 'code' must be a string of Python source.")
    unknown = set(arguments) - {"code"}
    if unknown:
        return ActionError(f"Unknown tool arguments {sorted(unknown)}; the only argument is 'code'.")
    return _action(name, _code_of(code) if code is not None else None)


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
