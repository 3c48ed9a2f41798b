"""The policy loss: token-level PPO-clip on the model's own response tokens.

Per response token i of a turn with advantage A (the turn's, broadcast to its tokens):

    ratio_i  = exp(logp_i - logp_old_i)
    pg_i     = -min(ratio_i * A, clip(ratio_i, 1 - eps_low, 1 + eps_high) * A)       (PPO, Schulman et al. 2017)
    kl_i     = exp(ref_i - logp_i) - (ref_i - logp_i) - 1                             (the "k3" estimator of
               KL(pi || pi_ref): unbiased, non-negative, low variance; Schulman 2020, as GRPO/GiGPO use it)
    loss_i   = pg_i + kl_coef * kl_i - entropy_coef * H_i

aggregated as a *token mean*: the sum over every response token of the optimizer step divided by
the number of those tokens. Observation, system-prompt and chat-template tokens are never in
the sum: only `response_ids` are scored (`agentgym.policies.hf.response_logits`), and the mask
zeroes the padding.

Gradient accumulation: an optimizer step over several micro-batches must equal one step over
their union, so each micro-batch's summed loss is divided by the token count of the *whole*
step (`token_total`), never by its own count (which would weigh a short micro-batch's tokens
more).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["LossConfig", "LossTerms", "k3_kl", "policy_loss", "token_entropy"]


@dataclass(frozen=True)
class LossConfig:
    """Coefficients of the loss (defaults: GiGPO's reference settings).

    Fields:
        clip_low / clip_high: the PPO clip range [1 - clip_low, 1 + clip_high] of the ratio.
        kl_coef: weight of the k3 KL penalty to the frozen reference (0 disables it; then no
            reference model is kept).
        entropy_coef: weight of the entropy bonus (subtracted from the loss).
    """

    clip_low: float = 0.2
    clip_high: float = 0.2
    kl_coef: float = 0.01
    entropy_coef: float = 0.001

    def __post_init__(self) -> None:
        if not (0 <= self.clip_low < 1 and self.clip_high >= 0):
            raise ValueError(f"need 0 <= clip_low < 1 and clip_high >= 0, got {self.clip_low}, {self.clip_high}")
        if self.kl_coef < 0 or self.entropy_coef < 0:
            raise ValueError(f"kl_coef and entropy_coef must be >= 0, got {self.kl_coef}, {self.entropy_coef}")


@dataclass
class LossTerms:
    """One micro-batch's loss (to call `.backward()` on) and its summed statistics.

    `loss` is already divided by the step's token total; the `*_sum` fields are sums over this
    micro-batch's response tokens (divide by the step's token total to report means).
    """

    loss: torch.Tensor
    tokens: int
    pg_sum: float
    kl_sum: float
    entropy_sum: float
    clipped_sum: float
    approx_kl_sum: float


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """The entropy of each position's distribution softmax(logits), shape logits.shape[:-1]."""
    logp = logits.log_softmax(dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """The per-token k3 estimate of KL(pi || pi_ref) from samples of pi: exp(d) - d - 1, d = ref - logp."""
    delta = ref_logprobs - logprobs
    return delta.exp() - delta - 1


def policy_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    config: LossConfig,
    *,
    token_total: int,
    ref_logprobs: torch.Tensor | None = None,
) -> LossTerms:
    """The PPO-clip loss of one micro-batch (module doc).

    Args:
        logits: (batch, tokens, vocab) current-policy logits at the response positions, already
            divided by the sampling temperature (`response_logits`).
        targets / mask: (batch, tokens) response token ids and 1/0 for real tokens / padding.
        old_logprobs: (batch, tokens) the behaviour policy's log-probabilities (as recorded by
            the rollout).
        advantages: (batch,) one advantage per turn, or (batch, tokens) per token.
        token_total: response tokens of the whole optimizer step (>= 1), the denominator of the
            token mean.
        ref_logprobs: (batch, tokens) the frozen reference's log-probabilities; required when
            `config.kl_coef > 0`.
    """
    if token_total < 1:
        raise ValueError(f"token_total must be at least 1, got {token_total}")
    if config.kl_coef > 0 and ref_logprobs is None:
        raise ValueError("kl_coef > 0 needs ref_logprobs (the frozen reference's log-probabilities)")
    logp_all = logits.log_softmax(dim=-1)
    logprobs = logp_all.gather(-1, targets[..., None]).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(dim=-1)
    if advantages.dim() == 1:
        advantages = advantages[:, None].expand_as(logprobs)

    log_ratio = (logprobs - old_logprobs) * mask
    ratio = log_ratio.exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - config.clip_low, 1 + config.clip_high) * advantages
    pg = -torch.minimum(unclipped, clipped)
    per_token = pg - config.entropy_coef * entropy
    kl = torch.zeros_like(pg)
    if ref_logprobs is not None:
        kl = k3_kl(logprobs, ref_logprobs)
        per_token = per_token + config.kl_coef * kl
    loss = (per_token * mask).sum() / token_total

    with torch.no_grad():
        was_clipped = (clipped < unclipped).float()  # the clip bound was active (its gradient is 0)
        return LossTerms(
            loss=loss,
            tokens=int(mask.sum().item()),
            pg_sum=float((pg * mask).sum()),
            kl_sum=float((kl * mask).sum()),
            entropy_sum=float((entropy * mask).sum()),
            clipped_sum=float((was_clipped * mask).sum()),
            approx_kl_sum=float((((ratio - 1) - log_ratio) * mask).sum()),
        )
