"""The learner: each algorithm's step on real rollouts, the response-only loss, gradient
accumulation, and bit-identical resumption from a checkpoint."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import torch
from trainer_support import load_tiny, play_groups

from agentgym.trainers.config import TrainConfig
from agentgym.trainers.trainer import Trainer


def make_config(algorithm: str = "gigpo", **sections: Any) -> TrainConfig:
    data: dict[str, Any] = {
        "algorithm": algorithm,
        "env": {"id": "sokoban-easy-v0"},
        "model": {"device": "cpu"},
        "rollout": {"max_response_tokens": 6, "temperature": 1.0},
        "optim": {"lr": 1e-3, "micro_batch_size": 4, "mini_batches": 2},
        "archer": {"critic": {"critic_steps": 2, "critic_batch_size": 8, "warmup_iterations": 1}},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return TrainConfig.model_validate(data)


def make_trainer(tiny_dir: Path, config: TrainConfig) -> Trainer:
    model, tokenizer = load_tiny(tiny_dir)
    return Trainer(config, model, tokenizer)


def parameters(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in trainer.model.named_parameters()}


@pytest.mark.parametrize("algorithm", ["grpo", "gigpo"])
def test_a_step_updates_the_model_and_reports_metrics(tiny_dir: Path, sokoban_groups: list, algorithm: str) -> None:
    trainer = make_trainer(tiny_dir, make_config(algorithm))
    before = parameters(trainer)
    metrics = trainer.train_step(sokoban_groups)
    after = parameters(trainer)
    assert any(not torch.equal(before[name], after[name]) for name in before)
    assert metrics["step"] == 1 and trainer.step == 1
    for key in ("rollout/success", "rollout/return", "advantage/mean", "update/kl", "update/entropy", "update/clip_fraction", "update/grad_norm", "time/update_s"):
        assert key in metrics, key
    assert metrics["update/optimizer_steps"] == 2  # mini_batches
    if algorithm == "gigpo":
        assert 0 <= metrics["gigpo/singleton_share"] <= 1


def test_archer_trains_only_the_critic_during_warm_up(tiny_dir: Path, sokoban_groups: list) -> None:
    trainer = make_trainer(tiny_dir, make_config("archer"))
    before = parameters(trainer)
    warm = trainer.train_step(sokoban_groups)
    assert warm["archer/warming_up"] == 1.0 and "update/tokens" not in warm
    assert all(torch.equal(before[name], p) for name, p in parameters(trainer).items())
    assert warm["archer/buffer"] == sum(len(t.turns) for g in sokoban_groups for t in g.completed)
    actor = trainer.train_step(sokoban_groups)
    assert actor["update/tokens"] > 0 and "advantage/mean" in actor
    assert any(not torch.equal(before[name], p) for name, p in parameters(trainer).items())


def test_the_loss_sees_only_response_tokens(tiny_dir: Path, sokoban_groups: list) -> None:
    """Every position the loss scores predicts a response token; none predicts a prompt token."""
    trainer = make_trainer(tiny_dir, make_config("grpo", optim={"mini_batches": 1, "micro_batch_size": 64}))
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def record(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        calls.append((kwargs["input_ids"].clone(), kwargs["logits_to_keep"].clone()))

    handle = trainer.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        metrics = trainer.train_step(sokoban_groups)
    finally:
        handle.remove()
    turns = [turn for g in sokoban_groups for t in g.completed for turn in t.turns]
    assert metrics["update/tokens"] == sum(len(turn.response_ids) for turn in turns)
    (input_ids, keep), = calls
    responses = {tuple(turn.response_ids) for turn in turns}
    for row in input_ids.tolist():
        scored = [row[position + 1] for position in keep.tolist()]  # the tokens the kept logits predict
        prompt_end = keep[0].item() + 1
        assert any(tuple(scored[: len(r)]) == r for r in responses)
        assert all(position + 1 >= prompt_end for position in keep.tolist())
    observation_text = turns[0].observation
    assert observation_text not in trainer.tokenizer.decode([t for turn in turns for t in turn.response_ids])


def test_micro_batch_size_does_not_change_the_update(tiny_dir: Path, sokoban_groups: list) -> None:
    results = []
    for micro in (1, 64):
        trainer = make_trainer(tiny_dir, make_config("grpo", optim={"micro_batch_size": micro, "mini_batches": 1, "max_grad_norm": None}))
        trainer.train_step(sokoban_groups)
        results.append(parameters(trainer))
    for name in results[0]:
        assert torch.allclose(results[0][name], results[1][name], atol=1e-6), name


@pytest.mark.parametrize(
    "algorithm, sections",
    [("gigpo", {"loss": {"kl_coef": 0.05}}), ("archer", {})],
    ids=["gigpo-with-kl-reference", "archer-with-critics"],
)
def test_resuming_gives_a_bit_identical_next_step(tiny_dir: Path, sokoban_groups: list, algorithm: str, sections: dict) -> None:
    config = make_config(algorithm, **sections)
    first, second = sokoban_groups[:2], sokoban_groups[2:]
    live = make_trainer(tiny_dir, config)
    live.train_step(first)
    buffer = io.BytesIO()
    torch.save(live.state_dict(), buffer)
    live_metrics = live.train_step(second)
    live_metrics_2 = live.train_step(first)

    buffer.seek(0)
    resumed = make_trainer(tiny_dir, config)
    torch.manual_seed(1234)  # a different RNG state before loading: the checkpoint must restore it
    resumed.load_state_dict(torch.load(buffer, weights_only=False))
    resumed_metrics = resumed.train_step(second)
    resumed_metrics_2 = resumed.train_step(first)

    for name, value in parameters(live).items():
        assert torch.equal(value, dict(resumed.model.named_parameters())[name].detach()), name
    timing = {key for key in live_metrics if key.startswith("time/")}
    assert {k: v for k, v in live_metrics.items() if k not in timing} == {k: v for k, v in resumed_metrics.items() if k not in timing}
    assert {k: v for k, v in live_metrics_2.items() if k not in timing} == {k: v for k, v in resumed_metrics_2.items() if k not in timing}
    live_state, resumed_state = live.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(live_state[i]["exp_avg"], resumed_state[i]["exp_avg"]) for i in live_state)


def test_igpo_step_uses_the_ground_truth(tiny_dir: Path) -> None:
    model, tokenizer = load_tiny(tiny_dir)
    groups = play_groups(model, tokenizer, "guess-number-v0", range(2), group_size=3, max_turns=3)
    assert all(t.ground_truth is not None for g in groups for t in g.completed)
    trainer = Trainer(make_config("igpo"), model, tokenizer)
    metrics = trainer.train_step(groups)
    assert metrics["update/tokens"] > 0
    if any(len(t.turns) > 1 for g in groups for t in g.completed):
        assert "igpo/gain/mean" in metrics


def test_an_empty_batch_is_refused(tiny_dir: Path, sokoban_groups: list) -> None:
    trainer = make_trainer(tiny_dir, make_config("grpo"))
    empty = [g.model_copy(update={"trajectories": []}) for g in sokoban_groups]
    with pytest.raises(ValueError, match="no.*completed turn|none of the"):
        trainer.train_step(empty)


def test_a_checkpoint_of_another_algorithm_is_refused(tiny_dir: Path, sokoban_groups: list) -> None:
    archer = make_trainer(tiny_dir, make_config("archer"))
    state = archer.state_dict()
    grpo = make_trainer(tiny_dir, make_config("grpo", loss={"kl_coef": 0.0}))
    with pytest.raises(ValueError, match="ArCHer"):
        grpo.load_state_dict(state)


def test_updates_raise_the_probability_of_advantaged_responses(tiny_dir: Path, sokoban_groups: list) -> None:
    """The sign of learning: a few updates on one batch make the turns with a positive advantage
    more likely and those with a negative one less likely."""
    from agentgym.policies.hf import score_batch
    from agentgym.trainers.advantages import grpo_advantages
    from agentgym.trainers.steps import StepTable

    groups = [group.model_copy(deep=True) for group in sokoban_groups]
    for group in groups:  # distinct returns within each group: episode j of a group earns j
        for j, trajectory in enumerate(group.completed):
            for turn in trajectory.turns:
                turn.reward = j / len(trajectory.turns)
    table = StepTable.from_groups(groups)
    advantages = grpo_advantages(table)
    turns = [turn for g in groups for t in g.completed for turn in t.turns]
    assert (advantages > 0).any() and (advantages < 0).any()
    trainer = make_trainer(tiny_dir, make_config("grpo", optim={"lr": 3e-3, "epochs": 4, "mini_batches": 1, "micro_batch_size": 64}, loss={"kl_coef": 0.0, "entropy_coef": 0.0, "clip_low": 10.0 / 11, "clip_high": 10.0}))

    def total_logprob() -> list[float]:
        return [sum(s) for s in score_batch(trainer.model, [t.prompt_ids for t in turns], [t.response_ids for t in turns])]

    before = total_logprob()
    trainer.train_step(groups)
    after = total_logprob()
    change = [a - b for a, b in zip(after, before, strict=True)]
    up = [c for c, a in zip(change, advantages, strict=True) if a > 0]
    down = [c for c, a in zip(change, advantages, strict=True) if a < 0]
    assert sum(up) / len(up) > 0 > sum(down) / len(down)
