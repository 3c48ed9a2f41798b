"""Prompt building: system prompt, full history vs a window of k turns, exact token ids."""

from __future__ import annotations

import pytest

from agentgym import Observation, Tool
from agentgym.rollout.prompts import HistoryTurn, PromptBuilder

HISTORY = [HistoryTurn(f"obs {i}", f"act {i}") for i in range(4)]
NOW = Observation(text="obs now")


def chatml(messages: list[dict[str, str]]) -> str:
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages) + "<|im_start|>assistant\n"


def test_system_prompt_comes_first_and_is_left_out_when_empty(tokenizer):
    builder = PromptBuilder(tokenizer)
    messages = builder.messages("Rules.", [], NOW)
    assert messages == [{"role": "system", "content": "Rules."}, {"role": "user", "content": "obs now"}]
    assert builder.messages("", [], NOW) == [{"role": "user", "content": "obs now"}]


def test_full_history_shows_every_turn_as_chat_messages(tokenizer):
    messages = PromptBuilder(tokenizer).messages("Rules.", HISTORY, NOW)
    expected = [{"role": "system", "content": "Rules."}]
    for turn in HISTORY:
        expected += [{"role": "user", "content": turn.observation}, {"role": "assistant", "content": turn.action}]
    assert messages == [*expected, {"role": "user", "content": "obs now"}]


@pytest.mark.parametrize("k", [0, 1, 2, 4, 10])
def test_window_shows_the_last_k_turns(tokenizer, k):
    messages = PromptBuilder(tokenizer, history=k).messages("Rules.", HISTORY, NOW)
    shown = HISTORY[max(0, len(HISTORY) - k) :]
    expected = [{"role": "system", "content": "Rules."}]
    for turn in shown:
        expected += [{"role": "user", "content": turn.observation}, {"role": "assistant", "content": turn.action}]
    assert messages == [*expected, {"role": "user", "content": "obs now"}]


@pytest.mark.parametrize("history", [None, 2, 0])
def test_token_ids_are_exactly_the_chat_template_of_the_messages(tokenizer, history):
    builder = PromptBuilder(tokenizer, history=history)
    ids = builder.build("Rules.", HISTORY, NOW)
    messages = builder.messages("Rules.", HISTORY, NOW)
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == chatml(messages)
    assert ids == tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    tail = tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False)
    assert ids[-len(tail) :] == tail


def test_full_history_prompt_extends_the_previous_prompt_and_response(tokenizer):
    builder = PromptBuilder(tokenizer)
    before = builder.build("Rules.", HISTORY[:2], Observation(text=HISTORY[2].observation))
    after = builder.build("Rules.", HISTORY[:3], NOW)
    response = tokenizer.encode(HISTORY[2].action, add_special_tokens=False) + [tokenizer.eos_token_id]
    assert after[: len(before) + len(response)] == before + response


def test_inline_format_recounts_the_window_in_one_user_message(tokenizer):
    builder = PromptBuilder(tokenizer, history=2, history_format="inline")
    messages = builder.messages("Rules.", HISTORY, NOW)
    assert [m["role"] for m in messages] == ["system", "user"]
    text = messages[1]["content"]
    assert text.startswith("Prior to this step, you have already taken 4 step(s).")
    assert "[Observation 3: obs 2, Action 3: act 2]" in text and "[Observation 4: obs 3, Action 4: act 3]" in text
    assert "obs 1" not in text
    assert text.endswith("You are now at step 5 and your current observation is: obs now")
    first = builder.messages("", [], NOW)
    assert first == [{"role": "user", "content": "Your current observation is: obs now"}]


class ListTokenizer:
    """A tokenizer whose apply_chat_template returns a plain list (transformers 4.x) and records
    its arguments."""

    chat_template = "x"

    def __init__(self):
        self.calls = []

    def apply_chat_template(self, messages, **kwargs):
        self.calls.append((messages, kwargs))
        return [7, 8, 9]


def test_a_plain_list_from_the_template_and_tools_are_passed_through():
    tokenizer = ListTokenizer()
    tool = Tool.model_validate({"function": {"name": "search", "description": "find"}})
    ids = PromptBuilder(tokenizer).build("", [], Observation(text="hi", tools=(tool,)))
    assert ids == [7, 8, 9]
    (_, kwargs) = tokenizer.calls[0]
    assert kwargs["add_generation_prompt"] is True and kwargs["tokenize"] is True
    assert kwargs["tools"] == [
        {
            "type": "function",
            "function": {"name": "search", "description": "find", "parameters": {"type": "object", "properties": {}}},
        }
    ]


def test_bad_settings_are_refused(tokenizer):
    with pytest.raises(ValueError, match="window"):
        PromptBuilder(tokenizer, history=-1)
    with pytest.raises(ValueError, match="history_format"):
        PromptBuilder(tokenizer, history_format="xml")  # type: ignore[arg-type]

    class NoTemplate:
        chat_template = None

    with pytest.raises(ValueError, match="chat template"):
        PromptBuilder(NoTemplate())
