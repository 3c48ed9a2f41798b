"""The knowledge base of twentyq-v0: the objects, their yes/no attributes, and how each
attribute is asked.

It ships as `knowledge_base.json` beside this module and is public knowledge of the game (the
system prompt lists its questions and objects), so solvers may load it too. The file holds:

- `attributes`: `id`, the canonical `question` the oracle answers, an optional `note` that
  settles borderline cases (shown in the system prompt), and `keywords`: the normalised phrases
  (lower case, words separated by single spaces, see `grammar.normalize`) that select the
  attribute in a question.
- `objects`: `name`, `category` (for listing only), `aliases` (other names a guess may use),
  `yes` (the ids of the attributes that hold; every other attribute is false) and an optional
  `article` ("" for mass and plural nouns: "It is rice."; by default "a" or "an").

`load_knowledge_base` validates what the game relies on: ids and names are unique, every `yes`
names a known attribute, and no two objects share an attribute signature, so asking every
question always identifies the object.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KNOWLEDGE_BASE_PATH = Path(__file__).with_name("knowledge_base.json")


@dataclass(frozen=True)
class Attribute:
    """A yes/no property; `question` is its canonical wording, the oracle's echo of it."""

    id: str
    question: str
    keywords: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Thing:
    """One object the oracle may think of."""

    name: str
    category: str
    aliases: tuple[str, ...]
    attributes: frozenset[str]
    article: str

    def has(self, attribute_id: str) -> bool:
        return attribute_id in self.attributes

    @property
    def display(self) -> str:
        """The name with its article: "a dog", "an apple", "rice"."""
        return f"{self.article} {self.name}".strip()


@dataclass(frozen=True)
class KnowledgeBase:
    """Immutable, so every environment and its forks share one instance."""

    attributes: tuple[Attribute, ...]
    things: tuple[Thing, ...]

    def __deepcopy__(self, memo: dict[int, Any]) -> KnowledgeBase:
        return self

    def thing(self, name: str) -> Thing:
        """The object named `name` (a name or an alias, any case); KeyError if unknown."""
        wanted = name.strip().lower()
        for thing in self.things:
            if wanted == thing.name or wanted in thing.aliases:
                return thing
        raise KeyError(f"no object named {name!r} in the twentyq knowledge base")


def parse_knowledge_base(data: dict[str, Any]) -> KnowledgeBase:
    """Build and validate a `KnowledgeBase` from the JSON structure described above.

    Raises:
        ValueError: duplicate ids or names, unknown attributes, or two objects with the same
            attribute signature.
    """
    attributes = tuple(
        Attribute(a["id"], a["question"], tuple(a["keywords"]), a.get("note", "")) for a in data["attributes"]
    )
    ids = [a.id for a in attributes]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate attribute ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    things = tuple(_thing(entry, set(ids)) for entry in data["objects"])
    names = [name for thing in things for name in (thing.name, *thing.aliases)]
    if len(set(names)) != len(names):
        raise ValueError(f"names used twice: {sorted({n for n in names if names.count(n) > 1})}")
    by_signature: dict[frozenset[str], str] = {}
    for thing in things:
        twin = by_signature.setdefault(thing.attributes, thing.name)
        if twin != thing.name:
            raise ValueError(f"{twin!r} and {thing.name!r} have the same attributes; no question tells them apart")
    return KnowledgeBase(attributes, things)


def _thing(entry: dict[str, Any], attribute_ids: set[str]) -> Thing:
    unknown = set(entry["yes"]) - attribute_ids
    if unknown:
        raise ValueError(f"object {entry['name']!r} has unknown attributes {sorted(unknown)}")
    name = entry["name"]
    article = entry.get("article", "an" if name[0] in "aeiou" else "a")
    return Thing(name, entry["category"], tuple(entry.get("aliases", ())), frozenset(entry["yes"]), article)


@functools.cache
def load_knowledge_base(path: Path = KNOWLEDGE_BASE_PATH) -> KnowledgeBase:
    """The knowledge base at `path` (the shipped one by default), loaded once and validated."""
    return parse_knowledge_base(json.loads(path.read_text(encoding="utf-8")))
