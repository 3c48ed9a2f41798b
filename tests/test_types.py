"""The value types of the Env API: Observation (anchor, PNG images, tools, JSON), Tool schemas,
StepResult and EnvSpec validation and serialisation."""

from __future__ import annotations

import base64
import json
import math
import struct
import zlib

import pytest
from pydantic import ValidationError

from agentgym import Capabilities, EnvSpec, Observation, StepResult, Tool
from agentgym.environments.guess_number import GuessNumberEnv
from agentgym.types import PNG_SIGNATURE


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.fixture(scope="module")
def tiny_png() -> bytes:
    """A valid 1x1 red RGB PNG, built by hand."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # width, height, bit depth, RGB, defaults
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte 0, then one RGB pixel
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", pixels) + png_chunk(b"IEND", b"")


SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the corpus",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}


# --- Observation ---------------------------------------------------------------------------


def test_anchor_defaults_to_text():
    assert Observation(text="You are in a maze.").anchor == "You are in a maze."


@pytest.mark.parametrize("anchor", ["room:3", ""])
def test_explicit_anchor_is_kept(anchor):
    observation = Observation(text="Nothing happens.", anchor=anchor)
    assert observation.anchor == anchor
    assert observation.text == "Nothing happens."


def test_observation_is_frozen_and_strict_about_fields():
    observation = Observation(text="a")
    with pytest.raises(ValidationError):
        observation.text = "b"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        Observation(text="a", reward=1.0)  # type: ignore[call-arg]


def test_png_images_are_accepted(tiny_png):
    observation = Observation(text="look", images=[tiny_png, tiny_png])
    assert observation.images == (tiny_png, tiny_png)


@pytest.mark.parametrize(
    "image",
    [b"\xff\xd8\xff\xe0\x00\x10JFIF", b"GIF89a\x01\x00", b"", b"\x89PNG"],
    ids=["jpeg", "gif", "empty", "truncated-signature"],
)
def test_non_png_images_are_rejected_with_a_clear_message(tiny_png, image):
    with pytest.raises(ValidationError, match=r"images\[1\] is not PNG data") as caught:
        Observation(text="look", images=[tiny_png, image])
    assert "PNG bytes" in str(caught.value)


def test_observation_json_round_trip_with_images_and_tools(tiny_png):
    observation = Observation(
        text="a red pixel", images=[tiny_png], tools=[SEARCH_TOOL], anchor="pixel", metadata={"step": 3}
    )
    dumped = observation.model_dump_json()
    (encoded,) = json.loads(dumped)["images"]
    assert "/" in encoded  # this PNG's encoding tells the standard alphabet from the URL-safe one
    assert base64.b64decode(encoded, validate=True) == tiny_png  # standard base64, as any client decodes it
    restored = Observation.model_validate_json(dumped)
    assert restored == observation
    assert restored.images[0] == tiny_png
    assert observation.model_dump()["images"] == (tiny_png,)  # Python mode keeps raw bytes


def test_observation_json_accepts_url_safe_base64(tiny_png):
    encoded = base64.urlsafe_b64encode(tiny_png).decode()
    assert Observation.model_validate_json(json.dumps({"text": "x", "images": [encoded]})).images == (tiny_png,)


def test_json_without_anchor_defaults_it_to_text():
    assert Observation.model_validate_json('{"text": "hi"}').anchor == "hi"


# --- tools ---------------------------------------------------------------------------------


def test_tools_validate_from_openai_function_dicts():
    observation = Observation(text="use a tool", tools=[SEARCH_TOOL, {"function": {"name": "finish"}}])
    search, finish = observation.tools
    assert isinstance(search, Tool) and search.function.name == "search"
    assert search.function.parameters["required"] == ["query"]
    assert finish.type == "function"
    assert finish.function.parameters == {"type": "object", "properties": {}}
    assert search.model_dump() == SEARCH_TOOL


@pytest.mark.parametrize("name", ["", "two words", "dotted.name", "x" * 65, "naïve"])
def test_bad_tool_names_are_rejected(name):
    with pytest.raises(ValidationError, match="name"):
        Tool.model_validate({"type": "function", "function": {"name": name}})


def test_non_function_tools_are_rejected():
    with pytest.raises(ValidationError):
        Tool.model_validate({"type": "retrieval", "function": {"name": "search"}})
    with pytest.raises(ValidationError):
        Tool.model_validate({"function": {"name": "search", "strict_mode": True}})


# --- StepResult ----------------------------------------------------------------------------


@pytest.mark.parametrize("reward", [math.nan, math.inf, -math.inf])
def test_step_result_rejects_non_finite_rewards(reward):
    with pytest.raises(ValidationError, match="finite"):
        StepResult(observation=Observation(text="x"), reward=reward)


def test_step_result_defaults_and_flags():
    result = StepResult(observation={"text": "x"})
    assert (result.reward, result.terminated, result.truncated, result.done, result.invalid_action) == (
        0.0, False, False, False, False
    )
    assert StepResult(observation={"text": "x"}, truncated=True).done
    assert StepResult(observation={"text": "x"}, info={"invalid_action": True}).invalid_action


# --- EnvSpec -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_id", "namespace", "name", "version"),
    [("guess-number-v0", None, "guess-number", 0), ("my.pkg/web-shop-v12", "my.pkg", "web-shop", 12)],
)
def test_env_spec_parses_versioned_ids(env_id, namespace, name, version):
    env_spec = EnvSpec(id=env_id, entry_point="pkg.module:Env")
    assert (env_spec.namespace, env_spec.name, env_spec.version) == (namespace, name, version)


@pytest.mark.parametrize("env_id", ["guess-number", "guess-number-v", "guess-number-vX", "-v0", "/x-v0", "a b-v0", "a/b/c-v0"])
def test_env_spec_rejects_ids_without_a_version(env_id):
    with pytest.raises(ValidationError, match="must look like 'name-v0'"):
        EnvSpec(id=env_id, entry_point="pkg.module:Env")


@pytest.mark.parametrize("entry_point", ["pkg.module", "pkg.module:", ":Env", "pkg module:Env", "pkg-x:Env", "a:b:c"])
def test_env_spec_rejects_bad_entry_point_strings(entry_point):
    with pytest.raises(ValidationError, match="must look like 'package.module:ClassName'"):
        EnvSpec(id="x-v0", entry_point=entry_point)


def test_env_spec_rejects_a_non_positive_time_limit():
    with pytest.raises(ValidationError, match="max_turns"):
        EnvSpec(id="x-v0", entry_point="pkg.module:Env", max_turns=0)


def test_callable_entry_point_serialises_as_module_and_qualname():
    def factory() -> GuessNumberEnv:
        return GuessNumberEnv()

    for entry_point, expected in [
        (GuessNumberEnv, "agentgym.environments.guess_number:GuessNumberEnv"),
        (factory, f"{__name__}:test_callable_entry_point_serialises_as_module_and_qualname.<locals>.factory"),
        ("pkg.module:Outer.Inner", "pkg.module:Outer.Inner"),
    ]:
        env_spec = EnvSpec(id="x-v0", entry_point=entry_point, capabilities=Capabilities(fork=True))
        assert env_spec.model_dump()["entry_point"] == expected
        dumped = json.loads(env_spec.model_dump_json())
        assert dumped["entry_point"] == expected
        assert dumped["capabilities"] == {"fork": True, "images": False, "tools": False}
