"""The search corpus: a generated world's documents and questions, cached on disk as JSONL.

`load_corpus(seed, num_documents, num_questions)` generates on first use and loads from the
cache afterwards. The cache lives under `cache_dir()` ($AGENTGYM_CACHE_DIR/search, or
~/.cache/agentgym/search), in one folder per generator version, seed and corpus size:

    <cache_dir>/v<GENERATOR_VERSION>-seed<seed>-docs<num_documents>/
        documents.jsonl                  {"id", "title", "text"} per line, in id order
        questions-<num_questions>.jsonl  one `Question` per line, in qid order

(question sets of several sizes share one folder's documents). Files are written to a temporary
name and renamed into place, so a reader never sees half a file and concurrent writers of the
same corpus are harmless (the content is identical). A file that does not parse or holds the
wrong number of records is regenerated, with a warning. The questions are generated with the
corpus seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agentgym.environments.search.documents import Document
from agentgym.environments.search.questions import Question, generate_questions
from agentgym.environments.search.world import GENERATOR_VERSION, World, generate_world

TEST_FRACTION = 0.2


def cache_dir() -> Path:
    """$AGENTGYM_CACHE_DIR/search, or ~/.cache/agentgym/search."""
    root = os.environ.get("AGENTGYM_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "agentgym") / "search"


def corpus_dir(seed: int, num_documents: int) -> Path:
    """The cache folder of one corpus."""
    return cache_dir() / f"v{GENERATOR_VERSION}-seed{seed}-docs{num_documents}"


def question_split(qid: str) -> Literal["train", "test"]:
    """A stable split by a hash of the qid: about TEST_FRACTION of the questions are "test"."""
    digest = hashlib.sha256(qid.encode()).digest()
    return "test" if int.from_bytes(digest[:4], "big") < TEST_FRACTION * 2**32 else "train"


@dataclass
class SearchCorpus:
    """Documents (by id order) and questions of one generated world, with lookups."""

    documents: list[Document]
    questions: list[Question]
    seed: int
    num_documents: int
    _by_id: dict[str, Document] = field(init=False, repr=False)
    _by_title: dict[str, Document] = field(init=False, repr=False)
    _by_qid: dict[str, Question] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {d.id: d for d in self.documents}
        self._by_title = {d.title: d for d in self.documents}
        self._by_qid = {q.qid: q for q in self.questions}

    def document(self, doc_id: str) -> Document:
        """The document with this id; KeyError if none."""
        return self._by_id[doc_id]

    def by_title(self, title: str) -> Document:
        """The document with this exact title; KeyError if none."""
        return self._by_title[title]

    def question(self, qid: str) -> Question:
        """The question with this qid; KeyError if none."""
        return self._by_qid[qid]

    def split(self, name: Literal["train", "test"]) -> list[Question]:
        """The questions of one split (see `question_split`)."""
        return [q for q in self.questions if question_split(q.qid) == name]


def _write_jsonl(path: Path, records: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for record in records:
                f.write(record)
                f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_documents(path: Path, expected: int) -> list[Document] | None:
    try:
        with path.open(encoding="utf-8") as f:
            documents = [Document(**json.loads(line)) for line in f]
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as error:
        warnings.warn(f"corrupt search corpus cache {path} ({error}); regenerating", stacklevel=3)
        return None
    if len(documents) != expected:
        warnings.warn(
            f"search corpus cache {path} holds {len(documents)} documents, not {expected}; regenerating", stacklevel=3
        )
        return None
    return documents


def _read_questions(path: Path, expected: int) -> list[Question] | None:
    try:
        with path.open(encoding="utf-8") as f:
            questions = [Question.model_validate_json(line) for line in f]
    except FileNotFoundError:
        return None
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        warnings.warn(f"corrupt search question cache {path} ({error}); regenerating", stacklevel=3)
        return None
    if len(questions) != expected:
        warnings.warn(
            f"search question cache {path} holds {len(questions)} questions, not {expected}; regenerating", stacklevel=3
        )
        return None
    return questions


def load_corpus(seed: int = 0, num_documents: int = 10_000, num_questions: int = 1000) -> SearchCorpus:
    """The corpus of this seed and size, from the cache or generated (and cached) now."""
    folder = corpus_dir(seed, num_documents)
    documents_path = folder / "documents.jsonl"
    questions_path = folder / f"questions-{num_questions}.jsonl"
    documents = _read_documents(documents_path, num_documents)
    questions = _read_questions(questions_path, num_questions)
    world: World | None = None
    if documents is None:
        world = generate_world(seed, num_documents)
        documents = list(world.documents)
        _write_jsonl(documents_path, (json.dumps(d.to_json(), ensure_ascii=False) for d in documents))
    if questions is None:
        world = world or generate_world(seed, num_documents)
        questions = generate_questions(world, num_questions, seed)
        _write_jsonl(questions_path, (q.model_dump_json() for q in questions))
    return SearchCorpus(documents=documents, questions=questions, seed=seed, num_documents=num_documents)
