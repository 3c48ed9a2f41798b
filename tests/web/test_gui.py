"""The GUI family in a real headless Chromium: registration, screenshot observations (pixels
checked with Pillow), set-of-marks, coordinate actions, invalid actions, the apps' seeded goals
and judges, oracle and random agents in process and through a served environment."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import agentgym
from agentgym.environments.gui import miniwob_env_id, register
from agentgym.environments.gui.apps import APPS, Calendar, FileManager, Settings
from agentgym.environments.gui.oracle import ORACLES, RandomGuiAgent
from agentgym.environments.web.browser import shared_pool, unavailable_reason
from agentgym.environments.web.miniwob.tasks import miniwob_html_dir

BROWSER_MISSING = unavailable_reason()
needs_browser = pytest.mark.skipif(BROWSER_MISSING is not None, reason=str(BROWSER_MISSING))
MINIWOB_MISSING = unavailable_reason() or (
    "the miniwob package is not installed (pip install miniwob)" if miniwob_html_dir() is None else None
)
needs_miniwob = pytest.mark.skipif(MINIWOB_MISSING is not None, reason=str(MINIWOB_MISSING))

register()


def _png(data: bytes) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(data)).convert("RGB")


def _element(observation: Any, role: str, name: str) -> dict[str, Any]:
    return next(e for e in observation.metadata["elements"] if e["role"] == role and e["name"] == name)


# --- registration and the judges (no browser) ----------------------------------------------------


def test_registration_without_importing_playwright():
    code = (
        "import sys, json\n"
        "from agentgym.environments.gui import register\n"
        "from agentgym.registration import list_envs\n"
        "register()\n"
        "ids = [s.id for s in list_envs() if s.id.startswith('gui/')]\n"
        "print(json.dumps({'ids': ids, 'heavy': [m for m in ('playwright', 'miniwob') if m in sys.modules]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert {"gui/filemanager-v0", "gui/calendar-v0", "gui/settings-v0"} <= set(result["ids"])
    if miniwob_html_dir() is not None:
        assert miniwob_env_id("click-button") in result["ids"] and len(result["ids"]) > 100


def test_goals_are_seeded_and_judged_from_the_app_state():
    for app in APPS.values():
        first = app.generate(np.random.default_rng(7))
        assert first == app.generate(np.random.default_rng(7))
        assert len({app.generate(np.random.default_rng(seed)).instruction for seed in range(10)}) > 5

    manager = FileManager()
    files = [{"id": 0, "name": "a.txt", "folder": "Home", "deleted": False}]
    move = {"kind": "move", "file": 0, "name": "a.txt", "folder": "Archive"}
    assert manager.judge(move, {"files": files}) is None
    assert manager.judge(move, {"files": [{**files[0], "folder": "Archive"}]}) == "success"
    assert manager.judge(move, {"files": [{**files[0], "deleted": True}]}) == "failure"
    rename = {"kind": "rename", "file": 0, "name": "a.txt", "new_name": "a_v2.txt"}
    assert manager.judge(rename, {"files": [{**files[0], "name": "a_v2.txt"}]}) == "success"
    assert (
        manager.judge({"kind": "delete", "file": 0, "name": "a.txt"}, {"files": [{**files[0], "deleted": True}]})
        == "success"
    )

    goal = {"date": "2025-03-14", "time": "09:30", "title": "Dentist"}
    event = {"date": "2025-03-14", "time": "09:30", "title": " dentist "}
    assert Calendar().judge(goal, {"events": [event]}) == "success"
    assert Calendar().judge(goal, {"events": [{**event, "time": "09:31"}]}) is None

    settings = {"values": {"wifi": True, "theme": "Dark"}}
    assert Settings().judge(settings, {"saved": None}) is None
    assert Settings().judge(settings, {"saved": {"wifi": True, "theme": "Dark"}}) == "success"
    assert Settings().judge(settings, {"saved": {"wifi": False, "theme": "Dark"}}) == "failure"


# --- the apps in the browser ---------------------------------------------------------------------


@needs_browser
async def test_app_observation_is_a_screenshot_with_the_instruction_and_screen_size():
    async with agentgym.make("gui/settings-v0") as env:
        observation = await env.reset(seed=4)
        assert len(observation.images) == 1
        assert observation.text.startswith("Task: In the settings, ")
        assert "Screen: 640x480 pixels" in observation.text
        assert {tool.function.name for tool in observation.tools} == {"click", "type", "key", "scroll", "wait"}
        image = _png(observation.images[0])
        assert image.size == (640, 480)
        x, y, width, height = _element(observation, "button", "Save")["box"]
        assert image.getpixel((int(x + 4), int(y + height / 2))) == (0x4B, 0x3F, 0x72)  # the Save button's purple
        assert image.getpixel((5, 5)) == (0x4B, 0x3F, 0x72)  # the title bar
        assert image.getpixel((5, 300)) == (0xF3, 0xF4, 0xF6)  # the page background

        # clicking a switch changes its pixels where the element box says it is
        switch = next(e for e in observation.metadata["elements"] if e["role"] == "switch")
        sx, sy, sw, sh = switch["box"]
        before = image.getpixel((int(sx + sw / 2), int(sy + sh / 2)))
        result = await env.step(f"click({sx + sw / 2:.0f}, {sy + sh / 2:.0f})")
        after = _png(result.observation.images[0]).getpixel((int(sx + sw / 2), int(sy + sh / 2)))
        assert result.info["invalid_action"] is False and before != after


@needs_browser
async def test_set_of_marks_draws_labels_on_the_same_screen():
    async with agentgym.make("gui/filemanager-v0") as plain, agentgym.make("gui/filemanager-v0", marks=True) as marked:
        a, b = await plain.reset(seed=1), await marked.reset(seed=1)
        assert a.text == b.text and a.metadata["elements"] == b.metadata["elements"]
        image_a, image_b = _png(a.images[0]), _png(b.images[0])
        assert image_a.size == image_b.size == (640, 480) and image_a.tobytes() != image_b.tobytes()


@needs_browser
async def test_invalid_gui_actions():
    async with agentgym.make("gui/calendar-v0") as env:
        observation = await env.reset(seed=0)
        for action, hint in (
            ("click somewhere", "No action found"),
            ("click(700, 10)", "outside"),
            ("click(5)", "needs y"),
        ):
            result = await env.step(action)
            assert result.info["invalid_action"] is True and result.reward == pytest.approx(-0.1), action
            assert hint in result.observation.text and not result.done
            assert result.observation.anchor == observation.anchor
        result = await env.step('key("NotAKey")')
        assert result.info["invalid_action"] is True


@needs_browser
async def test_same_seed_same_task_and_screen():
    async def first(seed: int) -> tuple[str, bytes]:
        async with agentgym.make("gui/calendar-v0") as env:
            observation = await env.reset(seed=seed)
            return observation.text, _png(observation.images[0]).tobytes()

    assert await first(3) == await first(3)
    assert (await first(3))[0] != (await first(4))[0]


@needs_browser
async def test_settings_saved_wrong_ends_the_episode_unsolved():
    async with agentgym.make("gui/settings-v0") as env:
        observation = await env.reset(seed=2)
        result = await env.step("click({:.0f}, {:.0f})".format(*_centre(_element(observation, "button", "Save"))))
        assert result.terminated and result.reward == 0.0 and result.info["success"] is False


def _centre(element: dict[str, Any]) -> tuple[float, float]:
    x, y, width, height = element["box"]
    return x + width / 2, y + height / 2


@needs_browser
@pytest.mark.parametrize("app", sorted(ORACLES))
async def test_app_oracle_reaches_the_goal_and_random_clicks_do_not(run_agent, app):
    report = await run_agent(f"gui/{app}-v0", lambda seed: ORACLES[app](), range(10))
    assert report.success_rate >= 0.9, [(e.seed, e.actions) for e in report.episodes if not e.success]
    assert all(e.total_reward == 1.0 for e in report.episodes if e.success)
    random_report = await run_agent(f"gui/{app}-v0", RandomGuiAgent, range(5))
    assert random_report.success_rate <= 0.2
    assert shared_pool().sessions == 0


@needs_browser
async def test_app_oracle_through_a_served_environment(run_agent):
    report = await run_agent("gui/calendar-v0", lambda seed: ORACLES["calendar"](), range(3), remote=True)
    assert report.success_rate == 1.0


# --- MiniWoB through the GUI ---------------------------------------------------------------------


@needs_miniwob
async def test_miniwob_by_coordinates():
    async with agentgym.make(miniwob_env_id("click-button"), marks=True) as env:
        observation = await env.reset(seed=3)
        assert "Screen: 160x210 pixels" in observation.text
        assert _png(observation.images[0]).size == (160, 210)
        wanted = observation.metadata["instruction"].split('"')[1]
        x, y = _centre(_element(observation, "button", wanted))
        result = await env.step(f"click({x:.0f}, {y:.0f})")
        assert result.terminated and result.info["success"] is True and result.reward == pytest.approx(1.0)


@needs_miniwob
async def test_miniwob_gui_time_limit_and_focus_by_click():
    async with agentgym.make(miniwob_env_id("focus-text"), step_ms=5000) as env:
        await env.reset(seed=0)
        first, second = await env.step("wait()"), await env.step("wait()")
        assert not first.done and second.terminated and second.info["reason"] == "timed out"
    async with agentgym.make(miniwob_env_id("focus-text")) as env:
        observation = await env.reset(seed=0)
        x, y = _centre(next(e for e in observation.metadata["elements"] if e["role"] == "textbox"))
        result = await env.step(json.dumps({"name": "click", "arguments": {"x": x, "y": y}}))
        assert result.info["success"] is True
