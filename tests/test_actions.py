"""The shared action grammar: choices, tags and tool calls."""

from __future__ import annotations

import pytest

from agentgym.actions import ToolCall, ToolCallError, answer_text, last_tag, parse_choice, parse_tool_call


def test_choices():
    names = ["up", "down", "left", "right"]
    assert parse_choice("<answer>Left</answer>", names) == 2
    assert parse_choice("I go up", names) == 0
    assert parse_choice("up or down", names) is None
    assert parse_choice("3", names) == 3
    assert parse_choice("7", names) is None
    assert answer_text("<answer>a</answer> then <answer> b </answer>") == "b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<search>first</search> <search>second</search>", ("search", "second")),
        ("<SEARCH>loud</SEARCH>", ("search", "loud")),
        ("<search>done</search> thinking <answer>cut off by a stop", ("answer", "cut off by a stop")),
        ("<answer>x</answer><search>y", ("search", "y")),
        ("no tags here", None),
        ("<other>x</other>", None),
    ],
)
def test_last_tag(text, expected):
    assert last_tag(text, ("search", "answer")) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('<tool_call>{"name": "search", "arguments": {"query": "a"}}</tool_call>', ToolCall("search", {"query": "a"})),
        (
            '<tool_call>{"name": "search", "arguments": {"query": "unclosed"}}',
            ToolCall("search", {"query": "unclosed"}),
        ),
        ('{"name": "answer", "arguments": "{\\"text\\": \\"b\\"}"}', ToolCall("answer", {"text": "b"})),
        ('```json\n{"function": {"name": "answer", "arguments": {}}}\n```', ToolCall("answer", {})),
        ("plain text", None),
        ('{"some": "json"}', None),
        ("{not json}", None),
    ],
)
def test_tool_calls(text, expected):
    assert parse_tool_call(text, ("search", "answer")) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<tool_call>{broken</tool_call>", "not valid JSON"),
        ('<tool_call>{"name": "rm", "arguments": {}}</tool_call>', "Unknown tool 'rm'"),
        ('<tool_call>{"name": "search", "arguments": "{bad"}</tool_call>', "arguments are not valid JSON"),
        ('<tool_call>{"name": "search", "arguments": [1]}</tool_call>', "must be a JSON object"),
        ("<tool_call>[1, 2]</tool_call>", "JSON object with 'name'"),
    ],
)
def test_malformed_tool_calls(text, message):
    error = parse_tool_call(text, ("search", "answer"))
    assert isinstance(error, ToolCallError) and message in error.message
