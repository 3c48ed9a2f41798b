"""`WebShopEnv`: shop for the product an instruction describes (`webshop-v0`, `webshop-browser-v0`).

After WebShop (Yao et al., NeurIPS 2022). Each episode is one task of a generated catalogue
(`catalogue_seed`, `num_products`): reset picks task `np_random.integers(num_tasks)`, or the
`task_index` option, or a `goal` option (a dict in `Goal.to_dict` form). The shopper searches,
pages through results, opens products, picks options and buys; buying ends the episode
(`terminated`) with WebShop's reward in [0, 1] (`reward.score_purchase`), `info["success"]`
when it is 1.0, and the reward's parts and the bought product in `info["purchase"]`. Every other
step rewards 0; an invalid action rewards `-invalid_penalty`, leaves the page as it was and sets
`info["invalid_action"]`. The turn limit (15) is the registration's `max_turns`.

Modes (one class, `mode=`):

- "text": the page as WebShop's simplified text (`pages.render_text`, the same page model the
  web application renders). Actions: `search[query]` (on the search page) and `click[label]`
  (a button's label, case-insensitive). Runs the shop's logic directly: no HTTP, no browser.
  Forkable.
- "browser": the shop served by the process's web server (`app.shared_server`), driven in
  headless Chromium (`browser_mode`). Not forkable.

The anchor is the page identity (`pages.anchor`): "search", "results:<query>:<page>",
"item:<asin>:<options>:<view>", "done:<asin>:<options>".
"""

from __future__ import annotations

import asyncio
import copy
import re
from typing import Any

from agentgym.actions import answer_text
from agentgym.env import Env
from agentgym.environments.web.webshop.goals import Goal
from agentgym.environments.web.webshop.pages import DoneState, Page, ResultsState, render_text
from agentgym.environments.web.webshop.shop import Shop, ShopSession, shared_shop
from agentgym.errors import NotForkable
from agentgym.types import Observation, StepResult

_ACTION = re.compile(r"\b(search|click)\s*\[(.*?)\]", re.IGNORECASE | re.DOTALL)

TEXT_PROMPT = (
    "You are shopping in a web shop. The instruction at the top of every page says what to buy. "
    "Clickable elements appear as [button] label [button_] (a picked option as [clicked button] label "
    "[clicked button_]). Each turn, answer with exactly one action: search[your query] on the search page, "
    "or click[label] to click an element, e.g. click[B0ABC12345], click[Next >], click[< Prev], "
    "click[Back to Search], an option value such as click[large], click[Features] or click[Buy Now]. "
    "Pick every option the instruction asks for before you click Buy Now; buying ends the episode and is "
    "scored by how well the product matches the instruction (type, attributes, options, price)."
)


def parse_text_action(text: str) -> tuple[str, str] | None:
    """("search" | "click", argument) of the last `search[...]`/`click[...]` in the text (or in
    its last <answer> block), None when there is none."""
    matches = _ACTION.findall(answer_text(text))
    if not matches:
        return None
    verb, argument = matches[-1]
    return verb.lower(), " ".join(argument.split())


class WebShopEnv(Env):
    """Shop for an instructed product; text or browser observations (module docstring)."""

    def __init__(
        self,
        mode: str = "text",
        *,
        catalogue_seed: int = 0,
        num_products: int = 5000,
        num_tasks: int = 10_000,
        invalid_penalty: float = 0.1,
        viewport: tuple[int, int] = (1280, 720),
    ):
        if mode not in ("text", "browser"):
            raise ValueError(f"mode must be 'text' or 'browser', got {mode!r}")
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be positive, got {num_tasks}")
        self.mode = mode
        self.catalogue_seed, self.num_products, self.num_tasks = catalogue_seed, num_products, num_tasks
        self.invalid_penalty = invalid_penalty
        self.viewport = tuple(viewport)
        self.shop: Shop | None = None
        self.session: ShopSession | None = None
        self._driver: Any = None  # browser_mode.BrowserDriver in browser mode
        if mode == "text":
            self.system_prompt = TEXT_PROMPT
        else:
            from agentgym.environments.web.webshop.browser_mode import BROWSER_PROMPT

            self.system_prompt = BROWSER_PROMPT

    # -- episode

    def _goal(self, options: dict[str, Any] | None) -> Goal:
        options = dict(options or {})
        task_index = options.pop("task_index", None)
        goal = options.pop("goal", None)
        if options:
            raise ValueError(f"unknown options {sorted(options)}; webshop accepts 'task_index' or 'goal'")
        if goal is not None and task_index is not None:
            raise ValueError("give either 'task_index' or 'goal', not both")
        assert self.shop is not None
        if goal is not None:
            return goal if isinstance(goal, Goal) else Goal.from_dict(goal)
        if task_index is None:
            task_index = int(self.np_random.integers(self.num_tasks))
        if not isinstance(task_index, int) or task_index < 0:
            raise ValueError(f"task_index must be a non-negative integer, got {task_index!r}")
        return self.shop.goal(task_index)

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        if self.shop is None:
            self.shop = await asyncio.to_thread(shared_shop, self.catalogue_seed, self.num_products)
        self.session = ShopSession(self._goal(options))
        if self.mode == "browser":
            from agentgym.environments.web.webshop.browser_mode import BrowserDriver

            if self._driver is None:
                self._driver = BrowserDriver(self.viewport)
            return await self._driver.start(self.shop, self.session)
        return self._text_observation(self.shop.page(self.session))

    async def step(self, action: str) -> StepResult:
        assert self.shop is not None and self.session is not None, "reset first"
        if self.mode == "browser":
            return await self._driver.step(action, self)
        page = self.shop.page(self.session)
        parsed = parse_text_action(action)
        if parsed is None:
            return self.invalid(page, "Invalid action: answer with search[query] or click[label].")
        verb, argument = parsed
        if verb == "search":
            if not page.has_search:
                return self.invalid(page, "There is no search box on this page; click[Back to Search] first.")
            if not argument:
                return self.invalid(page, "The search query is empty: write search[words to look for].")
            target = ResultsState(argument)
        else:
            button = page.buttons.get(argument.lower())
            if button is None:
                return self.invalid(page, f"There is no clickable element labelled {argument!r} on this page.")
            target = button.target
        if isinstance(target, DoneState):
            return self.bought(self.shop.buy(self.session, target.asin, target.options))
        self.session.state = target
        return StepResult(
            observation=self._text_observation(self.shop.page(self.session)), info={"invalid_action": False}
        )

    # -- shared by both modes

    def invalid(self, page: Page | None, message: str, observation: Observation | None = None) -> StepResult:
        """The invalid-action step: feedback, the unchanged page, the penalty."""
        if observation is None:
            assert page is not None
            observation = self._text_observation(page, feedback=message)
        return StepResult(
            observation=observation, reward=-self.invalid_penalty, info={"invalid_action": True, "feedback": message}
        )

    def bought(self, purchase, observation: Observation | None = None) -> StepResult:
        """The buying step: terminated, WebShop's reward, success when it is 1.0."""
        assert self.shop is not None and self.session is not None
        if observation is None:
            observation = self._text_observation(self.shop.page(self.session))
        return StepResult(
            observation=observation,
            reward=purchase.breakdown.reward,
            terminated=True,
            info={
                "invalid_action": False,
                "success": purchase.breakdown.success,
                "purchase": purchase.info(self.shop.catalogue),
                **{key: purchase.breakdown.to_dict()[key] for key in ("r_type", "r_att", "r_option", "r_price")},
            },
        )

    def _text_observation(self, page: Page, feedback: str = "") -> Observation:
        text = render_text(page)
        if feedback:
            text = f"{feedback}\n\n{text}"
        return Observation(
            text=text,
            anchor=page.anchor,
            metadata={
                "page": type(page.state).__name__.removesuffix("State").lower(),
                "available_actions": {
                    "has_search_bar": page.has_search,
                    "clickables": [b.label for b in page.buttons.values()],
                },
            },
        )

    async def fork(self) -> WebShopEnv:
        if self.mode == "browser":
            raise NotForkable(
                "webshop in browser mode cannot fork: the page lives in a Chromium session; fork the text mode "
                "(webshop-v0), which shows the same pages, or replay the actions in a new episode"
            )
        twin = copy.copy(self)
        twin._np_random = copy.deepcopy(self._np_random)
        twin.session = copy.copy(self.session)
        return twin

    async def close(self) -> None:
        if self._driver is not None:
            driver, self._driver = self._driver, None
            await driver.close()
