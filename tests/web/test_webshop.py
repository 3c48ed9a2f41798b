"""webshop-v0 and webshop-browser-v0: the catalogue, tasks, reward, page model, web application,
text-mode episodes, the oracle and random baselines (in process and served), and browser mode in
real headless Chromium (skipped when Chromium or Playwright is missing)."""

from __future__ import annotations

import asyncio
import re
import time
from html.parser import HTMLParser
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

import agentgym
from agentgym.environments.web import register as register_web
from agentgym.environments.web.browser import find_chromium
from agentgym.environments.web.webshop.agents import ParsedInstruction, RandomShopper, WebShopOracle, read_page
from agentgym.environments.web.webshop.app import SessionRegistry, ShopServer, create_app
from agentgym.environments.web.webshop.browser_mode import parse_browser_action
from agentgym.environments.web.webshop.catalogue import MAX_RESULTS, Catalogue, Product
from agentgym.environments.web.webshop.env import WebShopEnv, parse_text_action
from agentgym.environments.web.webshop.goals import Goal, make_goal
from agentgym.environments.web.webshop.html import render_html, url_for
from agentgym.environments.web.webshop.pages import (
    RESULTS_PER_PAGE,
    DoneState,
    ItemState,
    PageError,
    ResultsState,
    SearchState,
    build_page,
    render_text,
)
from agentgym.environments.web.webshop.reward import score_purchase
from agentgym.environments.web.webshop.shop import Shop, ShopSession, shared_shop
from agentgym.environments.web.webshop.vocab import ALL_ATTRIBUTES, ALL_OPTION_VALUES, PRODUCT_TYPES
from agentgym.errors import NotForkable
from agentgym.types import PNG_SIGNATURE

register_web()


@pytest.fixture(scope="module")
def shop() -> Shop:
    return shared_shop(0, 5000)


def _goal_with_options(shop: Shop, kinds: int = 1) -> tuple[int, Goal]:
    return next((i, shop.goal(i)) for i in range(1000) if len(shop.goal(i).options) >= kinds)


# -- vocabulary, catalogue and tasks ----------------------------------------------------------


def test_vocabulary_reads_unambiguously():
    assert not set(ALL_ATTRIBUTES) & set(ALL_OPTION_VALUES)
    assert not set(ALL_ATTRIBUTES) & {t.name for t in PRODUCT_TYPES}
    for ptype in PRODUCT_TYPES:
        values = [v for _, vs in ptype.options for v in vs]
        assert len(values) == len(set(values)), f"{ptype.name}: an option value under two kinds"
        assert not {v.lower() for v in values} & {"description", "features", "buy now", "< prev", "back to search"}


def test_catalogue_is_deterministic_per_seed_and_fast():
    start = time.perf_counter()
    big = Catalogue.generate(3, 5000)
    assert time.perf_counter() - start < 3.0  # about 0.15 s on an idle machine
    assert len(big) == 5000 and len(big.by_asin) == 5000
    assert Catalogue.generate(7, 400).products == Catalogue.generate(7, 400).products
    assert Catalogue.generate(7, 400).products != Catalogue.generate(8, 400).products
    assert {p.product_type for p in big.products} == {t.name for t in PRODUCT_TYPES}
    assert all(re.fullmatch(r"B0[A-Z0-9]{8}", p.asin) for p in big.products)
    assert all(2 <= len(p.attributes) <= 4 and p.price > 0 for p in big.products)
    assert sum(len(p.options) >= 2 for p in big.products) > 1000, "many products need several option kinds"
    assert sum(len(p.options) == 0 for p in big.products) > 0
    assert all(len(vs) >= 2 for p in big.products for _, vs in p.options)


def test_search_ranks_matching_products_first(shop):
    results = shop.catalogue.search("gluten free snack bar chocolate")
    assert len(results) == MAX_RESULTS
    top = [shop.catalogue.by_asin[a] for a in results[:10]]
    assert all(p.product_type == "snack bar" and "gluten free" in p.attributes for p in top)
    assert shop.catalogue.search("gluten free snack bar chocolate") == results
    assert shop.catalogue.search("zzzz qqqq") == ()


def test_goals_are_deterministic_and_the_target_fulfils_them(shop):
    assert make_goal(shop.catalogue, 17) == make_goal(shop.catalogue, 17) == shop.goal(17)
    assert make_goal(shop.catalogue, 17) != make_goal(shop.catalogue, 18)
    for index in range(300):
        goal = shop.goal(index)
        target = shop.catalogue.by_asin[goal.asin]
        assert goal.instruction.endswith(f"and price lower than {goal.price_upper:.2f} dollars")
        assert goal.product_type in goal.instruction and all(a in goal.instruction for a in goal.attributes)
        assert target.price < goal.price_upper
        assert score_purchase(target, goal.option_dict, goal).reward == 1.0
        parsed = ParsedInstruction(goal.instruction)  # the oracle reads every instruction back
        assert (parsed.product_type, set(parsed.attributes), parsed.options) == (
            goal.product_type,
            set(goal.attributes),
            goal.option_dict,
        )
    with pytest.raises(ValueError):
        make_goal(shop.catalogue, -1)


def test_goal_round_trips_through_a_dict(shop):
    goal = shop.goal(4)
    assert Goal.from_dict(goal.to_dict()) == goal
    rewritten = Goal.from_dict({**goal.to_dict(), "instruction": ""})
    assert "price lower than" in rewritten.instruction
    with pytest.raises(ValueError, match="product_type"):
        Goal.from_dict({"product_type": "spaceship"})


# -- the reward (hand-made cases) -------------------------------------------------------------


def _product(**overrides: Any) -> Product:
    fields = dict(
        asin="B0TEST0001",
        product_type="snack bar",
        category="grocery",
        brand="Acorna",
        title="Acorna Classic Snack Bar - Gluten Free, Long Lasting",
        description="A bar.",
        features=("Gluten Free: yes.",),
        attributes=("gluten free", "long lasting"),
        options=(("flavor", ("chocolate", "almond")), ("count", ("pack of 6", "pack of 12"))),
        price=24.99,
        rating=4.0,
    )
    fields.update(overrides)
    return Product(**fields)  # type: ignore[arg-type]


GOAL = Goal(
    asin="B0TEST0001",
    product_type="snack bar",
    category="grocery",
    attributes=("gluten free", "long lasting"),
    options=(("flavor", "chocolate"), ("count", "pack of 6")),
    price_upper=30.0,
    instruction="i need a gluten free, long lasting snack bar in chocolate flavor, pack of 6, and price lower than 30.00 dollars",
)
WANTED = {"flavor": "chocolate", "count": "pack of 6"}


def test_reward_exact_match_is_one():
    result = score_purchase(_product(), WANTED, GOAL)
    assert (result.reward, result.r_type, result.r_att, result.r_option, result.r_price) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert result.success
    # an equivalent product (another brand, same type, attributes, options, price) is as good
    other = _product(asin="B0TEST0002", brand="Zephra", title="Zephra Pro Snack Bar - Long Lasting, Gluten Free")
    assert score_purchase(other, WANTED, GOAL).reward == 1.0


def test_reward_wrong_or_missing_option():
    wrong = score_purchase(_product(), {"flavor": "almond", "count": "pack of 6"}, GOAL)
    assert wrong.reward == pytest.approx(4 / 5) and wrong.r_option == 0.5 and not wrong.success
    none_picked = score_purchase(_product(), {}, GOAL)
    assert none_picked.reward == pytest.approx(3 / 5) and none_picked.r_option == 0.0


def test_reward_over_price():
    result = score_purchase(_product(price=31.0), WANTED, GOAL)
    assert result.reward == pytest.approx(4 / 5) and result.r_price == 0.0


def test_reward_partial_attributes():
    product = _product(title="Acorna Classic Snack Bar - Gluten Free", attributes=("gluten free", "kosher"))
    result = score_purchase(product, WANTED, GOAL)
    assert result.r_att == 0.5 and result.reward == pytest.approx(4 / 5)
    # an attribute named only in the description still counts, as in WebShop
    described = _product(attributes=("gluten free",), title="Acorna Snack Bar", description="It is long lasting.")
    assert score_purchase(described, WANTED, GOAL).r_att == 1.0


def test_reward_wrong_type():
    same_category_shared_word = _product(
        product_type="protein bar", title="Acorna Protein Bar - Gluten Free, Long Lasting"
    )
    assert score_purchase(same_category_shared_word, WANTED, GOAL).r_type == 0.5
    same_category = _product(product_type="cookies", title="Acorna Cookies - Gluten Free, Long Lasting")
    assert score_purchase(same_category, WANTED, GOAL).r_type == 0.1
    other = _product(product_type="hoodie", category="fashion", title="Acorna Hoodie - Gluten Free, Long Lasting")
    result = score_purchase(other, WANTED, GOAL)
    assert result.r_type == 0.0 and result.reward == 0.0


def test_reward_goal_without_options():
    goal = Goal("x", "snack bar", "grocery", ("gluten free",), (), 30.0, "i need a gluten free snack bar")
    result = score_purchase(_product(), {}, goal)
    assert result.reward == 1.0 and result.r_option is None


# -- the page model: text and HTML from one model ---------------------------------------------


class _Clickables(HTMLParser):
    """Visible labels of links and buttons in an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[str] = []
        self.checked: list[str] = []
        self._open: str | None = None
        self._is_checked = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "button"):
            self._open, self._is_checked = "", ("aria-checked", "true") in attrs

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("a", "button") and self._open is not None:
            self.labels.append(self._open)
            if self._is_checked:
                self.checked.append(self._open)
            self._open = None


def _states(shop: Shop, goal: Goal) -> list:
    target = shop.catalogue.by_asin[goal.asin]
    picked = tuple((kind, values[0]) for kind, values in target.options)
    return [
        SearchState(),
        ResultsState(goal.product_type, 1),
        ResultsState(goal.product_type, 2),
        ResultsState("zzzz", 1),
        ItemState(goal.asin, goal.product_type, 1),
        ItemState(goal.asin, goal.product_type, 1, picked),
        ItemState(goal.asin, goal.product_type, 1, picked, "features"),
        ItemState(goal.asin, goal.product_type, 1, (), "description"),
        DoneState(goal.asin, picked),
    ]


def test_text_and_html_show_the_same_clickables(shop):
    _, goal = _goal_with_options(shop, 2)
    for state in _states(shop, goal):
        page = build_page(shop.catalogue, state, goal.instruction)
        text = render_text(page)
        parser = _Clickables()
        parser.feed(render_html(page, "/s/x"))
        text_labels = re.findall(r"\[(?:clicked )?button\] (.+?) \[(?:clicked )?button_\]", text)
        assert parser.labels == text_labels
        assert parser.checked == re.findall(r"\[clicked button\] (.+?) \[clicked button_\]", text)
        assert text.startswith(f"Instruction: {goal.instruction}")


def test_pages_reject_states_that_name_nothing(shop):
    goal = shop.goal(0)
    for state in (
        ItemState("B0NOPE0000", "q"),
        ItemState(goal.asin, "q", 1, (("flavor", "no such flavour"),)),
        ItemState(goal.asin, "q", 1, (), "reviews"),
        ResultsState(goal.product_type, 0),
        ResultsState(goal.product_type, 99),
    ):
        with pytest.raises(PageError):
            build_page(shop.catalogue, state, goal.instruction)


def test_results_paginate_ten_per_page(shop):
    query = "snack bar"
    results = shop.catalogue.search(query)
    pages = [build_page(shop.catalogue, ResultsState(query, n), "i") for n in range(1, 6)]
    rows = [label for page in pages for label in page.buttons if label.startswith("b0")]
    assert rows == [asin.lower() for asin in results] and len(rows) == 5 * RESULTS_PER_PAGE
    assert "< prev" not in pages[0].buttons and "next >" in pages[0].buttons
    assert "< prev" in pages[4].buttons and "next >" not in pages[4].buttons


# -- the web application over HTTP -------------------------------------------------------------


@pytest.fixture
async def shop_client(shop) -> Any:
    registry = SessionRegistry()
    client = TestClient(TestServer(create_app(registry)))
    await client.start_server()
    yield client, registry
    await client.close()


async def test_web_app_search_paginate_open_pick_and_buy(shop, shop_client):
    client, registry = shop_client
    index, goal = _goal_with_options(shop, 2)
    session = ShopSession(goal)
    sid = registry.add(shop, session)
    home = await client.get(f"/s/{sid}/")
    assert home.status == 200 and 'name="q"' in await home.text() and goal.instruction in await home.text()

    query = " ".join([*goal.attributes, goal.product_type])
    results = await client.get(f"/s/{sid}/search", params={"q": query})
    body = await results.text()
    assert results.status == 200 and "Page 1 (Total results: 50)" in body and "Next &gt;" in body
    assert session.state == ResultsState(query, 1)
    second = await client.get(url_for(f"/s/{sid}", ResultsState(query, 2)))
    assert "Page 2 (Total results: 50)" in await second.text() and "&lt; Prev" in await second.text()

    picked = goal.options
    item_url = url_for(f"/s/{sid}", ItemState(goal.asin, query, 1, picked))
    item = await client.get(item_url)
    body = await item.text()
    assert item.status == 200 and "Buy Now" in body
    for _, value in picked:
        assert re.search(f'aria-checked="true" href="[^"]*">{re.escape(value)}</a>', body)
    assert body.count('aria-checked="true"') == len(picked)
    features = await client.get(url_for(f"/s/{sid}", ItemState(goal.asin, query, 1, picked, "features")))
    assert "Features" in await features.text()

    form = [("asin", goal.asin)] + [("opt", f"{kind}:{value}") for kind, value in picked]
    bought = await client.post(f"/s/{sid}/buy", data=form)
    assert bought.status == 200 and str(bought.url).endswith(f"/s/{sid}/done")
    assert "Your score (min 0.0, max 1.0): 1.00" in await bought.text()
    assert session.purchase is not None and session.purchase.breakdown.success
    again = await client.post(f"/s/{sid}/buy", data=[("asin", goal.asin)])  # one purchase per session
    assert "1.00" in await again.text() and session.purchase.options == picked


async def test_web_app_rejects_bad_requests(shop, shop_client):
    client, registry = shop_client
    sid = registry.add(shop, ShopSession(shop.goal(0)))
    assert (await client.get("/s/nobody/")).status == 404
    assert (await client.get(f"/s/{sid}/item/B0NOPE0000?q=x")).status == 404
    assert (await client.get(f"/s/{sid}/search?q=bar&page=x")).status == 400
    assert (await client.get(f"/s/{sid}/search?q=bar&page=99")).status == 400
    assert (await client.get(f"/s/{sid}/done")).status == 404  # nothing bought yet
    assert (await client.post(f"/s/{sid}/buy", data={})).status == 400
    assert (await client.post(f"/s/{sid}/buy", data={"asin": "B0NOPE0000"})).status == 400
    assert (await client.post(f"/s/{sid}/buy", data={"asin": shop.goal(0).asin, "opt": "garbage"})).status == 400
    assert (await client.get("/?task=x")).status == 400
    start = await client.get("/?task=3", allow_redirects=False)
    assert start.status == 303 and start.headers["Location"].startswith("/s/") and len(registry) == 2


def test_shared_server_starts_on_a_free_port_and_stops():
    server = ShopServer()
    url = server.start()
    assert url.startswith("http://127.0.0.1:") and server.start() == url

    async def fetch() -> int:
        from aiohttp import ClientSession

        async with ClientSession() as http, http.get(f"{url}/?task=1") as response:
            return response.status

    assert asyncio.run(fetch()) == 200
    server.stop()
    assert not server.running
    server.stop()


# -- text-mode episodes ------------------------------------------------------------------------


def test_action_parsing():
    assert parse_text_action("search[ red  shoes ]") == ("search", "red shoes")
    assert parse_text_action("I think... <answer>CLICK[Buy Now]</answer>") == ("click", "Buy Now")
    assert parse_text_action("click[a] then click[b]") == ("click", "b")
    assert parse_text_action("buy it") is None
    assert parse_browser_action('fill(7, "red shoes")') == ("fill", ("7", "red shoes"))
    assert parse_browser_action("click(12)") == ("click", ("12",))
    assert parse_browser_action("press(Enter)") == ("press", ("Enter",))
    assert parse_browser_action("click[Buy Now]") == ("click_label", ("Buy Now",))
    assert parse_browser_action("search[snack bar]") == ("search", ("snack bar",))
    assert parse_browser_action("click(twelve)") is None


async def test_text_episode_search_paginate_back_and_buy(shop):
    index, goal = _goal_with_options(shop, 1)
    env = agentgym.make("webshop-v0")
    obs = await env.reset(options={"task_index": index})
    assert obs.anchor == "search" and "[button] Search [button_]" in obs.text and goal.instruction in obs.text

    result = await env.step(f"search[{goal.product_type}]")
    assert result.observation.anchor == f"results:{goal.product_type}:1" and result.reward == 0.0
    assert not result.invalid_action and "[button] Next > [button_]" in result.observation.text
    result = await env.step("click[next >]")  # labels are case-insensitive
    assert result.observation.anchor == f"results:{goal.product_type}:2"
    result = await env.step("click[< Prev]")
    assert result.observation.anchor == f"results:{goal.product_type}:1"
    asin = read_page(result.observation.text).rows[0][0]
    result = await env.step(f"click[{asin}]")
    assert result.observation.anchor == f"item:{asin}::main" and "[button] Buy Now [button_]" in result.observation.text
    product = shop.catalogue.by_asin[asin]
    if product.options:
        kind, values = product.options[0]
        result = await env.step(f"click[{values[0]}]")
        assert f"[clicked button] {values[0]} [clicked button_]" in result.observation.text
        assert result.observation.anchor == f"item:{asin}:{kind}={values[0]}:main"
    result = await env.step("click[Features]")
    assert result.observation.anchor.endswith(":features") and "Features" in result.observation.text
    result = await env.step("click[< Prev]")
    result = await env.step("click[Back to Search]")
    assert result.observation.anchor == "search"
    result = await env.step(f"search[{goal.product_type}]")
    result = await env.step(f"click[{asin}]")
    result = await env.step("click[Buy Now]")
    assert result.terminated and 0.0 <= result.reward <= 1.0
    info = result.info
    assert {"r_type", "r_att", "r_option", "r_price", "purchase", "success"} <= set(info)
    assert info["purchase"]["asin"] == asin and result.observation.anchor.startswith(f"done:{asin}")
    assert "Thank you for shopping with us!" in result.observation.text
    await env.close()


async def test_text_invalid_actions_are_penalised_steps(shop):
    env = agentgym.make("webshop-v0")
    obs = await env.reset(seed=3)
    for action, needle in (
        ("buy the thing", "Invalid action"),
        ("click[Buy Now]", "no clickable element"),
        ("search[]", "empty"),
    ):
        result = await env.step(action)
        assert result.invalid_action and result.reward == pytest.approx(-0.1) and needle in result.observation.text
        assert result.observation.anchor == obs.anchor and not result.done
    result = await env.step("search[hoodie]")
    result = await env.step("search[hoodie]")  # no search box on a results page
    assert result.invalid_action and "Back to Search" in result.observation.text
    await env.close()


async def test_turn_limit_truncates_after_15_turns():
    env = agentgym.make("webshop-v0")
    await env.reset(seed=0)
    await env.step("search[shampoo]")
    for turn in range(2, 16):
        result = await env.step("click[Next >]" if turn % 2 else "click[< Prev]")
    assert result.truncated and not result.terminated and result.info["success"] is False
    await env.close()


async def test_reset_options_and_determinism(shop):
    env = WebShopEnv()
    first = await env.reset(seed=11)
    assert (await env.reset(seed=11)).text == first.text
    assert (await env.reset(options={"task_index": 5})).text.startswith(f"Instruction: {shop.goal(5).instruction}")
    custom = {
        "product_type": "hoodie",
        "attributes": ["fleece lined"],
        "options": {"color": "black"},
        "price_upper": 50,
    }
    obs = await env.reset(options={"goal": custom})
    assert "fleece lined hoodie in black color" in obs.text
    with pytest.raises(ValueError):
        await env.reset(options={"level": 3})
    with pytest.raises(ValueError):
        await env.reset(options={"task_index": -2})
    with pytest.raises(ValueError):
        WebShopEnv(mode="vr")


async def test_fork_is_independent(shop):
    env = WebShopEnv()
    await env.reset(options={"task_index": 1})
    await env.step("search[black wireless mouse]")
    twin = await env.fork()
    moved = await twin.step("click[Next >]")
    assert moved.observation.anchor.endswith(":2")
    stay = await env.step("click[Features]")  # not on this page: the original did not move
    assert stay.invalid_action and stay.observation.anchor == "results:black wireless mouse:1"
    with pytest.raises(NotForkable, match="browser mode"):
        await WebShopEnv(mode="browser").fork()


# -- the oracle and the random baseline --------------------------------------------------------


async def test_oracle_solves_at_least_90_percent_in_process(run_agent):
    report = await run_agent("webshop-v0", lambda seed: WebShopOracle(), range(100))
    assert report.success_rate >= 0.9
    assert all(e.invalid_actions == 0 for e in report.episodes)


async def test_oracle_solves_at_least_90_percent_served(run_agent):
    report = await run_agent("webshop-v0", lambda seed: WebShopOracle(), range(20), remote=True)
    assert report.success_rate >= 0.9


async def test_random_baseline_rarely_succeeds(run_agent):
    report = await run_agent("webshop-v0", lambda seed: RandomShopper(seed), range(100))
    assert report.success_rate <= 0.1
    assert 0.0 < report.mean_return < 0.5


# -- browser mode in real headless Chromium ----------------------------------------------------


def _browser_missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install 'agentgym[web]')"
    if find_chromium() is None:
        return "no Chromium found (apt-get install chromium, or set AGENTGYM_CHROMIUM)"
    return None


needs_browser = pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))


@needs_browser
async def test_browser_mode_oracle_episodes(run_agent):
    report = await run_agent("webshop-browser-v0", lambda seed: WebShopOracle(), range(3), concurrency=3)
    assert report.success_rate == 1.0
    served = await run_agent("webshop-browser-v0", lambda seed: WebShopOracle(), range(3, 5), remote=True)
    assert served.success_rate == 1.0


@needs_browser
async def test_browser_mode_observation_and_actions(shop):
    index, goal = _goal_with_options(shop, 2)
    env = agentgym.make("webshop-browser-v0")
    try:
        obs = await env.reset(options={"task_index": index})
        assert obs.anchor == "search" and obs.images and obs.images[0].startswith(PNG_SIGNATURE)
        assert len(obs.images[0]) > 2000 and goal.instruction in obs.text
        box = re.search(r'\[(\d+)\] textbox "Search"', obs.text).group(1)
        result = await env.step(f'fill({box}, "{goal.product_type}")')
        assert not result.invalid_action
        result = await env.step("press(Enter)")
        assert result.observation.anchor == f"results:{goal.product_type}:1"
        next_id = re.search(r'\[(\d+)\] link "Next >"', result.observation.text).group(1)
        result = await env.step(f"click({next_id})")
        assert result.observation.anchor == f"results:{goal.product_type}:2"
        for action in ("click(999)", "click[No Such Button]", "search[hoodie]", "do something"):
            result = await env.step(action)
            assert result.invalid_action and result.reward == pytest.approx(-0.1), action
            assert result.observation.anchor == f"results:{goal.product_type}:2"
        asin = read_page(result.observation.text).rows[0][0]
        result = await env.step(f"click[{asin}]")
        assert result.observation.anchor == f"item:{asin}::main"
        kind, values = shop.catalogue.by_asin[asin].options[0] if shop.catalogue.by_asin[asin].options else (None, ())
        if kind:
            result = await env.step(f"click[{values[-1]}]")
            assert f'radio "{values[-1]}" checked' in result.observation.text
        result = await env.step("click[Buy Now]")
        assert result.terminated and result.info["purchase"]["asin"] == asin
        assert "Thank you for shopping with us!" in result.observation.text
    finally:
        await env.close()
