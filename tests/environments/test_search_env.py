"""search-qa-v0 through the public Env API: the protocol (tags and tool calls), rewards, the
ground truth, fork, the turn limit, a served retriever, and the oracle and no-search baseline."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

import agentgym
from agentgym.environments.search.agents import NoSearchBaseline, SearchOracle
from agentgym.environments.search.env import shared_corpus
from agentgym.environments.search.retrieval import bm25_for
from agentgym.environments.search.service import create_app
from agentgym.types import GROUND_TRUTH_KEY

ENV_ID = "search-qa-v0"


@pytest.fixture
async def env():
    environment = agentgym.make(ENV_ID)
    yield environment
    await environment.close()


def corpus():
    return shared_corpus(0, 10_000, 1000)


def tool_call(name: str, **arguments) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def first_bridge_index(hops: int = 2) -> int:
    return next(i for i, q in enumerate(corpus().questions) if q.kind == "bridge" and q.hops == hops)


async def test_reset_is_deterministic_per_seed(env):
    first = (await env.reset(seed=3)).text
    assert (await env.reset(seed=3)).text == first
    assert len({(await env.reset(seed=seed)).text for seed in range(20)}) > 10
    observation = await env.reset(options={"index": 5})
    assert observation.text == f"Question: {corpus().questions[5].question}"
    assert observation.metadata["qid"] == corpus().questions[5].qid
    with pytest.raises(ValueError, match="unknown options"):
        await env.reset(options={"bogus": 1})
    with pytest.raises(ValueError, match="no question"):
        await env.reset(options={"qid": "q-nope"})


async def test_search_shows_passages_in_search_r1_form(env):
    index = first_bridge_index()
    question = corpus().questions[index]
    observation = await env.reset(options={"index": index})
    assert observation.anchor == f"{question.qid} seen=-"
    result = await env.step(f"<think>start with the named entity</think><search>{question.oracle_queries[0]}</search>")
    text = result.observation.text
    assert text.startswith("<information>Doc 1 (id doc-") and text.endswith("</information>")
    assert text.count("\nDoc ") == 2  # top 3
    assert f"(id {question.supporting_doc_ids[0]}, Title: {question.oracle_queries[0]})" in text
    assert result.reward == 0 and not result.terminated and result.info["invalid_action"] is False
    assert question.supporting_doc_ids[0] in result.observation.anchor


async def test_answers_score_exact_match_and_f1(env):
    index = first_bridge_index()
    answer = corpus().questions[index].answers[0]
    await env.reset(options={"index": index})
    result = await env.step(f"<answer>The {answer.upper()}.</answer>")
    assert (result.reward, result.terminated, result.info["em"], result.info["success"]) == (1.0, True, 1.0, True)
    await env.reset(options={"index": index})
    result = await env.step("<answer>something else</answer>")
    assert (result.reward, result.info["em"], result.info["success"]) == (0.0, 0.0, False)


async def test_f1_reward_gives_partial_credit():
    environment = agentgym.make(ENV_ID, reward="f1")
    questions = corpus().questions
    index = next(i for i, q in enumerate(questions) if len(q.answers[0].split()) >= 2)
    first_word = questions[index].answers[0].split()[0]
    await environment.reset(options={"index": index})
    result = await environment.step(f"<answer>{first_word}</answer>")
    assert 0 < result.reward < 1 and result.reward == result.info["f1"] and result.info["em"] == 0
    with pytest.raises(ValueError, match="reward"):
        agentgym.make(ENV_ID, reward="bleu")


async def test_tool_calls(env):
    index = first_bridge_index()
    question = corpus().questions[index]
    observation = await env.reset(options={"index": index})
    assert [tool.function.name for tool in observation.tools] == ["search", "open", "answer"]
    result = await env.step(tool_call("search", query=question.oracle_queries[0]))
    assert question.supporting_doc_ids[0] in result.observation.text
    result = await env.step(tool_call("open", doc=question.supporting_doc_ids[1]))
    document = corpus().document(question.supporting_doc_ids[1])
    assert (
        result.observation.text
        == f"<information>Doc 1 (id {document.id}, Title: {document.title}) {document.text}</information>"
    )
    result = await env.step(tool_call("open", doc=document.title))
    assert document.id in result.observation.text
    result = await env.step(tool_call("answer", text=question.answers[0]))
    assert result.info["success"] and result.terminated


@pytest.mark.parametrize(
    ("action", "feedback"),
    [
        ("I think it is Paris", "No action found"),
        ("<search>   </search>", "is empty"),
        ("<answer></answer>", "is empty"),
        (tool_call("search"), "needs a non-empty string argument 'query'"),
        (tool_call("open", doc="doc-999999999"), "There is no document"),
        (tool_call("delete", query="x"), "Unknown tool"),
        ("<tool_call>{broken</tool_call>", "not valid JSON"),
    ],
)
async def test_invalid_turns_cost_the_format_penalty(env, action, feedback):
    await env.reset(seed=0)
    result = await env.step(action)
    assert result.reward == pytest.approx(-0.1) and result.info["invalid_action"] is True
    assert feedback in result.observation.text and not result.terminated


async def test_ground_truth_on_every_step_and_never_in_the_question(env):
    for index, question in enumerate(corpus().questions):
        observation = await env.reset(options={"index": index})
        if question.kind == "bridge":
            assert all(answer.lower() not in observation.text.lower() for answer in question.answers)
        assert GROUND_TRUTH_KEY not in json.dumps(observation.metadata)
    index = first_bridge_index(hops=3)
    question = corpus().questions[index]
    await env.reset(options={"index": index})
    for action in [f"<search>{query}</search>" for query in question.oracle_queries] + [
        "no action",
        "<answer>x</answer>",
    ]:
        result = await env.step(action)
        assert result.info[GROUND_TRUTH_KEY] == question.answers[0]


async def test_turn_limit_truncates(env):
    await env.reset(seed=1)
    results = [await env.step("<search>river</search>") for _ in range(6)]
    assert [r.truncated for r in results] == [False] * 5 + [True]
    assert not any(r.terminated for r in results) and results[-1].info.get("success") is False


async def test_fork_branches_independently(env):
    index = first_bridge_index()
    question = corpus().questions[index]
    await env.reset(options={"index": index})
    await env.step(f"<search>{question.oracle_queries[0]}</search>")
    branch = await env.fork()
    right = await branch.step(f"<answer>{question.answers[0]}</answer>")
    assert right.info["success"]
    later = await env.step(f"<search>{question.oracle_queries[1]}</search>")
    assert not later.terminated and question.supporting_doc_ids[1] in later.observation.anchor
    assert question.supporting_doc_ids[1] not in right.observation.anchor
    await branch.close()


async def test_served_retriever_gives_the_same_passages():
    runner = web.AppRunner(create_app(bm25_for(corpus()), len(corpus().documents)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    local, remote = agentgym.make(ENV_ID), agentgym.make(ENV_ID, retriever_url=f"http://{host}:{port}")
    try:
        for environment in (local, remote):
            await environment.reset(options={"index": 7})
        query = f"<search>{corpus().questions[7].oracle_queries[0]}</search>"
        assert (await local.step(query)).observation.text == (await remote.step(query)).observation.text
        branch = await remote.fork()
        assert (await branch.step(query)).observation.text.startswith("<information>Doc 1")
        await branch.close()
    finally:
        await local.close()
        await remote.close()
        await runner.cleanup()


async def test_oracle_solves_the_questions_through_the_env_api(run_agent):
    report = await run_agent(ENV_ID, lambda seed: SearchOracle(), range(300))
    assert report.success_rate >= 0.9, report.success_rate
    remote = await run_agent(ENV_ID, lambda seed: SearchOracle(), range(20), remote=True)
    assert remote.success_rate >= 0.9, remote.success_rate


async def test_no_search_baseline_cannot_answer(run_agent):
    report = await run_agent(ENV_ID, lambda seed: NoSearchBaseline(), range(300))
    assert report.success_rate < 0.25, report.success_rate
    assert all(episode.turns == 1 for episode in report.episodes)
