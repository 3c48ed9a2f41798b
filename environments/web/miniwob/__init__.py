"""MiniWoB++ in headless Chromium: `miniwob/<task>-v0`, one id per task of the `miniwob` package.

`register()` lists the package's task pages (`tasks.list_tasks`, a directory listing: neither
`miniwob` nor Playwright is imported) and registers each with the entry point
`agentgym.environments.web.miniwob.env:MiniWoBEnv`; nothing is registered when the package is
not installed. The turn limit of each id is a little above the task's own time limit at the
default 500 ms per turn, so MiniWoB's time limit normally ends an episode first.
"""

from __future__ import annotations

import math

from agentgym.registration import register as register_env

NAMESPACE = "miniwob"
DEFAULT_STEP_MS = 500
"""Page time per turn (`MiniWoBEnv(step_ms=...)`); the turn limits are computed from it."""


def env_id(task: str) -> str:
    """The id of a task: `miniwob/<task>-v0`."""
    return f"{NAMESPACE}/{task}-v0"


def turn_limit(task: str) -> int:
    """The registered turn limit: the task's time limit in turns of `DEFAULT_STEP_MS`, plus 5."""
    from agentgym.environments.web.miniwob.tasks import episode_max_ms

    return math.ceil(episode_max_ms(task) / DEFAULT_STEP_MS) + 5


def register() -> None:
    """Register `miniwob/<task>-v0` for every runnable task of the installed miniwob package."""
    from agentgym.environments.web.miniwob.tasks import list_tasks

    for task in list_tasks():
        register_env(
            env_id(task),
            "agentgym.environments.web.miniwob.env:MiniWoBEnv",
            max_turns=turn_limit(task),
            description=f"MiniWoB++ {task} in headless Chromium (element tree; needs playwright, miniwob)",
            capabilities={"images": True, "tools": True},
            task=task,
        )
