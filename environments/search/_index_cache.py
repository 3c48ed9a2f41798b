"""On-disk caching of search indexes: a folder per (documents, settings), built atomically.

Contracts:
- `fingerprint(documents)` is a hash of every document's id, title and text, in order: two lists
  with the same fingerprint index identically, so a cached index can never belong to other documents.
- `cached_folder(folder, build, load)` returns `load(folder)` when the folder exists and loads;
  otherwise it calls `build(tmp)` on a fresh temporary folder beside `folder` and renames it into
  place (atomic on one filesystem: readers see either no folder or a complete one). A folder that
  fails to load (truncated file, garbage, missing part, a check in `load` failing) is corrupt: it
  is removed with a warning and rebuilt. When two processes build at once, the first rename wins
  and the other's folder is discarded; both then load the same index.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol, TypeVar

log = logging.getLogger("agentgym.environments.search")

T = TypeVar("T")


class DocumentLike(Protocol):
    """What indexing reads of a document (`agentgym.environments.search.documents.Document`)."""

    id: str
    title: str
    text: str


class CorruptIndex(Exception):
    """A cached index folder exists but cannot be used; raised by a `load` function."""


def fingerprint(documents: Iterable[DocumentLike]) -> str:
    """A hex digest of the documents' ids, titles and texts, in order (blake2b, 128 bits)."""
    digest = hashlib.blake2b(digest_size=16)
    for document in documents:
        for part in (document.id, document.title, document.text):
            digest.update(part.encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        digest.update(b"\x01")
    return digest.hexdigest()


def settings_digest(settings: object) -> str:
    """A short stable digest of a settings object's repr (a frozen dataclass prints all its fields)."""
    return hashlib.blake2b(repr(settings).encode(), digest_size=6).hexdigest()


def cached_folder(folder: Path, build: Callable[[Path], None], load: Callable[[Path], T]) -> T:
    """Load the index in `folder`, building it there first (atomically) if it is absent or corrupt.

    `build(tmp)` writes a complete index into the empty folder `tmp`; `load(path)` reads one and
    raises (any exception) if it is unusable.
    """
    if folder.is_dir():
        try:
            return load(folder)
        except Exception as error:  # any failure to read it back means: rebuild
            warnings.warn(
                f"the search index cache at {folder} is unusable ({type(error).__name__}: {error}); rebuilding it",
                RuntimeWarning,
                stacklevel=3,
            )
            _remove(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not folder.is_dir():  # not a lost race with another builder: a real failure
                raise
            log.info("another process cached this index first", extra={"folder": str(folder)})
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return load(folder)


def _remove(folder: Path) -> None:
    """Move `folder` aside (atomic) and delete it, so a concurrent reader never sees half of it."""
    aside = folder.with_name(f".{folder.name}.{os.getpid()}.corrupt")
    try:
        os.rename(folder, aside)
    except OSError:
        return  # another process moved it already
    shutil.rmtree(aside, ignore_errors=True)
