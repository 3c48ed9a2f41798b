"""Search QA (`search-qa-v0`): multi-hop questions over a generated, fictional encyclopedia.

Modules: `world` (the seeded world generator), `documents` (one encyclopedia entry per entity),
`questions` (bridge and comparison questions with evidence and oracle queries) and `corpus`
(the cached corpus). Importing this package imports none of them.
"""


def register() -> None:
    """Registers nothing yet: the environment's registration lands with its env module."""
