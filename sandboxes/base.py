"""The sandbox interface: a backend runs programs in sessions, each with its own work directory.

`Sandbox.run` is one execution in a fresh, throw-away session. `Sandbox.session()` keeps the work
directory (`/work` inside the sandbox) across runs, for multi-turn agents: files written by one
run are there for the next, but no process survives between runs. A backend implements
`Sandbox._open_workspace`, which returns the `Workspace` of one session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import PurePosixPath
from typing import ClassVar

from agentgym.sandboxes.layout import WORK_DIR
from agentgym.sandboxes.types import LANGUAGES, ExecResult, InvalidPath, Limits, UnsupportedLanguage

log = logging.getLogger(__name__)

PROGRAM_FILE = {"python": "main.py", "bash": "main.sh"}
"""File name under which the program's source is placed, per language."""


def program_argv(language: str, program_path: str, python: str = "python3") -> list[str]:
    """The command that runs the program stored at `program_path` (a path as the sandbox sees it)."""
    if language == "python":
        return [python, "-u", program_path]
    if language == "bash":
        return ["bash", program_path]
    raise UnsupportedLanguage(f"unsupported language {language!r}; choose one of {', '.join(LANGUAGES)}")


def check_language(language: str) -> None:
    if language not in PROGRAM_FILE:
        raise UnsupportedLanguage(f"unsupported language {language!r}; choose one of {', '.join(LANGUAGES)}")


def relative_path(path: str) -> PurePosixPath:
    """`path` as a normalised relative path; `/work/x` is taken as `x`. Raises InvalidPath."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise InvalidPath(f"invalid file path {path!r}: give a non-empty relative path such as 'data/input.txt'")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        try:
            pure = pure.relative_to(WORK_DIR)
        except ValueError:
            raise InvalidPath(f"file path {path!r} is outside the work directory {WORK_DIR}") from None
    if ".." in pure.parts or not pure.parts or pure == PurePosixPath("."):
        raise InvalidPath(f"file path {path!r} must name a file inside the work directory, without '..'")
    return pure


def unique_paths(paths: Iterable[str]) -> list[str]:
    """`paths` checked (`relative_path`), with later spellings of the same file dropped."""
    unique: dict[PurePosixPath, str] = {}
    for path in paths:
        unique.setdefault(relative_path(path), path)
    return list(unique.values())


class Workspace(ABC):
    """One session's state in a backend: its work directory and whatever the backend holds
    (a container, a uid). Methods are called one at a time by `SandboxSession`."""

    @abstractmethod
    async def write_files(self, files: Mapping[str, bytes]) -> None:
        """Write `files` (relative path -> bytes) into the work directory, creating folders.
        Raises `InvalidPath` for a path outside it."""

    @abstractmethod
    async def read_files(self, paths: Iterable[str], max_bytes: int) -> tuple[dict[str, bytes], list[str]]:
        """Read back the regular files among `paths` that exist inside the work directory, in
        order, while their total stays within `max_bytes`; returns (files, paths left out)."""

    @abstractmethod
    async def execute(self, code: str, language: str, stdin: bytes | None, limits: Limits, network: bool) -> ExecResult:
        """Run one program to its end (or its limit); no process of it may outlive the call."""

    @abstractmethod
    async def close(self) -> None:
        """Free everything the session holds (idempotent)."""


class SandboxSession:
    """A work directory that lasts across runs. Use as `async with sandbox.session() as s:`;
    runs of one session are serialised (a second `run` waits for the first)."""

    def __init__(
        self,
        sandbox: Sandbox,
        limits: Limits | None,
        network: bool,
        slot: Callable[[], AbstractAsyncContextManager] = contextlib.nullcontext,
    ):
        self.sandbox = sandbox
        self.limits = limits or sandbox.limits
        self.network = network
        self._slot = slot
        self._workspace: Workspace | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def __aenter__(self) -> SandboxSession:
        await self.open()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def open(self) -> None:
        """Create the session's workspace (called by `async with` and by the first run)."""
        if self._closed:
            raise RuntimeError("this sandbox session is closed; open a new one with sandbox.session()")
        if self._workspace is None:
            self._workspace = await self.sandbox._open_workspace()

    async def run(
        self,
        code: str,
        *,
        language: str = "python",
        stdin: str | bytes | None = None,
        files: Mapping[str, str | bytes] | None = None,
        fetch: Iterable[str] = (),
        limits: Limits | None = None,
        network: bool | None = None,
    ) -> ExecResult:
        """Write `files`, run `code` in `language` with `stdin`, then read back `fetch`.

        `limits` and `network` default to the session's. Strings are encoded as UTF-8. A run
        holds the session's `slot` (a pool's concurrency limit) while it executes."""
        check_language(language)
        for path in files or {}:
            relative_path(path)
        fetch = unique_paths(fetch)
        async with self._lock, self._slot():
            await self.open()
            workspace = self._workspace
            if files:
                await workspace.write_files({path: _as_bytes(data) for path, data in files.items()})
            result = await workspace.execute(
                code,
                language,
                None if stdin is None else _as_bytes(stdin),
                limits or self.limits,
                self.network if network is None else network,
            )
            if fetch:
                result.files, result.files_omitted = await workspace.read_files(
                    fetch, (limits or self.limits).max_fetch_bytes
                )
            return result

    async def write_files(self, files: Mapping[str, str | bytes]) -> None:
        """Put files into the work directory without running anything."""
        async with self._lock:
            await self.open()
            await self._workspace.write_files({path: _as_bytes(data) for path, data in files.items()})

    async def read_files(self, paths: Iterable[str]) -> dict[str, bytes]:
        """Read files from the work directory without running anything (at most the session's
        `max_fetch_bytes` in all; files beyond it are left out)."""
        paths = unique_paths(paths)
        async with self._lock:
            await self.open()
            files, _ = await self._workspace.read_files(paths, self.limits.max_fetch_bytes)
            return files

    async def close(self) -> None:
        """Free the session (after a run in progress ends: cancel its task to end it sooner)."""
        self._closed = True
        async with self._lock:
            workspace, self._workspace = self._workspace, None
            if workspace is not None:
                await workspace.close()


class Sandbox(ABC):
    """A code-execution backend. Subclasses set `name` and `isolation` (higher is stronger;
    `best_available` picks the highest that works) and implement `unavailable_reason` and
    `_open_workspace`."""

    name: ClassVar[str]
    isolation: ClassVar[int]

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()

    @classmethod
    @abstractmethod
    def unavailable_reason(cls) -> str | None:
        """None when this backend can run here; otherwise what is missing and how to get it."""

    @abstractmethod
    async def _open_workspace(self) -> Workspace:
        """Create the state of one new session."""

    def session(self, *, limits: Limits | None = None, network: bool = False) -> SandboxSession:
        """A session whose work directory lasts until it is closed."""
        return SandboxSession(self, limits, network)

    async def run(
        self,
        code: str,
        *,
        language: str = "python",
        stdin: str | bytes | None = None,
        files: Mapping[str, str | bytes] | None = None,
        fetch: Iterable[str] = (),
        limits: Limits | None = None,
        network: bool = False,
    ) -> ExecResult:
        """Run `code` once in a fresh work directory that is deleted afterwards."""
        check_language(language)
        async with self.session(limits=limits, network=network) as session:
            return await session.run(code, language=language, stdin=stdin, files=files, fetch=fetch)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(limits={self.limits!r})"


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)
