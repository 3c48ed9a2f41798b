"""Multi-hop questions over a generated world, with their answers, evidence and oracle queries.

Two kinds, as in HotpotQA (Yang et al., 2018), the multi-hop sets Search-R1 and IGPO train on:

- bridge (1 to 4 hops): start from an entity named in the question and follow relations
  ("the founder of the organisation that employed X"), then ask an attribute of the last entity
  reached ("In which country was the founder of the organisation that employed X born?"). Hop i
  reads the document of the i-th entity of the chain: `supporting_doc_ids` lists them in order,
  `oracle_queries[i]` is that entity's title (the first is in the question, each later one is
  named in the previous hop's document).
- comparison (2 hops): "Who was born first, A or B?"; the evidence is both entities' documents
  and the answer is one of the two names, so it appears in the question by construction.

Contracts:

- `generate_questions(world, count, seed)` is deterministic in its arguments and returns exactly
  `count` questions (`qid` "q-000000", ...) with distinct texts, in a fixed mix of kinds
  (`MIX`); it raises ValueError if the world is too small to supply that many.
- Every answer is unique given the knowledge base: each relation is a function (one birthplace,
  one employer...), a chain never revisits an entity, titles are unique, and a comparison's two
  values differ.
- The text of each supporting document states its hop: it contains the next entity's title, and
  the last one contains `answers[0]` (see `documents.py`).
- A bridge question never contains any accepted answer (as whole words, case-insensitively).
- `answers[0]` is canonical; the rest are accepted aliases: a person's surname when no other
  person bears it, a country's official long name, a river with or without "River", a number
  without thousands separators.
"""

from __future__ import annotations

import random
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from agentgym.environments.search.world import World


class Question(BaseModel):
    """One question; `answers[0]` is canonical, the others accepted aliases."""

    model_config = ConfigDict(frozen=True)

    qid: str
    question: str
    answers: list[str]
    kind: Literal["bridge", "comparison"]
    hops: int
    supporting_doc_ids: list[str]
    oracle_queries: list[str]


MIX: dict[tuple[str, int], float] = {
    ("bridge", 1): 0.2,
    ("bridge", 2): 0.3,
    ("bridge", 3): 0.2,
    ("bridge", 4): 0.1,
    ("comparison", 2): 0.2,
}
"""The share of each (kind, hops) in a generated set."""

# --- the schema: relations lead to another entity, attributes end a question ---------------------

RELATIONS: dict[tuple[str, str], str] = {
    ("person", "birthplace"): "city",
    ("person", "employer"): "organisation",
    ("person", "mentor"): "person",
    ("person", "spouse"): "person",
    ("city", "country"): "country",
    ("country", "capital"): "city",
    ("organisation", "founder"): "person",
    ("organisation", "headquarters"): "city",
    ("event", "city"): "city",
    ("event", "organiser"): "organisation",
    ("event", "guest"): "person",
}
"""(kind, field) -> kind of the entity the field's index points at."""

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "person": ("birth_year", "occupation"),
    "city": ("founded", "population", "river"),
    "country": ("region", "established"),
    "organisation": ("founded", "industry"),
    "event": ("year",),
}

# Noun phrases for "the entity this relation leads to", with {x} the phrase of the entity it starts from.
PHRASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("person", "birthplace"): ("the city where {x} was born", "the birthplace of {x}", "the native city of {x}"),
    ("person", "employer"): (
        "the organisation that employed {x}",
        "the employer of {x}",
        "the organisation {x} worked for",
    ),
    ("person", "mentor"): ("the mentor of {x}", "the person who mentored {x}", "the teacher of {x}"),
    ("person", "spouse"): ("the spouse of {x}", "the {partner} of {x}"),
    ("city", "country"): ("the country where {x} is located", "the country that {x} belongs to", "the country of {x}"),
    ("country", "capital"): ("the capital of {x}", "the capital city of {x}"),
    ("organisation", "founder"): ("the founder of {x}", "the person who founded {x}"),
    ("organisation", "headquarters"): (
        "the city where {x} is headquartered",
        "the headquarters city of {x}",
        "the city that houses the headquarters of {x}",
    ),
    ("event", "city"): ("the city that hosted {x}", "the host city of {x}", "the city where {x} was held"),
    ("event", "organiser"): (
        "the organiser of {x}",
        "the organisation that organised {x}",
        "the organisation behind {x}",
    ),
    ("event", "guest"): ("the guest of honour at {x}", "the person who was guest of honour at {x}"),
}

# Questions asking a field of the entity {x}.
ASKS: dict[tuple[str, str], tuple[str, ...]] = {
    ("person", "birth_year"): ("In what year was {x} born?", "When was {x} born?", "What is the birth year of {x}?"),
    ("person", "occupation"): (
        "What was the occupation of {x}?",
        "What did {x} do for a living?",
        "What profession did {x} follow?",
    ),
    ("person", "birthplace"): ("In which city was {x} born?", "Where was {x} born?", "What is the birthplace of {x}?"),
    ("person", "employer"): (
        "Which organisation employed {x}?",
        "For which organisation did {x} work?",
        "Who was the employer of {x}?",
    ),
    ("person", "mentor"): ("Who mentored {x}?", "Who was the mentor of {x}?", "Under whom did {x} train?"),
    ("person", "spouse"): ("Who was {x} married to?", "Whom did {x} marry?", "Who was the spouse of {x}?"),
    ("city", "founded"): (
        "In what year was {x} founded?",
        "When was {x} founded?",
        "What is the founding year of {x}?",
    ),
    ("city", "population"): (
        "What is the population of {x}?",
        "How many people live in {x}?",
        "How many inhabitants does {x} have?",
    ),
    ("city", "river"): ("Which river flows through {x}?", "What river runs through {x}?", "{x} stands on which river?"),
    ("city", "country"): (
        "In which country is {x} located?",
        "Which country is {x} in?",
        "To which country does {x} belong?",
    ),
    ("country", "capital"): ("What is the capital of {x}?", "Which city is the capital of {x}?"),
    ("country", "region"): ("In which region of the world is {x}?", "Which region does {x} belong to?"),
    ("country", "established"): ("In what year was {x} established?", "When was {x} established as a state?"),
    ("organisation", "founded"): (
        "In what year was {x} founded?",
        "When was {x} established?",
        "What is the founding year of {x}?",
    ),
    ("organisation", "industry"): (
        "In which industry is {x} active?",
        "What industry does {x} work in?",
        "What line of business is {x} in?",
    ),
    ("organisation", "founder"): ("Who founded {x}?", "Who was the founder of {x}?", "Who established {x}?"),
    ("organisation", "headquarters"): (
        "Where is {x} headquartered?",
        "In which city is {x} based?",
        "In which city are the headquarters of {x}?",
    ),
    ("event", "year"): ("In what year did {x} take place?", "When was {x} held?", "In which year was {x} held?"),
    ("event", "city"): ("Where was {x} held?", "In which city did {x} take place?", "Which city hosted {x}?"),
    ("event", "organiser"): (
        "Which organisation organised {x}?",
        "Who organised {x}?",
        "Which organisation was behind {x}?",
    ),
    ("event", "guest"): ("Who was the guest of honour at {x}?", "Who attended {x} as guest of honour?"),
}

# Two-field shortcuts: (relation, then a field of the entity it leads to), {x} the starting entity.
SHORTCUTS: dict[tuple[tuple[str, str], str], tuple[str, ...]] = {
    (("person", "birthplace"), "country"): ("In which country was {x} born?", "What is the country of birth of {x}?"),
    (("organisation", "headquarters"), "country"): ("In which country is {x} headquartered?",),
    (("event", "city"), "country"): ("In which country was {x} held?", "In which country did {x} take place?"),
}

# Comparisons: (kind, field, "min" or "max") -> templates with {a} and {b}.
COMPARISONS: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("person", "birth_year", "min"): ("Who was born first, {a} or {b}?", "Who is older, {a} or {b}?"),
    ("person", "birth_year", "max"): ("Who was born later, {a} or {b}?", "Which of {a} and {b} is younger?"),
    ("city", "founded", "min"): ("Which city was founded earlier, {a} or {b}?", "Which is the older city, {a} or {b}?"),
    ("city", "founded", "max"): ("Which city was founded more recently, {a} or {b}?",),
    ("city", "population", "max"): (
        "Which city has the larger population, {a} or {b}?",
        "Which is more populous, {a} or {b}?",
    ),
    ("city", "population", "min"): ("Which city has fewer inhabitants, {a} or {b}?",),
    ("organisation", "founded", "min"): (
        "Which organisation was founded first, {a} or {b}?",
        "Which is older, {a} or {b}?",
    ),
    ("organisation", "founded", "max"): ("Which organisation was established later, {a} or {b}?",),
    ("event", "year", "min"): ("Which took place first, {a} or {b}?", "Which was held earlier, {a} or {b}?"),
    ("event", "year", "max"): ("Which was held more recently, {a} or {b}?",),
    ("country", "established", "min"): ("Which country was established earlier, {a} or {b}?",),
}


# --- answers and phrases of single entities ------------------------------------------------------


def _name_phrase(kind: str, entity) -> str:
    return f"the {entity.name}" if kind == "event" else entity.name


class _Answers:
    """Accepted answer strings for a field value, with the world's ambiguity in mind."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.namesakes: dict[str, list] = {}
        for p in world.people:
            self.namesakes.setdefault(p.surname, []).append(p)
        self.unique_surnames = {s for s, people in self.namesakes.items() if len(people) == 1}

    def entity(self, kind: str, entity) -> list[str]:
        if kind == "person" and entity.surname in self.unique_surnames:
            return [entity.name, entity.surname]
        if kind == "country":
            return [entity.name, entity.long_name]
        return [entity.name]

    def value(self, kind: str, field: str, entity) -> list[str]:
        value = getattr(entity, field)
        if kind == "city" and field == "river":
            return [f"{value} River", value, f"River {value}"]
        if kind == "city" and field == "population":
            return [f"{value:,}", str(value)] if value >= 1000 else [str(value)]
        return [str(value)]


def _mentions(text: str, answers: list[str]) -> bool:
    lower = text.lower()
    return any(re.search(rf"(?<!\w){re.escape(a.lower())}(?!\w)", lower) for a in answers)


# --- generation ---------------------------------------------------------------------------------


def _slots(count: int, rng: random.Random) -> list[tuple[str, int]]:
    """`count` (kind, hops) slots in MIX proportions (largest remainder), in a seeded order."""
    exact = {slot: share * count for slot, share in MIX.items()}
    sizes = {slot: int(x) for slot, x in exact.items()}
    for slot in sorted(exact, key=lambda s: exact[s] - sizes[s], reverse=True)[: count - sum(sizes.values())]:
        sizes[slot] += 1
    slots = [slot for slot, n in sizes.items() for _ in range(n)]
    rng.shuffle(slots)
    return slots


_START_KINDS = ("person", "person", "person", "organisation", "event", "city", "country")


def _bridge(world: World, hops: int, rng: random.Random, answers: _Answers) -> tuple[str, list[str], list] | None:
    """(question, answers, chain of (kind, entity)) or None when this draw leads nowhere."""
    kind = rng.choice(_START_KINDS)
    entities = world.entities(kind)
    chain = [(kind, entities[rng.randrange(len(entities))])]
    relations: list[tuple[str, str]] = []
    seen = {chain[0][1].doc_id}
    while len(chain) < hops:
        kind, entity = chain[-1]
        options = [
            (k, f)
            for (k, f) in RELATIONS
            if k == kind and getattr(entity, f) is not None and _target(world, k, f, entity).doc_id not in seen
        ]
        if not options:
            return None
        relation = rng.choice(options)
        target = _target(world, *relation, entity)
        relations.append(relation)
        chain.append((RELATIONS[relation], target))
        seen.add(target.doc_id)
    kind, entity = chain[-1]
    finals = [("value", f) for f in ATTRIBUTES[kind]]
    finals += [
        ("relation", f)
        for (k, f) in RELATIONS
        if k == kind and getattr(entity, f) is not None and _target(world, k, f, entity).doc_id not in seen
    ]
    mode, field = rng.choice(finals)
    if mode == "value":
        accepted = answers.value(kind, field, entity)
    else:
        accepted = answers.entity(RELATIONS[(kind, field)], _target(world, kind, field, entity))

    # phrase: the start's name, wrapped by one noun phrase per relation, then the asking template
    shortcut = SHORTCUTS.get((relations[-1], field)) if relations else None
    if shortcut and rng.random() < 0.6:
        phrased_relations, template = relations[:-1], rng.choice(shortcut)
    else:
        phrased_relations, template = relations, rng.choice(ASKS[(kind, field)])
    phrase = _name_phrase(*chain[0])
    for i, relation in enumerate(phrased_relations):
        partner = ("husband" if chain[i + 1][1].pronoun == "he" else "wife") if relation[1] == "spouse" else ""
        phrase = rng.choice(PHRASES[relation]).format(x=phrase, partner=partner)
    text = template.format(x=phrase)
    return text[0].upper() + text[1:], accepted, chain


def _target(world: World, kind: str, field: str, entity):
    return world.entities(RELATIONS[(kind, field)])[getattr(entity, field)]


def _comparison(world: World, rng: random.Random, answers: _Answers) -> tuple[str, list[str], list] | None:
    kind, field, direction = rng.choice(list(COMPARISONS))
    entities = world.entities(kind)
    a = entities[rng.randrange(len(entities))]
    if kind == "person" and rng.random() < 0.5:  # a namesake makes retrieval harder
        b = rng.choice(answers.namesakes[a.surname])
    else:
        b = entities[rng.randrange(len(entities))]
    if a is b or getattr(a, field) == getattr(b, field):
        return None
    pick = min if direction == "min" else max
    winner = pick((a, b), key=lambda e: getattr(e, field))
    text = rng.choice(COMPARISONS[(kind, field, direction)]).format(a=_name_phrase(kind, a), b=_name_phrase(kind, b))
    return text[0].upper() + text[1:], answers.entity(kind, winner), [(kind, a), (kind, b)]


def generate_questions(world: World, count: int, seed: int) -> list[Question]:
    """`count` distinct questions about `world` in MIX proportions, deterministic in (world, count, seed)."""
    rng = random.Random(seed)
    answers = _Answers(world)
    questions: list[Question] = []
    texts: set[str] = set()
    for slot_kind, hops in _slots(count, rng):
        for _ in range(1000):
            made = _bridge(world, hops, rng, answers) if slot_kind == "bridge" else _comparison(world, rng, answers)
            if made is None:
                continue
            text, accepted, chain = made
            if text in texts or (slot_kind == "bridge" and _mentions(text, accepted)):
                continue
            break
        else:
            raise ValueError(f"cannot find {count} distinct questions in a world of {len(world.documents)} documents")
        texts.add(text)
        questions.append(
            Question(
                qid=f"q-{len(questions):06d}",
                question=text,
                answers=accepted,
                kind=slot_kind,
                hops=hops,
                supporting_doc_ids=[entity.doc_id for _, entity in chain],
                oracle_queries=[entity.name for _, entity in chain],
            )
        )
    return questions
