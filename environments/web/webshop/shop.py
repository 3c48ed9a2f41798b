"""The shop's logic, shared by the text mode and the web application: tasks, pages, purchases.

`Shop` wraps one catalogue: `goal(index)` gives task `index`; `page(session)` builds the page a
shopper sees; `buy(session, asin, options)` records the shopper's (first and only) purchase
and scores it. A `ShopSession` is one shopper's episode: its goal, current state and purchase.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from agentgym.environments.web.webshop.catalogue import Catalogue, shared_catalogue
from agentgym.environments.web.webshop.goals import Goal, make_goal
from agentgym.environments.web.webshop.pages import DoneState, Page, SearchState, State, build_page, validate
from agentgym.environments.web.webshop.reward import RewardBreakdown, score_purchase


@dataclass(frozen=True)
class Purchase:
    asin: str
    options: tuple[tuple[str, str], ...]
    breakdown: RewardBreakdown

    def info(self, catalogue: Catalogue) -> dict:
        """What `info` reports on the buying step."""
        product = catalogue.by_asin[self.asin]
        return {
            **self.breakdown.to_dict(),
            "asin": self.asin,
            "title": product.title,
            "price": product.price,
            "options": dict(self.options),
        }


@dataclass
class ShopSession:
    """One shopper: the goal, the current page's state and the purchase (None until bought)."""

    goal: Goal
    state: State = field(default_factory=SearchState)
    purchase: Purchase | None = None


class Shop:
    """Tasks, pages and purchases over one catalogue."""

    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue

    @functools.lru_cache(maxsize=100_000)  # noqa: B019 (shops live for the process)
    def goal(self, index: int) -> Goal:
        return make_goal(self.catalogue, index)

    def page(self, session: ShopSession, state: State | None = None) -> Page:
        """The page at `state` (default: the session's) for this shopper."""
        state = session.state if state is None else state
        done_text: tuple[str, ...] = ()
        if isinstance(state, DoneState) and session.purchase is not None:
            score = session.purchase.breakdown.reward
            done_text = (f"Your score (min 0.0, max 1.0): {score:.2f}",)
        return build_page(self.catalogue, state, session.goal.instruction, done_text=done_text)

    def buy(self, session: ShopSession, asin: str, options: tuple[tuple[str, str], ...]) -> Purchase:
        """Buy `asin` with `options` (validated), once per session: a later call returns the
        first purchase unchanged. Moves the session to the confirmation page."""
        if session.purchase is None:
            product = validate(self.catalogue, DoneState(asin, options))
            assert product is not None
            breakdown = score_purchase(product, dict(options), session.goal)
            session.purchase = Purchase(asin, options, breakdown)
        session.state = DoneState(session.purchase.asin, session.purchase.options)
        return session.purchase


@functools.lru_cache(maxsize=4)
def shared_shop(seed: int = 0, size: int = 5000) -> Shop:
    """The process-wide shop over `shared_catalogue(seed, size)`."""
    return Shop(shared_catalogue(seed, size))
