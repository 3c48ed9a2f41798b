"""TextWorld text adventures (`textworld-v0`), an optional extra: pip install 'agentgym[textworld]'.

Modules: `generation` (offline game generation and its on-disk cache), `env` (the Env),
`text` (observation layout and command grammar; no TextWorld import), `solver` (the expert).
Only `env` and `generation` import TextWorld; `register` imports nothing heavy, so the id is
listed without TextWorld installed, and `make("textworld-v0")` then raises a
`RegistrationError` naming the extra to install.
"""

from agentgym.registration import register as register_env


def register() -> None:
    register_env(
        "textworld-v0",
        "agentgym.environments.textworld_games.env:TextWorldEnv",
        max_turns=50,
        description="A generated TextWorld text adventure: follow the quest (extra: agentgym[textworld])",
        capabilities={"fork": True},
    )
