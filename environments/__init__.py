"""agentgym's own environments, one subpackage or module per family.

`register_environments` is the entry point (group `agentgym.environments`) that registers them
all; entry points are strings, so an environment's module is imported only when it is made.
"""

from agentgym.registration import register


def register_environments() -> None:
    """Register every environment shipped with agentgym."""
    register(
        "guess-number-v0",
        "agentgym.environments.guess_number:GuessNumberEnv",
        max_turns=10,
        description="Guess a secret integer from higher/lower hints (the reference environment)",
        capabilities={"fork": True},
    )
