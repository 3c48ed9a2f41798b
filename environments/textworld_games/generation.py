"""Generating TextWorld games offline, and caching them on disk.

A game is fully determined by its `GameSettings` and an integer game seed: TextWorld's
generator (`textworld.generator.make_game`) draws the map, the objects and the quest from
that seed, and its Inform 7 compiler (shipped inside the `textworld` wheel; no download)
turns the game into a Z-machine story file (`.z8`) plus TextWorld's `.json` description,
which the game needs at play time for facts and admissible commands. Generating one game
takes about a second, so each game is written once under

    <cache dir>/textworld-<version>/<settings key>/game-<seed>.z8 (and .json)

and loaded from there afterwards. The version is part of the path because another TextWorld
release may generate a different game from the same seed. Writes are atomic (each game is
built in its own temporary folder, then renamed into place), so episodes in several threads
or processes may ask for the same game at once.

TextWorld parses its game logic with one global parser that is not thread-safe, so every call
that parses (making a game, loading one) holds `TEXTWORLD_LOCK`; so does starting an
interpreter, whose warning is silenced through the (process-wide) warnings filters.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import textworld
from textworld.generator import compile_game, make_game

TEXTWORLD_LOCK = threading.Lock()
"""Held around TextWorld calls that parse game logic (`make_game`, `textworld.start`) and
around interpreter start-ups (`textworld.start`, `Environment.copy`)."""


@dataclass(frozen=True)
class GameSettings:
    """The generation options of one family of games (TextWorld's `tw-make custom` options).

    Fields:
        world_size: the number of rooms.
        nb_objects: the number of objects, quest objects included (distractors fill the rest).
        quest_length: the number of actions in the quest's walkthrough.
    """

    world_size: int = 5
    nb_objects: int = 10
    quest_length: int = 5

    def __post_init__(self) -> None:
        for name in ("world_size", "nb_objects", "quest_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def key(self) -> str:
        """The settings as a folder name, e.g. `rooms5-objects10-quest5`."""
        return f"rooms{self.world_size}-objects{self.nb_objects}-quest{self.quest_length}"


def default_cache_dir() -> Path:
    """`$AGENTGYM_TEXTWORLD_CACHE` if set, else `$XDG_CACHE_HOME/agentgym/textworld`
    (`~/.cache/agentgym/textworld` when XDG_CACHE_HOME is unset)."""
    if "AGENTGYM_TEXTWORLD_CACHE" in os.environ:
        return Path(os.environ["AGENTGYM_TEXTWORLD_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "agentgym" / "textworld"


def game_path(settings: GameSettings, seed: int, cache_dir: Path | None = None) -> Path:
    """Where the game of `settings` and `seed` lives in the cache (it may not exist yet)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / f"textworld-{textworld.__version__}" / settings.key / f"game-{seed}.z8"


def ensure_game(settings: GameSettings, seed: int, cache_dir: Path | None = None) -> Path:
    """The path of the `.z8` game for `settings` and `seed`, generating it if it is not cached."""
    path = game_path(settings, seed, cache_dir)
    if path.is_file():  # the .z8 is renamed into place last, so its .json is there too
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    options = textworld.GameOptions()
    options.seeds = seed
    options.nb_rooms = settings.world_size
    options.nb_objects = settings.nb_objects
    options.quest_length = settings.quest_length
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".building-") as building:
        options.path = str(Path(building) / path.name)
        with TEXTWORLD_LOCK:
            game = make_game(options)
        built = Path(compile_game(game, options))
        os.replace(built.with_suffix(".json"), path.with_suffix(".json"))
        os.replace(built, path)
    return path
