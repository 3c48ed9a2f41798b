"""Parsing the model's raw text into an environment's discrete choices.

The grammar (documented for prompts and users): if the text contains `<answer>...</answer>`,
only the last such block is read; otherwise the whole text is. Within it, the action is the one
choice name that occurs as a whole word (case-insensitive); a text naming two different choices
is ambiguous and therefore invalid. A bare integer (the whole stripped text) selects a choice
by index. Anything else is invalid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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
