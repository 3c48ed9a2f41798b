"""The toy-text family: Gymnasium's grid worlds as text games, through agentgym's Gymnasium
bridge. `frozen_lake`, `taxi` and `cliff_walking` each hold one game (rendering, system prompt,
expert solver); they share the geometry and shortest-path search of the grid games
(`agentgym.environments.grid`)."""

from agentgym.registration import register as register_env

_PACKAGE = "agentgym.environments.toy_text"


def register() -> None:
    fork = {"fork": True}
    register_env(
        "frozenlake-v0",
        f"{_PACKAGE}.frozen_lake:FrozenLake",
        max_turns=20,
        description="FrozenLake 4x4 as text: a new random map per seed, firm (non-slippery) ice",
        capabilities=fork,
    )
    register_env(
        "frozenlake-8x8-v0",
        f"{_PACKAGE}.frozen_lake:FrozenLake",
        max_turns=50,
        description="FrozenLake 8x8 as text: a new random map per seed, firm (non-slippery) ice",
        capabilities=fork,
        size=8,
    )
    register_env(
        "frozenlake-slippery-v0",
        f"{_PACKAGE}.frozen_lake:FrozenLake",
        max_turns=50,
        description="FrozenLake 4x4 as text: a new random map per seed, slippery ice (moves may slide sideways)",
        capabilities=fork,
        slippery=True,
    )
    register_env(
        "taxi-v0",
        f"{_PACKAGE}.taxi:Taxi",
        max_turns=40,
        description="Taxi as text: pick up a passenger and drop them off at their destination on a 5x5 map",
        capabilities=fork,
    )
    register_env(
        "cliffwalking-v0",
        f"{_PACKAGE}.cliff_walking:CliffWalking",
        max_turns=30,
        description="CliffWalking as text: cross a 4x12 grid to the goal without stepping onto the cliff",
        capabilities=fork,
    )
