"""textworld-v0: a generated TextWorld text adventure, played through the Env API.

TextWorld (Côté et al., 2018, "TextWorld: A Learning Environment for Text-based Games",
arXiv 1806.11532) generates a house of rooms, objects, containers and doors, with a quest
(a walkthrough of `quest_length` actions) that the game's intro states in words. Each reset
plays one game: the one generated from a game seed drawn from `np_random` (cached on disk, see
`generation`), or one of the pre-generated `game_files`.

Actions: one game command per turn, sent to the game's own parser (Inform 7); the grammar and
the observation layout are in `text`.

Invalid actions: a command is invalid when it is not one of the admissible commands of the
state it was typed in (compared case-insensitively) *and* it left the game's true state (its
facts) unchanged; text that is not a single command is invalid without reaching the game.
So "That's not a verb I recognise.", "You can't see any such thing." and "You can't go that
way." are invalid, while a valid paraphrase the parser accepts ("take the key" for "take
key") is not. The game's response is kept and a line saying the command changed nothing is
added.

Known limits, both TextWorld's: an invalid command still reaches the interpreter, so a half
command such as "take" leaves the parser waiting for its object ("What do you want to take?"),
and the next turn's "key" then takes the key. And TextWorld may list an admissible command
that Inform's parser finds ambiguous, when one object's name ends another's ("take key from
safe" beside a "type I safe"): the game asks "Which do you mean, ...?" and nothing happens;
the step is valid (the command was admissible) and the state is unchanged.

Reward table:
    the change of the game's score (TextWorld's quest games score 1 point when the quest is
        done, which also wins and ends the game),
    minus `invalid_penalty` (default 0.1) on an invalid action.

Termination: the game is won (`info["success"] = True`) or lost (`False`). `info` also has
`score` and `max_score`.

Anchor: TextWorld's facts about the world (`at(P, kitchen: r)`, `closed(box: c)`, ...), one per
line, sorted: the true state of the world, without the history or the interpreter's text.

Fork: copies the game through TextWorld's `Environment.copy()`, which clones the Z-machine
interpreter's memory (Jericho's `FrotzEnv.copy`) and TextWorld's state tracking.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:
    import textworld
    from jericho import UnsupportedGameWarning
except ImportError as error:  # registration.make turns this into a RegistrationError
    raise ModuleNotFoundError(
        "textworld-v0 needs TextWorld, an optional extra: pip install 'agentgym[textworld]' "
        "(builds Jericho's interpreter with gcc)",
        name="textworld",
    ) from error

from agentgym.env import SyncEnv
from agentgym.environments.textworld_games.generation import TEXTWORLD_LOCK, GameSettings, ensure_game
from agentgym.environments.textworld_games.text import clean_feedback, parse_command, render
from agentgym.types import Observation, StepResult

_ROOM_TITLE = re.compile(r"^-= .+ =-$", re.MULTILINE)
CHANGED_NOTHING = "That command changed nothing: it is not one of the admissible commands here."


class TextWorldEnv(SyncEnv):
    """One generated TextWorld game per episode. Forkable.

    Args:
        world_size, nb_objects, quest_length: the generation options (`GameSettings`).
        game_files: play these TextWorld-made `.z8` games (each with its `.json` beside it)
            instead of generating; each reset picks one with `np_random`.
        cache_dir: where generated games are cached (default: `generation.default_cache_dir()`).
        show_objective: repeat the goal in every observation (the first one always has it).
        show_admissible: list the admissible commands in every observation.
        show_description: add the current room's description to every observation.
        show_inventory: add the player's inventory to every observation.
        invalid_penalty: subtracted from the reward of an invalid action.
    """

    def __init__(
        self,
        world_size: int = 5,
        nb_objects: int = 10,
        quest_length: int = 5,
        *,
        game_files: Sequence[str | Path] | None = None,
        cache_dir: str | Path | None = None,
        show_objective: bool = True,
        show_admissible: bool = True,
        show_description: bool = False,
        show_inventory: bool = False,
        invalid_penalty: float = 0.1,
    ):
        self.settings = GameSettings(world_size, nb_objects, quest_length)
        self.game_files = [Path(path) for path in game_files or ()]
        for path in self.game_files:
            if not path.with_suffix(".json").is_file():
                raise ValueError(f"{path} has no TextWorld .json beside it; textworld-v0 plays TextWorld's games only")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.show_objective, self.show_admissible = show_objective, show_admissible
        self.show_description, self.show_inventory = show_description, show_inventory
        self.invalid_penalty = invalid_penalty
        self._request = textworld.EnvInfos(
            objective=True, admissible_commands=True, facts=True, won=True, lost=True, score=True,
            max_score=True, description=show_description, inventory=show_inventory,
        )  # fmt: skip
        self._game: textworld.Environment | None = None
        self.system_prompt = (
            "You are playing a text adventure. The first observation states your goal after 'Goal:'; "
            "complete it by typing game commands. Each turn, answer with exactly one command, e.g. "
            "<answer>go north</answer> or <answer>take key from box</answer>. The game understands: "
            "go north|south|east|west, look, inventory, examine X, take X, take X from Y, drop X, "
            "put X on Y, insert X into Y, open X, close X, unlock X with K, lock X with K, eat X. "
            + ("Each observation lists the admissible commands; choose one of them. " if show_admissible else "")
            + f"A command that is not admissible and changes nothing is invalid and costs {invalid_penalty:g}. "
            "Completing the goal scores 1 point, wins and ends the game."
        )

    def reset_sync(self, *, seed: int | None, options: dict[str, Any] | None) -> Observation:
        if options:
            raise ValueError(f"unknown options {sorted(options)}; textworld-v0 takes none")
        self.close_sync()
        if self.game_files:
            path = self.game_files[int(self.np_random.integers(len(self.game_files)))]
        else:
            path = ensure_game(self.settings, int(self.np_random.integers(2**31 - 1)), self.cache_dir)
        with TEXTWORLD_LOCK, warnings.catch_warnings():
            # Jericho warns that it cannot score TextWorld's games; TextWorld's wrappers do.
            warnings.simplefilter("ignore", UnsupportedGameWarning)
            self._game = textworld.start(str(path), request_infos=self._request)
        self._game.seed(int(self.np_random.integers(1, 2**31 - 1)))  # the interpreter's own RNG
        state = self._game.reset()
        self.goal: str = state["objective"]
        # The intro is TextWorld's banner, the goal, then the first room ("-= Room =-"): keep the room.
        intro = clean_feedback(state["feedback"])
        room = _ROOM_TITLE.search(intro)
        self._track(state)
        return self._observation(intro[room.start() :] if room else intro, state, show_goal=True)

    def step_sync(self, action: str) -> StepResult:
        assert self._game is not None
        command = parse_command(action)
        if command is None:
            text = "Invalid command: answer with exactly one game command, e.g. <answer>go north</answer>."
            return self._invalid(text, self._last_state)
        before_facts, before_score = self._facts, self._score
        admissible = {known.lower() for known in self._admissible}
        state, _, _ = self._game.step(command)
        self._track(state)
        feedback = clean_feedback(state["feedback"])
        if command.lower() not in admissible and self._facts == before_facts:
            return self._invalid(f"{feedback}\n\n{CHANGED_NOTHING}", state)
        terminated = bool(state["won"] or state["lost"])
        info: dict[str, Any] = {"invalid_action": False, "score": self._score, "max_score": state["max_score"]}
        if terminated:
            info["success"] = bool(state["won"])
        return StepResult(
            observation=self._observation(feedback, state, show_goal=self.show_objective, ended=terminated),
            reward=float(self._score - before_score),
            terminated=terminated,
            info=info,
        )

    def fork_sync(self) -> TextWorldEnv:
        assert self._game is not None, "fork() needs a started episode"
        twin = copy.copy(self)
        with TEXTWORLD_LOCK, warnings.catch_warnings():  # the copy starts a new interpreter
            warnings.simplefilter("ignore", UnsupportedGameWarning)
            twin._game = self._game.copy()
        twin._np_random = copy.deepcopy(self._np_random)
        return twin

    def close_sync(self) -> None:
        if self._game is not None:
            self._game.close()
            self._game = None

    def _track(self, state: textworld.GameState) -> None:
        """Keep what the next step compares against (never mutated, so a fork may share it)."""
        self._last_state = state
        self._facts = tuple(sorted(set(map(str, state["facts"]))))
        self._admissible = tuple(state["admissible_commands"])
        self._score = int(state["score"])

    def _invalid(self, feedback: str, state: textworld.GameState) -> StepResult:
        return StepResult(
            observation=self._observation(feedback, state, show_goal=self.show_objective),
            reward=-self.invalid_penalty,
            info={"invalid_action": True, "score": self._score, "max_score": state["max_score"]},
        )

    def _observation(
        self, feedback: str, state: textworld.GameState, *, show_goal: bool, ended: bool = False
    ) -> Observation:
        """The observation after `state`; once the game has ended, only the game's last words."""
        text = render(
            feedback,
            goal=self.goal if show_goal and not ended else None,
            description=clean_feedback(state["description"]) if self.show_description and not ended else None,
            inventory=clean_feedback(state["inventory"]) if self.show_inventory and not ended else None,
            admissible=list(self._admissible) if self.show_admissible and not ended else None,
        )
        return Observation(text=text, anchor="\n".join(self._facts))
