"""Each turn's prompt: chat messages built from the episode so far, then the tokenizer's chat
template applied to them, with the generation prompt (token ids in, so nothing is re-tokenized
later).

The messages of turn t are:

1. the system message: the environment's `system_prompt` (left out when it is empty);
2. the history: the (observation, action) pairs of the turns before t, all of them
   (`history=None`) or only the last k (`history=k`; 0 shows no history), as verl-agent's
   history window does (GiGPO's reference uses k = 2);
3. the current observation.

Two layouts of the history are offered:

- `"messages"` (default): one user message per observation and one assistant message per
  action, the natural multi-turn chat. With the full history, turn t's prompt is turn t-1's
  prompt followed by its response and the new observation (up to the template's own tokens).
- `"inline"`: verl-agent's layout, a single user message that recounts the window in text
  ("Prior to this step, you have already taken N step(s). Below are the most recent k
  observations and the corresponding actions you took: ...") and ends with the current
  observation.

Only observation text reaches the prompt; images are not rendered (a text chat template has no
place for them). The tools an observation offers are passed to the template as `tools=`, as
OpenAI function schemas, for templates that render them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentgym.types import Observation

HistoryFormat = Literal["messages", "inline"]


@dataclass(frozen=True)
class HistoryTurn:
    """One past turn as the prompt shows it: what the agent saw, and the action text it sent."""

    observation: str
    action: str


class PromptBuilder:
    """Builds each turn's chat messages and their token ids with `tokenizer`'s chat template.

    Args:
        tokenizer: a Hugging Face tokenizer with a chat template (the policy's).
        history: None shows every past turn; k >= 0 shows only the last k.
        history_format: "messages" (one chat message per observation and per action) or
            "inline" (verl-agent's single user message); see the module docstring.
    """

    def __init__(self, tokenizer: Any, *, history: int | None = None, history_format: HistoryFormat = "messages"):
        if history is not None and history < 0:
            raise ValueError(f"history must be None (everything) or a window of k >= 0 turns, got {history}")
        if history_format not in ("messages", "inline"):
            raise ValueError(f"history_format must be 'messages' or 'inline', got {history_format!r}")
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("the tokenizer has no chat template; rollouts build every prompt with it")
        self.tokenizer = tokenizer
        self.history = history
        self.history_format = history_format

    def window(self, history: Sequence[HistoryTurn]) -> Sequence[HistoryTurn]:
        """The past turns the prompt shows: all of them, or the last `self.history`."""
        if self.history is None:
            return history
        return history[len(history) - self.history :] if self.history else ()

    def messages(
        self, system_prompt: str, history: Sequence[HistoryTurn], observation: Observation
    ) -> list[dict[str, str]]:
        """The chat messages of the turn that answers `observation`, after `history` (every
        earlier turn of the episode, oldest first; the window is applied here)."""
        shown = self.window(history)
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        if self.history_format == "messages":
            for turn in shown:
                messages.append({"role": "user", "content": turn.observation})
                messages.append({"role": "assistant", "content": turn.action})
            messages.append({"role": "user", "content": observation.text})
        else:
            messages.append({"role": "user", "content": _inline(len(history), shown, observation.text)})
        return messages

    def encode(self, messages: list[dict[str, str]], tools: Sequence[Any] = ()) -> list[int]:
        """The token ids of `messages` under the chat template, ending with the generation prompt."""
        kwargs: dict[str, Any] = {"tools": [tool.model_dump() for tool in tools]} if tools else {}
        encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, **kwargs)
        # transformers 5 returns a BatchEncoding (return_dict=True is its default); 4.x a list
        if isinstance(encoded, Mapping) or hasattr(encoded, "input_ids"):
            encoded = encoded["input_ids"]
        ids = list(encoded)
        if ids and isinstance(ids[0], list):  # a batch of one
            ids = ids[0]
        return [int(token) for token in ids]

    def build(self, system_prompt: str, history: Sequence[HistoryTurn], observation: Observation) -> list[int]:
        """The prompt's token ids for the turn that answers `observation`."""
        return self.encode(self.messages(system_prompt, history, observation), observation.tools)


def _inline(steps_taken: int, shown: Sequence[HistoryTurn], observation: str) -> str:
    """verl-agent's single-message rendering of the history window and the current observation."""
    if steps_taken == 0:
        return f"Your current observation is: {observation}"
    lines = [
        f"Prior to this step, you have already taken {steps_taken} step(s).",
    ]
    if shown:
        lines.append(f"Below are the most recent {len(shown)} observation(s) and the corresponding action(s) you took:")
        first = steps_taken - len(shown) + 1
        for offset, turn in enumerate(shown):
            lines.append(f"[Observation {first + offset}: {turn.observation}, Action {first + offset}: {turn.action}]")
    lines.append(f"You are now at step {steps_taken + 1} and your current observation is: {observation}")
    return "\n".join(lines)
