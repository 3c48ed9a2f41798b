"""A seeded generator of a fictional world: the knowledge base behind `search-qa-v0`.

The world is invented from scratch, so no language model can know its facts from pre-training
(the questions are contamination-free: they can only be answered by searching its documents).
It holds five kinds of entity, each with its attributes and its relations to other entities:

- countries: a short and an official long name, a region of the world, a year of establishment,
  a capital city (one of its own cities) and a few neighbours (filler);
- cities: a country, a founding year, a population and a river;
- people: a birth year, a birthplace (city), an occupation, an employer (organisation), and
  optionally a mentor (an older person) and a spouse (married couples point at each other);
- organisations: a founder (person), a founding year, a headquarters city and an industry;
- events: a year, a host city, an organiser (organisation) and a guest of honour (person).

Contracts:

- Determinism: `generate_world(seed, n)` is a pure function of its arguments. All randomness
  comes from one `random.Random(seed)`; there is no global state and nothing is read from the
  machine, so every machine builds the same world (Python does not promise that every `random`
  method keeps its algorithm across versions; the ones used here have not changed in years).
- One document per entity: `len(world.documents) == num_documents` exactly; the entity counts
  are derived from `num_documents` (`entity_counts`).
- Names are unique per world: every title is distinct, built from invented syllables that are
  kept apart per kind (a given name is never a surname, a city, a river...). Overlap is
  deliberate only where it makes retrieval harder: people share surnames, some organisations
  and some events share a root ("Velloran Exposition", "Velloran Regatta"), and some cities are
  named after another city ("North Vesk" beside "Vesk").
- Every fact (attribute or relation) of an entity is stated in its own document's text, and a
  relation names the related entity by its exact title (see `documents.py`).

`GENERATOR_VERSION` covers this module, `documents.py` and `questions.py`: bump it whenever
their output for a given seed changes, so cached corpora (`corpus.py`) are rebuilt.
"""

from __future__ import annotations

import bisect
import dataclasses
import random
from dataclasses import dataclass, field
from functools import cached_property

from agentgym.environments.search.documents import Document, render_documents

GENERATOR_VERSION = "3"
MIN_DOCUMENTS = 30

# --- invented names ---------------------------------------------------------------------------

_ONSETS = ("b br d dr f g gr h k kr l m n p qu r s sk st t th tr v vr z w").split()
_SINGLE_ONSETS = [o for o in _ONSETS if len(o) == 1]
_VOWELS = "a e i o u a e o ae ai ei ou y".split()
_CODAS = ["", "", "", "l", "n", "r", "s", "m", "th", "rn", "ld", "sk"]
_SOFT_CODAS = ["", "l", "n", "r"]
_VOWEL_CODAS = ["l", "n", "r", "s", "th"]


@dataclass(frozen=True)
class NameStyle:
    """How one kind of name is built: one invented syllable (two with probability `two_syllables`)
    and an ending, at most `max_length` letters."""

    endings: tuple[str, ...]
    two_syllables: float = 0.3
    max_length: int = 10


GIVEN = NameStyle(
    tuple("ric wen mira thas riel vyn dris lune mael quin vara leth nor ssa wyth ndra lia bek".split()), max_length=9
)
SURNAME = NameStyle(
    tuple("moor vale wick holm gard mere fell crest wold rath stad brand hollow dane thorne vane ander ock".split())
)
CITY = NameStyle(tuple("avel oria ska ith ovar enna usk arra ond ast eth ova ir orn essa ane unde ach".split()))
COUNTRY = NameStyle(tuple("ia ovia essa and ene ora adia enne ur istra onia".split()), two_syllables=0.1, max_length=9)
RIVER = NameStyle(tuple("el an ra is ett une ow ine".split()), two_syllables=0.2, max_length=8)
ORG_ROOT = NameStyle(tuple("ant ell ine ard ory ex ian ond era ix aly".split()))
EVENT_ROOT = NameStyle(tuple("oran ellic ish ine ean ari ic".split()))
REGION_ROOT = NameStyle(tuple("ic ish ene ar ian".split()), two_syllables=0.0, max_length=8)

# Real words and names the syllables can spell, never used: every dictionary word (Debian's
# wamerican, proper names included) that one syllable and an ending can spell, those found among
# 100,000 random two-syllable names per style, and some common names and places.
_REAL = frozenset(
    """
    adrian alan alar alaric albania alex aline ara aria ariel armenian asia asian austria banach banish basel
    basic basis befell below beria berlin berra berwick bethune bolivia boris bosnia boston bowen brandon
    brothel byline chad croatia cuba dalian danish delhi delia delis denis derek donor dora dorian doric doris
    dothan dunant duran durant durex dylan elmira era eric eris estonia ethan ethel ethic feline felix fenian
    ferric finis finish fora frederic gaelic galvanic gambia gareth garish genera georgia gerard golan gordon
    gothic haldane harold helena helene helix hera honor ilene inane india indra ira iran irene iris irish
    isis kara kendra kenya koran korean kronor lara lassa laura leland lelia lena lenard lenora libya lilia
    lilian lilith lima linda lira lisa london lora lorene lunar luria lyra lyric madrid mali malian malory
    malta mania manic manor mara maria marian marine maris mathis melissa menander methane milan minis minor
    mira mirach molar moldova monera moran mulish mundane muriel murine music mylar myra mythic nathan nigeria
    nisan nolan nora norman nourish olivia oman ora oran organic owen panel panic paris parish penis perish
    peru poland polar polish punic punish pusan pyrex quasar quinine regard relic relish reran resell roland
    rolex rome rotarian runic russia saline salish sandra sara saran saris sequin sera serbia serene serra
    skyline slovakia slovenia solar solis sonar sondra sonia sonic stylish susan syria syrian tania tara telex
    tenant tenor terra tessa thailand thalia thesis thousand tonia tonic tulane tundra tunic tunis tunisia
    tyrant ukraine unix uric uriel urine uris vanessa vanish vera victoria vienna warwick zairian zambia zara
    zenith
    """.split()
)


class NameMaker:
    """Draws unique names from a seeded generator; `used` is shared by every style of a world."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _syllable(self, first: bool, previous_coda: str) -> tuple[str, str]:
        rng = self.rng
        if first:
            onset = rng.choice(_ONSETS) if rng.random() < 0.85 else ""
        else:
            onset = rng.choice(_SINGLE_ONSETS if previous_coda else _ONSETS)
        return onset + rng.choice(_VOWELS), rng.choice(_CODAS)

    def _spell(self, style: NameStyle) -> str:
        rng = self.rng
        count = 2 if rng.random() < style.two_syllables else 1
        ending = rng.choice(style.endings)
        parts: list[str] = []
        coda = ""
        for i in range(count):
            body, coda = self._syllable(i == 0, coda)
            if i == count - 1:  # the last coda must join the ending smoothly
                coda = rng.choice(_VOWEL_CODAS if ending[0] in "aeiouy" else _SOFT_CODAS)
            parts.append(body + coda)
        return ("".join(parts) + ending).capitalize()

    def new(self, style: NameStyle) -> str:
        """A name never returned before (by any style) that reads like a name and is not real."""
        while True:
            name = self._spell(style)
            lower = name.lower()
            if (
                4 <= len(name) <= style.max_length
                and lower not in _REAL
                and name not in self.used
                and not any(a == b == c for a, b, c in zip(lower, lower[1:], lower[2:], strict=False))
            ):
                self.used.add(name)
                return name


# --- entities ---------------------------------------------------------------------------------

OCCUPATIONS = tuple(
    """cartographer clockmaker astronomer glassblower botanist shipwright physician architect
    printer engraver chemist surveyor composer painter sculptor lawyer banker weaver brewer
    poet novelist historian engineer mathematician geologist apothecary diplomat merchant
    bookbinder luthier stonemason translator photographer journalist economist""".split()
)
INDUSTRIES = (
    "shipbuilding",
    "glassmaking",
    "publishing",
    "banking",
    "mining",
    "textiles",
    "brewing",
    "railways",
    "insurance",
    "salt trading",
    "instrument making",
    "pharmaceuticals",
    "shipping",
    "timber",
    "porcelain",
    "telegraphy",
    "papermaking",
    "metalworking",
    "fisheries",
    "map printing",
)
ORG_SUFFIXES = tuple(
    "Group Company Works Society Guild Trust Holdings Consortium Foundation Institute Partners Syndicate Collective".split()
)
EVENT_KINDS = tuple(
    "Exposition Summit Festival Congress Regatta Fair Symposium Jubilee Convention Assembly Tournament".split()
)
GOVERNMENTS = ("Kingdom", "Republic", "Grand Duchy", "Federation", "Principality", "Free State", "Commonwealth")
REGION_KINDS = ("Reach", "Expanse", "Marches", "Archipelago", "Highlands", "Basin", "Coast", "Steppe")
CITY_PREFIXES = ("North", "South", "East", "West", "New", "Old", "Upper", "Lower", "Port", "Fort")


@dataclass(frozen=True)
class Country:
    name: str
    long_name: str
    region: str
    established: int
    capital: int
    neighbours: tuple[int, ...]
    doc_id: str


@dataclass(frozen=True)
class City:
    name: str
    country: int
    founded: int
    population: int
    river: str
    namesake: int | None
    doc_id: str


@dataclass(frozen=True)
class Person:
    name: str
    given: str
    surname: str
    pronoun: str
    birth_year: int
    birthplace: int
    occupation: str
    employer: int
    mentor: int | None
    spouse: int | None
    settled_in: int | None
    doc_id: str


@dataclass(frozen=True)
class Organisation:
    name: str
    industry: str
    founder: int
    founded: int
    headquarters: int
    staff: int
    doc_id: str


@dataclass(frozen=True)
class Event:
    name: str
    kind: str
    year: int
    city: int
    organiser: int
    guest: int
    visitors: int
    days: int
    doc_id: str


ENTITY_KINDS = ("country", "city", "person", "organisation", "event")


@dataclass(frozen=True)
class World:
    """A generated world; entities refer to each other by index into the lists of their kind."""

    seed: int
    regions: tuple[str, ...]
    countries: tuple[Country, ...]
    cities: tuple[City, ...]
    people: tuple[Person, ...]
    organisations: tuple[Organisation, ...]
    events: tuple[Event, ...]
    documents: tuple[Document, ...] = field(repr=False)

    def entities(self, kind: str) -> tuple:
        """The entities of one of `ENTITY_KINDS`."""
        return {
            "country": self.countries,
            "city": self.cities,
            "person": self.people,
            "organisation": self.organisations,
            "event": self.events,
        }[kind]

    @cached_property
    def document_index(self) -> dict[str, Document]:
        return {doc.id: doc for doc in self.documents}

    def document(self, doc_id: str) -> Document:
        return self.document_index[doc_id]


def entity_counts(num_documents: int) -> dict[str, int]:
    """How many entities of each kind a world of `num_documents` documents has (they sum to it)."""
    if num_documents < MIN_DOCUMENTS:
        raise ValueError(f"a world needs at least {MIN_DOCUMENTS} documents, got {num_documents}")
    countries = max(3, round(num_documents * 0.008))
    cities = max(2 * countries, round(num_documents * 0.10))
    organisations = max(3, round(num_documents * 0.12))
    events = max(3, round(num_documents * 0.12))
    people = num_documents - countries - cities - organisations - events
    return {"country": countries, "city": cities, "person": people, "organisation": organisations, "event": events}


def _pick_in_range(rng: random.Random, sorted_years: list[int], order: list[int], low: int, high: int) -> int | None:
    """A random index (from `order`, sorted by `sorted_years`) whose year lies in [low, high]."""
    start, stop = bisect.bisect_left(sorted_years, low), bisect.bisect_right(sorted_years, high)
    return order[rng.randrange(start, stop)] if stop > start else None


def generate_world(seed: int = 0, num_documents: int = 10_000) -> World:
    """Generate the world of `seed` with exactly `num_documents` documents (one per entity)."""
    rng = random.Random(seed)
    counts = entity_counts(num_documents)
    names = NameMaker(rng)
    width = max(6, len(str(num_documents - 1)))
    ids = [f"doc-{i:0{width}d}" for i in range(num_documents)]
    rng.shuffle(ids)
    doc_ids: dict[str, list[str]] = {}
    start = 0
    for kind in ENTITY_KINDS:
        doc_ids[kind] = ids[start : start + counts[kind]]
        start += counts[kind]

    # regions and countries
    n_countries, n_cities = counts["country"], counts["city"]
    regions = tuple(
        f"{names.new(REGION_ROOT)} {rng.choice(REGION_KINDS)}" for _ in range(max(2, min(10, n_countries // 8 + 2)))
    )
    country_names = [names.new(COUNTRY) for _ in range(n_countries)]
    country_region = [rng.randrange(len(regions)) for _ in range(n_countries)]

    # cities: one per country first (its capital), the rest anywhere; some named after another
    rivers = [names.new(RIVER) for _ in range(max(2, n_cities // 3))]
    city_country = list(range(n_countries)) + [rng.randrange(n_countries) for _ in range(n_cities - n_countries)]
    city_names: list[str] = []
    namesakes: list[int | None] = []
    taken: set[str] = set()
    for i in range(n_cities):
        namesake = None
        if i > n_countries and rng.random() < 0.15:
            base = rng.randrange(i)
            if namesakes[base] is None:
                candidate = f"{rng.choice(CITY_PREFIXES)} {city_names[base]}"
                if candidate not in taken:
                    namesake = base
                    city_names.append(candidate)
        if namesake is None:
            city_names.append(names.new(CITY))
        taken.add(city_names[-1])
        namesakes.append(namesake)
    cities = tuple(
        City(
            name=city_names[i],
            country=city_country[i],
            founded=rng.randint(600, 1880),
            population=min(4_800_000, max(800, int(rng.lognormvariate(10.3, 1.3)))),
            river=rivers[rng.randrange(len(rivers))],
            namesake=namesakes[i],
            doc_id=doc_ids["city"][i],
        )
        for i in range(n_cities)
    )
    by_region: dict[int, list[int]] = {}
    for c, r in enumerate(country_region):
        by_region.setdefault(r, []).append(c)
    countries = []
    for c in range(n_countries):
        others = [o for o in by_region[country_region[c]] if o != c]
        neighbours = tuple(rng.sample(others, min(len(others), rng.randint(1, 3))))
        government = rng.choice(GOVERNMENTS)
        countries.append(
            Country(
                name=country_names[c],
                long_name=f"{government} of {country_names[c]}",
                region=regions[country_region[c]],
                established=rng.randint(1100, 1950),
                capital=c,
                neighbours=neighbours,
                doc_id=doc_ids["country"][c],
            )
        )

    # people: names, birth years, birthplaces; relations come after every person exists
    n_people = counts["person"]
    surnames = [names.new(SURNAME) for _ in range(max(2, n_people // 4))]
    givens = [names.new(GIVEN) for _ in range(max(4, min(4000, n_people // 8 + 20)))]
    full_names: set[str] = set()
    people_names: list[tuple[str, str]] = []
    for _ in range(n_people):
        while True:
            given, surname = rng.choice(givens), rng.choice(surnames)
            if f"{given} {surname}" not in full_names:
                break
        full_names.add(f"{given} {surname}")
        people_names.append((given, surname))
    births = [rng.randint(1700, 1985) for _ in range(n_people)]
    by_birth = sorted(range(n_people), key=births.__getitem__)
    sorted_births = [births[p] for p in by_birth]

    # organisations: founders are people, founded 20-55 years after their birth
    n_orgs = counts["organisation"]
    org_names: list[str] = []
    roots: list[str] = []
    for _ in range(n_orgs):
        while True:
            root = rng.choice(roots) if roots and rng.random() < 0.2 else names.new(ORG_ROOT)
            name = f"{root} {rng.choice(ORG_SUFFIXES)}"
            if name not in taken:
                break
        roots.append(root)
        taken.add(name)
        org_names.append(name)
    founders = [rng.randrange(n_people) for _ in range(n_orgs)]
    organisations = tuple(
        Organisation(
            name=org_names[o],
            industry=rng.choice(INDUSTRIES),
            founder=founders[o],
            founded=min(2020, births[founders[o]] + rng.randint(20, 55)),
            headquarters=rng.randrange(n_cities),
            staff=rng.randint(2, 400) * 10,
            doc_id=doc_ids["organisation"][o],
        )
        for o in range(n_orgs)
    )
    by_founding = sorted(range(n_orgs), key=lambda o: organisations[o].founded)
    sorted_foundings = [organisations[o].founded for o in by_founding]

    # spouses: neighbours in birth order, married with some probability
    spouse: list[int | None] = [None] * n_people
    k = 0
    while k + 1 < n_people:
        if rng.random() < 0.5:
            a, b = by_birth[k], by_birth[k + 1]
            spouse[a], spouse[b] = b, a
            k += 2
        else:
            k += 1
    people = []
    for p in range(n_people):
        given, surname = people_names[p]
        born = births[p]
        mentor = _pick_in_range(rng, sorted_births, by_birth, born - 45, born - 12) if rng.random() < 0.6 else None
        employer = _pick_in_range(rng, sorted_foundings, by_founding, -10_000, born + 45)
        birthplace = rng.randrange(n_cities)
        settled = rng.randrange(n_cities) if rng.random() < 0.3 else None
        people.append(
            Person(
                name=f"{given} {surname}",
                given=given,
                surname=surname,
                pronoun=rng.choice(("he", "she")),
                birth_year=born,
                birthplace=birthplace,
                occupation=rng.choice(OCCUPATIONS),
                employer=employer if employer is not None else rng.randrange(n_orgs),
                mentor=mentor,
                spouse=spouse[p],
                settled_in=settled if settled != birthplace else None,
                doc_id=doc_ids["person"][p],
            )
        )

    # events: after their organiser's founding; the guest of honour was alive and adult
    n_events = counts["event"]
    event_roots: list[str] = []
    events = []
    for e in range(n_events):
        while True:
            root = rng.choice(event_roots) if event_roots and rng.random() < 0.2 else names.new(EVENT_ROOT)
            kind = rng.choice(EVENT_KINDS)
            if f"{root} {kind}" not in taken:
                break
        event_roots.append(root)
        taken.add(f"{root} {kind}")
        organiser = rng.randrange(n_orgs)
        year = min(2023, organisations[organiser].founded + rng.randint(1, 90))
        guest = _pick_in_range(rng, sorted_births, by_birth, year - 75, year - 18)
        events.append(
            Event(
                name=f"{root} {kind}",
                kind=kind,
                year=year,
                city=rng.randrange(n_cities),
                organiser=organiser,
                guest=guest if guest is not None else rng.randrange(n_people),
                visitors=rng.randint(3, 900) * 100,
                days=rng.randint(1, 14),
                doc_id=doc_ids["event"][e],
            )
        )

    world = World(
        seed=seed,
        regions=regions,
        countries=tuple(countries),
        cities=cities,
        people=tuple(people),
        organisations=organisations,
        events=tuple(events),
        documents=(),
    )
    documents = render_documents(world, random.Random(rng.getrandbits(64)))
    return dataclasses.replace(world, documents=tuple(sorted(documents, key=lambda d: d.id)))
