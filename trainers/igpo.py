"""IGPO's information-gain turn rewards, scored with the current policy (no gradient).

IGPO, Information Gain-based Policy Optimization (Wang et al., arXiv 2510.14967), rewards every
turn of a multi-turn episode, not only its outcome, by how much the turn raised the policy's
own belief in the task's ground-truth answer:

1. Belief: for a context c (the token ids of a turn's prompt) and the ground truth y (token ids
   y_1..y_m), teacher-force a fixed "now I answer" prefix p (default "<answer>") and then y
   after c, and take the mean token log-probability

       s(c) = 1/m * sum_j log pi(y_j | c, p, y_<j)

   (`ground_truth_scores`). The value is v = s ("logprob" variant) or v = exp(s) ("prob"
   variant: the geometric-mean token probability).
2. Gain: the prompt of turn t+1 is turn t's prompt plus turn t's action and the observation it
   revealed (up to the rollout's history window), so turn t's reward is

       IG_t = v(prompt of turn t+1) - v(prompt of turn t)

   for every turn but the episode's last (`information_gain_rewards`). The last turn's reward
   is the outcome (in the paper, the F1 of the answer); its row here is NaN and
   `agentgym.trainers.advantages.igpo_advantages` ignores it.

The scores come from the current policy, under `torch.inference_mode()` and in eval mode (no
dropout; the model's mode is restored afterwards): they are rewards, not part of the loss, and no
gradient flows through them. All contexts of a batch are scored together, in minibatches of
`batch_size` contexts (one forward pass each, `agentgym.policies.hf.response_logprobs`);
identical (context, ground truth) pairs, such as the first prompts of the G episodes of one
task, are scored once, and contexts of similar length share a minibatch (less padding).

The ground truth comes from the environment (`info["ground_truth"]`, see
`agentgym.types.GROUND_TRUTH_KEY`), recorded by the rollout in `Trajectory.ground_truth`; it is
never part of a prompt. Typical use, per training batch of groups:

    table = StepTable.from_groups(groups)
    ig = information_gain_rewards(model, tokenizer, groups)
    advantages = igpo_advantages(table, ig)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np

from agentgym.policies.hf import response_logprobs
from agentgym.rollout.types import Group
from agentgym.trainers.steps import trainable_trajectories
from agentgym.types import GROUND_TRUTH_KEY

__all__ = ["Variant", "ground_truth_scores", "information_gain_rewards"]

Variant = Literal["logprob", "prob"]


def ground_truth_scores(
    model: Any,
    tokenizer: Any,
    contexts: Sequence[Sequence[int]],
    ground_truths: Sequence[str],
    *,
    answer_prefix: str = "<answer>",
    variant: Variant = "logprob",
    batch_size: int = 16,
) -> np.ndarray:
    """The policy's belief in each context's ground truth (IGPO, arXiv 2510.14967).

    Args:
        model: a causal LM with the Hugging Face call interface (`AutoModelForCausalLM`); the
            current policy.
        tokenizer: its tokenizer; `answer_prefix` and each ground truth are tokenized on their
            own, with `add_special_tokens=False`.
        contexts: token ids, e.g. turn prompts (`Turn.prompt_ids`, generation prompt included).
        ground_truths: one answer string per context.
        answer_prefix: text teacher-forced between the context and the ground truth ("" for none).
        variant: "logprob": the mean log-probability of the ground truth's tokens; "prob": its
            exponential.
        batch_size: distinct contexts per forward pass; a (context, ground truth) pair that
            occurs several times is scored once.

    The model is scored in eval mode under `torch.inference_mode()` (its mode is restored):
    no gradient, no dropout.

    Returns:
        float64 array, one value per context: s = mean over the ground truth's tokens y_j of
        log p(y_j | context + prefix + y_<j), teacher-forced; exp(s) for "prob".

    Raises:
        ValueError: mismatched lengths, an unknown variant, batch_size < 1, or a ground truth
            that tokenizes to nothing.
    """
    if len(contexts) != len(ground_truths):
        raise ValueError(f"got {len(contexts)} contexts and {len(ground_truths)} ground truths")
    if variant not in ("logprob", "prob"):
        raise ValueError(f"variant must be 'logprob' or 'prob', got {variant!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if not contexts:
        return np.zeros(0, dtype=np.float64)
    import torch

    # 1. tokenize the prefix once and each distinct ground truth once
    prefix = _encode(tokenizer, answer_prefix)
    answers: dict[str, list[int]] = {}
    for truth in ground_truths:
        if truth not in answers:
            answers[truth] = _encode(tokenizer, truth)
            if not answers[truth]:
                raise ValueError(f"the ground truth {truth!r} tokenizes to no tokens; there is nothing to score")

    # 2. score each distinct (context, ground truth) pair once; similar lengths share a minibatch
    slot: dict[tuple[tuple[int, ...], str], int] = {}
    index = np.empty(len(contexts), dtype=np.int64)
    pairs: list[tuple[list[int], str]] = []
    for i, (context, truth) in enumerate(zip(contexts, ground_truths, strict=True)):
        key = (tuple(int(token) for token in context), truth)
        if key not in slot:
            slot[key] = len(pairs)
            pairs.append((list(key[0]) + prefix, truth))
        index[i] = slot[key]
    order = sorted(range(len(pairs)), key=lambda k: len(pairs[k][0]) + len(answers[pairs[k][1]]))
    unique_scores = np.empty(len(pairs), dtype=np.float64)

    # 3. one teacher-forced forward pass per minibatch, no gradient, eval mode
    training = bool(getattr(model, "training", False))
    if training:
        model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                prompts = [pairs[k][0] for k in chunk]
                responses = [answers[pairs[k][1]] for k in chunk]
                logprobs, mask = response_logprobs(model, prompts, responses)
                means = (logprobs.double().sum(-1) / mask.double().sum(-1)).cpu().numpy()
                unique_scores[chunk] = means
    finally:
        if training:
            model.train()

    scores = unique_scores[index]
    return np.exp(scores) if variant == "prob" else scores


def information_gain_rewards(
    model: Any,
    tokenizer: Any,
    groups: Iterable[Group],
    *,
    answer_prefix: str = "<answer>",
    variant: Variant = "logprob",
    batch_size: int = 16,
) -> np.ndarray:
    """IGPO's information-gain reward of every step (Wang et al., arXiv 2510.14967).

    Rows are aligned with `agentgym.trainers.steps.StepTable.from_groups(groups)`: the turns of
    every completed trajectory with turns, groups and trajectories in order (failed and
    turn-less trajectories are skipped, as there). For turn t of an episode with n turns,
    t < n - 1:

        IG_t = v(prompt of turn t+1) - v(prompt of turn t)

    with v the `ground_truth_scores` value (same options) of the trajectory's
    `ground_truth`; the prompt of turn t+1 holds turn t's action and the observation it revealed
    (as far as the rollout's history window shows them). The last row of each episode is NaN:
    that turn's reward is the outcome (`igpo_advantages` ignores the value there).

    Raises:
        ValueError: a trajectory that is trained on has no `ground_truth` (its environment must
            report the answer in `info["ground_truth"]`).
    """
    contexts: list[list[int]] = []
    truths: list[str] = []
    lengths: list[int] = []
    for group in groups:
        for trajectory in trainable_trajectories(group):  # exactly StepTable.from_groups's rows
            n = len(trajectory.turns)
            lengths.append(n)
            if trajectory.ground_truth is None:
                raise ValueError(
                    f"episode {trajectory.episode_id!r} (group {trajectory.group_id!r}, env {trajectory.task.env_id!r}) "
                    "has no ground truth: IGPO's information gain scores the policy's probability of the task's "
                    f"answer, so the environment must report it as a string in info[{GROUND_TRUTH_KEY!r}] of its "
                    "step results (the rollout records it in Trajectory.ground_truth)"
                )
            if n == 1:
                continue  # a lone turn is the episode's last: NaN, nothing to score
            contexts.extend(turn.prompt_ids for turn in trajectory.turns)
            truths.extend([trajectory.ground_truth] * n)

    values = ground_truth_scores(
        model, tokenizer, contexts, truths, answer_prefix=answer_prefix, variant=variant, batch_size=batch_size
    )

    # IG_t = v_{t+1} - v_t within each scored episode; NaN on every episode's last row
    rewards = np.full(sum(lengths), np.nan, dtype=np.float64)
    row = 0
    scored = 0
    for n in lengths:
        if n > 1:
            v = values[scored : scored + n]
            rewards[row : row + n - 1] = v[1:] - v[:-1]
            scored += n
        row += n
    return rewards


def _encode(tokenizer: Any, text: str) -> list[int]:
    return [int(token) for token in tokenizer.encode(text, add_special_tokens=False)] if text else []
