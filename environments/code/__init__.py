"""The coding environment family: write a Python function, run and test it in a sandbox, submit.

Ids: `code-v0` (every shipped task), `code-easy-v0`, `code-medium-v0`, `code-hard-v0` (one
difficulty each) and `code-jsonl-v0` (tasks from a HumanEval, MBPP or agentgym JSONL file:
`agentgym.make("code-jsonl-v0", path=..., format="humaneval")`).

Modules: `tasks` (the task record and the shipped `tasks.json`), `loaders` (JSONL files),
`actions` (parsing tags and tool calls), `execution` (running code in the sandbox session with
`sandbox_runner.py`), `feedback` (observation text), `env` (the environment) and `solver`
(the expert and the baseline). Importing this package imports none of them.
"""

from agentgym.registration import register as register_env

MAX_TURNS = 8

_PRESETS = {
    "code-v0": (None, "Write a Python function from its description; test in a sandbox, submit to hidden tests"),
    "code-easy-v0": ("easy", "code-v0 restricted to its easy tasks"),
    "code-medium-v0": ("medium", "code-v0 restricted to its medium tasks"),
    "code-hard-v0": ("hard", "code-v0 restricted to its hard tasks"),
}


def register() -> None:
    capabilities = {"fork": True, "tools": True}
    for env_id, (difficulty, description) in _PRESETS.items():
        register_env(
            env_id,
            "agentgym.environments.code.env:CodeEnv",
            max_turns=MAX_TURNS,
            description=description,
            capabilities=capabilities,
            **({"difficulty": difficulty} if difficulty else {}),
        )
    register_env(
        "code-jsonl-v0",
        "agentgym.environments.code.env:JsonlCodeEnv",
        max_turns=MAX_TURNS,
        description="Coding tasks from a HumanEval/MBPP-style JSONL file (make(..., path=, format=))",
        capabilities=capabilities,
    )
