"""search-qa-v0: answer multi-hop questions about a fictional world by searching its encyclopedia.

Each episode is one question of the generated knowledge base (`corpus.load_corpus`), chosen
with the seeded generator (`reset(options={"qid": ...})` or `{"index": i}` fixes it). The
agent acts in Search-R1's tag protocol (Jin et al., "Search-R1: Training LLMs to Reason and
Leverage Search Engines with Reinforcement Learning", arXiv 2503.09516):

- `<search>query</search>`: the top-k passages for the query come back inside
  `<information>...</information>`, one line each: `Doc 1 (id doc-000123, Title: X) text`.
- `<answer>text</answer>`: ends the episode. The reward is the answer's normalised exact match
  (`reward="em"`, Search-R1's) or token F1 (`reward="f1"`, IGPO's) against the accepted
  answers; `info["em"]` and `info["f1"]` always carry both, `info["success"]` is EM == 1.

or, with the same meaning, OpenAI-style tool calls (offered in `Observation.tools`):
`search(query)`, `open(doc)` (one document in full, by id or exact title) and `answer(text)`.
Anything else (no action, an empty query, an unknown document, a malformed call) is an invalid
turn: feedback on the format, reward -`format_penalty`, `info["invalid_action"]`. The turn limit
is the spec's `max_turns` (truncation); an episode that runs out without an answer scores 0.

The question's canonical answer is in `info["ground_truth"]` on every step (for IGPO) and never
in an observation. The anchor, for GiGPO, is the question and the set of documents seen so far.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import importlib.util
import threading
from typing import Any

if importlib.util.find_spec("bm25s") is None:  # the registry turns this into a RegistrationError
    raise ModuleNotFoundError("search-qa-v0 needs bm25s: pip install 'agentgym[search]'", name="bm25s")

from agentgym.actions import ToolCall, ToolCallError, last_tag, parse_tool_call
from agentgym.env import Env
from agentgym.environments.search.corpus import SearchCorpus, load_corpus
from agentgym.environments.search.documents import Document
from agentgym.environments.search.questions import Question
from agentgym.environments.search.retrieval import bm25_for
from agentgym.environments.search.scoring import exact_match, f1_score
from agentgym.environments.search.service import RemoteRetriever
from agentgym.types import GROUND_TRUTH_KEY, Observation, StepResult, Tool

SYSTEM_PROMPT = """\
Answer the question about a fictional world; what you know from elsewhere does not apply, so \
look everything up. Each turn, reason if you like, then do exactly one of:
- <search>query</search> to search the world's encyclopedia; the top passages come back \
between <information> and </information>.
- <answer>text</answer> to give your final answer (a name, a place, a year, ...), which ends \
the episode.
You may also call the tools search, open and answer. Questions may need several searches: \
find the first entity, read its passage, then search for the next one."""

FORMAT_HELP = "Write <search>a query</search> to search or <answer>your answer</answer> to answer."


def _tool(name: str, description: str, argument: str, meaning: str) -> Tool:
    schema = {"type": "object", "properties": {argument: {"type": "string", "description": meaning}}}
    return Tool(function={"name": name, "description": description, "parameters": {**schema, "required": [argument]}})


TOOLS: tuple[Tool, ...] = (
    _tool("search", "Search the encyclopedia; returns the top passages.", "query", "what to search for"),
    _tool("open", "Read one document in full.", "doc", "a document id (doc-000123) or exact title"),
    _tool("answer", "Give the final answer; ends the episode.", "text", "the answer"),
)
_TOOL_ARGUMENT = {"search": "query", "open": "doc", "answer": "text"}


_corpus_lock = threading.Lock()


def shared_corpus(seed: int, num_documents: int, num_questions: int) -> SearchCorpus:
    """The corpus of these settings, loaded once per process (environments and agents share it;
    concurrent first resets wait for one load instead of each generating their own)."""
    with _corpus_lock:
        return _load_once(seed, num_documents, num_questions)


@functools.lru_cache(maxsize=4)
def _load_once(seed: int, num_documents: int, num_questions: int) -> SearchCorpus:
    return load_corpus(seed=seed, num_documents=num_documents, num_questions=num_questions)


class SearchQAEnv(Env):
    """Multi-hop QA with a search tool over a generated knowledge base; see the module docstring.

    Args:
        seed: the knowledge base's generation seed (not the episode's: `reset(seed=)` picks the
            question); with `num_documents` and `num_questions` it names the cached corpus.
        topk: passages per search.
        retriever_url: a served retriever (`agentgym search serve`) to use instead of an
            in-process BM25 index; it must serve the same corpus.
        reward: "em" (exact match) or "f1".
        format_penalty: the cost of an invalid turn.
        tools: offer the tools search, open and answer in every observation.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        num_documents: int = 10_000,
        num_questions: int = 1000,
        topk: int = 3,
        retriever_url: str | None = None,
        reward: str = "em",
        format_penalty: float = 0.1,
        tools: bool = True,
    ):
        if reward not in ("em", "f1"):
            raise ValueError(f"reward must be 'em' or 'f1', got {reward!r}")
        if topk < 1:
            raise ValueError(f"topk must be at least 1, got {topk}")
        self.corpus_key = (seed, num_documents, num_questions)
        self.topk = topk
        self.retriever_url = retriever_url
        self.reward_kind = reward
        self.format_penalty = format_penalty
        self.tools = TOOLS if tools else ()
        self.system_prompt = SYSTEM_PROMPT
        self.corpus: SearchCorpus | None = None
        self.question: Question | None = None

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        if self.corpus is None:
            self.corpus = await asyncio.to_thread(shared_corpus, *self.corpus_key)
            self.retriever = (
                RemoteRetriever(self.retriever_url)
                if self.retriever_url
                else await asyncio.to_thread(bm25_for, self.corpus)
            )
        self.question = self._choose(dict(options or {}))
        self.seen: list[str] = []
        return self._observation(f"Question: {self.question.question}")

    def _choose(self, options: dict[str, Any]) -> Question:
        questions = self.corpus.questions
        qid, index = options.pop("qid", None), options.pop("index", None)
        if options:
            raise ValueError(f"unknown options {sorted(options)}; search-qa accepts 'qid' or 'index'")
        if qid is not None:
            try:
                return self.corpus.question(qid)
            except KeyError:
                raise ValueError(f"no question {qid!r} in this corpus") from None
        if index is not None:
            if not 0 <= index < len(questions):
                raise ValueError(f"index {index} is outside 0..{len(questions) - 1}")
            return questions[index]
        return questions[int(self.np_random.integers(len(questions)))]

    async def step(self, action: str) -> StepResult:
        kind, argument = self._parse(action)
        if kind == "answer":
            return self._answer(argument)
        if kind == "search":
            hits = (await self.retriever.asearch([argument], topk=self.topk))[0]
            return self._show([hit.document for hit in hits], f"No passage matches {argument!r}.")
        if kind == "open":
            document = self._lookup(argument)
            if document is not None:
                return self._show([document], "")
            return self._invalid(f"There is no document {argument!r}; open takes an id from a search result.")
        return self._invalid(argument)

    def _parse(self, action: str) -> tuple[str, str]:
        """(kind, argument) of the action; kind "invalid" with the feedback as argument."""
        call = parse_tool_call(action, _TOOL_ARGUMENT)
        if isinstance(call, ToolCallError):
            return "invalid", f"{call.message} {FORMAT_HELP}"
        if isinstance(call, ToolCall):
            value = call.arguments.get(_TOOL_ARGUMENT[call.name])
            if not isinstance(value, str) or not value.strip():
                return (
                    "invalid",
                    f"The tool {call.name} needs a non-empty string argument {_TOOL_ARGUMENT[call.name]!r}.",
                )
            return call.name, value.strip()
        tag = last_tag(action, ("search", "answer"))
        if tag is None:
            return "invalid", f"No action found. {FORMAT_HELP}"
        kind, content = tag[0], tag[1].strip()
        if not content:
            return "invalid", f"The {kind} tag is empty. {FORMAT_HELP}"
        return kind, content

    def _answer(self, text: str) -> StepResult:
        answers = self.question.answers
        em, f1 = exact_match(text, answers), f1_score(text, answers)
        verdict = "correct" if em else ("partly correct" if f1 else "wrong")
        return StepResult(
            observation=self._observation(f"Your answer {text!r} is {verdict}."),
            reward=em if self.reward_kind == "em" else f1,
            terminated=True,
            info={**self._info(False), "em": em, "f1": f1, "success": em == 1.0, "answer": text},
        )

    def _show(self, documents: list[Document], empty_message: str) -> StepResult:
        for document in documents:
            if document.id not in self.seen:
                self.seen.append(document.id)
        lines = [
            f"Doc {rank} (id {document.id}, Title: {document.title}) {document.text}"
            for rank, document in enumerate(documents, start=1)
        ]
        body = "\n".join(lines) if lines else empty_message
        return StepResult(observation=self._observation(f"<information>{body}</information>"), info=self._info(False))

    def _invalid(self, feedback: str) -> StepResult:
        return StepResult(observation=self._observation(feedback), reward=-self.format_penalty, info=self._info(True))

    def _lookup(self, reference: str) -> Document | None:
        for find in (self.corpus.document, self.corpus.by_title):
            try:
                return find(reference)
            except KeyError:
                continue
        return None

    def _info(self, invalid: bool) -> dict[str, Any]:
        return {"invalid_action": invalid, GROUND_TRUTH_KEY: self.question.answers[0]}

    def _observation(self, text: str) -> Observation:
        return Observation(
            text=text,
            tools=self.tools,
            anchor=f"{self.question.qid} seen={','.join(sorted(self.seen)) or '-'}",
            metadata={"qid": self.question.qid, "hops": self.question.hops, "kind": self.question.kind},
        )

    async def close(self) -> None:
        if isinstance(getattr(self, "retriever", None), RemoteRetriever):
            await self.retriever.aclose()
        await super().close()

    async def fork(self) -> SearchQAEnv:
        """An independent copy of this episode; the corpus and the retriever are shared."""
        clone = copy.copy(self)
        clone.seen = list(self.seen)
        if self.retriever_url and self.corpus is not None:
            clone.retriever = RemoteRetriever(self.retriever_url)  # its own HTTP session, closed with it
        clone._np_random = copy.deepcopy(self._np_random)
        return clone
