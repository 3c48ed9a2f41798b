"""One merged `--disable-features` switch for Chromium.

Chromium keeps only the LAST `--disable-features` on its command line. Playwright passes its own
list (MediaRouter, HttpsUpgrades, PaintHolding, ...) and appends the caller's arguments after
it, so a caller's `--disable-features=X` silently re-enables everything Playwright disabled. The
pool therefore passes one switch holding Playwright's list, its own additions and the user's.

Playwright's list is read from its driver's JavaScript (once per process); after each launch
`learn_from_command_line` checks the browser's real command line and, if Playwright's list was
not covered, remembers it from there for the next launches.
"""

from __future__ import annotations

import os
import re

POOL_DISABLED_FEATURES = ("WebUIOmniboxPopup", "WebUIOmniboxAimPopup")
"""New headless Chromium opens two omnibox-popup WebUI pages per browser context (a renderer
process per context, ~30% of a session's memory) that a headless page never shows."""

_SWITCH = "--disable-features="
_LIST = re.compile(r"disabledFeatures\s*=\s*\[(.*?)\]", re.DOTALL)
_NAME = re.compile(r'^\s*"([A-Za-z0-9_]+)"\s*,?\s*$', re.MULTILINE)
_learnt: list[str] | None = None


def _from_driver() -> list[str]:
    try:
        import playwright
    except ImportError:
        return []
    lib = os.path.join(os.path.dirname(playwright.__file__), "driver", "package", "lib")
    for path in (os.path.join(lib, "coreBundle.js"), os.path.join(lib, "server", "chromium", "chromiumSwitches.js")):
        try:
            with open(path, encoding="utf-8") as f:
                match = _LIST.search(f.read())
        except OSError:
            continue
        if match:  # plain string entries only (one per line): conditional ones are left to Playwright
            return _NAME.findall(match.group(1))
    return []


def playwright_disabled_features() -> list[str]:
    """Playwright's own disabled features (learnt from a launch, else read from its driver)."""
    global _learnt
    if _learnt is None:
        _learnt = _from_driver()
    return _learnt


def merged_args(args: list[str]) -> list[str]:
    """`args` with every `--disable-features` replaced by one switch at the end that also holds
    Playwright's list and `POOL_DISABLED_FEATURES`."""
    names = [*playwright_disabled_features(), *POOL_DISABLED_FEATURES]
    rest = []
    for arg in args:
        if arg.startswith(_SWITCH):
            names.extend(name for name in arg[len(_SWITCH) :].split(",") if name)
        else:
            rest.append(arg)
    return [*rest, _SWITCH + ",".join(dict.fromkeys(names))]


def learn_from_command_line(pid: int | None) -> bool:
    """Check a launched browser's command line: True when its effective (last) switch covers the
    first one (Playwright's). Otherwise remember Playwright's list for the next launches."""
    global _learnt
    if pid is None:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return True
    values = [arg[len(_SWITCH) :].split(",") for arg in argv if arg.startswith(_SWITCH)]
    if len(values) < 2 or set(values[0]) <= set(values[-1]):
        return True
    _learnt = [name for name in values[0] if name]
    return False
