"""The Wordle family: `wordle-v0` (see `env` for the rules, rewards and anchor, `board` for the
feedback format, `words` for how the shipped word lists were built, `solver` for the expert)."""

from agentgym.registration import register as register_env


def register() -> None:
    register_env(
        "wordle-v0",
        "agentgym.environments.wordle.env:WordleEnv",
        max_turns=12,
        description="Wordle: find a secret 5-letter word in six guesses from green/yellow/gray feedback",
        capabilities={"fork": True},
    )
