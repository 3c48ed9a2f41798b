"""The question grammar of twentyq-v0: one turn's text -> a question about one attribute, a
guess of one object, or a question the oracle cannot answer.

1. Text read: the content of the last `<answer>...</answer>` block if there is one, else the
   whole text (`agentgym.actions.answer_text`).
2. Normalisation (`normalize`): lower case; apostrophes are dropped ("isn't" -> "isnt", "it's"
   -> "its"); every other character that is not a letter or a digit separates words. So case
   and punctuation never matter.
3. Negation: a question containing a word of `NEGATIONS` ("not", "isnt", "doesnt", "cant",
   ...) is not answered; ask positively.
4. Guess: drop one leading guess prefix (`GUESS_PREFIXES`: "is it", "is this", "it is",
   "its", "my guess is", "i guess", "guess", "answer", ...) and then one article ("a", "an",
   "the"). If exactly an object's name or alias remains, the turn guesses that object:
   "Is it a hot dog?", "It's an apple.", "<answer>Apple</answer>" and "apple" all guess.
5. Otherwise the question is matched by its mentions: every run of whole words equal to an
   attribute keyword (the `keywords` of the knowledge base) or to an object name or alias.
   A mention lying inside a longer mention is ignored ("farm animal" hides "animal", "bigger
   than a car" hides "car", "teddy bear" hides "bear"). Leading fillers such as "is it", "does
   it", "can it" therefore never matter. Then:
   - exactly one attribute and no object is mentioned: the question asks that attribute, and
     the oracle answers the attribute's canonical question;
   - an object is mentioned: not answered (an object is only named to guess it);
   - two or more attributes: not answered (one property per question);
   - nothing: not answered.

An unanswered question gets `UNANSWERABLE` (plus the reason) from the environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agentgym.actions import answer_text
from agentgym.environments.twentyq.knowledge import Attribute, KnowledgeBase, Thing

NEGATIONS = frozenset({
    "not", "no", "never", "neither", "nor", "cannot", "isnt", "arent", "wasnt", "werent", "doesnt", "dont",
    "didnt", "cant", "couldnt", "wont", "wouldnt", "hasnt", "havent", "shouldnt",
})  # fmt: skip
GUESS_PREFIXES = (
    "is it", "is this", "is that", "it is", "its", "this is", "is the object", "the object is",
    "my guess is", "my guess", "i guess", "i think it is", "i think its", "guess", "final answer",
    "the answer is", "answer",
)  # fmt: skip
ARTICLES = ("a", "an", "the")

UNANSWERABLE = (
    'I can\'t answer that; ask a yes/no question about one property, e.g. "Is it alive?" or "Is it made of '
    'metal?", or guess with "Is it a <object>?".'
)

_NOT_WORD = re.compile(r"[^a-z0-9]+")


def normalize(text: str) -> tuple[str, ...]:
    """The words of `text` by the module's normalisation: lower case, no apostrophes, no punctuation."""
    return tuple(_NOT_WORD.sub(" ", text.lower().replace("'", "").replace("\u2019", "")).split())


@dataclass(frozen=True)
class AttributeQuestion:
    attribute: Attribute


@dataclass(frozen=True)
class Guess:
    thing: Thing


@dataclass(frozen=True)
class Unanswerable:
    reason: str
    """One sentence that says why, for the feedback."""


Parsed = AttributeQuestion | Guess | Unanswerable


class QuestionParser:
    """Parses turns against one knowledge base by the module's grammar. Immutable."""

    def __init__(self, knowledge: KnowledgeBase):
        self.phrases: dict[tuple[str, ...], Attribute | Thing] = {}
        for attribute in knowledge.attributes:
            for keyword in attribute.keywords:
                self._add(keyword, attribute)
        for thing in knowledge.things:
            for name in (thing.name, *thing.aliases):
                self._add(name, thing)
        self.longest = max(len(words) for words in self.phrases)
        self.guess_prefixes = sorted((normalize(p) for p in GUESS_PREFIXES), key=len, reverse=True)

    def _add(self, phrase: str, target: Attribute | Thing) -> None:
        words = normalize(phrase)
        if not words:
            raise ValueError(f"empty phrase for {target!r}")
        taken = self.phrases.setdefault(words, target)
        if taken is not target:
            raise ValueError(f"the phrase {phrase!r} would select both {_label(taken)} and {_label(target)}")

    def __deepcopy__(self, memo: dict[int, Any]) -> QuestionParser:
        return self

    def parse(self, text: str) -> Parsed:
        words = normalize(answer_text(text))
        if NEGATIONS.intersection(words):
            return Unanswerable('Please ask without a negation such as "not".')
        guessed = self.phrases.get(self._strip_guess_prefix(words))
        if isinstance(guessed, Thing):
            return Guess(guessed)
        mentioned = self._mentions(words)
        if any(isinstance(target, Thing) for target in mentioned):
            return Unanswerable('Name an object only to guess it, as in "Is it a dog?".')
        if len(mentioned) > 1:
            questions = " / ".join(sorted(target.question for target in mentioned))  # type: ignore[union-attr]
            return Unanswerable(f"Your question is about several properties ({questions}).")
        if mentioned:
            return AttributeQuestion(mentioned.pop())  # type: ignore[arg-type]
        return Unanswerable("I understood no property in it.")

    def _strip_guess_prefix(self, words: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in self.guess_prefixes:
            if words[: len(prefix)] == prefix:
                words = words[len(prefix) :]
                break
        if words and words[0] in ARTICLES:
            words = words[1:]
        return words

    def _mentions(self, words: tuple[str, ...]) -> set[Attribute | Thing]:
        spans = [
            (start, start + length)
            for start in range(len(words))
            for length in range(1, min(self.longest, len(words) - start) + 1)
            if words[start : start + length] in self.phrases
        ]
        return {
            self.phrases[words[start:end]]
            for start, end in spans
            if not any(s <= start and end <= e and (e - s) > (end - start) for s, e in spans)
        }


def _label(target: Attribute | Thing) -> str:
    return f"attribute {target.id!r}" if isinstance(target, Attribute) else f"object {target.name!r}"
