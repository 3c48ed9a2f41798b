"""The GUI family: screenshots in, coordinate actions out, over a real headless Chromium page.

Observation: `images` holds one PNG of the screen; `text` is the instruction and the screen's
size (plus a line of feedback on the last action). With `marks=True` the screenshot carries
set-of-marks labels (`dom.screenshot_with_marks`: a numbered box on each interactive element);
the numbers only help to refer to places, actions still take coordinates. `metadata["elements"]`
lists the page's elements with their boxes (id, role, name, [x, y, width, height]) for scripted
agents and analysis; agentgym never shows metadata to a policy.

Actions (`miniwob.calls` grammar, or JSON tool calls; coordinates are CSS pixels of the
screenshot, from its top left corner): `click(x, y)`, `type("text")` (into the focused element),
`key("Enter")` (a key or chord by Playwright's name), `scroll(dx, dy)` (a mouse wheel at the
last pointer position, the screen's centre at first), `wait()`.

Environments:
- `GuiMiniWoBEnv(task)` (`gui/miniwob-<task>-v0`): a MiniWoB++ task (160x210 screen) with its
  own reward, time limit and virtual clock, as `miniwob.env.MiniWoBEnv` describes.
- `GuiAppEnv(app)` (`gui/<app>-v0`): one of the apps in `apps` (640x480 screen). Reward 1 and
  `terminated` when the app's state meets the goal, `terminated` with 0 when the goal can no
  longer be met; the registry's turn limit truncates otherwise.

An action that cannot be parsed or applied (a point off the screen, an unknown key) is invalid:
`-invalid_penalty`, feedback, `info["invalid_action"]`. A browser crash ends the episode as
truncated with `info["browser_crashed"]`. `close()` closes the browser session.
"""

from __future__ import annotations

import importlib.util
from typing import Any

if importlib.util.find_spec("playwright") is None:  # the registry turns this into a RegistrationError
    raise ModuleNotFoundError("the GUI environments need playwright: pip install playwright", name="playwright")

from agentgym.env import Env
from agentgym.environments.gui.apps import APPS, SCREEN_SIZE, Task
from agentgym.environments.web.browser import BrowserCrashed, BrowserSession, crash_guard, shared_pool
from agentgym.environments.web.dom import (
    DomActionError,
    ElementTree,
    click_at,
    element_tree,
    press_key,
    screenshot_with_marks,
    scroll,
    type_text,
)
from agentgym.environments.web.miniwob.calls import Action, ActionSpec, CallError, parse_call, tools
from agentgym.environments.web.miniwob.page import TASK_SIZE, EpisodeSettings, MiniWoBPage
from agentgym.types import Observation, StepResult

ACTIONS = (
    ActionSpec(
        "click",
        "Click at a point of the screen, in pixels from its top left corner.",
        (("x", float, "pixels from the left"), ("y", float, "pixels from the top")),
    ),
    ActionSpec("type", "Type text with the keyboard into the focused element.", (("text", str, "the text"),)),
    ActionSpec(
        "key", "Press a key or chord, e.g. Enter, Tab, Escape, Backspace, Control+A.", (("key", str, "the key"),)
    ),
    ActionSpec(
        "scroll",
        "Turn the mouse wheel at the pointer: dy > 0 scrolls down, dx > 0 right (pixels).",
        (("dx", float, "horizontal pixels"), ("dy", float, "vertical pixels")),
    ),
    ActionSpec("wait", "Do nothing this turn."),
)

SYSTEM_PROMPT = """\
You operate a graphical user interface from screenshots. Each turn you see the screen and the \
task; answer with exactly one action, coordinates in pixels from the screen's top left corner:
- click(x, y): click at a point
- type("text"): type into the focused field
- key("Enter"): press a key (Enter, Tab, Escape, Backspace, Delete, Control+A, ...)
- scroll(dx, dy): turn the mouse wheel at the pointer (dy > 0 scrolls down)
- wait(): do nothing
You may think first; the last action in your reply counts, e.g. <answer>click(80, 120)</answer>."""


class GuiEnv(Env):
    """What every GUI environment shares: the screen observation and the coordinate actions.
    Subclasses open the page (`_open`), say whether the episode ended (`_outcome`) and give
    the instruction (`instruction`)."""

    system_prompt = SYSTEM_PROMPT
    actions = ACTIONS
    screen: tuple[int, int] = SCREEN_SIZE

    def __init__(self, *, marks: bool = False, invalid_penalty: float = 0.1):
        self.marks = marks
        self.invalid_penalty = invalid_penalty
        self.instruction = ""
        self.tools = tools(self.actions)
        self._pointer = (self.screen[0] / 2, self.screen[1] / 2)

    # subclass hooks ------------------------------------------------------------------------

    @property
    def page(self) -> Any:
        raise NotImplementedError

    async def _after_action(self) -> None:
        """Let the page run after an action (nothing by default)."""

    async def _outcome(self) -> tuple[float, bool, dict[str, Any]] | None:
        """(reward, success, info) when the episode just ended, else None."""
        raise NotImplementedError

    # the episode -----------------------------------------------------------------------------

    async def step(self, action: str) -> StepResult:
        try:
            parsed = parse_call(action, self.actions)
            error = parsed.message if isinstance(parsed, CallError) else None
            if error is None:
                try:
                    await self._perform(parsed)  # type: ignore[arg-type]
                except DomActionError as exc:
                    error = str(exc)
            outcome = await self._outcome()
            if outcome is None:
                await self._after_action()
                outcome = await self._outcome()
            penalty = self.invalid_penalty if error else 0.0
            feedback = f"Invalid action: {error}" if error else ""
            if outcome is not None:
                reward, success, info = outcome
                over = f"The episode is over: reward {reward:.3f}, " + ("task solved." if success else "not solved.")
                observation = await self._observe("\n".join(filter(None, [feedback, over])))
                info = {"invalid_action": error is not None, "success": success, **info}
                return StepResult(observation=observation, reward=reward - penalty, terminated=True, info=info)
            return StepResult(
                observation=await self._observe(feedback), reward=-penalty, info={"invalid_action": error is not None}
            )
        except BrowserCrashed as exc:
            await self.close()
            return StepResult(
                observation=Observation(text=f"The browser crashed ({exc}); the episode is over."),
                truncated=True,
                info={"invalid_action": False, "success": False, "browser_crashed": True},
            )

    async def _perform(self, action: Action) -> None:
        args = action.args
        if action.name == "click":
            await click_at(self.page, args["x"], args["y"])
            self._pointer = (args["x"], args["y"])
        elif action.name == "type":
            await type_text(self.page, args["text"])
        elif action.name == "key":
            await press_key(self.page, args["key"])
        elif action.name == "scroll":
            await scroll(self.page, args["dx"], args["dy"], at=self._pointer)
        elif action.name != "wait":
            raise AssertionError(f"unhandled action {action.name}")

    async def _observe(self, feedback: str = "") -> Observation:
        tree = await element_tree(self.page)
        if self.marks:
            image = await screenshot_with_marks(self.page, tree)
        else:
            async with crash_guard(self.page):
                image = await self.page.screenshot(type="png")
        width, height = self.screen
        lines = [feedback] if feedback else []
        lines += [f"Task: {self.instruction}", f"Screen: {width}x{height} pixels (the screenshot)."]
        return Observation(
            text="\n".join(lines),
            images=(image,),
            tools=self.tools,
            anchor=f"{self.instruction}\n{tree.text}",
            metadata={"instruction": self.instruction, "screen": [width, height], "elements": _boxes(tree)},
        )


def _boxes(tree: ElementTree) -> list[dict[str, Any]]:
    return [
        {"id": el.id, "role": el.role, "name": el.name, "box": [el.x, el.y, el.width, el.height]}
        for el in tree.elements.values()
    ]


class GuiMiniWoBEnv(GuiEnv):
    """A MiniWoB++ task through screenshots and coordinates (module docstring).

    Args: `task`, `marks`, `invalid_penalty` as above; `step_ms`, `virtual_clock`, `data_mode`
    and `episode_max_ms` as `miniwob.env.MiniWoBEnv`."""

    screen = TASK_SIZE

    def __init__(
        self,
        task: str,
        *,
        marks: bool = False,
        step_ms: int = 500,
        virtual_clock: bool = True,
        data_mode: str = "train",
        episode_max_ms: int | None = None,
        invalid_penalty: float = 0.1,
    ):
        super().__init__(marks=marks, invalid_penalty=invalid_penalty)
        self.episode = EpisodeSettings(step_ms, virtual_clock, data_mode, episode_max_ms)
        self.task = task
        self._wob: MiniWoBPage | None = None

    @property
    def page(self) -> Any:
        if self._wob is None:
            raise RuntimeError("call reset() before step()")
        return self._wob.page

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        if options:
            raise ValueError(f"unknown options {sorted(options)}; GUI MiniWoB tasks take none")
        await self.close()
        page_seed = int(self.np_random.integers(0, 2**31 - 1))
        self._pointer = (self.screen[0] / 2, self.screen[1] / 2)
        self._wob = await MiniWoBPage.open(self.task, viewport=self.screen, virtual_clock=self.episode.virtual_clock)
        await self._wob.start(page_seed, data_mode=self.episode.data_mode, episode_max_ms=self.episode.episode_max_ms)
        self.instruction = await self._wob.utterance()
        return await self._observe()

    async def _after_action(self) -> None:
        assert self._wob is not None
        await self._wob.advance(self.episode.step_ms)

    async def _outcome(self) -> tuple[float, bool, dict[str, Any]] | None:
        assert self._wob is not None
        status = await self._wob.status()
        if not status.done:
            return None
        return status.reward, status.raw_reward > 0, {"raw_reward": status.raw_reward, "reason": status.reason}

    async def close(self) -> None:
        if self._wob is not None:
            wob, self._wob = self._wob, None
            await wob.close()


class GuiAppEnv(GuiEnv):
    """One of the desktop-like apps (`apps.APPS`: "filemanager", "calendar", "settings").

    Options for `reset`: none. `metadata["goal"]` is not given; the goal is in the instruction."""

    screen = SCREEN_SIZE

    def __init__(self, app: str, *, marks: bool = False, invalid_penalty: float = 0.1):
        if app not in APPS:
            raise ValueError(f"unknown app {app!r}; the apps are {', '.join(sorted(APPS))}")
        super().__init__(marks=marks, invalid_penalty=invalid_penalty)
        self.app = APPS[app]
        self._session: BrowserSession | None = None
        self._task: Task | None = None

    @property
    def page(self) -> Any:
        if self._session is None:
            raise RuntimeError("call reset() before step()")
        return self._session.page

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        if options:
            raise ValueError(f"unknown options {sorted(options)}; the GUI apps take none")
        await self.close()
        self._task = self.app.generate(self.np_random)
        self.instruction = self._task.instruction
        self._pointer = (self.screen[0] / 2, self.screen[1] / 2)
        session = await shared_pool().new_session(viewport=self.screen)
        try:
            await session.goto(self.app.path.as_uri())
            async with session.guard():
                await session.page.evaluate("config => window.app.init(config)", self._task.config)
        except BaseException:
            await session.close()
            raise
        self._session = session
        return await self._observe()

    async def app_state(self) -> dict[str, Any]:
        """The app's own state (`window.app.state()`)."""
        assert self._session is not None
        async with self._session.guard():
            return await self._session.page.evaluate("() => window.app.state()")

    async def _outcome(self) -> tuple[float, bool, dict[str, Any]] | None:
        assert self._task is not None
        verdict = self.app.judge(self._task.goal, await self.app_state())
        if verdict is None:
            return None
        return (1.0 if verdict == "success" else 0.0), verdict == "success", {}

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
