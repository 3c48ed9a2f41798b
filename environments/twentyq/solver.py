"""The twentyq-v0 expert: near-optimal questioning over the candidates the answers leave.

It reads only the observation text and the shipped knowledge base (public knowledge: the system
prompt lists the same questions and objects), never the environment's state, so it plays a
served environment too (where no system prompt reaches the client, so it does not parse one).

Each turn it keeps the objects consistent with every answer so far (uniform prior, as the oracle
draws uniformly) and picks the move of least expected number of turns to finish, looking one
move ahead: asking an attribute that splits n candidates into k and n - k costs
1 + k/n E(k) + (n-k)/n E(n-k); guessing one costs 1 + (n-1)/n E(n-1). E(m) is the expected
cost of m candidates under ideal splits, by dynamic programming over sizes:
E(1) = 1, E(m) = min(guess, best split). Small sets are therefore guessed in turn (for 2 or 3
candidates a guess beats a question), large ones halved, which makes the number of turns close
to log2(#objects) + 1.
"""

from __future__ import annotations

import functools
import re

from agentgym.environments.twentyq.knowledge import KnowledgeBase, Thing, load_knowledge_base
from agentgym.types import Observation

_ANSWER = re.compile(r"^Q\d+: (?P<question>.+\?) (?P<answer>Yes|No)\.$", re.MULTILINE)
_WRONG_GUESS = re.compile(r"^Q\d+: Is it (?P<guess>.+)\? No, it is not ", re.MULTILINE)


class TwentyQuestionsSolver:
    """Questions over the remaining candidates; see the module docstring."""

    def __init__(self, knowledge: KnowledgeBase | None = None):
        self.knowledge = knowledge or load_knowledge_base()
        self.by_question = {a.question: a for a in self.knowledge.attributes}
        self.by_display = {t.display: t for t in self.knowledge.things}

    def reset(self, observation: Observation, system_prompt: str) -> None:
        self.candidates: list[Thing] = list(self.knowledge.things)

    def act(self, observation: Observation) -> str:
        self._learn(observation.text)
        n = len(self.candidates)
        best_cost, best_action = 1 + (n - 1) / n * _expected_turns(n - 1), f"Is it {self.candidates[0].display}?"
        for attribute in self.knowledge.attributes:
            k = sum(thing.has(attribute.id) for thing in self.candidates)
            if k in (0, n):  # asked already, or true or false of every candidate alike
                continue
            cost = 1 + k / n * _expected_turns(k) + (n - k) / n * _expected_turns(n - k)
            if cost < best_cost - 1e-9:
                best_cost, best_action = cost, attribute.question
        return best_action

    def _learn(self, text: str) -> None:
        if (match := _ANSWER.search(text)) and (attribute := self.by_question.get(match["question"])):
            answer = match["answer"] == "Yes"
            self.candidates = [t for t in self.candidates if t.has(attribute.id) == answer]
        elif (match := _WRONG_GUESS.search(text)) and (guess := self.by_display.get(match["guess"])):
            self.candidates = [t for t in self.candidates if t is not guess]


@functools.cache
def _expected_turns(n: int) -> float:
    """Expected turns to name one of n equally likely candidates with ideal questions (0 for none)."""
    if n <= 1:
        return float(n)
    guess = 1 + (n - 1) / n * _expected_turns(n - 1)
    split = min(1 + k / n * _expected_turns(k) + (n - k) / n * _expected_turns(n - k) for k in range(1, n // 2 + 1))
    return min(guess, split)
