"""Fixtures for trainer tests: a tiny model built once, and real rollout groups played with it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from trainer_support import load_tiny, play_groups  # noqa: E402


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agentgym.policies.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-trainer"))


@pytest.fixture(scope="session")
def sokoban_groups(tiny_dir: Path) -> list:
    model, tokenizer = load_tiny(tiny_dir)
    return play_groups(model, tokenizer, "sokoban-easy-v0", range(4))
