"""Documents of the fictional encyclopedia: one per entity, in Search-R1's corpus format.

Contracts:

- `Document.id` is "doc-" and a zero-padded number, unique in a world; `title` is the entity's
  name, unique in a world; `contents` is `f'"{title}"\\n{text}'`, the `contents` field of
  Search-R1's retrieval corpus (Jin et al., arXiv 2503.09516), which retrievers index.
- `text` is an encyclopedia-style paragraph of 40 to 120 words that states every attribute
  and relation of the entity in varied natural sentences (several phrasings each, order shuffled
  after the opening sentence). A related entity is always named by its exact title, a year is
  written as four digits, a population with thousands separators ("48,213"), a river as
  "the <Name> River", so a question's hop is answerable from this one document.
- Filler (what a person is remembered for, a city's landmarks, a country's neighbours) adds
  realistic noise; it never states a value of an attribute that questions ask about.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # world.py imports this module to render its documents
    from agentgym.environments.search.world import City, Country, Event, Organisation, Person, World

MIN_WORDS = 40
MAX_WORDS = 120


@dataclass(frozen=True, slots=True)
class Document:
    """One encyclopedia entry."""

    id: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        """The Search-R1 corpus format: the quoted title, a newline, the text."""
        return f'"{self.title}"\n{self.text}'

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "text": self.text}


def article(word: str) -> str:
    """The indefinite article for `word`."""
    return "an" if word[0].lower() in "aeiou" else "a"


# --- phrasing tables --------------------------------------------------------------------------

_WORK_ADJECTIVES = "influential|widely read|controversial|careful|celebrated|short|forgotten|much-copied".split("|")
_WORK_NOUNS = "treatise|survey|study|series of lectures|handbook|report|memoir|catalogue".split("|")
_WORK_TOPICS = (
    "tidal clocks|river silt|lamp oil|salt marshes|coastal fog|copper alloys|bridge arches|winter wheat|"
    "migratory birds|harbour tides|mountain passes|bell casting|ink recipes|star charts|flood defences|"
    "weaving patterns|trade routes|old coinage|glass lenses|folk songs"
).split("|")
_TRAITS = (
    "patient and exacting|restless and ambitious|generous with students|quarrelsome but brilliant|"
    "shy and meticulous|witty and well travelled|stubborn and inventive"
).split("|")
_LANDMARKS = (
    "old stone bridges|covered markets|clock towers|salt warehouses|terraced gardens|harbour lighthouse|"
    "glass-domed library|canal locks|lantern fair|printing houses|painted gates|fish market"
).split("|")
_ORG_NOUNS = ("firm", "organisation", "concern", "enterprise")
_ORG_KNOWN_FOR = (
    "its annual almanac|a long-running apprenticeship scheme|its distinctive blue ledgers|"
    "a public reading room|its founder's strict rules|a costly lawsuit over patents|its winter charity fair"
).split("|")
_EVENT_DESCRIPTIONS = {
    "Exposition": "public exhibition",
    "Summit": "meeting of regional leaders",
    "Festival": "festival",
    "Congress": "scholarly congress",
    "Regatta": "boat race",
    "Fair": "trade fair",
    "Symposium": "symposium",
    "Jubilee": "jubilee celebration",
    "Convention": "convention",
    "Assembly": "public assembly",
    "Tournament": "tournament",
}
_TRADES = "fishing|wool|river trade|tanneries|orchards|quarries|shipyards|printing|salt|tourism".split("|")
_COLOURS = "red blue green white black golden grey".split()
_EMBLEMS = "heron|tower|key|wheel|oak|star|ship|lantern".split("|")


def _cap(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:]


def _paragraph(rng: random.Random, opening: str, facts: list[str], fillers: list[str]) -> str:
    """Opening sentence, then the facts in random order, then filler until the text is long enough."""
    rng.shuffle(facts)
    sentences = [opening, *facts]
    words = sum(len(s.split()) for s in sentences)
    rng.shuffle(fillers)
    for filler in fillers:
        if words >= MIN_WORDS + rng.randrange(25):
            break
        if words + len(filler.split()) > MAX_WORDS:
            continue
        sentences.append(filler)
        words += len(filler.split())
    return " ".join(_cap(s) for s in sentences)


def _works(rng: random.Random, count: int) -> list[str]:
    """`count` invented works on distinct topics: "an influential treatise on tidal clocks"."""
    works = []
    for topic in rng.sample(_WORK_TOPICS, count):
        adjective = rng.choice(_WORK_ADJECTIVES)
        works.append(f"{article(adjective)} {adjective} {rng.choice(_WORK_NOUNS)} on {topic}")
    return works


# --- one renderer per kind ------------------------------------------------------------------------


def _person(world: World, p: Person, rng: random.Random) -> str:
    pr, poss = p.pronoun, ("his" if p.pronoun == "he" else "her")
    obj = "him" if p.pronoun == "he" else "her"
    city = world.cities[p.birthplace].name
    occ, year = p.occupation, p.birth_year
    opening = rng.choice(
        (
            f"{p.name} was {article(occ)} {occ} born in {city} in {year}.",
            f"{p.name} (born {year} in {city}) was {article(occ)} {occ}.",
            f"born in {city} in {year}, {p.name} became {article(occ)} {occ}.",
            f"{p.name} was born in {year} in the city of {city} and worked as {article(occ)} {occ}.",
        )
    )
    org = world.organisations[p.employer].name
    facts = [
        rng.choice(
            (
                f"{pr} worked for {org} for most of {poss} career.",
                f"{pr} was employed by {org}.",
                f"for many years {pr} worked at {org}.",
                f"{poss} employer was {org}.",
            )
        )
    ]
    if p.mentor is not None:
        mentor = world.people[p.mentor].name
        facts.append(
            rng.choice(
                (
                    f"{pr} trained under {mentor}.",
                    f"{poss} mentor was {mentor}.",
                    f"as a young {occ}, {pr} was mentored by {mentor}.",
                )
            )
        )
    if p.spouse is not None:
        spouse = world.people[p.spouse].name
        facts.append(
            rng.choice((f"{pr} was married to {spouse}.", f"{pr} married {spouse}.", f"{poss} spouse was {spouse}."))
        )
    if p.settled_in is not None:
        other = world.cities[p.settled_in].name
        facts.append(
            rng.choice((f"later in life {pr} settled in {other}.", f"{pr} spent {poss} final years in {other}."))
        )
    first, second, third = _works(rng, 3)
    fillers = [
        f"{pr} is remembered for {first}.",
        f"{poss} best-known work is {second}.",
        f"contemporaries described {obj} as {rng.choice(_TRAITS)}.",
        f"{pr} also wrote {third}, published late in {poss} life.",
    ]
    return _paragraph(rng, opening, facts, fillers)


def _city(world: World, c: City, rng: random.Random, is_capital: bool) -> str:
    country_index = c.country
    country = world.countries[country_index].name
    size = "small" if c.population < 20_000 else "large" if c.population > 300_000 else "mid-sized"
    opening = rng.choice(
        (
            f"{c.name} is a {size} city in {country}, founded in {c.founded}.",
            f"founded in {c.founded}, {c.name} is a {size} city of {country}.",
            f"{c.name} is a city in {country}. It was founded in {c.founded}.",
        )
    )
    pop = f"{c.population:,}"
    facts = [
        rng.choice(
            (
                f"it lies on the {c.river} River.",
                f"the {c.river} River flows through the city.",
                f"{c.name} stands on the banks of the {c.river} River.",
            )
        ),
        rng.choice(
            (
                f"it has a population of {pop}.",
                f"its population is {pop}.",
                f"the city has {pop} inhabitants.",
                f"{c.name} is home to {pop} people.",
            )
        ),
    ]
    if is_capital:
        facts.append(rng.choice((f"{c.name} is the capital of {country}.", f"it serves as the capital of {country}.")))
    first, second = rng.sample(_LANDMARKS, 2)
    fillers = [
        f"it is known for its {first}.",
        f"visitors come for its {second}.",
        f"its economy rests on {rng.choice(_TRADES)}.",
        f"the oldest quarter of the city grew up around its {rng.choice(('cathedral', 'harbour', 'castle', 'river ford', 'market square'))}.",
        f"a weekly market is held there every {rng.choice(('Monday', 'Tuesday', 'Thursday', 'Saturday'))}.",
    ]
    if c.namesake is not None:
        fillers.append(f"it is not to be confused with {world.cities[c.namesake].name}.")
    return _paragraph(rng, opening, facts, fillers)


def _country(world: World, k: Country, rng: random.Random) -> str:
    opening = rng.choice(
        (
            f"{k.name}, officially the {k.long_name}, is a country in the {k.region}.",
            f"the {k.long_name}, usually called {k.name}, is a country of the {k.region}.",
        )
    )
    capital = world.cities[k.capital].name
    facts = [
        rng.choice(
            (
                f"it was established in {k.established}.",
                f"{k.name} became a state in {k.established}.",
                f"the state was founded in {k.established}.",
            )
        ),
        rng.choice(
            (
                f"its capital is {capital}.",
                f"the capital city of {k.name} is {capital}.",
                f"{capital} serves as its capital.",
            )
        ),
    ]
    first, second = rng.sample(_TRADES, 2)
    fillers = [
        f"its economy relies on {first} and {second}.",
        f"its flag shows a {rng.choice(_COLOURS)} {rng.choice(_EMBLEMS)} on a {rng.choice(_COLOURS)} field.",
    ]
    if k.neighbours:
        names = [world.countries[n].name for n in k.neighbours]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        fillers.append(f"it borders {listed}.")
    fillers.append(
        f"most of its people live in the {rng.choice(('river valleys', 'coastal plains', 'hill country', 'north', 'south'))}."
    )
    fillers.append(
        f"it is known abroad for its {rng.choice(('wool', 'wine', 'timber', 'salt', 'horses', 'glassware', 'music'))}."
    )
    return _paragraph(rng, opening, facts, fillers)


def _organisation(world: World, o: Organisation, rng: random.Random) -> str:
    founder = world.people[o.founder].name
    noun = rng.choice(_ORG_NOUNS)
    opening = rng.choice(
        (
            f"{o.name} is {article(o.industry)} {o.industry} {noun} founded in {o.founded} by {founder}.",
            f"founded by {founder} in {o.founded}, {o.name} is {article(o.industry)} {o.industry} {noun}.",
            f"{o.name} is {article(noun)} {noun} working in {o.industry}. It was founded in {o.founded} by {founder}.",
        )
    )
    city = world.cities[o.headquarters].name
    facts = [
        rng.choice(
            (
                f"it is headquartered in {city}.",
                f"its headquarters are in {city}.",
                f"the {noun} is based in {city}.",
            )
        )
    ]
    fillers = [
        f"it employs about {o.staff:,} people.",
        f"it is best known for {rng.choice(_ORG_KNOWN_FOR)}.",
        f"in its early years it struggled to raise money, but {rng.choice(('trade', 'credit', 'demand'))} soon grew.",
        f"its records are kept in {rng.choice(('a private archive', 'the company vaults', 'a public library'))}.",
        f"its members meet once a year to {rng.choice(('elect a board', 'review accounts', 'award prizes'))}.",
    ]
    return _paragraph(rng, opening, facts, fillers)


def _event(world: World, e: Event, rng: random.Random) -> str:
    city = world.cities[e.city].name
    description = _EVENT_DESCRIPTIONS[e.kind]
    opening = rng.choice(
        (
            f"the {e.name} was {article(description)} {description} held in {city} in {e.year}.",
            f"in {e.year}, {city} hosted the {e.name}, {article(description)} {description}.",
        )
    )
    org, guest = world.organisations[e.organiser].name, world.people[e.guest].name
    facts = [
        rng.choice((f"it was organised by {org}.", f"{org} organised the event.")),
        rng.choice((f"its guest of honour was {guest}.", f"{guest} attended as guest of honour.")),
    ]
    days = "one day" if e.days == 1 else f"{e.days} days"
    fillers = [
        f"it lasted {days} and drew about {e.visitors:,} visitors.",
        f"newspapers praised its {rng.choice(('organisation', 'opening ceremony', 'closing speeches', 'decorations'))}.",
        f"a {rng.choice(_COLOURS)} commemorative medal was struck for the occasion.",
        f"its programme included {rng.choice(('lectures', 'parades', 'concerts', 'banquets', 'demonstrations'))} and public debates.",
        f"several foreign delegations attended, and the weather was {rng.choice(('mild', 'stormy', 'unusually hot', 'cold'))}.",
    ]
    return _paragraph(rng, opening, facts, fillers)


def render_documents(world: World, rng: random.Random) -> list[Document]:
    """One document per entity of `world` (in entity order: countries, cities, people, ...)."""
    capitals = {k.capital for k in world.countries}
    documents = [Document(k.doc_id, k.name, _country(world, k, rng)) for k in world.countries]
    documents += [Document(c.doc_id, c.name, _city(world, c, rng, i in capitals)) for i, c in enumerate(world.cities)]
    documents += [Document(p.doc_id, p.name, _person(world, p, rng)) for p in world.people]
    documents += [Document(o.doc_id, o.name, _organisation(world, o, rng)) for o in world.organisations]
    documents += [Document(e.doc_id, e.name, _event(world, e, rng)) for e in world.events]
    return documents
