"""wordle-v0: find a secret 5-letter English word in six guesses from per-letter feedback.

LMRL-Gym (Abdulhai et al., 2023) uses Wordle as a multi-turn text task that needs strategic
information gathering; this is our own implementation of the standard game.

Episode: `reset(seed=n)` draws the secret from `words.answers()` with the env's generator
(`options={"secret": word}` fixes it). Each turn the agent guesses one word; the observation is
the whole board so far (one line per guess, format in `board`) and the number of guesses left.

Action grammar: the content of the last `<answer>...</answer>` block, or the whole text without
one (`agentgym.actions.answer_text`), must be a single word of letters, optionally wrapped in
quotes, `*` or a final `.`/`!`; case is ignored. "crane", "<answer>CRANE</answer>" and
"I think: <answer>'crane'</answer>" are valid; "my guess is crane" is not (several words).

Invalid guesses (not a single word, not 5 letters, not in `words.allowed_guesses()`) are invalid
actions: feedback saying why, `info["invalid_action"] = True`, the penalty, and they do NOT use
one of the six guesses (as in the original game, where an unknown word is refused). They do
use a turn, so the registered time limit (12 turns) truncates an episode with many of them.

Rewards:
    | event                                   | reward            | ends the episode           |
    |-----------------------------------------|-------------------|----------------------------|
    | guess is the secret                     | +1                | terminated, success True   |
    | valid wrong guess, guesses remain       | 0                 | no                         |
    | valid wrong sixth guess                 | 0                 | terminated, success False  |
    | invalid guess                           | -invalid_penalty  | no (guess not used)        |

Ground truth: every step reports the secret (lower case) in `info["ground_truth"]`
(`agentgym.types.GROUND_TRUTH_KEY`), for trainers such as IGPO; the observation shows it only
when the episode ends.

Anchor: the secret and the sorted multiset of valid guesses made, e.g. `wordle secret=abbey
guesses=crane,plumb`: everything that decides the rest of the episode (the feedback follows from
the secret and the guesses; the order of the guesses and any invalid turns do not matter).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from agentgym.actions import answer_text
from agentgym.env import Env
from agentgym.types import GROUND_TRUTH_KEY, Observation, StepResult

from .board import LEGEND, board_line, score
from .words import WORD_LENGTH, allowed_guesses, answers

MAX_GUESSES = 6

_WORD = re.compile(r"[\"'`*]*([A-Za-z]+)[\"'`*]*[.!]?[\"'`*]*")

SYSTEM_PROMPT = (
    f"Let's play Wordle. I have chosen a secret {WORD_LENGTH}-letter English word; find it in at most "
    f"{MAX_GUESSES} guesses. Each turn, guess one {WORD_LENGTH}-letter English word and answer with "
    "it alone, e.g. <answer>crane</answer>. After each guess you see its feedback, one colour per "
    f"letter: {LEGEND}. A letter guessed twice gets green or yellow only as often as the secret "
    "contains it. A guess that is not a known 5-letter word is refused and does not use up a guess. "
    "You win as soon as you guess the secret; use what the feedback tells you."
)


class WordleEnv(Env):
    """Wordle with six guesses over a shipped word list. Forkable.

    Options for `reset`: `secret` fixes the secret (any allowed guess; for tests and demos).
    """

    system_prompt = SYSTEM_PROMPT

    def __init__(self, invalid_penalty: float = 0.1):
        self.invalid_penalty = invalid_penalty

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        await super().reset(seed=seed)
        options = dict(options or {})
        secret = options.pop("secret", None)
        if options:
            raise ValueError(f"unknown options {sorted(options)}; wordle accepts only 'secret'")
        if secret is not None and secret not in allowed_guesses():
            raise ValueError(f"secret {secret!r} is not a word of the list")
        pool = answers()
        self.secret: str = secret if secret is not None else pool[int(self.np_random.integers(len(pool)))]
        self.guesses: list[str] = []
        return self._observation(
            f"Wordle: guess the secret {WORD_LENGTH}-letter English word. Answer with one word. "
            f"Feedback per letter: {LEGEND}."
        )

    async def step(self, action: str) -> StepResult:
        guess, problem = self._parse(action)
        if problem is not None:
            return StepResult(
                observation=self._observation(f"Invalid guess: {problem}. It does not count as a guess."),
                reward=-self.invalid_penalty,
                info={"invalid_action": True, GROUND_TRUTH_KEY: self.secret},
            )
        self.guesses.append(guess)
        if guess == self.secret:
            count = len(self.guesses)
            return StepResult(
                observation=self._observation(f"Solved: {guess.upper()} in {count} guess{'es' * (count > 1)}!"),
                reward=1.0,
                terminated=True,
                info={"invalid_action": False, "success": True, GROUND_TRUTH_KEY: self.secret},
            )
        if len(self.guesses) == MAX_GUESSES:
            return StepResult(
                observation=self._observation(f"Out of guesses: the word was {self.secret.upper()}."),
                terminated=True,
                info={"invalid_action": False, "success": False, GROUND_TRUTH_KEY: self.secret},
            )
        miss = self._observation(f"{guess.upper()} is not the word.")
        return StepResult(observation=miss, info={"invalid_action": False, GROUND_TRUTH_KEY: self.secret})

    async def fork(self) -> WordleEnv:
        return copy.deepcopy(self)

    def _parse(self, action: str) -> tuple[str, str | None]:
        """The guessed word, lower-case, and what is wrong with it (None when it is valid)."""
        match = _WORD.fullmatch(answer_text(action))
        if match is None:
            return "", "answer with a single word, e.g. <answer>crane</answer>"
        word = match.group(1).lower()
        if len(word) != WORD_LENGTH:
            return word, f"{word.upper()} has {len(word)} letters, not {WORD_LENGTH}"
        if word not in allowed_guesses():
            return word, f"{word.upper()} is not in the word list"
        return word, None

    def _observation(self, message: str) -> Observation:
        lines = [message]
        lines += [board_line(n, guess, score(guess, self.secret)) for n, guess in enumerate(self.guesses, 1)]
        left = MAX_GUESSES - len(self.guesses)
        lines.append(f"Guesses left: {left} of {MAX_GUESSES}.")
        anchor = f"wordle secret={self.secret} guesses={','.join(sorted(self.guesses))}"
        return Observation(text="\n".join(lines), anchor=anchor)
