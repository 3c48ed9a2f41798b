"""Shopping tasks: a goal drawn from a target product, and its natural-language instruction.

`make_goal(catalogue, index)` is deterministic in (catalogue seed, catalogue size, index): it
draws the target product, one to three of its attributes, one offered value of each of its
option kinds, and a price limit above its price (the first multiple of ten above the price plus
0, 10 or 20 dollars), then writes an instruction such as "i need a long lasting, gluten free
snack bar in chocolate flavor, pack of 6, and price lower than 30.00 dollars". Any product of the
same type with those attributes, offered in those options, within the limit, fulfils the goal
as well as the target does (WebShop's reward counts it as a perfect purchase too).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from agentgym.environments.web.webshop.catalogue import Catalogue
from agentgym.environments.web.webshop.vocab import OPTION_PHRASES, TYPES_BY_NAME


@dataclass(frozen=True)
class Goal:
    """What the shopper wants. `options` maps option kind to the wanted value."""

    asin: str
    product_type: str
    category: str
    attributes: tuple[str, ...]
    options: tuple[tuple[str, str], ...]
    price_upper: float
    instruction: str

    @property
    def option_dict(self) -> dict[str, str]:
        return dict(self.options)

    def to_dict(self) -> dict:
        return {
            "asin": self.asin,
            "product_type": self.product_type,
            "category": self.category,
            "attributes": list(self.attributes),
            "options": dict(self.options),
            "price_upper": self.price_upper,
            "instruction": self.instruction,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Goal:
        """A goal from `to_dict`'s form; the instruction is rewritten when missing."""
        ptype = TYPES_BY_NAME.get(data.get("product_type", ""))
        if ptype is None:
            raise ValueError(
                f"goal product_type must be one of {sorted(TYPES_BY_NAME)}, got {data.get('product_type')!r}"
            )
        attributes = tuple(data.get("attributes", ()))
        options = tuple(dict(data.get("options", {})).items())
        price_upper = float(data.get("price_upper", 1_000_000.0))
        instruction = data.get("instruction") or write_instruction(
            ptype.name, attributes, options, price_upper, opener="i am looking for"
        )
        return cls(str(data.get("asin", "")), ptype.name, ptype.category, attributes, options, price_upper, instruction)


_OPENERS = ("i need", "i am looking for", "i want to buy", "find me", "i would like")


def write_instruction(
    product_type: str,
    attributes: tuple[str, ...],
    options: tuple[tuple[str, str], ...],
    price_upper: float,
    *,
    opener: str,
) -> str:
    """The instruction text for a goal, all lower case as in WebShop."""
    article = TYPES_BY_NAME[product_type].article
    parts = [opener]
    if article:
        first = (attributes[0] if attributes else product_type)[0]
        parts.append("an" if first in "aeiou" else "a")
    if attributes:
        parts.append(", ".join(attributes))
    parts.append(product_type)
    text = " ".join(parts)
    option_text = ", ".join(OPTION_PHRASES[kind].format(value) for kind, value in options)
    if option_text:
        text += f" {option_text}"
    return f"{text}, and price lower than {price_upper:.2f} dollars"


def make_goal(catalogue: Catalogue, index: int) -> Goal:
    """Task `index` of `catalogue` (any non-negative integer)."""
    if index < 0:
        raise ValueError(f"task index must be non-negative, got {index}")
    rng = random.Random(f"webshop-goal:{catalogue.seed}:{len(catalogue)}:{index}")
    product = catalogue.products[rng.randrange(len(catalogue))]
    count = min(len(product.attributes), rng.choice((1, 2, 2, 3)))
    attributes = tuple(rng.sample(product.attributes, count))
    options = tuple((kind, rng.choice(values)) for kind, values in product.options)
    price_upper = float((math.floor(product.price / 10) + 1) * 10 + 10 * rng.randrange(3))
    instruction = write_instruction(product.product_type, attributes, options, price_upper, opener=rng.choice(_OPENERS))
    return Goal(product.asin, product.product_type, product.category, attributes, options, price_upper, instruction)
