"""The oracle and the no-search baseline of search-qa-v0.

`SearchOracle` proves the questions answerable through the Env API: it looks the question up in
the (public, regenerable) knowledge base by the qid in the observation's metadata, issues the
question's `oracle_queries` one hop at a time, checks after each search that the hop's
supporting document came back (by its id in the passages' headers), and answers only when every
supporting document was retrieved; a hop whose document is not retrieved makes it give up
with a wrong answer. So its success rate is the share of questions whose evidence the retriever
finds with the right queries.

`NoSearchBaseline` answers at once, from the question text alone: for a comparison question the
first of the two named options (right half the time), for a bridge question the most frequent
canonical answer of all the corpus's bridge questions (the best answer-prior guess).
"""

from __future__ import annotations

import re
from collections import Counter

from agentgym.environments.search.env import shared_corpus
from agentgym.types import Observation

_OPTIONS = (
    re.compile(r",\s*(?P<a>[^,]+?) or (?P<b>[^,]+?)\?$"),
    re.compile(r"\bof (?P<a>.+?) and (?P<b>.+?) is \w+\?$"),
)
GIVE_UP = "I could not find it"


class SearchOracle:
    """Issues each hop's oracle query and answers once all evidence was retrieved."""

    def __init__(self, *, seed: int = 0, num_documents: int = 10_000, num_questions: int = 1000):
        self.corpus_key = (seed, num_documents, num_questions)

    def reset(self, observation: Observation, system_prompt: str) -> None:
        corpus = shared_corpus(*self.corpus_key)
        self.question = corpus.question(observation.metadata["qid"])
        self.hop = 0

    def act(self, observation: Observation) -> str:
        question = self.question
        if self.hop > 0 and f"(id {question.supporting_doc_ids[self.hop - 1]}," not in observation.text:
            return f"<answer>{GIVE_UP}</answer>"
        if self.hop < len(question.oracle_queries):
            self.hop += 1
            return f"<search>{question.oracle_queries[self.hop - 1]}</search>"
        return f"<answer>{question.answers[0]}</answer>"


class NoSearchBaseline:
    """Answers at once without searching: a named option, or the most common answer overall."""

    def __init__(self, *, seed: int = 0, num_documents: int = 10_000, num_questions: int = 1000):
        questions = shared_corpus(seed, num_documents, num_questions).questions
        self.prior = Counter(q.answers[0] for q in questions if q.kind == "bridge").most_common(1)[0][0]

    def reset(self, observation: Observation, system_prompt: str) -> None:
        self.text = observation.text.removeprefix("Question: ").strip()

    def act(self, observation: Observation) -> str:
        for pattern in _OPTIONS:
            match = pattern.search(self.text)
            if match:
                return f"<answer>{match.group('a')}</answer>"
        return f"<answer>{self.prior}</answer>"
