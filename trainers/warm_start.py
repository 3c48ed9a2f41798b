"""Expert data for a behaviour-cloning warm start, and the text a tiny tokenizer is trained on.

The expert plays in this process through the public Env API, and each of its turns becomes a
(prompt, response) pair of token ids built exactly as the rollout builds them (the same
`PromptBuilder`, system prompt and history window), the response being the expert's action
text followed by the end-of-turn token, as a sampled response ends.
"""

from __future__ import annotations

import importlib
from typing import Any

import agentgym
from agentgym.rollout.prompts import HistoryTurn, PromptBuilder
from agentgym.types import Observation

__all__ = ["environment_corpus", "expert_pairs", "load_expert"]


def load_expert(spec: str) -> Any:
    """An agent from "module:Class" (instantiated without arguments).

    Raises:
        ValueError: the spec is not "module:Class" or names nothing importable.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expert {spec!r} must be 'module:Class', e.g. agentgym.environments.sokoban.solver:SokobanSolver")
    try:
        return getattr(importlib.import_module(module_name), attribute)()
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot load expert {spec!r}: {error}") from None


async def _expert_turns(
    env_id: str, env_kwargs: dict[str, Any], expert: str, seeds: range, max_turns: int
) -> list[tuple[str, list[HistoryTurn], Any, str]]:
    """(system prompt, history before the turn, observation, expert action) for every turn."""
    turns = []
    for seed in seeds:
        env = agentgym.make(env_id, **env_kwargs)
        agent = load_expert(expert)
        try:
            observation = await env.reset(seed=seed)
            agent.reset(observation, env.system_prompt)
            history: list[HistoryTurn] = []
            for _ in range(max_turns):
                action = agent.act(observation)
                turns.append((env.system_prompt, list(history), observation, action))
                result = await env.step(action)
                history.append(HistoryTurn(observation.text, action))
                observation = result.observation
                if result.terminated or result.truncated:
                    break
        finally:
            await env.close()
    return turns


async def expert_pairs(
    env_id: str,
    env_kwargs: dict[str, Any],
    expert: str,
    prompts: PromptBuilder,
    *,
    seeds: range,
    max_turns: int,
    end_token_id: int,
) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids) for every turn of the expert's episodes on `seeds`."""
    tokenizer = prompts.tokenizer
    pairs = []
    for system_prompt, history, observation, action in await _expert_turns(env_id, env_kwargs, expert, seeds, max_turns):
        prompt = prompts.build(system_prompt, history, observation)
        response = list(tokenizer.encode(action, add_special_tokens=False)) + [end_token_id]
        pairs.append((prompt, response))
    return pairs


async def environment_corpus(
    env_id: str, env_kwargs: dict[str, Any], *, seeds: range, expert: str | None = None, max_turns: int = 16
) -> list[str]:
    """Text a tiny model's tokenizer is trained on, so that prompts tokenize into few tokens:
    the system prompt and observations of the expert's episodes on `seeds` with its actions
    (with no expert: each seed's first observation). Where an observation's anchor (its state,
    e.g. a Sokoban board) is only part of its text, the anchor is left out, so that states
    tokenize cell by cell (a token per board cell keeps positions learnable) while the words
    around them become single tokens."""
    if expert is not None:
        turns = await _expert_turns(env_id, env_kwargs, expert, seeds, max_turns)
        return [text for system, _, observation, action in turns for text in (system, _words(observation), action)]
    texts: list[str] = []
    for seed in seeds:
        env = agentgym.make(env_id, **env_kwargs)
        try:
            texts += [env.system_prompt, _words(await env.reset(seed=seed))]
        finally:
            await env.close()
    return texts


def _words(observation: Observation) -> str:
    """The observation's text without its anchor, when the anchor is only part of it."""
    if observation.anchor and observation.anchor != observation.text:
        return observation.text.replace(observation.anchor, "\n")
    return observation.text
