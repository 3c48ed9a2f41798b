"""The expert for textworld-v0: it follows the goal's instructions, one sentence per action.

It reads only observation text: the `Goal:` line of the first observation and the admissible
commands listed in each observation (so the environment must show them: `show_admissible`,
the default). It never sees the game file, the walkthrough or the facts.

Why this works: TextWorld states a quest as its walkthrough, one sentence per action and in
order ("First stop, go to the south. And then, head east. ... ensure that the type D locker
is open. Then, take the keyboard from the type D locker."), wrapped in a welcome and a
sign-off; this is how its default instruction grammar (`house_instruction.twg`, shipped with
TextWorld) words every quest. For each sentence the solver finds the verbs the wording cues
(table `VERB_CUES`), then plays the admissible command with such a verb whose objects the
sentence names best; a sentence that names no admissible command (the welcome, the sign-off)
is skipped.

One repair: TextWorld sometimes lists a command that Inform's parser finds ambiguous, because
one object's name is the tail of another's ("take key from safe" beside a "type I safe"); the
game answers "Which do you mean, ...?" and does nothing. The solver then retries a take
without its container ("take key"), which the parser resolves by itself.

Games made with TextWorld's non-default grammar options (`only_last_action`,
`blend_instructions`) word quests differently and are not what it was written for.
"""

from __future__ import annotations

import re

from agentgym.environments.textworld_games.text import read_admissible, read_goal
from agentgym.types import Observation

VERB_CUES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (verbs, re.compile(cue))
    for verbs, cue in (
        (("unlock",), r"\bunlock"),
        (("lock",), r"\block(ed)?\b"),
        (("eat",), r"\beat(en)?\b"),
        (("take",), r"\b(take|retrieve|recover|pick[ -]up|lift)\b(?! a trip)"),
        (("drop",), r"\bfloor\b"),
        (("open",), r"\b(open|opened|ajar)\b"),
        (("close",), r"\b(close|closed|shut)\b"),
        (("put", "insert"), r"\b(put|place|insert|deposit|sit|rest)\b"),
        (("go",), r"\b(north|south|east|west)\b"),
    )
)
"""Which command verbs a sentence may ask for, by its wording; earlier rows win ties (so "insert
the key into the chest's lock to unlock it" is an unlock, not an insert)."""

_OBJECT_SEPARATOR = re.compile(r" (?:from|on|into|with) ")
_STOP_WORDS = frozenset({"a", "an", "the", "of"})
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_AMBIGUOUS = re.compile(r"^Which do you mean\b", re.MULTILINE)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9'-]+", text.lower())) - _STOP_WORDS


def best_command(sentence: str, admissible: list[str]) -> str | None:
    """The admissible command that `sentence` asks for, or None if it asks for none of them.

    Score of a command whose verb the sentence cues: for each of its objects, the share of the
    object's words that the sentence contains, summed; at least one word must match. Ties go to
    the command with more matching words ("open rectangular door" over "open door" when the
    sentence names the rectangular door), then to the earlier row of `VERB_CUES`.
    """
    said = _words(sentence)
    best: tuple[float, int, int] = (0.0, 0, 0)
    choice = None
    for priority, (verbs, cue) in enumerate(VERB_CUES):
        if not cue.search(sentence.lower()):
            continue
        for command in admissible:
            verb, _, rest = command.partition(" ")
            if verb not in verbs or not rest:
                continue
            objects = [_words(name) for name in _OBJECT_SEPARATOR.split(rest)]
            score = sum(len(words & said) / len(words) for words in objects if words)
            matched = sum(len(words & said) for words in objects)
            if score > 0 and (score, matched, -priority) > best:
                best, choice = (score, matched, -priority), command
    return choice


class TextWorldSolver:
    """Plays the goal's sentences in order (see the module docstring); then "look"."""

    def reset(self, observation: Observation, system_prompt: str) -> None:
        goal = read_goal(observation.text)
        if goal is None:
            raise ValueError("the first observation states no 'Goal:'; the solver needs it")
        self.sentences = _SENTENCE_END.split(goal)
        self._last = ""

    def act(self, observation: Observation) -> str:
        self._last = self._next(observation)
        return self._last

    def _next(self, observation: Observation) -> str:
        if _AMBIGUOUS.search(observation.text) and self._last.startswith("take ") and " from " in self._last:
            return self._last.partition(" from ")[0]
        admissible = read_admissible(observation.text)
        while self.sentences:
            command = best_command(self.sentences.pop(0), admissible)
            if command is not None:
                return command
        return "look"
