"""ArCHer's utterance-level off-policy critic (Zhou et al., "ArCHer: Training Language Model Agents
via Hierarchical Multi-Turn RL", arXiv 2402.19446).

ArCHer is hierarchical: a high-level, *utterance-level* critic learns Q(s, a) and V(s) over whole
turns (s = the dialogue so far, a = the model's whole response) off-policy from a replay buffer,
and the low-level token policy is trained with that critic's advantage inside each utterance.
This module is the high level; the actor's loss is the trainer's business (it broadcasts the
per-turn advantage from `ArcherLearner.advantages` to the turn's response tokens).

Read top to bottom:

1. `transitions_from_groups`: every turn of every completed trajectory becomes one
   ``(s, a, r, s', done)`` `Transition` (s = the turn's prompt ids, a = its response ids).
2. `ReplayBuffer`: uniform, fixed capacity, first in first out (the paper: 100k transitions).
3. `ArcherConfig`: the hyperparameters (the paper's where it gives them).
4. `ArcherCritic`: a shared text encoder over token ids, two Q heads on [enc(s); enc(a)] and two
   V heads on enc(s) (the paper's double critic, Sec. 4 / App. A).
5. `ArcherLearner`: the critic, its Polyak-averaged target copy, the optimizer, the buffer and
   the sampling rng; `critic_step` is one TD step of the paper's Eq. (3)/(4):

       Q_k(s, a) <- r + gamma * (1 - done) * Vtarget_k(s')            (k = 1, 2)
       V_k(s)    <- Qtarget_k(s, a'),   a' ~ pi(. | s) sampled fresh
       target    <- (1 - tau) * target + tau * online                 (after every step)

   and ``advantages(s, a) = min(Q1, Q2)(s, a) - min(V1, V2)(s)`` is what the actor is trained
   with (the paper's advantage for the utterance-level REINFORCE of the token policy).

Token-in/token-out: the critic reads the policy's own token ids (no re-tokenisation), so an
optional pretrained encoder (`ArcherConfig.encoder`) must share the policy's vocabulary.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agentgym.rollout.types import Group
from agentgym.trainers.steps import trainable_trajectories

__all__ = [
    "ArcherConfig",
    "ArcherCritic",
    "ArcherLearner",
    "ReplayBuffer",
    "Transition",
    "transitions_from_groups",
]

SampleActions = Callable[[list[list[int]]], list[list[int]]]


# -- 1. transitions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    """One policy turn as an RL transition (ArCHer's utterance-level MDP, Sec. 3 of the paper).

    Fields:
        state: the token ids of the turn's whole prompt (``Turn.prompt_ids``).
        action: the token ids the policy produced (``Turn.response_ids``).
        reward: the environment's reward for the action.
        next_state: the next turn's prompt ids; ``()`` when `done`.
        done: no bootstrapping from `next_state` (the episode's final turn).
    """

    state: tuple[int, ...]
    action: tuple[int, ...]
    reward: float
    next_state: tuple[int, ...]
    done: bool


def transitions_from_groups(groups: Iterable[Group], *, dedupe_branch_prefixes: bool = True) -> list[Transition]:
    """Every turn of every *completed* trajectory, in order, as `Transition`s.

    Failed trajectories are skipped (never trained on). Within a trajectory, a turn's
    ``next_state`` is the next turn's ``prompt_ids`` (one tuple object, shared with that turn's
    ``state``, which `ReplayBuffer` uses to store it once). The final turn has ``done=True`` and
    ``next_state=()``: the observation after the last action is never built into a prompt, so
    there is nothing to bootstrap from, and episodes *truncated* by a time limit, ``max_turns``
    or a context overflow are treated as ended too (their last turn's target is its reward
    alone; the rest of the trainer does not bootstrap truncated episodes either).

    With ``dedupe_branch_prefixes`` (the default), the prefix turns a branched group copies into
    each branch (``branch_turn`` turns of a trajectory with a ``parent_episode_id``, see
    `agentgym.rollout.groups`) enter once, from the first completed branch of each parent:
    they are the same transitions, and G copies would weigh those states G times in the buffer.
    """
    out: list[Transition] = []
    seen_parents: set[str] = set()
    for group in groups:
        for trajectory in trainable_trajectories(group):
            start = 0
            parent = trajectory.parent_episode_id
            if dedupe_branch_prefixes and parent is not None and trajectory.branch_turn:
                if parent in seen_parents:
                    start = min(trajectory.branch_turn, len(trajectory.turns))
                seen_parents.add(parent)
            turns = trajectory.turns
            states = [tuple(turn.prompt_ids) for turn in turns]
            last = len(turns) - 1
            for i in range(start, len(turns)):
                turn = turns[i]
                done = i == last
                out.append(
                    Transition(
                        state=states[i],
                        action=tuple(turn.response_ids),
                        reward=float(turn.reward),
                        next_state=() if done else states[i + 1],
                        done=done,
                    )
                )
    return out


# -- 2. replay buffer --------------------------------------------------------------------------

_EMPTY = np.zeros(0, dtype=np.int32)


def _as_ids(seq: Sequence[int]) -> np.ndarray:
    array = np.asarray(seq, dtype=np.int64)
    if array.ndim != 1:
        raise ValueError(f"token ids must be a flat sequence, got shape {array.shape}")
    if array.size and (array.min() < 0 or array.max() > np.iinfo(np.int32).max):
        raise ValueError("token ids must be non-negative and fit in int32")
    return array.astype(np.int32)


def _flatten(arrays: list[np.ndarray]) -> tuple[Tensor, Tensor]:
    lengths = np.fromiter((a.shape[0] for a in arrays), dtype=np.int64, count=len(arrays))
    flat = np.concatenate(arrays) if arrays else _EMPTY
    return torch.from_numpy(flat.astype(np.int32)), torch.from_numpy(lengths)


def _unflatten(flat: Tensor, lengths: Tensor) -> list[np.ndarray]:
    flat_np = flat.numpy().astype(np.int32)
    bounds = np.cumsum(lengths.numpy())[:-1]
    return [a.copy() for a in np.split(flat_np, bounds)] if lengths.numel() else []


class ReplayBuffer:
    """A uniform replay buffer of `Transition`s with a fixed capacity (ArCHer keeps 100k).

    When full, `add` overwrites the oldest transition (first in, first out). `sample` draws
    uniformly *with replacement* using the caller's numpy `Generator`, so a seeded generator
    gives a reproducible minibatch sequence.

    Storage: token ids are kept as int32 numpy arrays (4 bytes a token, against about 36 for a
    tuple of Python ints), and a ``next_state`` that is the same object as the following
    transition's ``state`` (as `transitions_from_groups` builds them) is stored once. `sample`
    returns fresh `Transition`s equal to the ones added.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"ReplayBuffer capacity must be a positive int, got {capacity!r}")
        self.capacity = capacity
        # slots: (state, action, reward, next_state, done); `_position` is the next slot written.
        self._slots: list[tuple[np.ndarray, np.ndarray, float, np.ndarray, bool]] = []
        self._position = 0

    def __len__(self) -> int:
        return len(self._slots)

    def add(self, transitions: Iterable[Transition]) -> None:
        """Append transitions (oldest ones evicted once the buffer is full)."""
        # identity memo: (object kept alive, its array), so ids cannot be reused within the call
        memo: dict[int, tuple[object, np.ndarray]] = {}

        def stored(seq: Sequence[int]) -> np.ndarray:
            hit = memo.get(id(seq))
            if hit is not None and hit[0] is seq:
                return hit[1]
            array = _as_ids(seq) if len(seq) else _EMPTY
            memo[id(seq)] = (seq, array)
            return array

        for t in transitions:
            if not isinstance(t, Transition):
                raise TypeError(f"ReplayBuffer.add expects Transition objects, got {type(t).__name__}")
            slot = (stored(t.state), stored(t.action), float(t.reward), stored(t.next_state), bool(t.done))
            if len(self._slots) < self.capacity:
                self._slots.append(slot)
            else:
                self._slots[self._position] = slot
            self._position = (self._position + 1) % self.capacity

    def _transition(self, index: int) -> Transition:
        state, action, reward, next_state, done = self._slots[index]
        return Transition(tuple(state.tolist()), tuple(action.tolist()), reward, tuple(next_state.tolist()), done)

    def sample(self, batch_size: int, rng: np.random.Generator) -> list[Transition]:
        """`batch_size` transitions drawn uniformly with replacement with `rng`."""
        if not self._slots:
            raise ValueError("cannot sample from an empty ReplayBuffer: add transitions first")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        indices = rng.integers(0, len(self._slots), size=batch_size)
        return [self._transition(int(i)) for i in indices]

    def transitions(self) -> list[Transition]:
        """All stored transitions, in slot order (not necessarily insertion order once full)."""
        return [self._transition(i) for i in range(len(self._slots))]

    def state_dict(self) -> dict:
        """Contents, slot order and insertion position, as tensors and ints (``torch.save``-able,
        loadable with ``torch.load(weights_only=True)``). A next state equal to the following
        slot's state is stored as a flag, not twice."""
        n = len(self._slots)
        shared = np.zeros(n, dtype=np.bool_)
        own_next: list[np.ndarray] = []
        for i, (_, _, _, next_state, _) in enumerate(self._slots):
            follower = self._slots[(i + 1) % n][0]
            if next_state.size and (next_state is follower or np.array_equal(next_state, follower)):
                shared[i] = True
            else:
                own_next.append(next_state)
        states, state_lengths = _flatten([s[0] for s in self._slots])
        actions, action_lengths = _flatten([s[1] for s in self._slots])
        next_states, next_lengths = _flatten(own_next)
        return {
            "capacity": self.capacity,
            "position": self._position,
            "state_tokens": states,
            "state_lengths": state_lengths,
            "action_tokens": actions,
            "action_lengths": action_lengths,
            "next_state_shared": torch.from_numpy(shared),
            "next_state_tokens": next_states,
            "next_state_lengths": next_lengths,
            "reward": torch.tensor([s[2] for s in self._slots], dtype=torch.float64),
            "done": torch.tensor([s[4] for s in self._slots], dtype=torch.bool),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore exactly what `state_dict` saved (capacity included)."""
        states = _unflatten(state["state_tokens"], state["state_lengths"])
        actions = _unflatten(state["action_tokens"], state["action_lengths"])
        own_next = iter(_unflatten(state["next_state_tokens"], state["next_state_lengths"]))
        shared = state["next_state_shared"].tolist()
        rewards = state["reward"].tolist()
        dones = state["done"].tolist()
        n = len(states)
        if not (len(actions) == len(shared) == len(rewards) == len(dones) == n):
            raise ValueError("ReplayBuffer state: per-transition fields disagree in length")
        capacity, position = int(state["capacity"]), int(state["position"])
        if capacity < 1 or n > capacity or not 0 <= position < capacity:
            raise ValueError("ReplayBuffer state: inconsistent capacity / position / size")
        slots = []
        for i in range(n):
            next_state = states[(i + 1) % n] if shared[i] else next(own_next, None)
            if next_state is None:
                raise ValueError("ReplayBuffer state: fewer stored next states than flagged")
            if not next_state.size:
                next_state = _EMPTY
            slots.append((states[i], actions[i], float(rewards[i]), next_state, bool(dones[i])))
        self.capacity, self._position, self._slots = capacity, position, slots


# -- 3. config ---------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class ArcherConfig:
    """ArCHer critic hyperparameters (paper values where it gives them, App. C).

    Fields:
        gamma: discount over turns (paper 0.95).
        tau: Polyak rate of the target critic, applied after every critic step (paper 0.1).
        critic_lr: AdamW learning rate of the critic (weight decay 0). The paper fine-tunes a
            pretrained RoBERTa at 1e-5 / 2e-5; the default encoder here is trained from scratch,
            for which 1e-4 is the sensible default. Use ~2e-5 with a pretrained `encoder`.
        critic_steps: critic gradient steps per `train_critic` call (paper: 50 per iteration).
        critic_batch_size: transitions per critic step (uniform minibatch from the buffer).
        buffer_size: replay capacity in transitions (paper 100k).
        warmup_iterations: critic-only iterations before the actor trains (the paper warms the
            critic up first; see `ArcherLearner.actor_ready`). Default 2.
        max_grad_norm: gradient clipping of the critic (paper 1.0).
        hidden_size: width of the default encoder and of the Q/V MLP heads.
        encoder: None = a fresh small transformer over the policy's token ids, built here;
            otherwise a Hugging Face model name or path loaded with ``AutoModel`` and mean-pooled
            over its last hidden state. It must share the policy's tokenizer (token-in/token-out:
            the critic reads the policy's ids, never re-tokenised text).
        encoder_layers / encoder_heads: depth and attention heads of the default encoder.
        max_state_tokens: states longer than this keep their *last* tokens (truncation from the
            left keeps the current observation, which the prompt shows last).
        max_action_tokens: the same for actions (their last tokens: where an answer or command
            follows any reasoning, and the end token).
    """

    gamma: float = 0.95
    tau: float = 0.1
    critic_lr: float = 1e-4
    critic_steps: int = 50
    critic_batch_size: int = 64
    buffer_size: int = 100_000
    warmup_iterations: int = 2
    max_grad_norm: float = 1.0
    hidden_size: int = 128
    encoder: str | None = None
    encoder_layers: int = 2
    encoder_heads: int = 4
    max_state_tokens: int = 512
    max_action_tokens: int = 256

    def __post_init__(self) -> None:
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"ArcherConfig.gamma must be in [0, 1], got {self.gamma}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"ArcherConfig.tau must be in (0, 1], got {self.tau}")
        if not (self.critic_lr > 0.0 and math.isfinite(self.critic_lr)):
            raise ValueError(f"ArcherConfig.critic_lr must be a positive finite number, got {self.critic_lr}")
        if not self.max_grad_norm > 0.0:
            raise ValueError(f"ArcherConfig.max_grad_norm must be > 0, got {self.max_grad_norm}")
        positive = (
            "critic_steps",
            "critic_batch_size",
            "buffer_size",
            "hidden_size",
            "encoder_layers",
            "encoder_heads",
            "max_state_tokens",
            "max_action_tokens",
        )
        for name in positive:
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"ArcherConfig.{name} must be a positive int, got {value!r}")
        if not _is_int(self.warmup_iterations) or self.warmup_iterations < 0:
            raise ValueError(f"ArcherConfig.warmup_iterations must be an int >= 0, got {self.warmup_iterations!r}")
        if self.encoder is None and self.hidden_size % self.encoder_heads:
            raise ValueError(
                f"ArcherConfig.hidden_size ({self.hidden_size}) must be divisible by encoder_heads ({self.encoder_heads})"
            )
        if self.encoder is not None and (not isinstance(self.encoder, str) or not self.encoder.strip()):
            raise ValueError(f"ArcherConfig.encoder must be None or a model name/path, got {self.encoder!r}")


# -- 4. critic ---------------------------------------------------------------------------------


class _TokenEncoder(nn.Module):
    """The default encoder: token + learned position embeddings, a pre-norm transformer
    encoder, mean-pooled over the real tokens. A learned begin token starts every sequence, so
    an empty sequence is still encoded (as that token alone). No dropout: targets and resumes
    stay deterministic."""

    def __init__(self, vocab_size: int, config: ArcherConfig) -> None:
        super().__init__()
        self.pad_id = vocab_size
        self.bos_id = vocab_size + 1
        d = config.hidden_size
        self.tokens = nn.Embedding(vocab_size + 2, d, padding_idx=self.pad_id)
        self.positions = nn.Embedding(1 + max(config.max_state_tokens, config.max_action_tokens), d)
        layer = nn.TransformerEncoderLayer(
            d, config.encoder_heads, dim_feedforward=4 * d, dropout=0.0, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(
            layer, config.encoder_layers, norm=nn.LayerNorm(d), enable_nested_tensor=False
        )
        self.out_dim = d
        nn.init.normal_(self.tokens.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)
        with torch.no_grad():
            self.tokens.weight[self.pad_id].zero_()

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        h = self.tokens(ids) + self.positions(positions)[None]
        h = self.layers(h, src_key_padding_mask=~mask)
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp_min(1.0)


class _PretrainedEncoder(nn.Module):
    """A Hugging Face ``AutoModel`` over the policy's token ids, mean-pooled over the attention
    mask of its last hidden state. Kept in eval mode (no dropout) for determinism."""

    def __init__(self, name: str, vocab_size: int) -> None:
        super().__init__()
        from transformers import AutoModel

        self.model = AutoModel.from_pretrained(name)
        n_embeddings = self.model.get_input_embeddings().num_embeddings
        if vocab_size > n_embeddings:
            raise ValueError(
                f"encoder {name!r} has {n_embeddings} token embeddings, fewer than vocab_size={vocab_size}: "
                "the critic reads the policy's token ids, so the encoder must share its tokenizer"
            )
        self.out_dim = int(self.model.config.hidden_size)
        self.pad_id = 0
        self.bos_id = None
        self.model.eval()

    def train(self, mode: bool = True) -> _PretrainedEncoder:
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        # an empty sequence gets one (pad) token to attend to, and a zero vector out
        nonempty = mask.any(1)
        attend = mask.clone()
        attend[~nonempty, 0] = True
        h = self.model(input_ids=ids, attention_mask=attend.long()).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp_min(1.0)
        return pooled.float()


def _mlp(in_dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
    )


class ArcherCritic(nn.Module):
    """ArCHer's utterance-level double critic (paper Sec. 4, App. A).

    One shared encoder embeds a state and an action separately (``enc(s)``, ``enc(a)``); two Q
    heads read ``[enc(s); enc(a)]`` and two V heads read ``enc(s)`` (MLPs, one scalar each).
    Inputs are lists of token-id sequences; padding, truncation (from the left, keeping the last
    `max_state_tokens` / `max_action_tokens` ids) and batching happen here, on the module's
    device. Equal sequences within one call are encoded once.
    """

    def __init__(self, vocab_size: int, config: ArcherConfig) -> None:
        super().__init__()
        if not _is_int(vocab_size) or vocab_size < 1:
            raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
        self.vocab_size = vocab_size
        self.config = config
        if config.encoder is None:
            self.encoder: nn.Module = _TokenEncoder(vocab_size, config)
        else:
            self.encoder = _PretrainedEncoder(config.encoder, vocab_size)
        d, h = self.encoder.out_dim, config.hidden_size
        self.q1, self.q2 = _mlp(2 * d, h), _mlp(2 * d, h)
        self.v1, self.v2 = _mlp(d, h), _mlp(d, h)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, seqs: Sequence[Sequence[int]], max_tokens: int) -> Tensor:
        """``(B, D)`` embeddings of token-id sequences, each keeping its last `max_tokens` ids."""
        if len(seqs) == 0:
            return torch.zeros(0, self.encoder.out_dim, device=self.device)
        # encode each distinct sequence once
        index: dict[bytes, int] = {}
        uniques: list[np.ndarray] = []
        rows = np.empty(len(seqs), dtype=np.int64)
        for i, seq in enumerate(seqs):
            ids = np.asarray(seq, dtype=np.int64)[-max_tokens:] if len(seq) else np.zeros(0, dtype=np.int64)
            key = ids.tobytes()
            j = index.get(key)
            if j is None:
                j = index[key] = len(uniques)
                uniques.append(ids)
            rows[i] = j
        bos = self.encoder.bos_id
        offset = 0 if bos is None else 1
        width = max(1, offset + max(a.shape[0] for a in uniques))
        ids = np.full((len(uniques), width), self.encoder.pad_id, dtype=np.int64)
        mask = np.zeros((len(uniques), width), dtype=np.bool_)
        for j, a in enumerate(uniques):
            if a.size and (a.min() < 0 or a.max() >= self.vocab_size):
                raise ValueError(f"token ids must be in [0, {self.vocab_size}), got min {a.min()} max {a.max()}")
            n = offset + a.shape[0]
            if offset:
                ids[j, 0] = bos
            ids[j, offset:n] = a
            mask[j, :n] = True
        device = self.device
        encoded = self.encoder(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))
        if len(uniques) == len(seqs) and np.array_equal(rows, np.arange(len(seqs))):
            return encoded
        return encoded[torch.from_numpy(rows).to(device)]

    def encode_states(self, states: Sequence[Sequence[int]]) -> Tensor:
        return self.encode(states, self.config.max_state_tokens)

    def encode_actions(self, actions: Sequence[Sequence[int]]) -> Tensor:
        return self.encode(actions, self.config.max_action_tokens)

    def q_heads(self, enc_states: Tensor, enc_actions: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.cat([enc_states, enc_actions], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)

    def v_heads(self, enc_states: Tensor) -> tuple[Tensor, Tensor]:
        return self.v1(enc_states).squeeze(-1), self.v2(enc_states).squeeze(-1)

    def q_values(self, states: list[Sequence[int]], actions: list[Sequence[int]]) -> tuple[Tensor, Tensor]:
        """``(Q1(s, a), Q2(s, a))``, each of shape ``(B,)``."""
        if len(states) != len(actions):
            raise ValueError(f"q_values: {len(states)} states but {len(actions)} actions")
        return self.q_heads(self.encode_states(states), self.encode_actions(actions))

    def v_values(self, states: list[Sequence[int]]) -> tuple[Tensor, Tensor]:
        """``(V1(s), V2(s))``, each of shape ``(B,)``."""
        return self.v_heads(self.encode_states(states))


# -- 5. learner --------------------------------------------------------------------------------


_METRICS = (
    "q_loss",
    "v_loss",
    "q1_loss",
    "q2_loss",
    "v1_loss",
    "v2_loss",
    "q_mean",
    "v_mean",
    "q_target_mean",
    "v_target_mean",
    "reward_mean",
    "done_fraction",
    "grad_norm",
)


class ArcherLearner:
    """ArCHer's off-policy critic learner: the online critic, its target copy (Polyak averaged,
    no gradients), AdamW over the critic, the replay buffer and a numpy `Generator` for the
    minibatches.

    The training loop calls, each iteration: `add(groups)` (new turns into the buffer),
    `train_critic(...)` (`config.critic_steps` TD steps), then, once `actor_ready`,
    `advantages(prompt_ids, response_ids)` per turn for the actor's loss.
    """

    def __init__(self, vocab_size: int, config: ArcherConfig, *, device: str | torch.device = "cpu", seed: int = 0):
        self.config = config
        self.device = torch.device(device)
        with torch.random.fork_rng(devices=[]):  # a reproducible initialisation, global RNG untouched
            torch.manual_seed(seed)
            self.critic = ArcherCritic(vocab_size, config).to(self.device)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.optimizer = torch.optim.AdamW(self.critic.parameters(), lr=config.critic_lr, weight_decay=0.0)
        self.buffer = ReplayBuffer(config.buffer_size)
        self.rng = np.random.default_rng(seed)
        self.iteration = 0  # completed `train_critic` calls
        self.steps = 0  # completed critic steps

    # -- data ----------------------------------------------------------------------------------

    def add(self, groups: Iterable[Group]) -> int:
        """Put the turns of the groups' completed trajectories into the buffer; how many."""
        transitions = transitions_from_groups(groups)
        self.buffer.add(transitions)
        return len(transitions)

    @property
    def actor_ready(self) -> bool:
        """Whether the critic's warm-up is over: more than `config.warmup_iterations` calls of
        `train_critic` done (so with the default 2, the actor first trains in iteration 3,
        after that iteration's critic training)."""
        return self.iteration > self.config.warmup_iterations

    # -- one TD step ---------------------------------------------------------------------------

    def critic_step(self, sample_actions: SampleActions | None = None) -> dict[str, float]:
        """One gradient step of both critics on a uniform minibatch (paper Eq. 3-4).

        Q_k(s, a) regresses to ``r + gamma * (1 - done) * Vtarget_k(s')`` and V_k(s) to
        ``Qtarget_k(s, a')``, k = 1, 2, with MSE losses summed. ``a' = sample_actions(states)``
        (one freshly sampled response per state, from the *current* policy, as in the paper:
        V then tracks V^pi of the policy being trained). With ``sample_actions=None``, a' is the
        buffer's own action: this SARSA-style variant evaluates the *behaviour* policy (the
        mixture of past policies that filled the buffer), not the current one, but needs no
        generation. The gradient is clipped to `max_grad_norm`, then the target is moved
        ``target = (1 - tau) * target + tau * online``.
        """
        cfg = self.config
        batch = self.buffer.sample(cfg.critic_batch_size, self.rng)
        states = [t.state for t in batch]
        actions = [t.action for t in batch]
        reward = torch.tensor([t.reward for t in batch], dtype=torch.float32, device=self.device)
        done = torch.tensor([t.done for t in batch], dtype=torch.bool, device=self.device)

        # targets, from the target critic
        with torch.no_grad():
            if sample_actions is None:
                new_actions: list[Sequence[int]] = actions
            else:
                new_actions = list(sample_actions([list(s) for s in states]))
                if len(new_actions) != len(states):
                    raise ValueError(f"sample_actions returned {len(new_actions)} actions for {len(states)} states")
            live = [i for i, t in enumerate(batch) if not t.done]
            # the states and the non-terminal next states, in one encoder call (empty s' never encoded)
            enc = self.target.encode_states(states + [batch[i].next_state for i in live])
            enc_s, enc_next = enc[: len(states)], enc[len(states) :]
            tq1, tq2 = self.target.q_heads(enc_s, self.target.encode_actions(new_actions))
            next_v1 = torch.zeros_like(reward)
            next_v2 = torch.zeros_like(reward)
            if live:
                live_idx = torch.tensor(live, device=self.device)
                tv1, tv2 = self.target.v_heads(enc_next)
                next_v1[live_idx] = tv1
                next_v2[live_idx] = tv2
            y_q1 = reward + cfg.gamma * next_v1
            y_q2 = reward + cfg.gamma * next_v2

        # online critic and its losses
        enc_s = self.critic.encode_states(states)
        q1, q2 = self.critic.q_heads(enc_s, self.critic.encode_actions(actions))
        v1, v2 = self.critic.v_heads(enc_s)
        q1_loss, q2_loss = F.mse_loss(q1, y_q1), F.mse_loss(q2, y_q2)
        v1_loss, v2_loss = F.mse_loss(v1, tq1), F.mse_loss(v2, tq2)
        loss = q1_loss + q2_loss + v1_loss + v2_loss

        # gradient step, clipped
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.max_grad_norm)
        self.optimizer.step()

        # Polyak update of the target
        with torch.no_grad():
            for p_target, p_online in zip(self.target.parameters(), self.critic.parameters(), strict=True):
                p_target.mul_(1.0 - cfg.tau).add_(p_online, alpha=cfg.tau)
            for b_target, b_online in zip(self.target.buffers(), self.critic.buffers(), strict=True):
                b_target.copy_(b_online)
        self.steps += 1

        q1_loss, q2_loss, v1_loss, v2_loss = (x.detach() for x in (q1_loss, q2_loss, v1_loss, v2_loss))
        return {
            "q_loss": 0.5 * float(q1_loss + q2_loss),
            "v_loss": 0.5 * float(v1_loss + v2_loss),
            "q1_loss": float(q1_loss),
            "q2_loss": float(q2_loss),
            "v1_loss": float(v1_loss),
            "v2_loss": float(v2_loss),
            "q_mean": 0.5 * float(q1.detach().mean() + q2.detach().mean()),
            "v_mean": 0.5 * float(v1.detach().mean() + v2.detach().mean()),
            "q_target_mean": 0.5 * float(y_q1.mean() + y_q2.mean()),
            "v_target_mean": 0.5 * float(tq1.mean() + tq2.mean()),
            "reward_mean": float(reward.mean()),
            "done_fraction": float(done.float().mean()),
            "grad_norm": float(grad_norm),
        }

    def train_critic(self, steps: int | None = None, sample_actions: SampleActions | None = None) -> dict[str, float]:
        """`steps` (default `config.critic_steps`) critic steps; the mean of their metrics, plus
        ``steps``. Counts as one iteration for `actor_ready`."""
        n = self.config.critic_steps if steps is None else steps
        if not _is_int(n) or n < 1:
            raise ValueError(f"train_critic: steps must be a positive int, got {n!r}")
        totals = dict.fromkeys(_METRICS, 0.0)
        for _ in range(n):
            for key, value in self.critic_step(sample_actions).items():
                totals[key] += value
        self.iteration += 1
        out = {key: value / n for key, value in totals.items()}
        out["steps"] = float(n)
        return out

    # -- the actor's advantage -----------------------------------------------------------------

    @torch.no_grad()
    def advantages(
        self, states: Sequence[Sequence[int]], actions: Sequence[Sequence[int]], *, batch_size: int = 256
    ) -> np.ndarray:
        """``min(Q1, Q2)(s, a) - min(V1, V2)(s)`` per (state, action) pair from the online
        critic, float64, computed in chunks of `batch_size` (the paper's actor advantage)."""
        if len(states) != len(actions):
            raise ValueError(f"advantages: {len(states)} states but {len(actions)} actions")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out = np.zeros(len(states), dtype=np.float64)
        for start in range(0, len(states), batch_size):
            s = list(states[start : start + batch_size])
            a = list(actions[start : start + batch_size])
            enc_s = self.critic.encode_states(s)
            q1, q2 = self.critic.q_heads(enc_s, self.critic.encode_actions(a))
            v1, v2 = self.critic.v_heads(enc_s)
            adv = torch.minimum(q1, q2) - torch.minimum(v1, v2)
            out[start : start + len(s)] = adv.double().cpu().numpy()
        return out

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to resume bit-identically (on CPU): critic, target, optimizer,
        buffer, sampling rng and counters. ``torch.save``-able; loads with ``weights_only=True``."""
        return {
            "critic": self.critic.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "buffer": self.buffer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "iteration": self.iteration,
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a `state_dict` (the optimizer's saved learning rate included)."""
        self.critic.load_state_dict(state["critic"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        self.rng = rng
        self.iteration = int(state["iteration"])
        self.steps = int(state["steps"])
