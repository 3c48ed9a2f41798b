"""The search environment's fictional world, documents, questions and cached corpus."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from agentgym.environments.search import corpus as corpus_module
from agentgym.environments.search.corpus import cache_dir, corpus_dir, load_corpus, question_split
from agentgym.environments.search.documents import MAX_WORDS, MIN_WORDS, Document
from agentgym.environments.search.questions import MIX, Question, generate_questions
from agentgym.environments.search.world import (
    CITY_PREFIXES,
    EVENT_KINDS,
    MIN_DOCUMENTS,
    ORG_SUFFIXES,
    entity_counts,
    generate_world,
)


@pytest.fixture(scope="module")
def world():
    return generate_world(seed=7, num_documents=3000)


@pytest.fixture(scope="module")
def questions(world):
    return generate_questions(world, 600, seed=7)


def test_same_seed_same_world_and_questions(world, questions):
    again = generate_world(seed=7, num_documents=3000)
    assert again.documents == world.documents
    assert generate_questions(again, 600, seed=7) == questions


def test_different_seed_different_world_and_questions(world, questions):
    other = generate_world(seed=8, num_documents=3000)
    assert [d.text for d in other.documents] != [d.text for d in world.documents]
    assert generate_questions(world, 600, seed=8) != questions


@pytest.mark.parametrize("n", [MIN_DOCUMENTS, 31, 100, 1234, 3000])
def test_exact_document_count(n):
    world = generate_world(seed=1, num_documents=n)
    assert len(world.documents) == n == sum(entity_counts(n).values())
    assert len({d.id for d in world.documents}) == n
    assert len({d.title for d in world.documents}) == n


def test_too_small_world_is_refused():
    with pytest.raises(ValueError):
        generate_world(seed=0, num_documents=MIN_DOCUMENTS - 1)


def test_ten_thousand_documents_in_seconds():
    start = time.perf_counter()
    world = generate_world(seed=0, num_documents=10_000)
    assert time.perf_counter() - start < 10
    assert len(world.documents) == 10_000


def test_ids_titles_and_search_r1_format(world):
    ids = [d.id for d in world.documents]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"doc-\d{6}", i) for i in ids)
    titles = [d.title for d in world.documents]
    assert len(set(titles)) == len(titles)
    doc = world.documents[0]
    assert doc.contents == f'"{doc.title}"\n{doc.text}'
    assert doc.contents.splitlines()[0] == f'"{doc.title}"'


def test_document_lengths_and_own_title(world):
    for doc in world.documents:
        words = len(doc.text.split())
        assert MIN_WORDS <= words <= MAX_WORDS, (doc.title, words)
        assert doc.title in doc.text


def test_documents_name_their_relations(world):
    """Every relation of an entity names the related entity, by title, in the entity's own document."""
    for p in world.people[:300]:
        text = world.document(p.doc_id).text
        assert world.cities[p.birthplace].name in text and str(p.birth_year) in text and p.occupation in text
        assert world.organisations[p.employer].name in text
        for other in (p.mentor, p.spouse):
            assert other is None or world.people[other].name in text
    for k in world.countries:
        assert world.cities[k.capital].name in world.document(k.doc_id).text
        assert world.cities[k.capital].country == world.countries.index(k)


def test_deliberate_overlap_but_unique_titles(world):
    surnames = Counter(p.surname for p in world.people)
    assert surnames.most_common(1)[0][1] > 1  # namesakes exist
    assert any(c.namesake is not None for c in world.cities)  # "North Vesk" beside "Vesk"
    assert any(c.name.split()[-1] == world.cities[c.namesake].name for c in world.cities if c.namesake is not None)


def test_names_are_not_dictionary_words(world):
    dictionary = Path("/usr/share/dict/words")
    if not dictionary.exists():
        pytest.skip("no system word list")
    words = {w.strip().lower() for w in dictionary.read_text(errors="ignore").split()}
    fixed = {w.lower() for w in (*CITY_PREFIXES, *ORG_SUFFIXES, *EVENT_KINDS)}
    tokens = {t.lower() for d in world.documents for t in d.title.split()} - fixed
    real = tokens & words
    assert len(real) <= len(tokens) // 500, sorted(real)


def test_question_mix_and_ids(questions):
    assert len(questions) == 600
    assert [q.qid for q in questions] == [f"q-{i:06d}" for i in range(600)]
    assert len({q.question for q in questions}) == 600
    counts = Counter((q.kind, q.hops) for q in questions)
    assert set(counts) == set(MIX)
    for slot, share in MIX.items():
        assert abs(counts[slot] - share * 600) <= 1


def test_questions_answerable_hop_by_hop(world, questions):
    """Each hop's document names the next hop's entity; the last one states the answer."""
    for q in questions:
        assert len(q.supporting_doc_ids) == len(q.oracle_queries) == q.hops
        docs = [world.document(i) for i in q.supporting_doc_ids]
        assert [d.title for d in docs] == q.oracle_queries
        if q.kind == "bridge":
            assert q.oracle_queries[0] in q.question
            for doc, next_title in zip(docs, q.oracle_queries[1:], strict=False):
                assert next_title in doc.text, (q.question, doc.title, next_title)
            assert q.answers[0] in docs[-1].text, (q.question, q.answers)
        else:
            assert all(title in q.question for title in q.oracle_queries)
            assert q.answers[0] in q.oracle_queries


def test_bridge_answers_not_in_question(questions):
    for q in questions:
        if q.kind == "bridge":
            for answer in q.answers:
                assert not re.search(rf"(?<!\w){re.escape(answer.lower())}(?!\w)", q.question.lower()), q


def test_comparison_answers_unique(world, questions):
    """The two compared values differ, and the answer is the right one of the two."""
    by_id = {
        e.doc_id: e for kind in ("person", "city", "organisation", "event", "country") for e in world.entities(kind)
    }
    for q in questions:
        if q.kind != "comparison":
            continue
        a, b = (by_id[i] for i in q.supporting_doc_ids)
        field = _compared_field(a, q.question)
        assert getattr(a, field) != getattr(b, field)
        winner = a if a.name == q.answers[0] else b
        loser = b if winner is a else a
        assert loser.name not in q.answers


def _compared_field(entity, text: str) -> str:
    if hasattr(entity, "birth_year"):
        return "birth_year"
    if "popul" in text or "inhabitants" in text:
        return "population"
    for field in ("founded", "established", "year"):
        if hasattr(entity, field):
            return field
    raise AssertionError(text)


def test_bridge_answers_follow_the_chain(world, questions):
    """Recompute a few bridge answers from the structured world: the chain of titles is consistent."""
    titles = {d.title for d in world.documents}
    for q in questions:
        if q.kind == "bridge" and q.answers[0] in titles:
            assert q.answers[0] not in q.oracle_queries  # a chain never comes back to an entity


def test_too_many_questions_for_a_tiny_world_is_an_error():
    tiny = generate_world(seed=0, num_documents=MIN_DOCUMENTS)
    with pytest.raises(ValueError):
        generate_questions(tiny, 5000, seed=0)


# --- the cached corpus ------------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_cache_dir_follows_env(cache):
    assert cache_dir() == cache / "search"


def test_cache_round_trip(cache, monkeypatch):
    first = load_corpus(seed=3, num_documents=500, num_questions=50)
    folder = corpus_dir(3, 500)
    assert (folder / "documents.jsonl").exists() and (folder / "questions-50.jsonl").exists()
    assert not list(folder.glob("*.tmp"))

    def no_generation(*args, **kwargs):
        raise AssertionError("regenerated although cached")

    monkeypatch.setattr(corpus_module, "generate_world", no_generation)
    second = load_corpus(seed=3, num_documents=500, num_questions=50)
    assert second.documents == first.documents and second.questions == first.questions
    doc = second.documents[10]
    assert second.document(doc.id) == doc == second.by_title(doc.title)
    assert second.question("q-000003") == first.questions[3]
    with pytest.raises(KeyError):
        second.document("doc-999999")


def test_corpus_matches_generator(cache):
    corpus = load_corpus(seed=4, num_documents=400, num_questions=40)
    world = generate_world(4, 400)
    assert corpus.documents == list(world.documents)
    assert corpus.questions == generate_questions(world, 40, 4)
    assert all(isinstance(q, Question) for q in corpus.questions)
    assert all(isinstance(d, Document) for d in corpus.documents)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_count"])
def test_corrupt_cache_is_regenerated(cache, damage):
    original = load_corpus(seed=5, num_documents=300, num_questions=30)
    path = corpus_dir(5, 300) / ("documents.jsonl" if damage != "wrong_count" else "questions-30.jsonl")
    text = path.read_text()
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "garbage":
        path.write_text("not json\n" + text)
    else:
        path.write_text("\n".join(text.splitlines()[:-1]) + "\n")
    with pytest.warns(UserWarning, match="regenerating"):
        again = load_corpus(seed=5, num_documents=300, num_questions=30)
    assert again.documents == original.documents and again.questions == original.questions
    assert path.read_text() == text  # repaired in place
    assert load_corpus(seed=5, num_documents=300, num_questions=30).questions == original.questions


def test_wrong_keys_in_cache_are_regenerated(cache):
    load_corpus(seed=6, num_documents=300, num_questions=10)
    path = corpus_dir(6, 300) / "documents.jsonl"
    lines = path.read_text().splitlines()
    lines[0] = json.dumps({"id": "doc-000000", "name": "x"})
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning):
        assert len(load_corpus(seed=6, num_documents=300, num_questions=10).documents) == 300


def test_split_is_stable_and_roughly_sized(cache):
    corpus = load_corpus(seed=0, num_documents=2000, num_questions=500)
    train, test = corpus.split("train"), corpus.split("test")
    assert len(train) + len(test) == 500 and 60 <= len(test) <= 140
    assert all(question_split(q.qid) == "test" for q in test)
