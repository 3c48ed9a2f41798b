"""wordle-v0: the entropy expert solves within six guesses on 100 seeds (in process and served)
and random guessing does not; feedback rules with repeated letters; the board format round trip;
determinism, fork, invalid guesses, anchors and the action grammar; the shipped word lists."""

from __future__ import annotations

import itertools
import random

import pytest

import agentgym
from agentgym.agents import RandomAgent
from agentgym.environments.wordle.board import GRAY, GREEN, YELLOW, board_line, parse_board, pattern_code, score
from agentgym.environments.wordle.solver import WordleSolver, feedback_codes, pattern_matrix
from agentgym.environments.wordle.words import allowed_guesses, answers

SEEDS = range(100)


@pytest.fixture
async def wordle():
    """`env, first = await wordle(seed=..., secret=...)`: a made and reset env, closed after the test."""
    envs = []

    async def build(seed=0, secret=None):
        env = agentgym.make("wordle-v0")
        envs.append(env)
        first = await env.reset(seed=seed, options={"secret": secret} if secret else None)
        return env, first

    yield build
    for env in envs:
        await env.close()


# --- expert vs random -------------------------------------------------------------------------


async def test_expert_solves_within_six_guesses_and_random_guessing_does_not(run_agent):
    expert = await run_agent("wordle-v0", lambda seed: WordleSolver(), SEEDS)
    words = sorted(allowed_guesses())
    random_play = await run_agent("wordle-v0", lambda seed: RandomAgent(words, seed), SEEDS)
    assert expert.success_rate >= 0.95  # measured 1.0, 3.43 guesses on average
    assert all(e.invalid_actions == 0 and e.turns <= 6 for e in expert.episodes)
    assert expert.mean_turns < 4.0
    assert random_play.success_rate <= 0.05  # measured 0.0


async def test_expert_plays_a_served_environment(run_agent):
    report = await run_agent("wordle-v0", lambda seed: WordleSolver(), range(20), remote=True)
    assert report.success_rate >= 0.95


# --- feedback ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("guess", "secret", "expected"),
    [
        ("crane", "crane", "GGGGG"),
        ("babes", "abbey", "YYGG-"),  # two b's in the secret: one green, one yellow
        ("bobby", "abbey", "Y-G-G"),  # three b's guessed, two in the secret: the third is gray
        ("speed", "abide", "--Y-Y"),  # one e in the secret: only the first guessed e is yellow
        ("eerie", "there", "Y-Y-G"),  # the green e takes one copy, the first e the other
        ("lolly", "hello", "-YGG-"),  # both l's of the secret are green: the first l is gray
        ("allee", "eagle", "YY-YG"),
    ],
)
def test_feedback_counts_repeated_letters(guess, secret, expected):
    colours = {"G": GREEN, "Y": YELLOW, "-": GRAY}
    assert score(guess, secret) == tuple(colours[mark] for mark in expected)


def test_vectorised_feedback_matches_the_rules():
    rng = random.Random(0)
    words = sorted(allowed_guesses())
    tricky = ["abbey", "babes", "bobby", "eerie", "there", "speed", "geese", "llama", "array", "mamma"]
    guesses = tricky + rng.sample(words, 60)
    targets = tricky + rng.sample(words, 60)
    codes = feedback_codes(guesses, targets)
    for (g, guess), (t, target) in itertools.product(enumerate(guesses), enumerate(targets)):
        assert codes[g, t] == pattern_code(score(guess, target)), (guess, target)
    matrix = pattern_matrix()
    assert matrix.shape == (len(answers()), len(answers()))
    assert matrix[answers().index("abbey"), answers().index("abbey")] == pattern_code((GREEN,) * 5)


def test_board_lines_round_trip():
    line = board_line(2, "bobby", score("bobby", "abbey"))
    assert line == "2. BOBBY -> B yellow, O gray, B green, B gray, Y green"
    first = board_line(1, "crane", score("crane", "abbey"))
    text = "\n".join(["Out of guesses.", first, line, "Guesses left: 4 of 6."])
    assert parse_board(text) == [("crane", score("crane", "abbey")), ("bobby", score("bobby", "abbey"))]


# --- the episode ------------------------------------------------------------------------------


async def test_a_solved_game(wordle):
    env, first = await wordle(secret="abbey")
    assert "Guesses left: 6 of 6." in first.text and "green = right letter in the right spot" in first.text
    miss = await env.step("crane")
    assert miss.reward == 0 and not miss.done and not miss.invalid_action
    assert "1. CRANE -> C gray, R gray, A yellow, N gray, E yellow" in miss.observation.text
    assert "Guesses left: 5 of 6." in miss.observation.text
    hit = await env.step("<answer>ABBEY</answer>")
    assert hit.reward == 1 and hit.terminated and hit.info["success"] is True
    assert hit.observation.text.startswith("Solved: ABBEY in 2 guesses!")
    assert "2. ABBEY -> A green, B green, B green, E green, Y green" in hit.observation.text


async def test_six_wrong_guesses_lose_and_reveal_the_word(wordle):
    env, _ = await wordle(secret="abbey")
    for guess in ["crane", "sloth", "dumpy", "fight", "crane", "pious"]:
        result = await env.step(guess)
    assert result.terminated and result.info["success"] is False and result.reward == 0
    assert result.observation.text.startswith("Out of guesses: the word was ABBEY.")
    assert len(parse_board(result.observation.text)) == 6  # a repeated guess still uses one


async def test_invalid_guesses_are_explained_penalised_and_not_counted(wordle):
    env, first = await wordle(seed=5)
    reasons = {
        "hello world": "answer with a single word",
        "<answer>cat</answer>": "CAT has 3 letters, not 5",
        "zzzzz": "ZZZZZ is not in the word list",
        "crane!?": "answer with a single word",
        "": "answer with a single word",
    }
    for action, reason in reasons.items():
        result = await env.step(action)
        assert result.invalid_action and result.reward == pytest.approx(-0.1) and not result.done
        assert result.observation.text.startswith(f"Invalid guess: {reason}")
        assert "It does not count as a guess." in result.observation.text
        assert "Guesses left: 6 of 6." in result.observation.text
        assert result.observation.anchor == first.anchor


@pytest.mark.parametrize(
    "action", ["crane", "CRANE", "<answer>crane</answer>", "I think: <answer>'Crane'</answer>", '"crane".', "**crane**"]
)
async def test_the_action_grammar_accepts_one_word(wordle, action):
    env, _ = await wordle(secret="abbey")
    result = await env.step(action)
    assert not result.invalid_action and parse_board(result.observation.text)[0][0] == "crane"


async def test_same_seed_same_game_and_seeds_pick_different_secrets(wordle):
    (first_env, first), (second_env, second) = await wordle(seed=9), await wordle(seed=9)
    assert first == second
    for guess in ["crane", "bad guess", "sloth", "pious"]:
        assert await first_env.step(guess) == await second_env.step(guess)
    secrets = set()
    for seed in range(20):
        _, observation = await wordle(seed=seed)
        secrets.add(observation.anchor)
    assert len(secrets) >= 18


async def test_a_fork_continues_independently(wordle):
    env, _ = await wordle(secret="abbey")
    await env.step("crane")
    fork = await env.fork()
    await fork.step("sloth")
    left = await env.step("pious")
    assert "SLOTH" not in left.observation.text and "Guesses left: 4 of 6." in left.observation.text
    won = await fork.step("abbey")
    assert won.info["success"] and "PIOUS" not in won.observation.text


async def test_anchor_is_the_secret_and_the_guesses_made(wordle):
    env, first = await wordle(secret="abbey")
    assert first.anchor == "wordle secret=abbey guesses="
    await env.step("crane")
    one_way = await env.step("sloth")
    other, _ = await wordle(secret="abbey")
    await other.step("sloth")
    await other.step("not a word")
    other_way = await other.step("crane")
    assert one_way.observation.anchor == other_way.observation.anchor == "wordle secret=abbey guesses=crane,sloth"
    assert one_way.observation.text != other_way.observation.text  # the board keeps the order
    third, _ = await wordle(secret="abbey")
    assert (await third.step("crane")).observation.anchor != one_way.observation.anchor
    fourth, _ = await wordle(secret="abide")
    assert (await fourth.step("crane")).observation.anchor != (await third.step("pious")).observation.anchor


async def test_reset_options_are_checked(wordle):
    with pytest.raises(ValueError, match="not a word of the list"):
        await wordle(secret="qqqqq")
    env = agentgym.make("wordle-v0")
    with pytest.raises(ValueError, match="unknown options"):
        await env.reset(options={"length": 6})


def test_system_prompt_states_the_rules_and_the_format():
    prompt = agentgym.make("wordle-v0").system_prompt
    assert "<answer>crane</answer>" in prompt and "6 guesses" in prompt and "yellow" in prompt


# --- the shipped word lists -------------------------------------------------------------------


def test_word_lists():
    assert len(answers()) == 2000 and list(answers()) == sorted(set(answers()))
    assert set(answers()) < allowed_guesses() and len(allowed_guesses()) == 4329
    assert all(len(word) == 5 and word.isalpha() and word.islower() and word.isascii() for word in allowed_guesses())
    assert {"crane", "house", "water"} <= set(answers())
