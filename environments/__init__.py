"""agentgym's own environments, one module or subpackage per family.

`register_environments` is the entry point (group `agentgym.environments`) that registers them
all. Each family module's `register()` calls `agentgym.register` with string entry points and
imports nothing heavy, so an environment's dependencies (chess, TextWorld, a browser) are
imported only when one of its environments is made.
"""

import importlib

FAMILIES = (
    "guess_number",
    "toy_text",
    "wordle",
    "chess_endgames",
    "textworld_games",
    "sokoban",
    "maze",
    "twentyq",
    "code",
    "search",
    "web",
    "gui",
)
"""Modules of this package that have a `register()` function."""


def register_environments() -> None:
    """Register every environment shipped with agentgym."""
    for family in FAMILIES:
        importlib.import_module(f"{__name__}.{family}").register()
