"""twentyq-v0: Twenty Questions against a scripted oracle, as in ArCHer (arXiv 2402.19446) and
LMRL-Gym's Twenty Questions task, over the shipped knowledge base (`knowledge.py`).

The oracle picks one object of the knowledge base uniformly with the seeded generator. Each turn
the agent sends one yes/no question, parsed by the grammar of `grammar.py`:

- a question about one attribute: the oracle answers that attribute's canonical question,
  "Yes." or "No.";
- a guess ("Is it a dog?", `<answer>dog</answer>`): "Yes! It is a dog." ends the episode
  (terminated, `info["success"] = True`); a wrong guess gets "No, it is not a cat.";
- anything else: "I can't answer that; ..." with the reason, `info["invalid_action"] = True`.

Reward (ArCHer's): -1 for every turn, invalid ones included, and 0 for the turn that names the
object; so the return is minus the number of turns before the right guess. The default time
limit is 20 turns (`TimeLimit`, truncation); the last turn reveals the object and sets
`info["success"] = False`.

Ground truth: every step reports the object's name in `info["ground_truth"]`
(`agentgym.types.GROUND_TRUTH_KEY`), for trainers such as IGPO; it is never in the observation.

Observation text: "Q<n>: " and the oracle's answer (echoing the canonical question it
answered), then "Questions left: <k>." (when the env knows its limit, from its spec).

Anchor: the true state, "twentyq <object> <open|solved> [facts]", where the facts are the
established ones, canonical and sorted: "<attribute>=yes|no" for each attribute asked and
"not=<object>" for each wrong guess. Two wordings of one question, a repeated question and an
invalid turn leave the same anchor; the turn count is not part of it.
"""

from __future__ import annotations

import copy
from typing import Any

from agentgym.env import Env
from agentgym.environments.twentyq.grammar import UNANSWERABLE, AttributeQuestion, Guess, QuestionParser
from agentgym.environments.twentyq.knowledge import KnowledgeBase, Thing, load_knowledge_base
from agentgym.types import GROUND_TRUTH_KEY, Observation, StepResult


class TwentyQuestionsEnv(Env):
    """Find the oracle's object with yes/no questions. Forkable.

    Options for `reset`: `object` fixes the object (a name or an alias), for tests and demos.
    """

    def __init__(self) -> None:
        self.knowledge = load_knowledge_base()
        self.parser = QuestionParser(self.knowledge)

    @property
    def turn_limit(self) -> int | None:
        """The time limit `make` applies (from the spec), or None when made without one."""
        return self.spec.max_turns if self.spec is not None else None

    @property  # type: ignore[override]
    def system_prompt(self) -> str:
        return system_prompt(self.knowledge, self.turn_limit)

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        options = dict(options or {})
        name = options.pop("object", None)
        if options:
            raise ValueError(f"unknown options {sorted(options)}; twentyq accepts only 'object'")
        if name is None:
            self.secret = self.knowledge.things[int(self.np_random.integers(len(self.knowledge.things)))]
        else:
            self.secret = self.knowledge.thing(name)
        self.facts: dict[str, bool] = {}
        self.wrong_guesses: set[str] = set()
        self.solved = False
        self.turns = 0
        return self._observation(
            'I am thinking of an object. Find it with yes/no questions, one per turn, e.g. "Is it alive?" '
            'or "Does it have wheels?"; guess with "Is it a dog?". The rules list every question I '
            "understand and every object I may think of."
        )

    async def step(self, action: str) -> StepResult:
        self.turns += 1
        parsed = self.parser.parse(action)
        if isinstance(parsed, AttributeQuestion):
            answer = self.secret.has(parsed.attribute.id)
            self.facts[parsed.attribute.id] = answer
            text = f"{parsed.attribute.question} {'Yes.' if answer else 'No.'}"
        elif isinstance(parsed, Guess):
            text = f"Is it {parsed.thing.display}? " + self._judge(parsed.thing)
        else:
            text = f"{UNANSWERABLE} {parsed.reason}"
        info: dict[str, Any] = {
            "invalid_action": not isinstance(parsed, (AttributeQuestion, Guess)),
            GROUND_TRUTH_KEY: self.secret.name,
        }
        out_of_turns = not self.solved and self.turn_limit is not None and self.turns >= self.turn_limit
        if self.solved or out_of_turns:
            info["success"] = self.solved
        if out_of_turns:
            text += f"\nNo questions left. It was {self.secret.display}."
        return StepResult(
            observation=self._observation(f"Q{self.turns}: {text}"),
            reward=0.0 if self.solved else -1.0,
            terminated=self.solved,
            info=info,
        )

    def _judge(self, guess: Thing) -> str:
        if guess == self.secret:
            self.solved = True
            return f"Yes! It is {guess.display}."
        self.wrong_guesses.add(guess.name)
        return f"No, it is not {guess.display}."

    async def fork(self) -> TwentyQuestionsEnv:
        return copy.deepcopy(self)  # the knowledge base and the parser are shared, not copied

    def _observation(self, text: str) -> Observation:
        if self.turn_limit is not None and not self.solved and self.turns < self.turn_limit:
            text += f"\nQuestions left: {self.turn_limit - self.turns}."
        return Observation(text=text, anchor=self._anchor())

    def _anchor(self) -> str:
        facts = [f"{attribute}={'yes' if answer else 'no'}" for attribute, answer in self.facts.items()]
        facts += [f"not={name}" for name in self.wrong_guesses]
        return f"twentyq {self.secret.name} {'solved' if self.solved else 'open'} [{', '.join(sorted(facts))}]"


def system_prompt(knowledge: KnowledgeBase, turn_limit: int | None) -> str:
    """The rules: the grammar in short, the reward, every canonical question and every object."""
    limit = f"You have {turn_limit} turns. " if turn_limit is not None else ""
    questions = "\n".join(f"- {a.question}" + (f" ({a.note})" if a.note else "") for a in knowledge.attributes)
    categories: dict[str, list[str]] = {}
    for thing in knowledge.things:
        categories.setdefault(thing.category, []).append(thing.name)
    objects = "\n".join(f"- {category}: {', '.join(names)}" for category, names in categories.items())
    return (
        "Let's play Twenty Questions. I am thinking of one of the objects listed below; find it by asking "
        f"yes/no questions, one per turn. {limit}Every turn costs -1 reward, except the turn where you "
        "name the object, which costs 0 and ends the game.\n\n"
        "How I read a turn (if it contains <answer>...</answer>, only the last such block counts; case and "
        "punctuation never matter):\n"
        '- A guess: "Is it a <object>?" (also "Is it an/the <object>?", "It\'s a <object>", "My guess is '
        "<object>\", or just the object's name, e.g. <answer>dog</answer>). Any listed name works; a few "
        'objects have other names too ("car" or "automobile").\n'
        '- A question about one property: I look for the property\'s words (e.g. "mammal", "made of metal", '
        '"bigger than a car"); leading words such as "Is it", "Does it", "Can it" do not matter. I answer '
        'the property\'s question as listed below with "Yes." or "No.", repeating it so you see how I '
        "understood you. The listed questions always work.\n"
        "- I cannot answer a turn that mentions two properties, names an object without guessing it, "
        'contains a negation ("not", "isn\'t") or matches nothing: I reply "I can\'t answer that; ..." and '
        "the turn still costs -1.\n\n"
        f"The questions I understand:\n{questions}\n\n"
        f"The objects I may think of:\n{objects}"
    )
