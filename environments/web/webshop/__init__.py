"""WebShop (`webshop-v0`, `webshop-browser-v0`): buy the product an instruction describes in a
generated web shop, after Yao et al., "WebShop: Towards Scalable Real-World Web Interaction with
Grounded Language Agents" (NeurIPS 2022).

Modules: `vocab` (the shop's public structure: product types, attributes, options), `catalogue`
(the seeded catalogue and its BM25 search), `goals` (tasks and their instructions), `reward`
(WebShop's purchase reward), `pages` (the page model and its text rendering), `html` (its HTML
rendering and the URL scheme), `shop` (sessions, pages and purchases), `app` (the aiohttp web
application and the process's shared server), `env` (the environment, text mode), `browser_mode`
(the environment's browser mode) and `agents` (the oracle and the random baseline). Importing
this package imports none of them.
"""

from agentgym.registration import register as register_env

MAX_TURNS = 15
"""WebShop's step limit in GiGPO's and verl-agent's setups."""


def register() -> None:
    """Register `webshop-v0` (text) and `webshop-browser-v0` (headless Chromium)."""
    register_env(
        "webshop-v0",
        "agentgym.environments.web.webshop.env:WebShopEnv",
        max_turns=MAX_TURNS,
        description="Buy the product an instruction describes in a generated web shop (WebShop's text mode)",
        capabilities={"fork": True},
        mode="text",
    )
    register_env(
        "webshop-browser-v0",
        "agentgym.environments.web.webshop.env:WebShopEnv",
        max_turns=MAX_TURNS,
        description="webshop-v0 served over HTTP and driven in headless Chromium (element tree and screenshot)",
        capabilities={"images": True},
        mode="browser",
    )
