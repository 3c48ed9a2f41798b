"""The browser layer against a real headless Chromium: isolation, limits, crashes, cleanup, the
element tree, actions and pixels."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentgym.environments.web import _procs, dom
from agentgym.environments.web.browser import (
    BrowserCrashed,
    BrowserPool,
    BrowserSession,
    BrowserSettings,
    BrowserUnavailable,
    PoolExhausted,
    SessionClosed,
    find_chromium,
    shared_pool,
    unavailable_reason,
)

try:
    from playwright.async_api import Error as PlaywrightError
except ImportError:  # the module is skipped
    PlaywrightError = Exception  # type: ignore[misc,assignment]

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))

STORAGE_PAGE = """<!doctype html><html><body><div id=out></div><script>
const seen = {cookie: document.cookie, local: localStorage.getItem('k')};
document.cookie = 'k=v; path=/'; localStorage.setItem('k', 'v');
document.getElementById('out').textContent = JSON.stringify(seen);
</script></body></html>"""


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """A tiny web site on loopback: / (sets a cookie and localStorage, shows what it saw)."""
    from aiohttp import web

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=STORAGE_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()


@pytest.fixture
async def pool() -> AsyncIterator[BrowserPool]:
    settings = BrowserSettings(max_browsers=2, max_contexts_per_browser=2, acquire_timeout_s=10, spare_sessions=0)
    pool = BrowserPool(settings)
    yield pool
    await pool.close()


async def page_with(pool: BrowserPool, html: str, viewport: tuple[int, int] | None = None) -> BrowserSession:
    session = await pool.new_session(viewport=viewport)
    await session.page.set_content(html)
    return session


# --- settings ------------------------------------------------------------------------------


def test_find_chromium_prefers_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTGYM_CHROMIUM", "/opt/my/chrome")
    assert find_chromium() == "/opt/my/chrome"


async def test_missing_executable_is_a_clear_error() -> None:
    pool = BrowserPool(BrowserSettings(executable_path="/nonexistent/chromium"))
    with pytest.raises(BrowserUnavailable, match="apt-get install chromium"):
        await pool.new_session()
    await pool.close()


# --- sessions ------------------------------------------------------------------------------


async def test_sessions_do_not_share_cookies_or_storage(pool: BrowserPool, site: str) -> None:
    first = await pool.new_session()
    await first.goto(site)
    assert await first.page.text_content("#out") == '{"cookie":"","local":null}'
    await first.goto(site)  # the same session keeps what it stored
    assert await first.page.text_content("#out") == '{"cookie":"k=v","local":"v"}'
    second = await pool.new_session()
    await second.goto(site)
    assert await second.page.text_content("#out") == '{"cookie":"","local":null}'
    await first.close()
    await second.close()


async def test_sessions_spread_over_browsers_then_fill_them(pool: BrowserPool) -> None:
    sessions = [await pool.new_session() for _ in range(4)]
    pids = [s.browser_pid for s in sessions]
    assert len(set(pids)) == 2 and all(pids.count(pid) == 2 for pid in set(pids))
    assert pool.sessions == 4
    for session in sessions:
        await session.close()
    assert pool.sessions == 0


async def test_full_pool_waits_then_times_out(pool: BrowserPool) -> None:
    sessions = [await pool.new_session() for _ in range(pool.capacity)]
    with pytest.raises(PoolExhausted, match="stayed busy"):
        await pool.new_session(timeout_s=0.3)
    waiter = asyncio.ensure_future(pool.new_session(timeout_s=10))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    await sessions[0].close()
    late = await asyncio.wait_for(waiter, 10)
    assert late.browser_pid == sessions[0].browser_pid  # the freed slot
    for session in [*sessions[1:], late]:
        await session.close()


async def test_close_is_idempotent_and_closed_sessions_refuse_work(pool: BrowserPool) -> None:
    session = await pool.new_session()
    await session.close()
    await session.close()
    with pytest.raises(SessionClosed):
        await session.screenshot()
    with pytest.raises(SessionClosed):
        await dom.element_tree(session.page)


async def test_viewport_per_session(pool: BrowserPool) -> None:
    small = await pool.new_session(viewport=(160, 210))
    assert await small.page.evaluate("[innerWidth, innerHeight]") == [160, 210]
    default = await pool.new_session()
    assert await default.page.evaluate("[innerWidth, innerHeight]") == [1280, 720]


async def spare_ready(pool: BrowserPool) -> None:
    for _ in range(200):
        if pool._spares:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("no spare context was prepared")


async def test_spare_contexts_serve_the_next_session_and_respect_the_limit(site: str) -> None:
    settings = BrowserSettings(max_browsers=1, max_contexts_per_browser=3, spare_sessions=1, acquire_timeout_s=10)
    async with BrowserPool(settings) as pool:
        first = await pool.new_session()
        await first.goto(site)
        await first.goto(site)  # cookie and storage set
        await spare_ready(pool)
        spare_context = pool._spares[0][1]
        assert pool.sessions == 1
        second = await pool.new_session(viewport=(160, 210))
        assert second.context is spare_context
        assert await second.page.evaluate("[innerWidth, innerHeight]") == [160, 210]
        await second.goto(site)
        assert await second.page.text_content("#out") == '{"cookie":"","local":null}'
        third = await pool.new_session()  # no room for a spare beside three sessions
        await asyncio.sleep(0.3)
        assert not pool._spares and pool.sessions == 3
        with pytest.raises(PoolExhausted):
            await pool.new_session(timeout_s=0.3)
        await third.close()
        await second.close()
        await spare_ready(pool)  # beside one session
        # callers who need other context options do not take the spare; when the pool is full,
        # a waiting caller evicts it rather than wait
        custom = [await asyncio.wait_for(pool.new_session(locale="de-DE", timeout_s=5), 10) for _ in range(2)]
        assert await custom[1].page.evaluate("navigator.language") == "de-DE"
        assert pool.sessions == 3 and not pool._spares


# --- crashes -------------------------------------------------------------------------------


async def test_killed_browser_fails_only_its_sessions(pool: BrowserPool) -> None:
    victim, bystander = await pool.new_session(), await pool.new_session()
    assert victim.browser_pid != bystander.browser_pid
    await victim.page.set_content("<p>before</p>")
    dead_pid = victim.browser_pid
    dead_processes = [ref for ref in pool.processes() if ref.pgid == dead_pid or ref.pid == dead_pid]
    os.kill(dead_pid, signal.SIGKILL)
    with pytest.raises(BrowserCrashed, match="reset"):
        for _ in range(50):  # the disconnect reaches Playwright within milliseconds
            await victim.screenshot()
            await asyncio.sleep(0.05)
    assert victim.crashed
    with pytest.raises(BrowserCrashed):
        await dom.element_tree(victim.page)
    await victim.close()  # closing a crashed session is fine
    # the other browser is untouched, and a new session gets a fresh browser
    await bystander.page.set_content("<button>still here</button>")
    assert "still here" in (await dom.element_tree(bystander.page)).text
    fresh = await pool.new_session()
    assert fresh.browser_pid not in (dead_pid, None)
    await fresh.page.set_content("<p>new</p>")
    assert pool.crashes == 1
    for _ in range(100):  # the dead browser's zygotes and renderers are reaped
        if not any(_procs.alive(ref) for ref in dead_processes):
            break
        await asyncio.sleep(0.05)
    assert not any(_procs.alive(ref) for ref in dead_processes)


async def test_renderer_crash_fails_only_that_session(pool: BrowserPool) -> None:
    pool.settings.max_browsers = 1  # both sessions on one browser
    victim, neighbour = await pool.new_session(), await pool.new_session()
    assert victim.browser_pid == neighbour.browser_pid
    with contextlib.suppress(BrowserCrashed, PlaywrightError):  # the navigation may fail before the crash is seen
        await victim.goto("chrome://crash")
    for _ in range(100):
        if victim.crashed:
            break
        await asyncio.sleep(0.05)
    with pytest.raises(BrowserCrashed, match="renderer"):
        await victim.screenshot()
    await neighbour.page.set_content("<p>fine</p>")
    assert (await dom.element_tree(neighbour.page)).text == '[1] text "fine"'
    await victim.close()
    replacement = await pool.new_session()
    assert replacement.browser_pid == neighbour.browser_pid


# --- cleanup -------------------------------------------------------------------------------


async def test_close_leaves_no_chromium_process() -> None:
    before = {ref.pid for ref in _procs.owned_processes()}
    pool = BrowserPool(BrowserSettings(max_browsers=2))
    sessions = [await pool.new_session() for _ in range(3)]
    await sessions[0].page.set_content("<p>x</p>")
    started = pool.processes()
    assert len({ref.pid for ref in started if ref.pid == ref.pgid}) == 2  # two browser processes
    assert len(started) > 2  # and their zygotes, renderers and helpers
    await pool.close()
    assert not [ref for ref in started if _procs.alive(ref)]
    assert {ref.pid for ref in _procs.owned_processes()} == before
    with pytest.raises(SessionClosed):
        await sessions[1].screenshot()


async def test_shared_pool_is_per_loop_and_closes_when_idle() -> None:
    pool = shared_pool(idle_close_s=0.3)
    assert shared_pool() is pool
    session = await pool.new_session()
    started = pool.processes()
    await session.close()
    for _ in range(100):
        if not pool.browser_pids():
            break
        await asyncio.sleep(0.05)
    assert pool.browser_pids() == []
    assert not [ref for ref in started if _procs.alive(ref)]
    again = await pool.new_session()  # relaunches on demand
    await again.page.set_content("<p>back</p>")
    await again.close()
    assert pool.launches == 2


def test_shared_pools_of_closed_loops_are_killed() -> None:
    async def leave_a_browser_open() -> list[_procs.ProcRef]:
        session = await shared_pool().new_session()
        await session.page.set_content("<p>x</p>")
        return shared_pool().processes()

    started = asyncio.run(leave_a_browser_open())  # the loop ends with the browser still open
    assert any(_procs.alive(ref) for ref in started)

    async def touch() -> None:
        shared_pool()  # sweeps pools of closed loops

    asyncio.run(touch())
    assert _procs.wait_gone(started, 5.0) == []


def test_nothing_survives_a_script_that_never_closes() -> None:
    script = (
        "import asyncio, os\n"
        "from agentgym.environments.web.browser import shared_pool\n"
        "async def main():\n"
        "    session = await shared_pool().new_session()\n"
        "    await session.page.set_content('<p>x</p>')\n"
        "    print(os.getpid(), flush=True)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    owner = int(done.stdout.split()[-1])
    assert _procs.wait_gone(_procs.owned_processes(owner), 5.0) == []


# --- the element tree and actions ----------------------------------------------------------

FORM_PAGE = """<!doctype html><html><body>
<h1>Shop</h1>
<form aria-label="search">
  <label for=q>Search</label><input id=q value="red shoes">
  <button type=button id=go onclick="document.body.dataset.clicks = (+document.body.dataset.clicks || 0) + 1">Buy now</button>
</form>
<p>Hello <b>world</b>!</p>
<div style="display:none"><button>hidden one</button></div>
<button style="visibility:hidden">invisible</button>
<span aria-hidden="true">aria hidden</span>
<label><input type=checkbox id=red checked> red</label>
<label><input type=checkbox id=blue> blue</label>
<select aria-label="Size"><option>S</option><option selected>M</option></select>
<a href="#next">Next &gt;</a>
</body></html>"""


async def test_element_tree_roles_names_values_and_hidden_elements(pool: BrowserPool) -> None:
    session = await page_with(pool, FORM_PAGE)
    tree = await dom.element_tree(session.page)
    assert tree.text == "\n".join(
        [
            '[1] heading "Shop"',
            'form "search"',
            '  [2] textbox "Search" value="red shoes"',
            '  [3] button "Buy now"',
            '[4] text "Hello world!"',
            '[5] checkbox "red" checked',
            '[6] checkbox "blue"',
            '[7] combobox "Size" value="M"',
            '  option "S"',
            '  option "M" selected',
            '[8] link "Next >"',
        ]
    )
    assert "hidden" not in tree.text and "invisible" not in tree.text
    button = tree[3]
    assert (button.role, button.name, button.tag) == ("button", "Buy now", "button")
    assert button.width > 0 and button.height > 0 and button.in_viewport
    assert [el.id for el in tree.find(role="checkbox")] == [5, 6]
    with pytest.raises(dom.ElementNotFound):
        tree[99]


async def test_ids_are_stable_and_new_elements_get_new_ids(pool: BrowserPool) -> None:
    session = await page_with(pool, FORM_PAGE)
    first = await dom.element_tree(session.page)
    await session.page.evaluate(
        "() => { const b = document.createElement('button'); b.textContent = 'Added'; document.body.prepend(b); }"
    )
    second = await dom.element_tree(session.page)
    assert second.find(name="Buy now")[0].id == first.find(name="Buy now")[0].id
    assert second.find(name="Added")[0].id == 9
    plain = await dom.element_tree(session.page, text_ids=False)
    assert "\nHello world!\n" in plain.text and not plain.find(role="text")


async def test_click_and_fill_by_id(pool: BrowserPool) -> None:
    session = await page_with(pool, FORM_PAGE)
    tree = await dom.element_tree(session.page)
    await dom.click_element(session.page, tree.find(name="Buy now")[0].id)
    await dom.click_element(session.page, str(tree.find(name="Buy now")[0].id))
    assert await session.page.evaluate("document.body.dataset.clicks") == "2"
    await dom.fill_element(session.page, tree.find(role="textbox")[0].id, "blue hat")
    await dom.fill_element(session.page, tree.find(name="Size")[0].id, "S")
    await dom.fill_element(session.page, tree.find(name="red")[0].id, "false")
    await dom.click_element(session.page, tree.find(name="blue")[0].id)
    after = await dom.element_tree(session.page)
    assert '[2] textbox "Search" value="blue hat"' in after.text
    assert '[7] combobox "Size" value="S"' in after.text
    assert '[5] checkbox "red"\n' in after.text and '[6] checkbox "blue" checked' in after.text
    with pytest.raises(dom.ElementNotFound):
        await dom.click_element(session.page, 404)
    with pytest.raises(dom.ElementNotFound):
        await dom.fill_element(session.page, "abc", "x")
    with pytest.raises(dom.ActionFailed):
        await dom.fill_element(session.page, 5, "maybe")


async def test_keyboard_and_scroll(pool: BrowserPool) -> None:
    session = await page_with(
        pool,
        "<input id=t onkeydown=\"if (event.key === 'Enter') document.title = this.value\">"
        "<div style='height:3000px'></div>",
        viewport=(400, 300),
    )
    tree = await dom.element_tree(session.page)
    await dom.click_element(session.page, tree.find(role="textbox")[0].id)
    await dom.type_text(session.page, "hello")
    await dom.press_key(session.page, "Enter")
    assert await session.page.title() == "hello"
    assert 'value="hello" focused' in (await dom.element_tree(session.page)).text
    with pytest.raises(dom.ActionFailed):
        await dom.press_key(session.page, "NoSuchKey")
    await dom.scroll(session.page, 0, 500)
    assert await session.page.evaluate("scrollY") == 500
    tree = await dom.element_tree(session.page)
    assert tree.scroll == (0, 500) and not tree.find(role="textbox")[0].in_viewport


async def test_click_at_hits_the_element_at_its_box_centre(pool: BrowserPool) -> None:
    session = await page_with(
        pool,
        "<body style='margin:0'><button id=b style='position:absolute;left:100px;top:60px;width:80px;height:30px' "
        "onclick='document.title = \"hit\"'>B</button></body>",
        viewport=(320, 240),
    )
    box = (await dom.element_tree(session.page)).find(role="button")[0]
    assert (box.x, box.y, box.width, box.height) == (100, 60, 80, 30)
    await dom.click_at(session.page, 20, 20)  # background: nothing happens
    assert await session.page.title() == ""
    await dom.click_at(session.page, *box.center)
    assert await session.page.title() == "hit"
    with pytest.raises(dom.ActionFailed, match="outside"):
        await dom.click_at(session.page, 500, 10)


# --- pixels --------------------------------------------------------------------------------

PIXEL_PAGE = (
    "<body style='margin:0;background:rgb(255,255,255)'>"
    "<div id=box style='position:absolute;left:40px;top:30px;width:50px;height:40px;background:rgb(255,0,0)'></div>"
    "<button style='position:absolute;left:120px;top:90px;width:60px;height:30px'>OK</button></body>"
)


def decode(png: bytes) -> Any:
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


async def test_screenshot_pixels(pool: BrowserPool) -> None:
    session = await page_with(pool, PIXEL_PAGE, viewport=(200, 150))
    image = decode(await session.screenshot())
    assert image.size == (200, 150)
    for x, y in [(40, 30), (65, 50), (89, 69)]:
        assert image.getpixel((x, y)) == (255, 0, 0)
    for x, y in [(39, 50), (91, 50), (65, 29), (65, 71), (5, 5), (195, 145)]:
        assert image.getpixel((x, y)) == (255, 255, 255)


async def test_set_of_marks_draws_a_numbered_box_and_cleans_up(pool: BrowserPool) -> None:
    session = await page_with(pool, PIXEL_PAGE, viewport=(200, 150))
    plain = decode(await session.screenshot())
    tree = await dom.element_tree(session.page)
    button = tree.find(role="button")[0]
    marked = decode(await dom.screenshot_with_marks(session.page, tree))
    # the frame: the button's border pixels change colour; the label sits just above its top-left
    left, top = int(button.x), int(button.y)
    assert marked.getpixel((left, top + 10)) != plain.getpixel((left, top + 10))
    label = [
        (x, y)
        for x in range(left, left + 12)
        for y in range(top - 14, top)
        if marked.getpixel((x, y)) != (255, 255, 255)
    ]
    assert len(label) > 50
    # the red box is not marked (it is no element of the tree) and the page is unchanged afterwards
    assert marked.getpixel((65, 50)) == (255, 0, 0)
    assert decode(await session.screenshot()).tobytes() == plain.tobytes()
    assert await session.page.evaluate("document.getElementById('__agentgym_marks')") is None


async def test_a_page_stuck_in_a_script_is_given_up_as_crashed(pool: BrowserPool) -> None:
    session = await page_with(pool, "<button>spin</button>")
    neighbour = await page_with(pool, "<button>calm</button>")
    await session.page.evaluate("() => { setTimeout(() => { while (true) {} }, 0); }")
    with pytest.raises(BrowserCrashed, match="did not answer"):
        await dom.element_tree(session.page, timeout_s=1.0)
    with pytest.raises(BrowserCrashed):
        await session.screenshot()
    await asyncio.wait_for(session.close(), 15)
    assert '"calm"' in (await dom.element_tree(neighbour.page)).text


async def test_one_session_at_a_time_runs_one_browser() -> None:
    """An environment that closes its session and opens the next (a served env's resets) keeps
    using one Chromium, whether or not the spare is ready."""
    async with BrowserPool(BrowserSettings(max_browsers=2, spare_sessions=1)) as pool:
        for _ in range(6):
            session = await pool.new_session()
            await session.page.set_content("<p>x</p>")
            await session.close()
        assert pool.launches == 1


async def test_one_disable_features_switch_keeps_playwrights_list() -> None:
    """Chromium keeps only the last --disable-features: the pool merges Playwright's, its own and
    the caller's into one, and the omnibox WebUI pages of new headless are gone."""
    if not os.path.exists("/proc/self/cmdline"):
        pytest.skip("reads the browser's command line from /proc")
    settings = BrowserSettings(max_browsers=1, spare_sessions=0, extra_args=["--disable-features=Translate"])
    async with BrowserPool(settings) as pool:
        session = await pool.new_session()
        with open(f"/proc/{session.browser_pid}/cmdline", "rb") as f:
            argv = f.read().decode().split("\0")
        switches = [arg.split("=", 1)[1].split(",") for arg in argv if arg.startswith("--disable-features=")]
        assert set(switches[0]) <= set(switches[-1])  # Playwright's list survives
        assert {"MediaRouter", "Translate", "WebUIOmniboxPopup"} <= set(switches[-1])
        cdp = await session.context.browser.new_browser_cdp_session()
        targets = (await cdp.send("Target.getTargets", {"filter": [{}]}))["targetInfos"]
        assert [t["type"] for t in targets if "omnibox" in t["url"]] == []
