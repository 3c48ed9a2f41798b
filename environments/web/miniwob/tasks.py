"""The MiniWoB++ tasks shipped in the PyPI `miniwob` package: where they are, which run here.

Nothing here imports `miniwob` (its `__init__` registers Gymnasium environments and may print
notices) or Playwright: the package folder is found with `importlib.util.find_spec`, and the
task list is the package's `html/miniwob/*.html` files minus `EXCLUDED`. This keeps
registration cheap (a directory listing and a few small file reads).

Every one of the package's 130 task pages (miniwob 1.1.0) loads from `file://` with all
requests to other schemes blocked, starts an episode, gives the same utterance for the same
seed and ends by its own time limit (checked by tests/web/test_miniwob.py on a sample and, for
all of them, by the scan described in docs/environments.md), so `EXCLUDED` is empty by
default; it stays the one place to drop a task that breaks in a later `miniwob` release.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

EXCLUDED: dict[str, str] = {}
"""Task name -> why it is not registered. Empty for miniwob 1.1.0 (see the module docstring)."""

DEFAULT_EPISODE_MAX_MS = 10_000
"""core.js's default `core.EPISODE_MAX_TIME` (a task page may set its own)."""

_MAX_TIME = re.compile(r"core\.EPISODE_MAX_TIME\s*=\s*(\d+)")


def miniwob_html_dir() -> Path | None:
    """The `html` folder of the installed `miniwob` package (holds core/, common/ and miniwob/),
    or None when the package is not installed. Does not import the package."""
    try:
        spec = importlib.util.find_spec("miniwob")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        html = Path(location) / "html"
        if (html / "miniwob").is_dir() and (html / "core" / "core.js").is_file():
            return html
    return None


@functools.lru_cache(maxsize=1)
def list_tasks() -> tuple[str, ...]:
    """The names of the runnable tasks (e.g. "click-button"), sorted; () without the package."""
    html = miniwob_html_dir()
    if html is None:
        return ()
    names = (path.stem for path in (html / "miniwob").glob("*.html"))
    return tuple(sorted(name for name in names if name not in EXCLUDED))


def task_path(task: str) -> Path:
    """The task's HTML file. Raises ValueError for an unknown or excluded task and
    FileNotFoundError when the miniwob package is missing."""
    html = miniwob_html_dir()
    if html is None:
        raise FileNotFoundError("the MiniWoB++ tasks need the miniwob package: pip install miniwob")
    if task in EXCLUDED:
        raise ValueError(f"MiniWoB task {task!r} is excluded: {EXCLUDED[task]}")
    path = html / "miniwob" / f"{task}.html"
    if not re.fullmatch(r"[a-z0-9-]+", task) or not path.is_file():
        raise ValueError(f"unknown MiniWoB task {task!r}; the tasks are listed by list_tasks()")
    return path


def episode_max_ms(task: str) -> int:
    """The task's own episode time limit in ms (`core.EPISODE_MAX_TIME`, read from its page)."""
    found = _MAX_TIME.search(task_path(task).read_text(encoding="utf-8", errors="replace"))
    return int(found.group(1)) if found else DEFAULT_EPISODE_MAX_MS
