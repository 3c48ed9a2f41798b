"""Twenty Questions (`twentyq-v0`): a scripted oracle over a shipped knowledge base.

Modules: `knowledge` (the objects and attributes, `knowledge_base.json`), `grammar` (how a
turn's text becomes a question or a guess), `env` (the environment: rules, reward, anchor) and
`solver` (the expert agent). Importing this package imports none of them.
"""

from agentgym.registration import register as register_env


def register() -> None:
    register_env(
        "twentyq-v0",
        "agentgym.environments.twentyq.env:TwentyQuestionsEnv",
        max_turns=20,
        description="Twenty Questions: find the oracle's object with yes/no questions (ArCHer's reward)",
        capabilities={"fork": True},
    )
