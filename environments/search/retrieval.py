"""Retrieval over the search environment's documents: BM25 (bm25s) always, dense where installed.

Every retriever answers a batch of queries at once:

    retriever.search(["who founded Varnholt?", "..."], topk=3) -> [[Hit, ...], [Hit, ...]]
    await retriever.asearch(queries, topk=3)  # the same, off the event loop

Contracts shared by every retriever:
- one list of hits per query, in the order of the queries; each list holds at most `topk` hits,
  sorted by score (highest first), ties broken by the document's position in the corpus (lower
  first), so a result is a pure function of (documents, settings, query, topk);
- a batch answers exactly what the queries would answer one by one;
- a query with no word characters (empty, whitespace, punctuation) gets no hits, never an error;
  BM25 returns only documents that share a term with the query (score > 0), so a query of words
  the corpus never uses gets no hits either;
- `topk` below 1 is a ValueError; above the number of documents it returns them all (at most);
- nothing is downloaded: a dense model must be a local path or already in the local model cache.

`bm25_for(corpus)` is the usual entry point: one BM25Retriever per corpus and process, its index
built on first use and cached on disk (see `BM25Retriever`).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from agentgym.environments.search._index_cache import CorruptIndex, cached_folder, fingerprint, settings_digest

if TYPE_CHECKING:
    from agentgym.environments.search.documents import Document

__all__ = [
    "BM25Retriever",
    "BM25Settings",
    "DenseRetriever",
    "Hit",
    "Retriever",
    "RetrieverUnavailable",
    "bm25_for",
    "make_retriever",
    "top_k",
]

SPARSE_FRACTION = 10
"""A query whose posting lists hold fewer than 1/SPARSE_FRACTION of the corpus's documents is
scored on its postings alone (sorting them beats a pass over every document)."""

_NO_INDICES = np.zeros(0, dtype=np.int64)
_NO_SCORES = np.zeros(0, dtype=np.float64)

INDEX_FORMAT = 1
"""Bumped whenever the layout or meaning of a cached index changes (old caches are then ignored)."""

_WORD = re.compile(r"\w")


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved document and its score (higher is better; scales differ between retrievers)."""

    document: Document
    score: float


@runtime_checkable
class Retriever(Protocol):
    """A batched search over a fixed list of documents (see the module docstring for the contract)."""

    name: str

    def search(self, queries: Sequence[str], topk: int = 3) -> list[list[Hit]]:
        """The best `topk` hits for each query, blocking."""
        ...

    async def asearch(self, queries: Sequence[str], topk: int = 3) -> list[list[Hit]]:
        """`search` without blocking the event loop."""
        ...


class RetrieverUnavailable(RuntimeError):
    """A retriever cannot run here: a package or a model is missing. The message says what to install."""


def _check_topk(topk: int) -> None:
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 1:
        raise ValueError(f"topk must be a positive integer, got {topk!r}")


def _has_words(query: str) -> bool:
    return _WORD.search(query) is not None


def top_k(scores: np.ndarray, k: int, *, positive_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the `k` best entries of `scores`: score descending, then index
    ascending. With `positive_only`, entries scoring <= 0 are never returned."""
    n = len(scores)
    if k < n:
        cut = n - k
        kth = np.partition(scores, cut)[cut]  # the k-th largest score
        keep = scores > 0 if positive_only and kth <= 0 else scores >= kth
        candidates = np.flatnonzero(keep)
    else:
        candidates = np.flatnonzero(scores > 0) if positive_only else np.arange(n)
    chosen = scores[candidates]
    order = np.lexsort((candidates, -chosen))[:k]
    return candidates[order], chosen[order]


def _hits(documents: Sequence[Document], indices: np.ndarray, scores: np.ndarray) -> list[Hit]:
    return [Hit(documents[i], score) for i, score in zip(indices.tolist(), scores.tolist(), strict=True)]


# --- BM25 ------------------------------------------------------------------------------------


def _pystemmer() -> Any | None:
    try:
        import Stemmer  # PyStemmer
    except ImportError:
        return None
    return Stemmer


@dataclass(frozen=True)
class BM25Settings:
    """What shapes a BM25 index (and so its cache key).

    Defaults follow Search-R1's BM25 baseline (Pyserini/Lucene: k1=0.9, b=0.4). `stemmer` is a
    Snowball language for PyStemmer, or None for no stemming; `BM25Settings.default()` picks
    "english" when PyStemmer is installed and None otherwise.
    """

    k1: float = 0.9
    b: float = 0.4
    method: str = "lucene"
    stemmer: str | None = "english"
    stopwords: str = "en"
    token_pattern: str = r"(?u)\b\w+\b"

    @classmethod
    def default(cls) -> BM25Settings:
        return cls() if _pystemmer() is not None else cls(stemmer=None)


class BM25Retriever:
    """BM25 over each document's title and text, with bm25s.

    The index is built on first use (or by `load()`): from `index_dir` when it holds a valid
    cached index for exactly these documents and settings, else built and, with `index_dir`,
    saved there atomically (a corrupt cache is rebuilt with a RuntimeWarning). bm25s tokenizes,
    builds and stores the term-score matrix (`backend="numba"`, or "auto" where numba is
    installed, is bm25s's numba build). Scoring reads that matrix directly: a query whose
    terms' posting lists are short (rare words, names) sums only its postings; one with common
    words accumulates over the whole corpus. Both paths add the same float32 term scores in the
    same order into float64, so they agree to the bit (benchmarks/search/README.md has the
    comparison with bm25s's own `retrieve`). A batch of at least `2 * chunk` queries is split
    over `n_threads` threads. Thread-safe.
    """

    name = "bm25"
    chunk = 32
    """Queries per thread task when a batch is split over threads."""

    def __init__(
        self,
        documents: Sequence[Document],
        settings: BM25Settings | None = None,
        *,
        index_dir: str | os.PathLike[str] | None = None,
        backend: str = "numpy",
        n_threads: int = 1,
    ):
        settings = settings or BM25Settings.default()
        if settings.stemmer is not None and _pystemmer() is None:
            raise RetrieverUnavailable(
                f"stemmer={settings.stemmer!r} needs PyStemmer (pip install PyStemmer); or use stemmer=None"
            )
        if backend not in ("numpy", "numba", "auto"):
            raise ValueError(f"backend must be 'numpy', 'numba' or 'auto', got {backend!r}")
        if n_threads < 1:
            raise ValueError(f"n_threads must be at least 1, got {n_threads}")
        self.documents = list(documents)
        if not self.documents:
            raise ValueError("a BM25 index needs at least one document")
        self.settings = settings
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self.backend = _resolve_backend(backend)
        self.n_threads = n_threads
        self._bm25: Any = None
        self._lock = threading.Lock()
        self._local = threading.local()  # a PyStemmer object is not thread-safe: one per thread
        self._pool: ThreadPoolExecutor | None = None
        self._fingerprint: str | None = None

    # index ------------------------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """The documents' fingerprint (see `_index_cache.fingerprint`)."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.documents)
        return self._fingerprint

    def load(self) -> BM25Retriever:
        """Build or load the index now instead of at the first search; returns self."""
        self._index()
        return self

    def _index(self) -> Any:
        if self._bm25 is None:
            with self._lock:
                if self._bm25 is None:
                    if self.index_dir is None:
                        self._bm25 = self._build()
                    else:
                        self._bm25 = cached_folder(self.index_dir, self._build_into, self._load_from)
        return self._bm25

    def _stemmer(self) -> Any | None:
        if self.settings.stemmer is None:
            return None
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = _pystemmer().Stemmer(self.settings.stemmer)
        return stemmer

    def _tokenize(self, texts: list[str], *, return_ids: bool) -> Any:
        import bm25s

        return bm25s.tokenize(
            texts,
            lower=True,
            token_pattern=self.settings.token_pattern,
            stopwords=self.settings.stopwords,
            stemmer=self._stemmer(),
            return_ids=return_ids,
            show_progress=False,
        )

    def _build(self) -> Any:
        import bm25s

        s = self.settings
        tokens = self._tokenize([f"{d.title}\n{d.text}" for d in self.documents], return_ids=True)
        bm25 = bm25s.BM25(k1=s.k1, b=s.b, method=s.method, backend=self.backend)
        bm25.index(tokens, show_progress=False)
        return bm25

    def _build_into(self, folder: Path) -> None:
        import json

        bm25 = self._build()
        bm25.save(folder, show_progress=False)
        meta = {
            "format": INDEX_FORMAT,
            "fingerprint": self.fingerprint,
            "num_documents": len(self.documents),
            "settings": repr(self.settings),
        }
        (folder / "agentgym.json").write_text(json.dumps(meta, indent=1))

    def _load_from(self, folder: Path) -> Any:
        import json

        import bm25s

        meta = json.loads((folder / "agentgym.json").read_text())
        expected = {
            "format": INDEX_FORMAT,
            "fingerprint": self.fingerprint,
            "num_documents": len(self.documents),
            "settings": repr(self.settings),
        }
        if meta != expected:
            raise CorruptIndex(f"its metadata {meta} does not match {expected}")
        bm25 = bm25s.BM25.load(folder, show_progress=False, backend=self.backend)
        _check_matrix(bm25.scores, len(self.documents), max((i for w, i in bm25.vocab_dict.items() if w), default=-1))
        return bm25

    # search -----------------------------------------------------------------------------------

    def _query_ids(self, queries: Sequence[str]) -> list[np.ndarray | None]:
        """Each query's token ids in the index vocabulary (None when nothing of it is indexed)."""
        vocab = self._index().vocab_dict
        tokens = self._tokenize([q if _has_words(q) else "" for q in queries], return_ids=False)
        out: list[np.ndarray | None] = []
        for words in tokens:
            ids = [vocab[w] for w in words if w and w in vocab]
            out.append(np.asarray(ids, dtype=np.int32) if ids else None)
        return out

    def _search_ids(self, ids_list: list[np.ndarray | None], topk: int) -> list[list[Hit]]:
        out: list[list[Hit]] = []
        for ids in ids_list:
            out.append([] if ids is None else _hits(self.documents, *self._top(ids, topk)))
        return out

    def _top(self, ids: np.ndarray, topk: int) -> tuple[np.ndarray, np.ndarray]:
        """The best `topk` documents for one query's term ids: (document indices, scores)."""
        matrix = self._bm25.scores
        indptr, indices, data = matrix["indptr"], matrix["indices"], matrix["data"]
        starts, ends = indptr[ids].tolist(), indptr[ids + 1].tolist()
        postings = sum(ends) - sum(starts)
        if postings == 0:
            return _NO_INDICES, _NO_SCORES
        docs = np.concatenate([indices[a:b] for a, b in zip(starts, ends, strict=True)])
        weights = np.concatenate([data[a:b] for a, b in zip(starts, ends, strict=True)])
        num_documents = len(self.documents)
        if postings * SPARSE_FRACTION < num_documents:  # few postings: score only the documents they name
            candidates, where = np.unique(docs, return_inverse=True)
            scores = np.bincount(where, weights=weights)
        else:  # many: accumulate over the corpus, then keep the documents scored
            dense = np.bincount(docs, weights=weights, minlength=num_documents)
            candidates = np.flatnonzero(dense)
            scores = dense[candidates]
        best, best_scores = top_k(scores, topk, positive_only=True)  # candidates ascend: ties keep corpus order
        return candidates[best], best_scores

    def search(self, queries: Sequence[str], topk: int = 3) -> list[list[Hit]]:
        """The best `topk` hits for each query (see the module docstring for the contract)."""
        _check_topk(topk)
        if isinstance(queries, str):
            raise TypeError("search takes a list of queries, not one string")
        ids_list = self._query_ids(list(queries))
        if self.n_threads == 1 or len(ids_list) < 2 * self.chunk:
            return self._search_ids(ids_list, topk)
        chunks = [ids_list[i : i + self.chunk] for i in range(0, len(ids_list), self.chunk)]
        results: list[list[Hit]] = []
        for part in self._executor().map(lambda part: self._search_ids(part, topk), chunks):
            results.extend(part)
        return results

    async def asearch(self, queries: Sequence[str], topk: int = 3) -> list[list[Hit]]:
        """`search` in a worker thread."""
        return await asyncio.to_thread(self.search, list(queries), topk)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.n_threads, thread_name_prefix="bm25")
        return self._pool

    def close(self) -> None:
        """Stop the worker threads (the retriever still searches, single-threaded or restarting them)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)


def _resolve_backend(backend: str) -> str:
    if backend == "numpy":
        return backend
    try:
        import numba  # noqa: F401
    except ImportError:
        if backend == "numba":
            raise RetrieverUnavailable("backend='numba' needs numba (pip install numba)") from None
        return "numpy"
    return "numba"


def _check_matrix(scores: dict[str, Any], num_documents: int, max_term_id: int) -> None:
    """Raise CorruptIndex unless bm25s's term-score matrix is consistent with the corpus and with
    the vocabulary's largest term id (bm25s's empty-string token has no column: it is left out)."""
    data, indices, indptr = scores["data"], scores["indices"], scores["indptr"]
    problems = []
    if scores.get("num_docs") != num_documents:
        problems.append(f"num_docs {scores.get('num_docs')} != {num_documents}")
    if indptr.ndim != 1 or len(indptr) < max_term_id + 2:
        problems.append(f"indptr has {len(indptr)} entries for term ids up to {max_term_id}")
    elif indptr[0] != 0 or indptr[-1] != len(indices) or len(data) != len(indices) or np.any(np.diff(indptr) < 0):
        problems.append("indptr, indices and data disagree")
    elif len(indices) and (indices.min() < 0 or indices.max() >= num_documents):
        problems.append("a document index is out of range")
    if problems:
        raise CorruptIndex("; ".join(problems))


# --- dense (optional) -------------------------------------------------------------------------


class DenseRetriever:
    """Cosine similarity of sentence-transformers embeddings (an option where installed).

    `model` is a local path or the name of a model already in the local Hugging Face cache;
    nothing is downloaded. Document embeddings (title and text) are computed on first use and,
    with `index_dir`, cached there like BM25's index. Raises RetrieverUnavailable naming what to
    install when sentence-transformers or the model is missing.
    """

    name = "dense"

    def __init__(
        self,
        documents: Sequence[Document],
        model: str,
        *,
        index_dir: str | os.PathLike[str] | None = None,
        device: str | None = None,
        batch_size: int = 64,
        query_prefix: str = "",
        document_prefix: str = "",
    ):
        self.documents = list(documents)
        if not self.documents:
            raise ValueError("a dense index needs at least one document")
        self.model_name = model
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self.batch_size = batch_size
        self.query_prefix, self.document_prefix = query_prefix, document_prefix
        self._model = _load_sentence_transformer(model, device)
        self._embeddings: np.ndarray | None = None
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def _index(self) -> np.ndarray:
        if self._embeddings is None:
            with self._lock:
                if self._embeddings is None:
                    texts = [f"{self.document_prefix}{d.title}\n{d.text}" for d in self.documents]
                    if self.index_dir is None:
                        self._embeddings = self._encode(texts)
                    else:
                        self._embeddings = cached_folder(
                            self.index_dir,
                            lambda folder: np.save(folder / "embeddings.npy", self._encode(texts)),
                            self._load_embeddings,
                        )
        return self._embeddings

    def _load_embeddings(self, folder: Path) -> np.ndarray:
        embeddings = np.load(folder / "embeddings.npy")
        if embeddings.ndim != 2 or len(embeddings) != len(self.documents):
            raise CorruptIndex(f"embeddings of shape {embeddings.shape} for {len(self.documents)} documents")
        return embeddings

    def search(self, queries: Sequence[str], topk: int = 3) -> list[list[Hit]]:
        """The best `topk` hits for each query (see the module docstring for the contract)."""
        _check_topk(topk)
        if isinstance(queries, str):
            raise TypeError("search takes a list of queries, not one string")
        queries = list(queries)
        embeddings = self._index()
        asked = [i for i, q in enumerate(queries) if _has_words(q)]
        out: list[list[Hit]] = [[] for _ in queries]
        if asked:
            vectors = self._encode([self.query_prefix + queries[i] for i in asked])
            for i, row in zip(asked, vectors @ embeddings.T, strict=True):
                out[i] = _hits(self.documents, *top_k(row, topk, positive_only=False))
        return out

    async def asearch(self, queries: Sequence[str], topk: int = 3) -> list[list[Hit]]:
        """`search` in a worker thread."""
        return await asyncio.to_thread(self.search, list(queries), topk)


def _load_sentence_transformer(model: str, device: str | None) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise RetrieverUnavailable(
            "the dense retriever needs sentence-transformers (pip install sentence-transformers) and a "
            f"local copy of the embedding model ({error})"
        ) from None
    try:
        return SentenceTransformer(model, device=device, local_files_only=True)
    except Exception as error:
        raise RetrieverUnavailable(
            f"cannot load the embedding model {model!r} from local files ({type(error).__name__}: {error}); "
            "give a local path, or download the model beforehand (nothing is downloaded at run time)"
        ) from None


# --- per-process retrievers --------------------------------------------------------------------

_memo: dict[tuple[Any, ...], Any] = {}
_memo_by_id: dict[int, tuple[weakref.ref[Any], dict[tuple[Any, ...], Any]]] = {}
_memo_lock = threading.Lock()


def _cache_root() -> Path:
    """Where search indexes are cached: the corpus cache's folder (`AGENTGYM_CACHE_DIR`, by default
    ~/.cache/agentgym), under search-index/."""
    try:
        from agentgym.environments.search.corpus import cache_dir
    except ImportError:
        root = os.environ.get("AGENTGYM_CACHE_DIR") or Path.home() / ".cache" / "agentgym"
        return Path(root) / "search-index"
    return Path(cache_dir()) / "search-index"


def _documents_of(corpus: Any) -> Sequence[Document]:
    return corpus.documents if hasattr(corpus, "documents") else corpus


def bm25_for(corpus: Any, settings: BM25Settings | None = None, *, backend: str = "numpy") -> BM25Retriever:
    """The process's BM25Retriever for `corpus` (a SearchCorpus, or a list of documents), its index
    cached on disk under the corpus cache, keyed by the documents' fingerprint and the settings.
    Cheap after the first call for a corpus; the index itself is built or loaded on first search."""
    return _memoised(corpus, ("bm25", settings or BM25Settings.default(), backend))


def make_retriever(corpus: Any, kind: str = "bm25", *, model: str | None = None, **options: Any) -> Retriever:
    """A retriever over `corpus` by name: "bm25" (`bm25_for`) or "dense" (needs `model`)."""
    if kind == "bm25":
        return bm25_for(corpus, **options)
    if kind == "dense":
        if not model:
            raise ValueError("the dense retriever needs a model (a local path or a cached model name)")
        return _memoised(corpus, ("dense", model, tuple(sorted(options.items()))))
    raise ValueError(f"unknown retriever {kind!r}; choose 'bm25' or 'dense'")


def _memoised(corpus: Any, key: tuple[Any, ...]) -> Any:
    with _memo_lock:
        per_corpus = _per_corpus(corpus)
        if per_corpus is not None and key in per_corpus:
            return per_corpus[key]
    documents = _documents_of(corpus)
    digest = fingerprint(documents)
    with _memo_lock:
        retriever = _memo.get((digest, *key))
        if retriever is None:
            shaping = key[1] if key[0] == "bm25" else key[1:]  # BM25's backend does not change its index
            # the format in the name: two versions sharing a cache keep an index each
            folder = _cache_root() / f"{key[0]}-f{INDEX_FORMAT}-{digest}-{settings_digest(shaping)}"
            if key[0] == "bm25":
                retriever = BM25Retriever(documents, key[1], index_dir=folder, backend=key[2])
                retriever._fingerprint = digest
            else:
                retriever = DenseRetriever(documents, key[1], index_dir=folder, **dict(key[2]))
            _memo[(digest, *key)] = retriever
        if per_corpus is not None:
            per_corpus[key] = retriever
    return retriever


def _per_corpus(corpus: Any) -> dict[tuple[Any, ...], Any] | None:
    """The retrievers already made for this very object (by identity, while it lives); None for
    objects that cannot be weakly referenced (a plain list), which are looked up by fingerprint."""
    try:
        ref = weakref.ref(corpus)
    except TypeError:
        return None
    entry = _memo_by_id.get(id(corpus))
    if entry is None or entry[0]() is not corpus:
        entry = _memo_by_id[id(corpus)] = (ref, {})
        weakref.finalize(corpus, _memo_by_id.pop, id(corpus), None)
    return entry[1]
