"""A UCI engine process (Stockfish) shared by every environment of one OS process.

Starting Stockfish costs about 0.2 s and tens of MB, so environments do not each start one:
an `EngineLease` starts the process for its binary on first use, or joins the one already
running in this OS process, and the process quits when its last lease is released (`release`,
called from the environment's `close`; also when a lease is garbage-collected, and at
interpreter exit, which an engine left open never blocks).

Sharing is safe for determinism and for threads (synchronous environments step in worker
threads):

- searches are serialised by a lock (python-chess cancels a running search when another
  command arrives);
- every search begins with `ucinewgame`, which clears the engine's hash, and runs on one thread
  to a fixed depth, so a move depends only on the position and its move history, never on
  which other episodes used the engine before;
- a lease remembers the OS process that acquired it: after `os.fork` the child forgets its
  parent's engines (whose pipes and reader thread belong to the parent) and starts its own.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from dataclasses import dataclass, field

import chess
import chess.engine

ENGINE_OPTIONS = {"Threads": 1, "Hash": 16}


@dataclass
class _SharedEngine:
    engine: chess.engine.SimpleEngine
    users: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_engines: dict[tuple[str, int], _SharedEngine] = {}
_engines_lock = threading.Lock()


def _forget_parent_engines() -> None:
    global _engines_lock
    _engines_lock = threading.Lock()  # another thread may have held it at the fork
    _engines.clear()


os.register_at_fork(after_in_child=_forget_parent_engines)


def _start_engine(path: str) -> chess.engine.SimpleEngine:
    """Start and configure the engine from a daemon thread: python-chess's event-loop thread
    inherits the daemon flag, so an engine nobody closed cannot block interpreter exit."""
    started: dict[str, object] = {}

    def start() -> None:
        try:
            engine = chess.engine.SimpleEngine.popen_uci(path)
            engine.configure(ENGINE_OPTIONS)
            started["engine"] = engine
        except BaseException as error:  # re-raised in the calling thread
            started["error"] = error

    thread = threading.Thread(target=start, name=f"start {path}", daemon=True)
    thread.start()
    thread.join()
    if "error" in started:
        raise started["error"]  # type: ignore[misc]
    return started["engine"]  # type: ignore[return-value]


def _release(key: tuple[str, int]) -> None:
    if key[1] != os.getpid():  # a finalizer inherited through os.fork: the parent's engine
        return
    with _engines_lock:
        shared = _engines[key]
        shared.users -= 1
        if shared.users:
            return
        del _engines[key]
    with contextlib.suppress(chess.engine.EngineTerminatedError):  # it may have died already
        shared.engine.quit()


class EngineLease:
    """One user's share of the engine at `path` (see the module docstring). Not copyable: a
    copy of an environment makes a new lease."""

    def __init__(self, path: str):
        self.path = path
        self._key: tuple[str, int] | None = None
        self._finalizer: weakref.finalize | None = None

    def best_move(self, board: chess.Board, depth: int) -> chess.Move:
        """The engine's move in `board`, searched to `depth` plies from a cleared hash."""
        shared = self._acquire()
        with shared.lock:  # a new `game` object makes python-chess send ucinewgame first
            result = shared.engine.play(board, chess.engine.Limit(depth=depth), game=object())
        if result.move is None:
            raise chess.engine.EngineError(f"{self.path} returned no move for {board.fen()}")
        return result.move

    def release(self) -> None:
        """Give the share back; the last one quits the engine. Safe to call more than once."""
        if self._finalizer is not None:
            self._finalizer()  # runs `_release` at most once
        self._key = self._finalizer = None

    def _acquire(self) -> _SharedEngine:
        key = (self.path, os.getpid())
        if self._key != key:  # first use, or first use in a forked child process
            if self._finalizer is not None:
                self._finalizer.detach()
            with _engines_lock:
                if key not in _engines:
                    _engines[key] = _SharedEngine(_start_engine(self.path))
                _engines[key].users += 1
            self._key = key
            self._finalizer = weakref.finalize(self, _release, key)
        return _engines[key]
