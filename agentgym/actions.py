"""Parsing the model's raw text into an environment's actions.

Discrete choices (`parse_choice`): if the text contains `<answer>...</answer>`, only the last
such block is read; otherwise the whole text is. Within it, the action is the one choice name
that occurs as a whole word (case-insensitive); a text naming two different choices is
ambiguous and therefore invalid. A bare integer (the whole stripped text) selects a choice by
index. Anything else is invalid.

Tagged actions (`last_tag`): the last `<name>...</name>` block among the given names; a last tag
left open (its closing tag cut off by a stop sequence) runs to the end of the text.

Tool calls (`parse_tool_call`): `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`
(Hermes/Qwen chat templates; the last block counts, an unclosed one runs to the end), or the
whole text being one such JSON object (optionally in a ```json fence), or OpenAI's
`{"function": {"name": ..., "arguments": "<JSON text>"}}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)


def answer_text(text: str) -> str:
    """The content of the last `<answer>...</answer>` block, or the whole text if there is none."""
    blocks = _ANSWER_BLOCK.findall(text)
    return (blocks[-1] if blocks else text).strip()


def parse_choice(text: str, names: Sequence[str]) -> int | None:
    """The index in `names` that `text` selects by the module's grammar, or None if invalid."""
    content = answer_text(text)
    if re.fullmatch(r"\d+", content):
        index = int(content)
        return index if index < len(names) else None
    lowered = content.lower()
    found = {
        index
        for index, name in enumerate(names)
        if re.search(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])", lowered)
    }
    return found.pop() if len(found) == 1 else None


_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_JSON_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n```$", re.DOTALL)


@dataclass(frozen=True)
class ToolCall:
    """A call of tool `name` with its decoded JSON `arguments`."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolCallError:
    """Text meant as a tool call that is malformed; `message` says what is wrong."""

    message: str


def parse_tool_call(text: str, names: Collection[str]) -> ToolCall | ToolCallError | None:
    """The tool call in `text` (by the module's grammar) of one of the tools `names`; a
    `ToolCallError` for a malformed call or an unknown tool; None when `text` holds no call."""
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
        return ToolCallError(f"The tool call is not valid JSON ({error.msg}).") if blocks else None
    if not isinstance(call, dict):
        return ToolCallError("A tool call must be a JSON object with 'name' and 'arguments'.")
    if isinstance(call.get("function"), dict):
        call = call["function"]
    name, arguments = call.get("name"), call.get("arguments", {})
    if name not in names:
        if not blocks and name is None:
            return None  # some other JSON object, not meant as a call
        return ToolCallError(f"Unknown tool {name!r}; the tools are {', '.join(names)}.")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as error:
            return ToolCallError(f"The tool call's arguments are not valid JSON ({error.msg}).")
    if not isinstance(arguments, dict):
        return ToolCallError("A tool call's arguments must be a JSON object.")
    return ToolCall(name, arguments)


def last_tag(text: str, names: Collection[str]) -> tuple[str, str] | None:
    """(name, content) of the last `<name>content</name>` block among `names` (case-insensitive;
    the name lower-cased), a trailing unclosed tag running to the end of the text; None if none."""
    alternatives = "|".join(re.escape(name) for name in names)
    closed = list(re.finditer(rf"<({alternatives})>(.*?)</\1>", text, re.IGNORECASE | re.DOTALL))
    opens = list(re.finditer(rf"<({alternatives})>", text, re.IGNORECASE))
    if opens and (not closed or opens[-1].start() >= closed[-1].end()):
        return opens[-1].group(1).lower(), text[opens[-1].end() :]
    if closed:
        return closed[-1].group(1).lower(), closed[-1].group(2)
    return None
