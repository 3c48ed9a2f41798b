"""Retrieval speed on the search environment's corpus: agentgym's BM25Retriever beside bm25s's own
`retrieve` and tantivy (a Rust search engine), in one script, side by side.

For a generated corpus (default 100,000 documents) it measures:

- index build: tokenize + index in memory (each system), and agentgym's cold build + save into
  its on-disk cache and the warm load from it;
- queries/s and latency at batch sizes 1 and 64, for two query sets from the corpus's questions:
  `question` (the full question text, ~12 words) and `entity` (the oracle queries: an entity's
  name, what a trained agent mostly sends);
- hit@3: the share of `question` queries whose first supporting document is in the top 3 (a
  check that the systems do comparable work, not a quality study);
- optionally (`--http`) the same through the retrieval service (`POST /retrieve` on loopback,
  RemoteRetriever.asearch, `--http-concurrency` requests in flight).

Systems: `agentgym` (BM25Retriever, n_threads=1), `agentgym-2t` (n_threads=2: a batch split over
two threads), `bm25s` (bm25s.BM25.retrieve on the same index, numpy backend, its own top-k,
n_threads=0) and `tantivy` (one field, title + text, en_stem tokenizer, BM25 k1=1.2 b=0.75;
a batch of 64 is searched by two threads). Each cell runs `--rounds` rounds interleaved across
systems so that load changes on this shared machine fall on every system alike; queries/s is
the median over rounds, latency percentiles pool every call (for batch 64, per call of 64).
Run from the repository root:

    python benchmarks/search/bench_retrieval.py --json benchmarks/search/results/retrieval.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from agentgym.environments.search.corpus import load_corpus
from agentgym.environments.search.documents import Document
from agentgym.environments.search.retrieval import BM25Retriever, BM25Settings

Search = Callable[[list[str], int], list[list[str]]]
"""A system under test: (queries, topk) -> ids of the hits per query."""


@dataclass
class Cell:
    system: str
    queries: str
    batch: int
    n: int = 0
    qps_rounds: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def qps(self) -> float:
        return statistics.median(self.qps_rounds)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- systems -------------------------------------------------------------------------------------


def agentgym_system(retriever: BM25Retriever) -> Search:
    def search(queries: list[str], topk: int) -> list[list[str]]:
        return [[hit.document.id for hit in hits] for hits in retriever.search(queries, topk)]

    return search


def bm25s_system(retriever: BM25Retriever, documents: Sequence[Document]) -> Search:
    """bm25s's own retrieval path over agentgym's index (same tokenizer, same matrix)."""
    bm25 = retriever._index()
    vocab = bm25.vocab_dict
    ids = np.array([d.id for d in documents])

    def search(queries: list[str], topk: int) -> list[list[str]]:
        tokens = retriever._tokenize(queries, return_ids=False)
        tokens = [[t for t in q if t in vocab] or [""] for q in tokens]  # bm25s needs a token per query
        found, scores = bm25.retrieve(tokens, k=topk, show_progress=False, n_threads=0, backend_selection="numpy")
        return [
            [ids[i] for i, s in zip(row, srow, strict=True) if s > 0] for row, srow in zip(found, scores, strict=True)
        ]

    return search


_NON_WORD = re.compile(r"[^\w\s]+")


def tantivy_system(documents: Sequence[Document], threads: int) -> tuple[Search, float]:
    import tantivy

    started = time.perf_counter()
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("idx", stored=True, indexed=False)
    builder.add_text_field("body", stored=False, tokenizer_name="en_stem")
    index = tantivy.Index(builder.build())
    writer = index.writer(heap_size=512_000_000, num_threads=2)
    for i, d in enumerate(documents):
        writer.add_document(tantivy.Document(idx=i, body=f"{d.title}\n{d.text}"))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    build_s = time.perf_counter() - started
    searcher = index.searcher()
    pool = ThreadPoolExecutor(threads)

    def one(query: str, topk: int) -> list[str]:
        text = _NON_WORD.sub(" ", query).strip()
        if not text:
            return []
        hits = searcher.search(index.parse_query(text, ["body"]), topk).hits
        return [documents[searcher.doc(address)["idx"][0]].id for _, address in hits]

    def search(queries: list[str], topk: int) -> list[list[str]]:
        if len(queries) == 1 or threads == 1:
            return [one(q, topk) for q in queries]
        return list(pool.map(lambda q: one(q, topk), queries))

    return search, build_s


def http_system(retriever: BM25Retriever, documents: Sequence[Document], concurrency: int) -> tuple[Search, Any]:
    """The retrieval service on loopback in a background event loop; each call sends its batch
    as `concurrency` requests in flight at once (batch 1: one request per query)."""
    import threading

    from aiohttp import web

    from agentgym.environments.search.service import RemoteRetriever, ServiceConfig, create_app

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def start() -> tuple[web.AppRunner, str]:
        runner = web.AppRunner(create_app(retriever, len(documents), ServiceConfig()))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        return runner, f"http://{host}:{port}"

    runner, url = asyncio.run_coroutine_threadsafe(start(), loop).result()
    remote = RemoteRetriever(url)

    async def many(queries: list[str], topk: int) -> list[list[str]]:
        if len(queries) == 1:
            return [[h.document.id for h in (await remote.asearch(queries, topk))[0]]]
        size = math.ceil(len(queries) / concurrency)
        parts = [queries[i : i + size] for i in range(0, len(queries), size)]
        answers = await asyncio.gather(*(remote.asearch(part, topk) for part in parts))
        return [[h.document.id for h in hits] for answer in answers for hits in answer]

    def search(queries: list[str], topk: int) -> list[list[str]]:
        return asyncio.run_coroutine_threadsafe(many(queries, topk), loop).result()

    def close() -> None:
        asyncio.run_coroutine_threadsafe(remote.aclose(), loop).result()
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result()
        loop.call_soon_threadsafe(loop.stop)

    return search, close


# --- measurement ---------------------------------------------------------------------------------


def run_cell(cell: Cell, search: Search, queries: list[str], topk: int) -> None:
    """One round: every query once, in calls of `cell.batch`."""
    started = time.perf_counter()
    for i in range(0, len(queries), cell.batch):
        batch = queries[i : i + cell.batch]
        t = time.perf_counter()
        search(batch, topk)
        cell.latencies_ms.append((time.perf_counter() - t) * 1000)
    cell.qps_rounds.append(len(queries) / (time.perf_counter() - started))
    cell.n += len(queries)


def hit_at(search: Search, queries: list[str], gold: list[str], k: int) -> float:
    found = search(queries, k)
    return sum(g in hits for g, hits in zip(gold, found, strict=True)) / len(gold)


def machine() -> dict[str, Any]:
    import bm25s

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": _cpu_model(),
        "bm25s": bm25s.__version__,
        "numpy": np.__version__,
        "load_average_before": os.getloadavg(),
    }
    try:
        from importlib.metadata import version

        import tantivy  # noqa: F401

        info["tantivy"] = version("tantivy")
    except ImportError:
        info["tantivy"] = None
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-documents", type=int, default=100_000)
    parser.add_argument(
        "--num-questions", type=int, default=2000, help="questions whose texts and oracle queries are the query sets"
    )
    parser.add_argument("--queries", type=int, default=2000, help="queries per set and round")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--topk", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--systems", nargs="+", default=["agentgym", "agentgym-2t", "bm25s", "tantivy"])
    parser.add_argument("--http", action="store_true", help="also measure through the retrieval service on loopback")
    parser.add_argument("--http-concurrency", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None, help="write the machine, summary and rounds here")
    args = parser.parse_args(argv)
    console = Console(width=150)
    info = machine()

    # corpus and queries
    corpus = load_corpus(seed=0, num_documents=args.num_documents, num_questions=args.num_questions)
    documents = corpus.documents
    questions = corpus.questions
    sets = {
        "question": [q.question for q in questions][: args.queries],
        "entity": [query for q in questions for query in q.oracle_queries][: args.queries],
    }
    gold = [q.supporting_doc_ids[0] for q in questions][: args.queries]

    # index builds
    builds: dict[str, float] = {}
    settings = BM25Settings.default()
    started = time.perf_counter()
    retriever = BM25Retriever(documents, settings).load()
    builds["agentgym / bm25s (in memory)"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        BM25Retriever(documents, settings, index_dir=Path(tmp) / "index").load()
        builds["agentgym: build + save to cache"] = time.perf_counter() - started
        started = time.perf_counter()
        BM25Retriever(documents, settings, index_dir=Path(tmp) / "index").load()
        builds["agentgym: load from cache"] = time.perf_counter() - started
    threaded = BM25Retriever(documents, settings, n_threads=2)
    threaded._bm25 = retriever._bm25  # the same index: only the search differs

    systems: dict[str, Search] = {}
    closers: list[Callable[[], None]] = []
    for name in args.systems:
        if name == "agentgym":
            systems[name] = agentgym_system(retriever)
        elif name == "agentgym-2t":
            systems[name] = agentgym_system(threaded)
        elif name == "bm25s":
            systems[name] = bm25s_system(retriever, documents)
        elif name == "tantivy":
            try:
                systems[name], builds["tantivy (in memory, 2 threads)"] = tantivy_system(documents, threads=2)
            except ImportError:
                console.print("[yellow]tantivy is not installed (pip install tantivy): skipped[/yellow]")
        else:
            parser.error(f"unknown system {name!r}")
    if args.http:
        systems["agentgym-http"], close = http_system(retriever, documents, args.http_concurrency)
        closers.append(close)

    quality = {name: hit_at(search, sets["question"], gold, 3) for name, search in systems.items()}

    # warm up, then the interleaved rounds
    for search in systems.values():
        for batch in args.batches:
            search(sets["question"][:batch], args.topk)
    cells = {
        (name, qset, batch): Cell(name, qset, batch) for qset in sets for batch in args.batches for name in systems
    }
    for _ in range(args.rounds):
        for qset, queries in sets.items():
            for batch in args.batches:
                for name, search in systems.items():
                    run_cell(cells[(name, qset, batch)], search, queries, args.topk)
    for close in closers:
        close()
    info["load_average_after"] = os.getloadavg()

    # report
    build_table = Table(title=f"Index build, {len(documents):,} documents", title_justify="left")
    build_table.add_column("what")
    build_table.add_column("seconds", justify="right")
    for what, seconds in builds.items():
        build_table.add_row(what, f"{seconds:.2f}")
    console.print(build_table)
    table = Table(
        title=f"Queries, top-{args.topk}, {args.rounds} rounds x {args.queries} queries", title_justify="left"
    )
    for column in ("system", "queries", "batch", "queries/s", "p50 ms/call", "p99 ms/call", "vs agentgym", "hit@3"):
        table.add_column(column, justify="left" if column in ("system", "queries") else "right")
    summary = []
    for (name, qset, batch), cell in cells.items():
        base = cells[("agentgym", qset, batch)].qps if ("agentgym", qset, batch) in cells else cell.qps
        row = {
            "system": name,
            "queries": qset,
            "batch": batch,
            "qps": round(cell.qps, 1),
            "p50_ms": round(cell.percentile(50), 3),
            "p99_ms": round(cell.percentile(99), 3),
            "ratio_vs_agentgym": round(cell.qps / base, 2),
            "hit_at_3": round(quality[name], 3),
        }
        summary.append(row)
        table.add_row(
            name,
            qset,
            str(batch),
            f"{cell.qps:,.0f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            f"{row['ratio_vs_agentgym']:.2f}x",
            f"{quality[name]:.2f}",
        )
    console.print(table)
    console.print(f"machine: {json.dumps(info)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "command": " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
            "machine": info,
            "builds_s": builds,
            "summary": summary,
            "rounds_qps": [{**asdict(cell), "latencies_ms": None} for cell in cells.values()],
        }
        args.json.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
