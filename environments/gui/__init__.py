"""The GUI family: screenshot observations and coordinate actions in headless Chromium.

Ids: `gui/miniwob-<task>-v0` for every runnable MiniWoB++ task (`web.miniwob.tasks.list_tasks`,
a directory listing; none without the miniwob package), and `gui/filemanager-v0`,
`gui/calendar-v0`, `gui/settings-v0` for the apps shipped in `apps/`. `register()` imports
neither Playwright nor miniwob.
"""

from __future__ import annotations

from agentgym.registration import register as register_env

APP_TURN_LIMITS = {"filemanager": 15, "calendar": 15, "settings": 15}
APP_DESCRIPTIONS = {
    "filemanager": "GUI file manager: move, rename or delete a file (screenshots, coordinate clicks)",
    "calendar": "GUI calendar: add an event on a date at a time (screenshots, coordinate clicks)",
    "settings": "GUI settings form: change settings and save (screenshots, coordinate clicks)",
}


def miniwob_env_id(task: str) -> str:
    """The GUI id of a MiniWoB++ task: `gui/miniwob-<task>-v0`."""
    return f"gui/miniwob-{task}-v0"


def register() -> None:
    """Register the GUI apps and the GUI versions of the MiniWoB++ tasks."""
    from agentgym.environments.web.miniwob import turn_limit
    from agentgym.environments.web.miniwob.tasks import list_tasks

    capabilities = {"images": True, "tools": True}
    for app, limit in APP_TURN_LIMITS.items():
        register_env(
            f"gui/{app}-v0",
            "agentgym.environments.gui.env:GuiAppEnv",
            max_turns=limit,
            description=APP_DESCRIPTIONS[app] + " (needs playwright)",
            capabilities=capabilities,
            app=app,
        )
    for task in list_tasks():
        register_env(
            miniwob_env_id(task),
            "agentgym.environments.gui.env:GuiMiniWoBEnv",
            max_turns=turn_limit(task),
            description=f"MiniWoB++ {task} from screenshots with coordinate actions (needs playwright, miniwob)",
            capabilities=capabilities,
            task=task,
        )
