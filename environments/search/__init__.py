"""Search QA (`search-qa-v0`): multi-hop questions over a generated, fictional encyclopedia.

Modules: `world` (the seeded world generator), `documents` (one encyclopedia entry per entity),
`questions` (bridge and comparison questions with evidence and oracle queries), `corpus` (the
cached corpus), `retrieval` (BM25 and dense retrievers), `service` (`agentgym search serve`, a
Search-R1-compatible /retrieve, and its client), `scoring` (exact match and F1), `env` (the
environment) and `agents` (the oracle and the no-search baseline). Importing this package
imports none of them.
"""

from agentgym.registration import register as register_env

MAX_TURNS = 6
"""Four hops, the answer, and one turn to spare."""


def register() -> None:
    register_env(
        "search-qa-v0",
        "agentgym.environments.search.env:SearchQAEnv",
        max_turns=MAX_TURNS,
        description="Multi-hop questions about a fictional world; search its encyclopedia, then answer",
        capabilities={"fork": True, "tools": True},
    )
