"""Web and GUI environments that run in a real (headless Chromium) browser.

`browser` holds the browser layer they share (a pool of Chromium processes handing out isolated
sessions), `dom` the page helpers (element tree with stable ids, actions by id or coordinates,
set-of-marks screenshots). `register()` registers this family's environments with string entry
points, so nothing heavy (Playwright, Chromium) is imported or started before one is made.
"""


def register() -> None:
    """Register the web environments: the web shop and the MiniWoB++ tasks."""
    from agentgym.environments.web import miniwob, webshop

    webshop.register()
    miniwob.register()
