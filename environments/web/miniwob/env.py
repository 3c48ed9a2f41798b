"""`miniwob/<task>-v0`: a MiniWoB++ task in headless Chromium, seen as its element tree.

Episode: `reset(seed=n)` opens the task page in a fresh browser session (`page.MiniWoBPage`,
160x210 CSS pixels: the query on top, the task below), seeds the page's random generator with a
number drawn from `self.np_random` (so the same seed gives the same problem and utterance) and
starts MiniWoB's episode. Each turn the agent sends one action; the page then runs for `step_ms`
of (virtual, by default) page time, so MiniWoB's own time limit (`core.EPISODE_MAX_TIME`,
usually 10 s) ends an episode after about `EPISODE_MAX_TIME / step_ms` turns, and tasks that
scale their reward by elapsed time pay less for later solutions, the same on every run.

Observation text: `Task: <utterance>` and the page's element tree (`dom.element_tree`: one line
per element, e.g. `[4] button "Submit"`), after a line of feedback on the last action. With
`screenshot=True` the observation also carries a PNG of the page. `Observation.tools` lists the
actions as OpenAI tools; metadata holds the task, the utterance and the element boxes.

Actions (`calls` grammar; a JSON tool call works too):
`click(id)`, `fill(id, "text")` (a text field's value, a <select>'s option, "true"/"false" for a
checkbox), `press("Enter")` (a key or chord by Playwright's name), `type("text")` (typed into
whatever has focus), `click_xy(x, y)` (CSS pixels from the top left), `wait()` (let time pass).

Reward: 0 per turn, `-invalid_penalty` for an action that cannot be parsed or applied (unknown
id, element covered or disabled, point off the page; `info["invalid_action"]`), and on the turn
MiniWoB ends the episode `WOB_REWARD_GLOBAL` (in [-1, 1]; `terminated`). `info` then carries
`raw_reward` (`WOB_RAW_REWARD_GLOBAL`, not time-scaled), `reason` and `success` (raw reward > 0).
The registry adds a turn limit a little above the page's time limit (truncation). A browser
crash ends the episode as truncated with `info["browser_crashed"]`. `close()` closes the session.
"""

from __future__ import annotations

import importlib.util
from typing import Any

if importlib.util.find_spec("playwright") is None:  # the registry turns this into a RegistrationError
    raise ModuleNotFoundError("the MiniWoB++ environments need playwright: pip install playwright", name="playwright")
if importlib.util.find_spec("miniwob") is None:
    raise ModuleNotFoundError("the MiniWoB++ environments need the task pages: pip install miniwob", name="miniwob")

from agentgym.env import Env
from agentgym.environments.web.browser import BrowserCrashed
from agentgym.environments.web.dom import (
    DomActionError,
    ElementTree,
    click_at,
    element_tree,
    fill_element,
    press_key,
    type_text,
)
from agentgym.environments.web.miniwob.calls import Action, ActionSpec, CallError, parse_call, tools
from agentgym.environments.web.miniwob.page import TASK_SIZE, EpisodeSettings, EpisodeStatus, MiniWoBPage, click_visible
from agentgym.types import Observation, StepResult

ACTIONS = (
    ActionSpec("click", "Click the element with this id.", (("id", int, "the element's [id] in the page listing"),)),
    ActionSpec(
        "fill",
        "Set a text field's value (replacing it), choose a <select>'s option by its label, or check a "
        'checkbox/radio with "true" ("false" unchecks).',
        (("id", int, "the element's [id]"), ("text", str, "the value")),
    ),
    ActionSpec("press", "Press a key or chord, e.g. Enter, Tab, ArrowDown, Control+A.", (("key", str, "the key"),)),
    ActionSpec("type", "Type text with the keyboard into the focused element.", (("text", str, "the text"),)),
    ActionSpec(
        "click_xy",
        "Click at a point of the page, in CSS pixels from its top left corner.",
        (("x", float, "pixels from the left"), ("y", float, "pixels from the top")),
    ),
    ActionSpec("wait", "Do nothing this turn; time passes."),
)

SYSTEM_PROMPT = """\
You operate a small web page (160x210 pixels) to complete the task stated at its top. Each turn \
you see the task and a listing of the page, one element per line with its id in brackets, e.g. \
[4] button "Submit", then you answer with exactly one action:
- click(id): click an element
- fill(id, "text"): set a text field's value, choose a dropdown option by its label, or \
fill(id, "true") to check a checkbox
- press("Enter"): press a key (Enter, Tab, Backspace, ArrowDown, Control+A, ...)
- type("text"): type into the focused element
- click_xy(x, y): click at a point, in pixels from the top left
- wait(): let time pass
You may think first; the last action in your reply counts, e.g. <answer>click(4)</answer>. \
The task has a time limit; every turn takes time."""


class MiniWoBEnv(Env):
    """One MiniWoB++ task (module docstring). Not forkable (the state lives in the browser).

    Args:
        task: the task's name, e.g. "click-button" (`tasks.list_tasks()`).
        screenshot: add a PNG of the page to every observation.
        step_ms: page time each turn takes.
        virtual_clock: run the page on a virtual clock (deterministic); False: real time.
        data_mode: MiniWoB's data mode ("train", as the miniwob package uses, or "test").
        episode_max_ms: override the task's time limit (None: the task's own).
        invalid_penalty: the reward of an invalid action (negated).
    """

    system_prompt = SYSTEM_PROMPT
    actions = ACTIONS

    def __init__(
        self,
        task: str,
        *,
        screenshot: bool = False,
        step_ms: int = 500,
        virtual_clock: bool = True,
        data_mode: str = "train",
        episode_max_ms: int | None = None,
        invalid_penalty: float = 0.1,
    ):
        self.episode = EpisodeSettings(step_ms, virtual_clock, data_mode, episode_max_ms)
        self.task = task
        self.screenshot = screenshot
        self.invalid_penalty = invalid_penalty
        self.viewport = TASK_SIZE
        self._page: MiniWoBPage | None = None
        self._utterance = ""
        self.tools = tools(self.actions)

    # --- episode -------------------------------------------------------------------------

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        options = dict(options or {})
        page_seed = options.pop("page_seed", None)
        if options:
            raise ValueError(f"unknown options {sorted(options)}; MiniWoB accepts only 'page_seed'")
        await self.close()
        page_seed = int(self.np_random.integers(0, 2**31 - 1)) if page_seed is None else int(page_seed)
        self._page = await MiniWoBPage.open(self.task, viewport=self.viewport, virtual_clock=self.episode.virtual_clock)
        await self._page.start(page_seed, data_mode=self.episode.data_mode, episode_max_ms=self.episode.episode_max_ms)
        self._utterance = await self._page.utterance()
        self._page_seed = page_seed
        return await self._observe("")

    async def step(self, action: str) -> StepResult:
        page = self._require_page()
        try:
            parsed = parse_call(action, self.actions)
            error = parsed.message if isinstance(parsed, CallError) else None
            if error is None:
                try:
                    await self._perform(parsed)  # type: ignore[arg-type]
                except DomActionError as exc:
                    error = str(exc)
            status = await page.status()
            if not status.done:
                await page.advance(self.episode.step_ms)
                status = await page.status()
            if status.done:
                return await self._finish(status, error)
            feedback = f"Invalid action: {error}" if error else ""
            return StepResult(
                observation=await self._observe(feedback),
                reward=-self.invalid_penalty if error else 0.0,
                info={"invalid_action": error is not None},
            )
        except BrowserCrashed as exc:
            await self.close()
            return StepResult(
                observation=Observation(text=f"The browser crashed ({exc}); the episode is over."),
                truncated=True,
                info={"invalid_action": False, "success": False, "browser_crashed": True},
            )

    async def close(self) -> None:
        if self._page is not None:
            page, self._page = self._page, None
            await page.close()

    # --- helpers -------------------------------------------------------------------------

    def _require_page(self) -> MiniWoBPage:
        if self._page is None:
            raise RuntimeError("call reset() before step()")
        return self._page

    async def _perform(self, action: Action) -> None:
        page = self._require_page().page
        args = action.args
        if action.name == "click":
            await click_visible(page, args["id"])
        elif action.name == "fill":
            await fill_element(page, args["id"], args["text"], timeout_s=5.0)
        elif action.name == "press":
            await press_key(page, args["key"])
        elif action.name == "type":
            await type_text(page, args["text"])
        elif action.name == "click_xy":
            await click_at(page, args["x"], args["y"])
        elif action.name != "wait":
            raise AssertionError(f"unhandled action {action.name}")

    async def _finish(self, status: EpisodeStatus, error: str | None) -> StepResult:
        solved = status.raw_reward > 0
        why = f" ({status.reason})" if status.reason else ""
        text = f"The episode is over{why}: reward {status.reward:.3f}, " + ("task solved." if solved else "not solved.")
        if error:
            text = f"Invalid action: {error}\n{text}"
        info = {
            "invalid_action": error is not None,
            "success": solved,
            "raw_reward": status.raw_reward,
            "reason": status.reason,
        }
        reward = status.reward - (self.invalid_penalty if error else 0.0)
        return StepResult(observation=await self._final_observation(text), reward=reward, terminated=True, info=info)

    async def _final_observation(self, text: str) -> Observation:
        images = (await self._require_page().screenshot(),) if self.screenshot else ()
        return Observation(text=f"Task: {self._utterance}\n{text}", images=images, metadata=self._metadata(None))

    async def _observe(self, feedback: str) -> Observation:
        page = self._require_page()
        await page.name_icons()
        tree = await element_tree(page.page)
        lines = [feedback] if feedback else []
        lines += [f"Task: {self._utterance}", "Page:", tree.text]
        images = (await page.screenshot(),) if self.screenshot else ()
        anchor = f"{self.task}\n{self._utterance}\n{tree.text}"  # the page's state, without the feedback line
        return Observation(
            text="\n".join(lines), images=images, tools=self.tools, anchor=anchor, metadata=self._metadata(tree)
        )

    def _metadata(self, tree: ElementTree | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"task": self.task, "utterance": self._utterance}
        if tree is not None:
            metadata["elements"] = [
                {"id": el.id, "role": el.role, "name": el.name, "box": [el.x, el.y, el.width, el.height]}
                for el in tree.elements.values()
            ]
        return metadata
