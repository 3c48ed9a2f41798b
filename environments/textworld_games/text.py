"""The text of textworld-v0: how observations are laid out and read back, and how the agent's
text becomes one game command. Pure text handling: no TextWorld import, so an agent playing a
served game needs only this module.

Observation layout (sections separated by blank lines; the optional ones follow the
environment's constructor flags):

    <the game's response to the command; at reset, the room the player starts in>

    Goal: <the quest as the game states it: at reset always, later when show_objective>

    Location:
    <the room's description (show_description)>

    Inventory: <what the player carries (show_inventory)>

    Admissible commands:
    - <one command per line, sorted (show_admissible)>

Command grammar: the text of the last `<answer>...</answer>` block, or the whole text when
there is none (`agentgym.actions.answer_text`), with whitespace collapsed and one trailing
period dropped, is sent to the game's parser as typed. It must be one command: text with a
period, comma or semicolon inside, or the word "then", which Inform's parser would split into
several commands, is rejected, as is empty text. So are the interpreter's meta commands that
would act outside the story (undo, restart, restore, save, quit, transcripts) and TextWorld's
own debugging commands (`tw-...`): the environment tracks the world's state step by step and
an undo or restart behind its back would desynchronise it.
"""

from __future__ import annotations

import re

from agentgym.actions import answer_text

GOAL_PREFIX = "Goal: "
ADMISSIBLE_HEADER = "Admissible commands:"

_CHAINED = re.compile(r"[.,;]|\bthen\b", re.IGNORECASE)
_META_COMMAND = re.compile(
    r"^(?:(?:undo|restart|restore|save|quit|q|script|transcript|unscript|noscript)\b|tw-)", re.IGNORECASE
)
_GOAL_LINE = re.compile(rf"^{re.escape(GOAL_PREFIX)}(.+)$", re.MULTILINE)
_PROMPT_AND_STATUS = re.compile(r"\n>[^\n]*$")  # the input prompt, followed by the status bar
_END_QUESTION = re.compile(r"\n*Would you like to RESTART, RESTORE a saved game, QUIT or UNDO the last command\?")


def parse_command(action: str) -> str | None:
    """The game command that `action` expresses under the module's grammar, or None if invalid."""
    command = " ".join(answer_text(action).split()).removesuffix(".").strip()
    if not command or _CHAINED.search(command) or _META_COMMAND.match(command):
        return None
    return command


def clean_feedback(raw: str) -> str:
    """The game's response without the input prompt, status bar, end-of-game menu, indentation
    and runs of blank lines."""
    text = _END_QUESTION.sub("", _PROMPT_AND_STATUS.sub("", raw.rstrip()))
    text = "\n".join(line.strip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def render(
    feedback: str,
    *,
    goal: str | None = None,
    description: str | None = None,
    inventory: str | None = None,
    admissible: list[str] | None = None,
) -> str:
    """Lay out one observation; sections that are None are left out."""
    sections = [feedback]
    if goal is not None:
        sections.append(GOAL_PREFIX + " ".join(goal.split()))
    if description is not None:
        sections.append(f"Location:\n{description.strip()}")
    if inventory is not None:
        sections.append(f"Inventory: {inventory.strip()}")
    if admissible is not None:
        sections.append("\n".join([ADMISSIBLE_HEADER, *(f"- {command}" for command in admissible)]))
    return "\n\n".join(section for section in sections if section)


def read_goal(text: str) -> str | None:
    """The goal stated in an observation's text, or None if it has none."""
    match = _GOAL_LINE.search(text)
    return match.group(1) if match else None


def read_admissible(text: str) -> list[str]:
    """The admissible commands listed in an observation's text (empty if it lists none)."""
    _, found, rest = text.partition(ADMISSIBLE_HEADER + "\n")
    if not found:
        return []
    commands = []
    for line in rest.splitlines():
        if not line.startswith("- "):
            break
        commands.append(line[2:])
    return commands
