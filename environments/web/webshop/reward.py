"""The purchase reward, after WebShop (Yao et al., "WebShop: Towards Scalable Real-World Web
Interaction with Grounded Language Agents", NeurIPS 2022, section 3.1).

WebShop scores a purchase of product y with options Y_opt against a goal with attributes U_att,
options U_opt and a price limit u_price as

    r = r_type * (|U_att ∩ Y_att| + |U_opt ∩ Y_opt| + 1[y_price <= u_price]) / (|U_att| + |U_opt| + 1)

Our version of each part, for a catalogue whose vocabulary is controlled (so exact phrase
matching replaces WebShop's fuzzy string matching):

- `r_type` (is it the right kind of product?): 1.0 for the goal's product type; otherwise, with
  `title_score` the share of the goal type's words found in the product's title, 0.5 when
  some type word is shared and the category is the same, 0.1 when only one of the two holds
  (a shared type word, or the same category), 0.0 when neither does. WebShop's own levels are
  the same four (1, 0.5, 0.1, 0), reached through query, category and title-noun overlap.
- an attribute counts when the product lists it, or when its phrase occurs in the product's
  title, features or description (as WebShop also looks there);
- an option counts when the bought options include the wanted value (any kind, as WebShop
  compares values), or, for an option kind the product is not sold in, when the value's
  phrase occurs in its title, features or description;
- `r_price` is 1 when the price is at most the limit.

The reward is in [0, 1]; 1.0 exactly when the type is right and every attribute, every option
and the price match: the success criterion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentgym.environments.web.webshop.catalogue import Product, tokenize
from agentgym.environments.web.webshop.goals import Goal


@dataclass(frozen=True)
class RewardBreakdown:
    """The reward and its parts (WebShop's names)."""

    reward: float
    r_type: float
    r_att: float
    r_option: float | None
    r_price: float
    num_attribute_matches: int
    num_option_matches: int
    title_score: float

    @property
    def success(self) -> bool:
        return self.r_type == 1.0 and self.reward >= 1.0 - 1e-9

    def to_dict(self) -> dict:
        return {
            "reward": self.reward,
            "r_type": self.r_type,
            "r_att": self.r_att,
            "r_option": self.r_option,
            "r_price": self.r_price,
            "num_attribute_matches": self.num_attribute_matches,
            "num_option_matches": self.num_option_matches,
            "title_score": self.title_score,
        }


def _has_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(phrase.lower())}(?![\w-])", text.lower()) is not None


def type_reward(product: Product, goal: Goal) -> tuple[float, float]:
    """(r_type, title_score) for buying `product` when `goal` is wanted."""
    goal_words = set(tokenize(goal.product_type))
    title_score = len(goal_words & set(tokenize(product.title))) / len(goal_words)
    if product.product_type == goal.product_type:
        return 1.0, title_score
    same_category = product.category == goal.category
    if title_score > 0 and same_category:
        return 0.5, title_score
    if title_score > 0 or same_category:
        return 0.1, title_score
    return 0.0, title_score


def score_purchase(product: Product, selected: dict[str, str], goal: Goal) -> RewardBreakdown:
    """WebShop's reward for buying `product` with the `selected` options (kind -> value)."""
    r_type, title_score = type_reward(product, goal)
    text = " ".join((product.title, *product.features, product.description))
    attribute_matches = sum(a in product.attributes or _has_phrase(text, a) for a in goal.attributes)
    offered = product.option_dict
    chosen = set(selected.values())
    option_matches = sum(
        value in chosen or (kind not in offered and _has_phrase(text, value)) for kind, value in goal.options
    )
    r_price = float(product.price <= goal.price_upper)
    total = (attribute_matches + option_matches + r_price) / (len(goal.attributes) + len(goal.options) + 1)
    return RewardBreakdown(
        reward=total * r_type,
        r_type=r_type,
        r_att=attribute_matches / len(goal.attributes) if goal.attributes else 1.0,
        r_option=option_matches / len(goal.options) if goal.options else None,
        r_price=r_price,
        num_attribute_matches=attribute_matches,
        num_option_matches=option_matches,
        title_score=title_score,
    )
