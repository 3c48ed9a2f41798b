"""twentyq-v0: the knowledge base, the question grammar, the oracle, the reward, the anchor, and
the expert (in process and served) against a random questioner."""

import math

import pytest

import agentgym
from agentgym.agents import RandomAgent
from agentgym.environments.twentyq.grammar import (
    UNANSWERABLE,
    AttributeQuestion,
    Guess,
    QuestionParser,
    Unanswerable,
    normalize,
)
from agentgym.environments.twentyq.knowledge import load_knowledge_base, parse_knowledge_base
from agentgym.environments.twentyq.solver import TwentyQuestionsSolver

ENV_ID = "twentyq-v0"
KB = load_knowledge_base()
PARSER = QuestionParser(KB)


def random_questioner(seed: int) -> RandomAgent:
    """Random canonical questions and random guesses."""
    actions = [a.question for a in KB.attributes] + [f"Is it {t.display}?" for t in KB.things]
    return RandomAgent(actions, seed)


async def play(env, actions):
    """Step `env` through `actions`; the list of results."""
    return [await env.step(action) for action in actions]


# --- the knowledge base ----------------------------------------------------------------------


def test_knowledge_base_is_large_and_every_signature_is_unique():
    assert len(KB.things) >= 150
    assert 40 <= len(KB.attributes) <= 65
    signatures = {thing.attributes for thing in KB.things}
    assert len(signatures) == len(KB.things)
    assert all(thing.attributes for thing in KB.things)


def test_loading_rejects_twins_unknown_attributes_and_reused_names():
    attributes = [{"id": "alive", "question": "Is it alive?", "keywords": ["alive"]}]
    twins = [{"name": "dog", "category": "c", "yes": ["alive"]}, {"name": "cat", "category": "c", "yes": ["alive"]}]
    with pytest.raises(ValueError, match="same attributes"):
        parse_knowledge_base({"attributes": attributes, "objects": twins})
    with pytest.raises(ValueError, match="unknown attributes"):
        parse_knowledge_base(
            {"attributes": attributes, "objects": [{"name": "dog", "category": "c", "yes": ["barks"]}]}
        )
    reused = [
        {"name": "dog", "category": "c", "yes": ["alive"]},
        {"name": "cat", "category": "c", "aliases": ["dog"], "yes": []},
    ]
    with pytest.raises(ValueError, match="used twice"):
        parse_knowledge_base({"attributes": attributes, "objects": reused})


@pytest.mark.parametrize(
    "name, yes, no",
    [
        (
            "dog",
            ["alive", "animal", "mammal", "pet", "four_legs", "fur", "carnivore"],
            ["flies", "water", "food", "big"],
        ),
        ("whale", ["mammal", "water", "big", "huge"], ["fish", "four_legs", "fur", "pet"]),
        ("penguin", ["bird", "black_white", "carnivore"], ["flies", "mammal", "pet"]),
        ("banana", ["food", "fruit", "sweet", "yellow", "handheld"], ["alive", "round", "cooked", "vegetable"]),
        ("car", ["vehicle", "wheels", "engine", "roads", "metal", "big"], ["alive", "flies", "huge", "electric"]),
        ("guitar", ["instrument", "wood"], ["metal", "electric", "handheld", "round"]),
        ("frying pan", ["kitchen", "cooking", "metal", "round"], ["food", "electric", "container"]),
        ("smartphone", ["electric", "screen", "handheld"], ["alive", "kitchen", "wear", "light"]),
    ],
)
def test_hand_checked_answers(name, yes, no):
    thing = KB.thing(name)
    assert all(thing.has(attribute) for attribute in yes)
    assert not any(thing.has(attribute) for attribute in no)


# --- the grammar -----------------------------------------------------------------------------


def attribute_of(text):
    parsed = PARSER.parse(text)
    assert isinstance(parsed, AttributeQuestion), (text, parsed)
    return parsed.attribute.id


def guessed(text):
    parsed = PARSER.parse(text)
    assert isinstance(parsed, Guess), (text, parsed)
    return parsed.thing.name


def test_every_canonical_question_and_every_name_parses_to_itself():
    for attribute in KB.attributes:
        assert attribute_of(attribute.question) == attribute.id
        assert all(normalize(keyword) == tuple(keyword.split()) for keyword in attribute.keywords)
    for thing in KB.things:
        for name in (thing.name, *thing.aliases):
            for text in (f"Is it {thing.display}?", f"is it a {name}", name.upper(), f"<answer>{name}</answer>"):
                assert guessed(text) == thing.name


@pytest.mark.parametrize(
    "phrasings, attribute",
    [
        (
            ["Is it alive?", "is it a living thing", "IS IT ALIVE!!!", "Alive?", "<answer>Is it living?</answer>"],
            "alive",
        ),
        (["Is it a mammal?", "Could it be a mammal?", "mammal", "Is this thing one of the mammals?"], "mammal"),
        (
            ["Does it walk on four legs?", "Does it walk on all fours?", "Is it a four-legged animal?", "quadruped?"],
            "four_legs",
        ),
        (["Is it a farm animal?", "Is it livestock?", "Would you find this farm animal on a farm?"], "farm"),
        (["Is it bigger than a car?", "Is it larger than a car?", "Is it bigger than an automobile?"], "huge"),
        (["Can it fly?", "Does it fly?", "Is it flying?", "can it FLY"], "flies"),
        (["Is it food?", "Is it edible?", "Can you eat it?", "Do people eat it?", "Is it something you eat?"], "food"),
        (["Is it a drink?", "Can you drink it?", "Is it a beverage?"], "drink"),
        (["Does it use electricity?", "Is it electronic?", "Does it need batteries?", "Is it electric?"], "electric"),
        (["Do you wear it on your head?", "Is it worn on the head?", "Is it headwear?"], "on_head"),
        (["Does it travel on water?", "Is it a boat?", "Is it a watercraft?"], "boat"),
        (["Is it kitchen equipment?", "Is it used in the kitchen?", "Would I find it in a kitchen?"], "kitchen"),
        (["Does it eat other animals?", "Is it a predator?", "Does it eat meat?", "Is it carnivorous?"], "carnivore"),
        (["Is it usually cooked before eating?", "Do you cook it?", "Is it cooked before you eat it?"], "cooked"),
    ],
)
def test_several_phrasings_select_one_attribute(phrasings, attribute):
    assert {attribute_of(text) for text in phrasings} == {attribute}


@pytest.mark.parametrize(
    "text, name",
    [
        ("Is it a dog?", "dog"),
        ("is it an APPLE", "apple"),
        ("It's an automobile.", "car"),
        ("My guess is: the hot dog!", "hot dog"),
        ("<answer>Puppy</answer>", "dog"),
        ("I think it is a dog. <answer>T-Shirt</answer>", "shirt"),
        ("  yo-yo ", "yo-yo"),
        ("Is it a teddy bear?", "teddy bear"),
        ("Is it orange juice?", "orange juice"),
        ("Is it rice?", "rice"),
    ],
)
def test_guesses_accept_aliases_articles_case_and_punctuation(text, name):
    assert guessed(text) == name


@pytest.mark.parametrize(
    "text, reason",
    [
        ("Is it a mammal or a bird?", "several properties"),
        ("Is it a kitchen tool?", "several properties"),
        ("Is it bigger than a dog?", "only to guess"),
        ("Is it a dog or a cat?", "only to guess"),
        ("Does it grow on a tree?", "only to guess"),
        ("Is it not alive?", "negation"),
        ("Isn't it a mammal?", "negation"),
        ("Is it smaller than a breadbox?", "no property"),
        ("What is it?", "no property"),
        ("", "no property"),
        ("Is it a spaceship?", "no property"),
    ],
)
def test_ambiguous_unknown_and_negated_questions_are_unanswerable(text, reason):
    parsed = PARSER.parse(text)
    assert isinstance(parsed, Unanswerable)
    assert reason in parsed.reason


def test_a_phrase_that_selects_two_things_is_rejected():
    clash = parse_knowledge_base(
        {
            "attributes": [{"id": "flies", "question": "Can it fly?", "keywords": ["fly"]}],
            "objects": [{"name": "fly", "category": "c", "yes": ["flies"]}],
        }
    )
    with pytest.raises(ValueError, match="'fly' would select both"):
        QuestionParser(clash)


# --- the oracle, the reward and the episode --------------------------------------------------


async def test_answers_reward_and_a_right_guess():
    env = agentgym.make(ENV_ID)
    first = await env.reset(options={"object": "dog"})
    assert "Questions left: 20." in first.text
    mammal, fly, wrong, right = await play(env, ["is it a MAMMAL", "Can it fly?", "Is it a cat?", "Is it a puppy?"])
    assert mammal.observation.text == "Q1: Is it a mammal? Yes.\nQuestions left: 19."
    assert fly.observation.text.startswith("Q2: Can it fly? No.")
    assert wrong.observation.text.startswith("Q3: Is it a cat? No, it is not a cat.")
    assert right.observation.text == "Q4: Is it a dog? Yes! It is a dog."
    assert [r.reward for r in (mammal, fly, wrong, right)] == [-1.0, -1.0, -1.0, 0.0]
    assert not any(r.done or r.invalid_action for r in (mammal, fly, wrong))
    assert right.terminated and not right.truncated and right.info["success"] is True


async def test_an_unanswerable_question_is_an_invalid_turn_that_costs_like_any_other():
    env = agentgym.make(ENV_ID)
    await env.reset(options={"object": "whale"})
    result = await env.step("Is it a mammal or a fish?")
    assert result.invalid_action and result.reward == -1.0 and not result.done
    assert result.observation.text.startswith(f"Q1: {UNANSWERABLE} Your question is about several properties")
    assert (await env.step("Is it a fish?")).observation.text.startswith("Q2: Is it a fish? No.")


async def test_the_twentieth_turn_truncates_and_reveals_the_object():
    env = agentgym.make(ENV_ID)
    await env.reset(options={"object": "kite"})
    results = await play(env, ["Is it alive?"] * 20)
    assert not any(r.done for r in results[:-1]) and "success" not in results[-2].info
    last = results[-1]
    assert last.truncated and not last.terminated and last.info["success"] is False
    assert last.observation.text.endswith("No questions left. It was a kite.")
    assert sum(r.reward for r in results) == -20.0


async def test_the_object_comes_from_the_seed_and_unknown_options_are_refused():
    env = agentgym.make(ENV_ID)
    secrets = set()
    for seed in range(10):
        await env.reset(seed=seed)
        secrets.add(env.unwrapped.secret.name)
    assert len(secrets) >= 5
    with pytest.raises(ValueError, match="only 'object'"):
        await env.reset(options={"secret": "dog"})
    with pytest.raises(KeyError):
        await env.reset(options={"object": "spaceship"})


async def test_same_seed_and_actions_give_identical_episodes():
    actions = ["Is it alive?", "Does it have wheels?", "nonsense", "Is it a car?", "Is it round?"]
    runs = []
    for _ in range(2):
        env = agentgym.make(ENV_ID)
        first = await env.reset(seed=7)
        runs.append([first] + [(r.observation, r.reward, r.done, r.info) for r in await play(env, actions)])
    assert runs[0] == runs[1]


async def test_fork_is_an_independent_copy():
    env = agentgym.make(ENV_ID)
    await env.reset(options={"object": "zebra"})
    await env.step("Is it an animal?")
    fork = await env.fork()
    forked = await fork.step("Does it have stripes?")
    original = await env.step("Is it a bird?")
    assert forked.observation.text.startswith("Q2: Does it have stripes? Yes.")
    assert original.observation.text.startswith("Q2: Is it a bird? No.")
    assert "stripes" not in original.observation.anchor and "stripes=yes" in forked.observation.anchor
    assert (await fork.step("Is it a zebra?")).info["success"] is True
    assert not (await env.step("Is it a horse?")).done


# --- the anchor ------------------------------------------------------------------------------


async def anchor_after(actions, thing="dog"):
    env = agentgym.make(ENV_ID)
    observation = await env.reset(options={"object": thing})
    for result in await play(env, actions):
        observation = result.observation
    return observation.anchor


async def test_the_anchor_is_the_object_and_the_established_facts():
    assert await anchor_after(["Is it a mammal?", "Can it fly?", "Is it a cat?"]) == (
        "twentyq dog open [flies=no, mammal=yes, not=cat]"
    )
    # other wordings, another order, a repeat and an invalid turn reach the same state
    assert await anchor_after(["Does it fly?", "blah", "It's a cat", "mammal?", "Is it one of the mammals?"]) == (
        await anchor_after(["Is it a mammal?", "Can it fly?", "Is it a cat?"])
    )
    different = {
        await anchor_after(["Is it a mammal?"]),
        await anchor_after(["Can it fly?"]),
        await anchor_after(["Is it a mammal?"], thing="cat"),
        await anchor_after(["Is it a mammal?", "Is it a dog?"]),
    }
    assert len(different) == 4
    assert await anchor_after(["Is it a dog?"]) == "twentyq dog solved []"


# --- the rules -------------------------------------------------------------------------------


def test_the_system_prompt_lists_every_question_every_object_and_the_limit():
    prompt = agentgym.make(ENV_ID).system_prompt
    assert "You have 20 turns" in prompt and "-1" in prompt and "<answer>dog</answer>" in prompt
    assert all(a.question in prompt for a in KB.attributes)
    assert all(thing.name in prompt for thing in KB.things)


# --- the expert against random questions -----------------------------------------------------


async def test_expert_finds_every_object_within_the_limit():
    env = agentgym.make(ENV_ID)
    turns = []
    for thing in KB.things:
        observation = await env.reset(options={"object": thing.name})
        solver = TwentyQuestionsSolver()
        solver.reset(observation, env.system_prompt)
        turns.append(1)
        while not (result := await env.step(solver.act(observation))).done:
            observation = result.observation
            turns[-1] += 1
        assert result.info["success"], thing.name
    assert sum(turns) / len(turns) <= math.log2(len(KB.things)) + 2  # 9.2 measured; log2(214) + 1 = 8.7


async def test_expert_solves_100_seeds_and_random_does_much_worse(run_agent):
    expert = await run_agent(ENV_ID, lambda seed: TwentyQuestionsSolver(), range(100))
    random = await run_agent(ENV_ID, random_questioner, range(100))
    assert expert.success_rate >= 0.95  # 1.0 measured
    assert expert.mean_return >= -9.0  # -8.57 measured: about log2(214) questions before the right guess
    assert expert.mean_turns <= 10.0  # 9.57 measured
    assert random.success_rate <= 0.25  # 0.02 measured
    assert random.mean_return <= -18.0  # -19.95 measured


async def test_expert_solves_through_a_served_environment(run_agent):
    report = await run_agent(ENV_ID, lambda seed: TwentyQuestionsSolver(), range(20), remote=True)
    assert report.success_rate >= 0.95
    assert all(e.invalid_actions == 0 for e in report.episodes)
