"""The PPO-clip loss: hand-computed values, the clip, k3 KL, the entropy bonus, token-mean and
gradient accumulation."""

from __future__ import annotations

import math

import pytest
import torch

from agentgym.trainers.loss import LossConfig, k3_kl, policy_loss, token_entropy


def _logits_for(logprobs: list[list[float]], vocab: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits whose target token (id 0) has exactly the given log-probabilities."""
    rows = []
    for row in logprobs:
        cells = []
        for lp in row:
            p = math.exp(lp)
            rest = (1 - p) / (vocab - 1)
            cells.append([lp] + [math.log(rest)] * (vocab - 1))
        rows.append(cells)
    logits = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    return logits, torch.zeros(logits.shape[:2], dtype=torch.long)


def test_unclipped_and_clipped_terms_match_a_hand_computation() -> None:
    # two tokens: ratio 1.5 with A = +1 (clipped at 1.2), ratio 0.5 with A = -1 (clipped at 0.8)
    logits, targets = _logits_for([[math.log(0.6), math.log(0.2)]])
    old = torch.tensor([[math.log(0.4), math.log(0.4)]], dtype=torch.float64)
    mask = torch.ones(1, 2, dtype=torch.float64)
    config = LossConfig(kl_coef=0.0, entropy_coef=0.0)
    advantages = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    terms = policy_loss(logits, targets, mask, old, advantages, config, token_total=2)
    # token 1: -min(1.5, 1.2) = -1.2; token 2: -min(-0.5, -0.8) = 0.8
    assert terms.loss.item() == pytest.approx((-1.2 + 0.8) / 2)
    assert terms.clipped_sum == 2.0
    terms.loss.backward()
    assert torch.count_nonzero(logits.grad) == 0  # both tokens clipped: no gradient


def test_inside_the_clip_range_the_gradient_is_the_policy_gradient() -> None:
    logits, targets = _logits_for([[math.log(0.5)]])
    old = torch.tensor([[math.log(0.5)]], dtype=torch.float64)
    terms = policy_loss(
        logits, targets, torch.ones(1, 1, dtype=torch.float64), old, torch.tensor([2.0], dtype=torch.float64),
        LossConfig(kl_coef=0.0, entropy_coef=0.0), token_total=1,
    )
    assert terms.loss.item() == pytest.approx(-2.0)
    assert terms.clipped_sum == 0.0
    terms.loss.backward()
    probs = torch.softmax(logits.detach(), -1)[0, 0]
    expected = -2.0 * (torch.nn.functional.one_hot(torch.tensor(0), 3).double() - probs)  # -A * d logp / d logits
    assert torch.allclose(logits.grad[0, 0], expected)


def test_k3_kl_is_exact_formula_zero_at_equality_and_non_negative() -> None:
    logp = torch.tensor([-1.0, -2.0, -0.5])
    ref = torch.tensor([-1.0, -1.0, -3.0])
    expected = torch.tensor([0.0, math.exp(1) - 1 - 1, math.exp(-2.5) + 2.5 - 1])
    assert torch.allclose(k3_kl(logp, ref), expected)
    assert (k3_kl(torch.randn(100), torch.randn(100)) >= 0).all()


def test_kl_and_entropy_terms_enter_with_their_coefficients() -> None:
    logits = torch.randn(2, 3, 5, dtype=torch.float64)
    targets = torch.randint(0, 5, (2, 3))
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.float64)
    logp = logits.log_softmax(-1).gather(-1, targets[..., None]).squeeze(-1)
    ref = logp + 0.3
    base = policy_loss(logits, targets, mask, logp, torch.zeros(2, dtype=torch.float64), LossConfig(kl_coef=0, entropy_coef=0), token_total=4, ref_logprobs=ref)
    assert base.loss.item() == pytest.approx(0.0)  # zero advantage, no penalties
    full = policy_loss(logits, targets, mask, logp, torch.zeros(2, dtype=torch.float64), LossConfig(kl_coef=0.5, entropy_coef=0.1), token_total=4, ref_logprobs=ref)
    kl = ((k3_kl(logp, ref)) * mask).sum() / 4
    entropy = (token_entropy(logits) * mask).sum() / 4
    assert full.loss.item() == pytest.approx((0.5 * kl - 0.1 * entropy).item())


def test_padding_never_counts() -> None:
    logits = torch.randn(1, 3, 4, dtype=torch.float64)
    targets = torch.tensor([[1, 2, 3]])
    old = logits.log_softmax(-1).gather(-1, targets[..., None]).squeeze(-1)
    mask = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    config = LossConfig(kl_coef=0.0, entropy_coef=0.01)
    a = policy_loss(logits, targets, mask, old, torch.tensor([1.0], dtype=torch.float64), config, token_total=1)
    garbage = logits.clone()
    garbage[0, 1:] = 100 * torch.randn(2, 4, dtype=torch.float64)  # padding positions change wildly
    b = policy_loss(garbage, targets, mask, old, torch.tensor([1.0], dtype=torch.float64), config, token_total=1)
    assert a.loss.item() == pytest.approx(b.loss.item())
    assert a.tokens == 1


def test_accumulated_micro_batches_equal_one_batch() -> None:
    """Token-mean over the whole step: micro-batches of unequal token counts add up to the
    gradient of the single batch (normalising per micro-batch would not)."""
    torch.manual_seed(0)
    weights = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    features = torch.randn(3, 5, 4, dtype=torch.float64)
    targets = torch.randint(0, 6, (3, 5))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0]], dtype=torch.float64)
    old = torch.randn(3, 5, dtype=torch.float64) - 2
    advantages = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    config = LossConfig(kl_coef=0.0, entropy_coef=0.01)
    total = int(mask.sum())

    policy_loss(features @ weights, targets, mask, old, advantages, config, token_total=total).loss.backward()
    whole = weights.grad.clone()
    weights.grad = None
    for rows in (slice(0, 1), slice(1, 3)):
        policy_loss(features[rows] @ weights, targets[rows], mask[rows], old[rows], advantages[rows], config, token_total=total).loss.backward()
    assert torch.allclose(weights.grad, whole, atol=1e-12)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="clip_low"):
        LossConfig(clip_low=1.5)
    logits = torch.zeros(1, 1, 2)
    with pytest.raises(ValueError, match="ref_logprobs"):
        policy_loss(logits, torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1), torch.zeros(1, 1), torch.zeros(1), LossConfig(kl_coef=0.1), token_total=1)
    with pytest.raises(ValueError, match="token_total"):
        policy_loss(logits, torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1), torch.zeros(1, 1), torch.zeros(1), LossConfig(kl_coef=0.0), token_total=0)
