"""The learner: one training step from a batch of rollout groups, and its exact checkpoint.

`Trainer.train_step(groups)` is a deterministic function of the trainer's state and the batch
(on CPU): advantages by the configured algorithm, then PPO-clip updates over the response
tokens (`agentgym.trainers.loss`). Everything that step reads or changes is in
`Trainer.state_dict()`: the model, the optimizer, the frozen reference, ArCHer's critics and
replay buffer, the step counter and every random generator (Python's, NumPy's, torch's CPU and
CUDA ones). So a run resumed from a checkpoint takes a bit-identical next step on CPU.

Algorithms (advantage per turn, broadcast to the turn's response tokens):

| algorithm | advantage |
|---|---|
| grpo | `grpo_advantages`: the episode's group-normalised return |
| gigpo | `gigpo_advantages`: episode advantage + omega * anchor-group step advantage (arXiv 2505.10978) |
| igpo | `igpo_advantages` over information-gain turn rewards from the current model (arXiv 2510.14967) |
| archer | min(Q1, Q2)(s, a) - min(V1, V2)(s) from the utterance-level critics, trained off-policy first (arXiv 2402.19446) |
"""

from __future__ import annotations

import contextlib
import copy
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agentgym.policies.hf import model_end_tokens, response_logits, response_logprobs
from agentgym.rollout.run import RolloutSummary
from agentgym.rollout.types import Group, Turn
from agentgym.trainers.advantages import gigpo_advantages, grpo_advantages, igpo_advantages
from agentgym.trainers.config import TrainConfig
from agentgym.trainers.loss import LossConfig, policy_loss
from agentgym.trainers.steps import StepTable, trainable_trajectories

__all__ = ["Trainer", "resolve_device"]


def resolve_device(config: TrainConfig) -> tuple[torch.device, torch.dtype | None]:
    """(device, autocast dtype or None) for the model section: CUDA when asked or available,
    bfloat16 autocast on a GPU that supports it unless float32 is asked for."""
    name = config.model.device
    device = torch.device("cuda" if name == "auto" and torch.cuda.is_available() else ("cpu" if name == "auto" else name))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"model.device is {name!r} but CUDA is not available here; use 'auto' or 'cpu'")
    wants_bf16 = config.model.dtype == "bfloat16" or (
        config.model.dtype == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()
    )
    return device, (torch.bfloat16 if wants_bf16 else None)


@dataclass(frozen=True)
class _Sample:
    """One turn to train on: its tokens, the behaviour policy's log-probabilities, its advantage."""

    prompt: list[int]
    response: list[int]
    old_logprobs: list[float]
    advantage: float


class Trainer:
    """Owns the model being trained and everything a training step changes.

    Args:
        config: the run's configuration (algorithm, optimizer, loss and algorithm sections).
        model: a causal LM (`AutoModelForCausalLM`), trained in place on `device`.
        tokenizer: its tokenizer (IGPO scores ground truths with it; ArCHer samples with it).

    The device and the autocast dtype come from `config.model` (`resolve_device`).

    Attributes:
        step: training steps taken (the number of `train_step` calls that updated or, for
            ArCHer's warm-up, trained the critic).
        reference: the frozen reference model of the KL penalty (None when `kl_coef` is 0);
            `freeze_reference()` copies the current weights into it.
        archer: ArCHer's critic learner (None for the other algorithms).
    """

    def __init__(self, config: TrainConfig, model: Any, tokenizer: Any):
        self.config = config
        self.device, self.autocast_dtype = resolve_device(config)
        # eval mode throughout: dropout would make the PPO ratio and the KL noisy on-policy
        # (gradients flow in eval mode all the same)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        optim = config.optim
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=optim.lr, betas=optim.betas, weight_decay=optim.weight_decay
        )
        warmup = optim.warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda done: min(1.0, (done + 1) / (warmup + 1))
        )
        self.loss_config = LossConfig(**config.loss.model_dump())
        self.step = 0
        self.rng = np.random.default_rng(config.seed)
        random.seed(config.seed)
        torch.manual_seed(config.seed)
        self.reference: Any = None
        self.freeze_reference()
        self.archer = None
        if config.algorithm == "archer":
            from agentgym.trainers.archer import ArcherConfig, ArcherLearner

            vocab = self.model.get_output_embeddings().weight.shape[0]
            self.archer = ArcherLearner(
                vocab, ArcherConfig(**config.archer.critic), device=str(self.device), seed=config.seed
            )
        self.end_tokens = sorted(model_end_tokens(self.model, tokenizer))

    def freeze_reference(self) -> None:
        """Make the current weights the KL penalty's frozen reference (no-op when kl_coef is 0)."""
        if self.loss_config.kl_coef == 0:
            return
        self.reference = copy.deepcopy(self.model).eval().requires_grad_(False)

    # -- one step -----------------------------------------------------------------------------

    def train_step(self, groups: Sequence[Group]) -> dict[str, float]:
        """Compute advantages for `groups` and update the model; returns the step's metrics.

        Raises:
            ValueError: no group has a completed turn to train on.
        """
        table = StepTable.from_groups(groups)
        if table.n_steps == 0:
            raise ValueError(f"none of the {len(groups)} groups has a completed turn to train on")
        metrics = rollout_metrics(groups)
        turns = [turn for group in groups for t in trainable_trajectories(group) for turn in t.turns]  # table order
        started = time.perf_counter()
        advantages, extra = self._advantages(groups, table, turns)
        metrics.update(extra)
        metrics["time/advantages_s"] = time.perf_counter() - started
        if advantages is not None:
            metrics.update(_stats("advantage", advantages))
            samples = [
                _Sample(turn.prompt_ids, turn.response_ids, turn.response_logprobs, float(a))
                for turn, a in zip(turns, advantages, strict=True)
                if turn.response_ids
            ]
            started = time.perf_counter()
            metrics.update(self._update(samples))
            metrics["time/update_s"] = time.perf_counter() - started
        self.step += 1
        metrics["step"] = self.step
        return metrics

    def _advantages(
        self, groups: Sequence[Group], table: StepTable, turns: list[Turn]
    ) -> tuple[np.ndarray | None, dict[str, float]]:
        """Per-step advantages (None: ArCHer's critic warm-up, no actor update) and metrics."""
        algorithm = self.config.algorithm
        if algorithm == "grpo":
            return grpo_advantages(table, normalization=self.config.grpo.normalization), {}
        if algorithm == "gigpo":
            section = self.config.gigpo
            result = gigpo_advantages(
                table,
                gamma=section.gamma,
                omega=section.omega,
                normalization=section.normalization,
                invalid_penalty=section.invalid_penalty,
                episode_weighting=section.episode_weighting,
            )
            stats = result.group_stats()
            return result.advantage, {
                "gigpo/step_groups": float(stats.n_groups),
                "gigpo/singleton_share": stats.singleton_fraction,
                "gigpo/mean_step_group_size": stats.n_steps / max(stats.n_groups, 1),
                "gigpo/max_step_group_size": float(max(stats.size_counts, default=0)),
            }
        if algorithm == "igpo":
            from agentgym.trainers.igpo import information_gain_rewards

            section = self.config.igpo
            with self._autocast():
                gains = information_gain_rewards(
                    self.model, self.tokenizer, groups, answer_prefix=section.answer_prefix, variant=section.variant
                )
            finite = gains[np.isfinite(gains)]
            advantages = igpo_advantages(
                table, gains, gamma=section.gamma, pooling=section.pooling, normalization=section.normalization
            )
            return advantages, _stats("igpo/gain", finite) if finite.size else {}
        return self._archer_advantages(groups, turns)

    def _archer_advantages(self, groups: Sequence[Group], turns: list[Turn]) -> tuple[np.ndarray | None, dict[str, float]]:
        assert self.archer is not None
        added = self.archer.add(groups)
        sampler = self._sample_actions if self.config.archer.fresh_actions else None
        critic = self.archer.train_critic(sample_actions=sampler)
        metrics = {f"archer/{key}": float(value) for key, value in critic.items()}
        metrics["archer/buffer"] = float(len(self.archer.buffer))
        metrics["archer/added"] = float(added)
        if not self.archer.actor_ready:
            metrics["archer/warming_up"] = 1.0
            return None, metrics
        advantages = self.archer.advantages([t.prompt_ids for t in turns], [t.response_ids for t in turns])
        return advantages, metrics

    @torch.no_grad()
    def _sample_actions(self, states: list[list[int]]) -> list[list[int]]:
        """Fresh responses from the current model for ArCHer's V target (torch's generator),
        sampled as the rollout samples: plain temperature sampling, whatever the model's own
        generation config says about top-p or repetition penalties."""
        from transformers import GenerationConfig

        width = max(len(s) for s in states)
        pad = self.end_tokens[0]
        input_ids = torch.tensor([[pad] * (width - len(s)) + list(s) for s in states], device=self.device)
        attention = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in states], device=self.device)
        sampling = GenerationConfig(
            do_sample=True,
            temperature=self.config.rollout.temperature,
            top_k=0,
            top_p=1.0,
            max_new_tokens=self.config.rollout.max_response_tokens,
            eos_token_id=self.end_tokens,
            pad_token_id=pad,
        )
        with self._autocast():
            output = self.model.generate(input_ids=input_ids, attention_mask=attention, generation_config=sampling)
        actions = []
        for row in output[:, width:].tolist():
            ends = [i for i, token in enumerate(row) if token in self.end_tokens]
            actions.append(row[: ends[0] + 1] if ends else row)
        return actions

    # -- the update ---------------------------------------------------------------------------

    def _update(self, samples: list[_Sample]) -> dict[str, float]:
        """`epochs` passes over `samples`, each split into `mini_batches` optimizer steps of
        accumulated micro-batches (see `agentgym.trainers.loss` for the normalisation)."""
        optim = self.config.optim
        sums = {"pg": 0.0, "kl": 0.0, "entropy": 0.0, "clipped": 0.0, "approx_kl": 0.0, "loss": 0.0}
        tokens_seen = 0
        grad_norms = []
        lr = self.scheduler.get_last_lr()[0]  # the rate of this step's first optimizer step
        for _ in range(optim.epochs):
            order = self.rng.permutation(len(samples))
            for part in np.array_split(order, optim.mini_batches):
                chunk = [samples[i] for i in part]
                token_total = sum(len(s.response) for s in chunk)
                if token_total == 0:
                    continue
                self.optimizer.zero_grad(set_to_none=True)
                for micro in _chunks(chunk, optim.micro_batch_size):
                    terms = self._micro_batch_loss(micro, token_total)
                    terms.loss.backward()
                    sums["pg"] += terms.pg_sum
                    sums["kl"] += terms.kl_sum
                    sums["entropy"] += terms.entropy_sum
                    sums["clipped"] += terms.clipped_sum
                    sums["approx_kl"] += terms.approx_kl_sum
                    sums["loss"] += float(terms.loss.detach()) * token_total
                    tokens_seen += terms.tokens
                grad_norms.append(self._clip_and_step())
        if tokens_seen == 0:
            return {"update/tokens": 0.0}
        metrics = {f"update/{name}": value / tokens_seen for name, value in sums.items()}
        metrics["update/clip_fraction"] = metrics.pop("update/clipped")
        metrics["update/tokens"] = float(tokens_seen)
        metrics["update/grad_norm"] = float(np.mean(grad_norms))
        metrics["update/optimizer_steps"] = float(len(grad_norms))
        metrics["update/lr"] = lr
        return metrics

    def _micro_batch_loss(self, micro: list[_Sample], token_total: int) -> Any:
        prompts = [s.prompt for s in micro]
        responses = [s.response for s in micro]
        temperature = self.config.rollout.temperature
        with self._autocast():
            logits, targets, mask = response_logits(self.model, prompts, responses, temperature)
            ref_logprobs = None
            if self.reference is not None:
                with torch.no_grad():
                    ref_logprobs, _ = response_logprobs(self.reference, prompts, responses, temperature)
        width = targets.shape[1]
        old = torch.tensor(
            [list(s.old_logprobs) + [0.0] * (width - len(s.old_logprobs)) for s in micro], device=self.device
        )
        advantages = torch.tensor([s.advantage for s in micro], dtype=torch.float32, device=self.device)
        return policy_loss(
            logits, targets, mask, old, advantages, self.loss_config, token_total=token_total, ref_logprobs=ref_logprobs
        )

    def _clip_and_step(self) -> float:
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        max_norm = self.config.optim.max_grad_norm
        norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm if max_norm is not None else float("inf"))
        self.optimizer.step()
        self.scheduler.step()
        return float(norm)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    # -- behaviour cloning --------------------------------------------------------------------

    def clone_behaviour(self, pairs: Sequence[tuple[list[int], list[int]]], *, steps: int, batch_size: int, lr: float) -> Iterator[float]:
        """Supervised warm start: minimise the token-mean cross-entropy of each (prompt,
        response) pair's response tokens, `steps` AdamW steps on batches drawn with the
        trainer's generator; yields each step's loss. Uses its own optimizer (the RL optimizer's
        moments start fresh afterwards) and refreshes the KL reference at the end."""
        if not pairs:
            raise ValueError("behaviour cloning needs at least one (prompt, response) pair")
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr)
        for _ in range(steps):
            batch = [pairs[i] for i in self.rng.integers(0, len(pairs), size=batch_size)]
            optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                logprobs, mask = response_logprobs(self.model, [p for p, _ in batch], [r for _, r in batch])
            loss = -logprobs.sum() / mask.sum()  # padding log-probabilities are 0
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            optimizer.step()
            yield float(loss.detach())
        self.freeze_reference()

    # -- checkpoints --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything `train_step` reads or changes (module doc)."""
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "reference": None if self.reference is None else self.reference.state_dict(),
            "archer": None if self.archer is None else self.archer.state_dict(),
            "rng": {
                "python": random.getstate(),
                "numpy": self.rng.bit_generator.state,
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a `state_dict()` (from a trainer built with the same config and model).

        Raises:
            ValueError: the checkpoint does not fit this config (ArCHer critics for another
                algorithm, or a KL reference where kl_coef is 0, or the other way round).
        """
        if (state["archer"] is None) != (self.archer is None):
            raise ValueError(
                f"the checkpoint {'holds' if state['archer'] is not None else 'lacks'} ArCHer critics but this "
                f"config's algorithm is {self.config.algorithm}: resume with the config the run started with"
            )
        if (state["reference"] is None) != (self.reference is None):
            raise ValueError("the checkpoint's KL reference does not match this config's kl_coef (0 means no reference)")
        self.step = int(state["step"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.reference is not None:
            self.reference.load_state_dict(state["reference"])
        if self.archer is not None:
            self.archer.load_state_dict(state["archer"])
        rng = state["rng"]
        random.setstate(rng["python"])
        self.rng.bit_generator.state = rng["numpy"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])


def rollout_metrics(groups: Sequence[Group]) -> dict[str, float]:
    """What the batch's episodes did: mean return, success rate, turns, invalid actions, failures."""
    summary = RolloutSummary([t for g in groups for t in g.trajectories])
    completed = summary.completed
    turns: list[Turn] = [turn for t in completed for turn in t.turns]
    metrics = {
        "rollout/episodes": float(len(completed)),
        "rollout/failed": float(len(summary.trajectories) - len(completed)),
        "rollout/env_steps": float(len(turns)),
    }
    if completed:
        metrics["rollout/return"] = summary.mean_reward
        metrics["rollout/success"] = summary.success_rate
        metrics["rollout/turns"] = summary.mean_turns
    if turns:
        metrics["rollout/invalid_share"] = float(np.mean([turn.invalid for turn in turns]))
        metrics["rollout/response_tokens"] = float(np.mean([len(turn.response_ids) for turn in turns]))
    return metrics


def _stats(name: str, values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, dtype=np.float64)
    return {
        f"{name}/mean": float(values.mean()),
        f"{name}/std": float(values.std()),
        f"{name}/min": float(values.min()),
        f"{name}/max": float(values.max()),
    }


def _chunks(items: list[_Sample], size: int) -> Iterator[list[_Sample]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
