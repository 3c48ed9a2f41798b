"""The registry: register / make / spec / list_envs, kwargs and time-limit overrides, unknown ids
with suggestions, re-registration rules, and the errors of a broken entry point."""

from __future__ import annotations

import pytest
from support import CountingEnv, play

import agentgym
from agentgym import (
    EnvContractError,
    EnvSpec,
    EpisodeGuard,
    RecordEpisode,
    RegistrationError,
    TimeLimit,
    UnknownEnvironment,
)
from agentgym.environments.guess_number import GuessNumberEnv

GUESS_ENTRY_POINT = "agentgym.environments.guess_number:GuessNumberEnv"


def wrapper_chain(env: agentgym.Env) -> list[type]:
    """The classes from the outermost wrapper down to the environment itself."""
    chain = [type(env)]
    while isinstance(env, agentgym.Wrapper):
        env = env.env
        chain.append(type(env))
    return chain


def test_register_spec_list_and_make(scratch_registry):
    registered = scratch_registry("test/counting-v0", CountingEnv, description="counts", start=5)
    assert isinstance(registered, EnvSpec)
    assert agentgym.spec("test/counting-v0") is registered
    ids = [env_spec.id for env_spec in agentgym.list_envs()]
    assert "test/counting-v0" in ids and "guess-number-v0" in ids
    assert ids == sorted(ids)

    env = agentgym.make("test/counting-v0")
    assert wrapper_chain(env) == [EpisodeGuard, CountingEnv]  # no max_turns: no TimeLimit
    assert env.unwrapped.start == 5
    assert env.spec.id == "test/counting-v0" and env.spec.description == "counts"
    assert "test/counting-v0" in repr(env)


def test_guess_number_is_registered_by_the_package_entry_point():
    guess_spec = agentgym.spec("guess-number-v0")
    assert guess_spec.entry_point == GUESS_ENTRY_POINT
    assert guess_spec.max_turns == 10 and guess_spec.capabilities.fork
    env = agentgym.make("guess-number-v0")
    assert wrapper_chain(env) == [EpisodeGuard, TimeLimit, GuessNumberEnv]
    assert env.spec.max_turns == 10


async def test_make_kwargs_override_defaults(scratch_registry):
    scratch_registry("test/guess-small-v0", GUESS_ENTRY_POINT, low=1, high=5)
    env = agentgym.make("test/guess-small-v0", high=9)
    assert (env.unwrapped.low, env.unwrapped.high) == (1, 9)
    assert env.spec.kwargs == {"low": 1, "high": 9}
    assert agentgym.spec("test/guess-small-v0").kwargs == {"low": 1, "high": 5}  # the registry is untouched
    await env.reset(seed=0)
    assert (await env.step("9")).invalid_action is False  # 9 is in range only thanks to the override
    assert agentgym.make("test/guess-small-v0").spec.kwargs == {"low": 1, "high": 5}


def test_make_passes_constructor_errors_through():
    with pytest.raises(ValueError, match="low must be below high"):
        agentgym.make("guess-number-v0", low=5, high=5)


async def test_max_turns_override():
    env = agentgym.make("guess-number-v0", max_turns=2)
    assert env.spec.max_turns == 2
    await env.reset(options={"secret": 100})
    assert [step[4] for step in await play(env, ["1", "1"])] == [False, True]


async def test_max_turns_none_removes_the_limit():
    env = agentgym.make("guess-number-v0", max_turns=None)
    assert env.spec.max_turns is None
    assert TimeLimit not in wrapper_chain(env)
    await env.reset(options={"secret": 100})
    steps = await play(env, ["1"] * 25)  # far past the registered limit of 10
    assert len(steps) == 25 and not any(step[4] for step in steps)


@pytest.mark.parametrize(
    ("typo", "expected"),
    [("guess-numbr-v0", "guess-number-v0"), ("guess-number-v1", "guess-number-v0"), ("Guess-Number-v0", "guess-number-v0")],
)
def test_unknown_id_suggests_the_closest_ids(typo, expected):
    with pytest.raises(UnknownEnvironment) as caught:
        agentgym.make(typo)
    assert isinstance(caught.value, LookupError)
    assert caught.value.env_id == typo
    assert caught.value.suggestions[0] == expected
    assert f"Did you mean: {expected}" in str(caught.value)
    with pytest.raises(LookupError):
        agentgym.spec(typo)


def test_unknown_id_without_close_matches_has_no_suggestions():
    with pytest.raises(UnknownEnvironment) as caught:
        agentgym.spec("zzzzzzzzzzzzzzzzzz-v9")
    assert caught.value.suggestions == []
    assert "Did you mean" not in str(caught.value)


def test_re_registering_the_identical_spec_is_a_no_op(scratch_registry):
    first = scratch_registry("test/counting-v0", CountingEnv, max_turns=4, start=1)
    count = len(agentgym.list_envs())
    again = scratch_registry("test/counting-v0", CountingEnv, max_turns=4, start=1)
    assert again == first
    assert len(agentgym.list_envs()) == count


@pytest.mark.parametrize(
    "changes",
    [{"max_turns": 5}, {"start": 2}, {"description": "other"}, {"entry_point": GUESS_ENTRY_POINT}],
)
def test_a_different_spec_under_a_taken_id_is_rejected(scratch_registry, changes):
    original = scratch_registry("test/counting-v0", CountingEnv, max_turns=4, start=1)
    arguments = {"entry_point": CountingEnv, "max_turns": 4, "start": 1, **changes}
    with pytest.raises(RegistrationError, match="already registered"):
        scratch_registry("test/counting-v0", **arguments)
    assert agentgym.spec("test/counting-v0") is original


@pytest.mark.parametrize(
    "arguments",
    [("no-version", CountingEnv), ("test/bad-v0", "not an entry point"), ("test/bad-v0", "pkg:Cls", {"max_turns": 0})],
)
def test_register_rejects_malformed_specs(scratch_registry, arguments):
    env_id, entry_point, *options = arguments
    with pytest.raises(RegistrationError, match="cannot register"):
        scratch_registry(env_id, entry_point, **(options[0] if options else {}))
    with pytest.raises(UnknownEnvironment):
        agentgym.spec(env_id)


def test_an_unimportable_entry_point_fails_on_make_not_on_register(scratch_registry):
    scratch_registry("test/missing-v0", "agentgym_no_such_module.envs:Env")  # registering is lazy
    with pytest.raises(RegistrationError, match="agentgym_no_such_module") as caught:
        agentgym.make("test/missing-v0")
    assert "pip install 'agentgym[" in str(caught.value)
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_a_missing_attribute_in_the_entry_point_raises_registration_error(scratch_registry):
    scratch_registry("test/missing-v0", "agentgym.environments.guess_number:NoSuchEnv")
    with pytest.raises(RegistrationError, match="does not exist"):
        agentgym.make("test/missing-v0")


def test_a_factory_returning_a_non_env_raises_env_contract_error(scratch_registry):
    scratch_registry("test/not-an-env-v0", lambda: object())
    with pytest.raises(EnvContractError, match="not an agentgym Env"):
        agentgym.make("test/not-an-env-v0")


async def test_a_factory_may_return_a_wrapped_env(scratch_registry):
    scratch_registry("test/recorded-v0", lambda: RecordEpisode(CountingEnv()), max_turns=2)
    env = agentgym.make("test/recorded-v0")
    assert wrapper_chain(env) == [EpisodeGuard, TimeLimit, RecordEpisode, CountingEnv]
    assert env.spec.id == "test/recorded-v0" and env.spec.max_turns == 2
    await env.reset()
    await play(env, ["a", "b"])
    recorder = env.env.env
    assert recorder.current.env_id == "test/recorded-v0"
    assert [turn.action for turn in recorder.current.turns] == ["a", "b"]
