"""The generated product catalogue and its search engine.

`Catalogue.generate(seed, size)` draws `size` products from the vocabulary (`vocab`) with
`random.Random(seed)`: the same seed and size give the same catalogue on every run and platform
(Python's `random` with an integer seed is stable across versions for the calls used here).
`shared_catalogue(seed, size)` caches one per process; 5,000 products take about 0.1 s.

Every product has a unique ASIN-like id (`B0` + 8 characters), a product type and category, a
brand, a title that names its brand, type and attributes, a description, feature bullets, a
price, a rating and zero to two option kinds (colour, size, flavour...) with several values each.

`Catalogue.search(query)` ranks products by BM25 over their title, type, category, attributes
and option values (k1 = 1.2, b = 0.75) and returns at most `MAX_RESULTS` ids, best first, ties
broken by catalogue order; a query with no known word returns nothing.
"""

from __future__ import annotations

import functools
import math
import random
import re
import string
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from agentgym.environments.web.webshop.vocab import BRANDS, PRODUCT_TYPES, SERIES, ProductType

MAX_RESULTS = 50
"""A search returns at most this many products (as WebShop does)."""

_WORD = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")


def tokenize(text: str) -> list[str]:
    """Lower-case words; dots and hyphens inside a word are kept ("t-shirt", "1.7")."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Product:
    """One product. `options` maps each option kind to the values this product is sold in."""

    asin: str
    product_type: str
    category: str
    brand: str
    title: str
    description: str
    features: tuple[str, ...]
    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]
    price: float
    rating: float

    @property
    def option_dict(self) -> dict[str, tuple[str, ...]]:
        return dict(self.options)

    def search_text(self) -> str:
        values = " ".join(v for _, vs in self.options for v in vs)
        return f"{self.title} {self.product_type} {self.category} {' '.join(self.attributes)} {values}"


@functools.cache
def _title_case(phrase: str) -> str:
    return " ".join(w if any(c.isdigit() for c in w) else w[:1].upper() + w[1:] for w in phrase.split())


def _make_product(rng: random.Random, asin: str, ptype: ProductType) -> Product:
    brand = rng.choice(BRANDS)
    attributes = tuple(rng.sample(ptype.attributes, rng.choice((2, 3, 3, 4))))
    options: list[tuple[str, tuple[str, ...]]] = []
    for kind, values in ptype.options:
        if rng.random() < 0.15:  # some products come in one variant only
            continue
        count = rng.randint(min(2, len(values)), len(values))
        chosen = set(rng.sample(values, count))
        options.append((kind, tuple(v for v in values if v in chosen)))
    low, high = ptype.price_range
    price = round(math.floor(rng.uniform(low, high)) + rng.choice((0.99, 0.49, 0.95, 0.0)), 2)
    series = rng.choice(SERIES)
    title = f"{brand} {series} {_title_case(ptype.name)} - " + ", ".join(_title_case(a) for a in attributes)
    features = tuple(f"{_title_case(a)}: {rng.choice(_FEATURE_LINES).format(a=a, t=ptype.name)}" for a in attributes)
    features += (rng.choice(_GENERIC_FEATURES).format(t=ptype.name, b=brand),)
    description = " ".join(
        (
            rng.choice(_OPENINGS).format(b=brand, s=series, t=ptype.name),
            rng.choice(_MIDDLES).format(t=ptype.name, a=attributes[0]),
            rng.choice(_CLOSINGS).format(b=brand),
        )
    )
    rating = round(rng.uniform(3.0, 5.0), 1)
    return Product(
        asin, ptype.name, ptype.category, brand, title, description, features, attributes, tuple(options), price, rating
    )


_FEATURE_LINES = (
    "this {t} is {a}, as our customers asked.",
    "{a} by design, tested in our own lab.",
    "a {t} you can count on: {a}.",
    "made to be {a} for everyday use.",
)
_GENERIC_FEATURES = (
    "Satisfaction guaranteed: return your {t} within 30 days.",
    "Designed by {b} and shipped in recyclable packaging.",
    "Backed by the {b} one-year warranty.",
)
_OPENINGS = (
    "Meet the {b} {s} {t}.",
    "The {s} {t} from {b} is here.",
    "{b} presents its {s} line of {t} products.",
)
_MIDDLES = (
    "Every {t} is checked by hand, and it is {a}.",
    "Shoppers choose this {t} because it is {a}.",
    "We built this {t} around one promise: {a}.",
)
_CLOSINGS = (
    "Order today and see why people love {b}.",
    "{b} stands behind everything it makes.",
    "Thank you for choosing {b}.",
)


class Catalogue:
    """An immutable list of products with lookup by ASIN and BM25 search."""

    def __init__(self, products: list[Product], seed: int):
        self.seed = seed
        self.products: tuple[Product, ...] = tuple(products)
        self.by_asin: dict[str, Product] = {p.asin: p for p in products}
        if len(self.by_asin) != len(products):
            raise ValueError("duplicate ASINs in the catalogue")
        self._build_index()

    @classmethod
    def generate(cls, seed: int = 0, size: int = 5000) -> Catalogue:
        """`size` products drawn deterministically from `seed`."""
        if size < len(PRODUCT_TYPES):
            raise ValueError(f"a catalogue needs at least {len(PRODUCT_TYPES)} products, got {size}")
        rng = random.Random(seed)
        alphabet = string.ascii_uppercase + string.digits
        asins: set[str] = set()
        products = []
        for index in range(size):
            asin = "B0" + "".join(rng.choices(alphabet, k=8))
            while asin in asins:
                asin = "B0" + "".join(rng.choices(alphabet, k=8))
            asins.add(asin)
            # every type appears at least once, then types are drawn uniformly
            ptype = PRODUCT_TYPES[index] if index < len(PRODUCT_TYPES) else rng.choice(PRODUCT_TYPES)
            products.append(_make_product(rng, asin, ptype))
        rng.shuffle(products)
        return cls(products, seed)

    def __len__(self) -> int:
        return len(self.products)

    def _build_index(self, k1: float = 1.2, b: float = 0.75) -> None:
        postings: dict[str, dict[int, int]] = defaultdict(dict)
        lengths = np.zeros(len(self.products))
        for doc, product in enumerate(self.products):
            words = tokenize(product.search_text())
            lengths[doc] = len(words)
            for word in words:
                postings[word][doc] = postings[word].get(doc, 0) + 1
        norm = k1 * (1 - b + b * lengths / lengths.mean())
        n = len(self.products)
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for word, counts in postings.items():
            docs = np.fromiter(counts, dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            idf = math.log(1 + (n - len(docs) + 0.5) / (len(docs) + 0.5))
            self._postings[word] = (docs, idf * tf * (k1 + 1) / (tf + norm[docs]))

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (catalogues live for the process)
    def search(self, query: str) -> tuple[str, ...]:
        """The ids of at most `MAX_RESULTS` products matching `query`, best first."""
        scores = np.zeros(len(self.products))
        for word in set(tokenize(query)):
            if word in self._postings:
                docs, weights = self._postings[word]
                scores[docs] += weights
        hits = np.flatnonzero(scores > 0)
        if hits.size == 0:
            return ()
        order = hits[np.lexsort((hits, -scores[hits]))][:MAX_RESULTS]
        return tuple(self.products[i].asin for i in order)


@functools.lru_cache(maxsize=4)
def shared_catalogue(seed: int = 0, size: int = 5000) -> Catalogue:
    """The process-wide catalogue for (seed, size), generated on first use."""
    return Catalogue.generate(seed, size)
