"""ArCHer's utterance-level critic (arXiv 2402.19446): transitions, replay, convergence to the true
values of a small MDP, advantages, exact resume and config validation."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from agentgym.rollout.types import Group, Task, Trajectory, Turn
from agentgym.trainers.archer import (
    ArcherConfig,
    ArcherCritic,
    ArcherLearner,
    ReplayBuffer,
    Transition,
    transitions_from_groups,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one intra-op thread is faster and steadier on a shared CPU."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def roundtrip(obj):
    """Through torch.save / torch.load(weights_only=True), as a checkpoint would go."""
    blob = io.BytesIO()
    torch.save(obj, blob)
    blob.seek(0)
    return torch.load(blob, weights_only=True)


# -- transitions_from_groups -------------------------------------------------------------------


def turn(index: int, prompt: list[int], response: list[int], reward: float = 0.0) -> Turn:
    return Turn(
        index=index,
        prompt_ids=prompt,
        response_ids=response,
        response_logprobs=[-0.1] * len(response),
        response_text="x",
        finish_reason="stop",
        observation="o",
        anchor="o",
        reward=reward,
    )


def trajectory(episode_id: str, turns: list[Turn], **kwargs) -> Trajectory:
    return Trajectory(episode_id=episode_id, group_id="g", task=Task(env_id="e"), turns=turns, **kwargs)


def test_transitions_chain_next_states_and_skip_failed_trajectories():
    three = [turn(0, [1, 2], [10], 0.5), turn(1, [1, 2, 10, 3], [11, 12], -1.0), turn(2, [4, 5], [13], 2.0)]
    group = Group(
        group_id="g",
        task=Task(env_id="e"),
        trajectories=[
            trajectory("g/0", three, truncated=True, truncation="max_turns"),
            trajectory("g/1", [turn(0, [7], [8])], status="failed", failure="env_error: boom"),
            trajectory("g/2", [turn(0, [9], [6], 1.0)], terminated=True),
        ],
    )
    out = transitions_from_groups([group])
    assert out == [
        Transition((1, 2), (10,), 0.5, (1, 2, 10, 3), False),
        Transition((1, 2, 10, 3), (11, 12), -1.0, (4, 5), False),
        Transition((4, 5), (13,), 2.0, (), True),  # truncated: ends like a termination
        Transition((9,), (6,), 1.0, (), True),  # the failed trajectory in between is skipped
    ]
    # one object for a next state and the following state: the buffer stores it once
    assert out[0].next_state is out[1].state and out[1].next_state is out[2].state


def test_transitions_keep_a_branch_prefix_once():
    prefix = [turn(0, [1], [2], 0.1)]
    branches = [
        trajectory(
            f"g/{i}", [*prefix, turn(1, [1, 2, 3], [4 + i], float(i))], parent_episode_id="g/prefix", branch_turn=1
        )
        for i in range(3)
    ]
    branches[0] = branches[0].model_copy(update={"status": "failed", "failure": "env_error: x"})
    group = Group(group_id="g", task=Task(env_id="e"), trajectories=branches)
    out = transitions_from_groups([group])
    assert [t.action for t in out] == [(2,), (5,), (6,)]  # prefix from the first *completed* branch
    assert out[0].next_state == (1, 2, 3) and not out[0].done
    assert len(transitions_from_groups([group], dedupe_branch_prefixes=False)) == 4


# -- ReplayBuffer ------------------------------------------------------------------------------


def chain(n: int, start: int = 0) -> list[Transition]:
    """n transitions of one episode: state i is (100 + i, i), the last one done."""
    states = [(100 + i, i) for i in range(start, start + n)]
    return [
        Transition(states[i], (i % 7, 3), float(i), states[i + 1] if i + 1 < n else (), i + 1 == n) for i in range(n)
    ]


def test_replay_buffer_fifo_eviction():
    items = chain(5)
    buffer = ReplayBuffer(capacity=3)
    buffer.add(items[:2])
    assert len(buffer) == 2 and buffer.transitions() == items[:2]
    buffer.add(items[2:])
    assert len(buffer) == 3
    assert buffer.transitions() == [items[3], items[4], items[2]]  # items 0 and 1 evicted, in place
    buffer.add(chain(1, start=50))
    assert buffer.transitions() == [items[3], items[4], *chain(1, start=50)]  # then the oldest, item 2


def test_replay_buffer_sampling_is_seeded_uniform_and_rejects_empty():
    buffer = ReplayBuffer()
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(4, np.random.default_rng(0))
    items = chain(4)
    buffer.add(items)
    a = buffer.sample(50, np.random.default_rng(7))
    b = buffer.sample(50, np.random.default_rng(7))
    c = buffer.sample(50, np.random.default_rng(8))
    assert a == b and a != c
    assert all(isinstance(t.state[0], int) and isinstance(t.reward, float) for t in a)
    counts = {t.state: 0 for t in items}
    for t in buffer.sample(4000, np.random.default_rng(1)):
        counts[t.state] += 1
    assert all(900 < n < 1100 for n in counts.values()), counts


def test_replay_buffer_state_dict_round_trip():
    buffer = ReplayBuffer(capacity=5)
    buffer.add(chain(3))
    buffer.add(chain(4, start=10))  # wraps around: slot order differs from insertion order
    restored = ReplayBuffer(capacity=1)
    restored.load_state_dict(roundtrip(buffer.state_dict()))
    assert restored.capacity == 5 and len(restored) == 5
    assert restored.transitions() == buffer.transitions()
    # next states equal to the following slot's state are stored as a flag, not again
    state = buffer.state_dict()
    assert int(state["next_state_shared"].sum()) >= 2
    assert state["next_state_lengths"].numel() == 5 - int(state["next_state_shared"].sum())
    # the insertion position survives: the next add overwrites the same slot in both
    extra = chain(2, start=40)
    buffer.add(extra)
    restored.add(extra)
    assert restored.transitions() == buffer.transitions()
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    assert restored.sample(20, rng_a) == buffer.sample(20, rng_b)
    empty = ReplayBuffer(4)
    empty.load_state_dict(roundtrip(ReplayBuffer(4).state_dict()))
    assert len(empty) == 0


# -- the critic on a small MDP with known values -------------------------------------------------

GAMMA = 0.9
N_STATES = 4
STATES = [(10 + i, 20 + i, 30) for i in range(N_STATES)]  # distinct token sequences
ACTIONS = [(5, 6), (7,)]  # 0: "back", 1: "forward"
PI = np.array([0.3, 0.7])  # the policy evaluated: forward 7 times in 10, whatever the state


def mdp_step(i: int, a: int) -> tuple[float, int | None]:
    """Deterministic chain: forward moves right and pays 2 on leaving the last state (episode
    ends); back moves left and pays 0.3 only when it bumps into the left wall."""
    if a == 1:
        return (2.0, None) if i == N_STATES - 1 else (0.0, i + 1)
    return (0.3, 0) if i == 0 else (0.0, i - 1)


def true_values() -> tuple[np.ndarray, np.ndarray]:
    """Q^pi and V^pi of the policy `PI`: solve Q = r + gamma * P_pi Q exactly."""
    n = N_STATES * 2
    system, r = np.eye(n), np.zeros(n)
    for i in range(N_STATES):
        for a in range(2):
            reward, j = mdp_step(i, a)
            r[2 * i + a] = reward
            if j is not None:
                system[2 * i + a, 2 * j : 2 * j + 2] -= GAMMA * PI
    q = np.linalg.solve(system, r).reshape(N_STATES, 2)
    return q, q @ PI


def mdp_transitions() -> list[Transition]:
    out = []
    for i in range(N_STATES):
        for a in range(2):
            reward, j = mdp_step(i, a)
            out.append(Transition(STATES[i], ACTIONS[a], reward, () if j is None else STATES[j], j is None))
    return out


PAIRS_S = [STATES[i] for i in range(N_STATES) for _ in range(2)]
PAIRS_A = [ACTIONS[a] for _ in range(N_STATES) for a in range(2)]


@pytest.fixture(scope="module")
def converged() -> ArcherLearner:
    config = ArcherConfig(
        gamma=GAMMA,
        tau=0.1,
        critic_lr=1e-3,
        critic_batch_size=64,
        hidden_size=32,
        encoder_layers=1,
        max_state_tokens=8,
        max_action_tokens=4,
        buffer_size=100,
    )
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    learner = ArcherLearner(64, config, seed=0)
    learner.buffer.add(mdp_transitions())
    policy_rng = np.random.default_rng(1)

    def policy(states: list[list[int]]) -> list[list[int]]:  # fresh a' ~ pi(.|s)
        return [list(ACTIONS[k]) for k in policy_rng.choice(2, size=len(states), p=PI)]

    learner.train_critic(1000, policy)
    for group in learner.optimizer.param_groups:  # a lower rate at the end averages out the a' noise
        group["lr"] = 1e-4
    learner.train_critic(300, policy)
    torch.set_num_threads(previous)
    return learner


def test_critic_converges_to_the_true_q_and_v(converged):
    """The buffer holds each (s, a) once (a uniform behaviour policy) but V is fitted to fresh
    a' ~ PI: the critic must find Q^PI and V^PI, not the behaviour policy's values."""
    q_true, v_true = true_values()
    # the MDP is not trivial: values differ across states and actions
    assert np.ptp(v_true) > 0.1 and np.min(np.abs(q_true[:, 0] - q_true[:, 1])) > 0.1
    with torch.no_grad():
        q1, q2 = converged.critic.q_values(PAIRS_S, PAIRS_A)
        v1, v2 = converged.critic.v_values(STATES)
    for q in (q1, q2):
        assert q.shape == (2 * N_STATES,)
        np.testing.assert_allclose(q.numpy().reshape(N_STATES, 2), q_true, atol=0.06)
    for v in (v1, v2):
        assert v.shape == (N_STATES,)
        np.testing.assert_allclose(v.numpy(), v_true, atol=0.06)


def test_advantages_are_min_q_minus_min_v_and_rank_the_actions(converged):
    adv = converged.advantages(PAIRS_S, PAIRS_A, batch_size=3)  # chunks of 3 exercise the batching
    assert adv.dtype == np.float64 and adv.shape == (2 * N_STATES,)
    with torch.no_grad():
        q1, q2 = converged.critic.q_values(PAIRS_S, PAIRS_A)
        v1, v2 = converged.critic.v_values(PAIRS_S)
    expected = (torch.minimum(q1, q2) - torch.minimum(v1, v2)).double().numpy()
    np.testing.assert_allclose(adv, expected, rtol=0, atol=1e-6)
    q_true, _ = true_values()
    better = q_true.argmax(axis=1)
    adv = adv.reshape(N_STATES, 2)
    for i in range(N_STATES):
        assert adv[i, better[i]] > 0 > adv[i, 1 - better[i]], (i, adv[i], q_true[i])
    np.testing.assert_allclose(adv, q_true - (q_true @ PI)[:, None], atol=0.06)


def test_sarsa_variant_and_terminal_rows():
    """Without sample_actions, V regresses to Q of the buffer's own action; terminal rows
    bootstrap nothing (a one-step bandit: Q = r exactly)."""
    config = ArcherConfig(
        critic_lr=3e-3, critic_batch_size=32, hidden_size=32, encoder_layers=1, max_state_tokens=4, max_action_tokens=4
    )
    learner = ArcherLearner(16, config, seed=1)
    bandit = [Transition((1,), (2,), 1.0, (), True), Transition((1,), (3,), -1.0, (), True)]
    learner.buffer.add(bandit * 2 + [bandit[0]])  # the behaviour policy picks action (2,) 3 times in 5
    metrics = learner.train_critic(400)
    assert metrics["done_fraction"] == 1.0 and metrics["steps"] == 400.0
    with torch.no_grad():
        q1, _ = learner.critic.q_values([(1,), (1,)], [(2,), (3,)])
        v1, _ = learner.critic.v_values([(1,)])
    np.testing.assert_allclose(q1.numpy(), [1.0, -1.0], atol=0.06)
    np.testing.assert_allclose(v1.numpy(), [0.2], atol=0.1)  # 0.6 * 1 + 0.4 * (-1)


# -- encoder details ---------------------------------------------------------------------------


def test_states_are_truncated_from_the_left_and_ids_checked():
    critic = ArcherCritic(50, ArcherConfig(hidden_size=16, encoder_layers=1, max_state_tokens=3))
    with torch.no_grad():
        v_a, _ = critic.v_values([[1, 2, 9, 8, 7], [4, 9, 8, 7], [9, 8, 6]])
        v_empty, _ = critic.v_values([[]])  # an empty sequence still encodes (the begin token)
    assert v_a[0] == v_a[1] and v_a[0] != v_a[2]  # only the last 3 tokens count
    assert torch.isfinite(v_empty).all()
    with pytest.raises(ValueError, match="token ids"):
        critic.v_values([[1, 50]])
    with pytest.raises(ValueError, match="actions"):
        critic.q_values([[1]], [[1], [2]])


def test_pretrained_encoder_path(tmp_path):
    transformers = pytest.importorskip("transformers")
    bert = transformers.BertConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    transformers.BertModel(bert).save_pretrained(tmp_path)
    config = ArcherConfig(encoder=str(tmp_path), hidden_size=16, critic_batch_size=4)
    learner = ArcherLearner(40, config, seed=0)
    learner.buffer.add(chain(3))  # ids up to 102: too big for this vocabulary
    with pytest.raises(ValueError, match="token ids"):
        learner.critic_step()
    learner.buffer = ReplayBuffer()
    learner.buffer.add([Transition((1, 2, 3), (4,), 1.0, (5, 6), False), Transition((5, 6), (), 0.0, (), True)])
    metrics = learner.critic_step(lambda states: [[7, 8] for _ in states])
    assert np.isfinite(list(metrics.values())).all()
    adv = learner.advantages([(1, 2, 3), ()], [(4,), ()])
    assert adv.shape == (2,) and np.isfinite(adv).all()
    with pytest.raises(ValueError, match="vocab_size"):
        ArcherCritic(41, config)


# -- learner bookkeeping and exact resume --------------------------------------------------------


def small_learner(seed: int, **overrides) -> ArcherLearner:
    config = ArcherConfig(
        **{"hidden_size": 16, "encoder_layers": 1, "critic_batch_size": 8, "critic_steps": 3, **overrides}
    )
    return ArcherLearner(200, config, seed=seed)


def deterministic_policy(states: list[list[int]]) -> list[list[int]]:
    return [[s[-1] % 5, 1] for s in states]


def test_learner_add_counts_and_actor_warmup():
    group = Group(
        group_id="g",
        task=Task(env_id="e"),
        trajectories=[trajectory("g/0", [turn(0, [1], [2], 1.0), turn(1, [1, 2, 3], [4])])],
    )
    learner = small_learner(0, warmup_iterations=1)
    with pytest.raises(ValueError, match="empty"):
        learner.critic_step()
    assert learner.add([group]) == 2 and len(learner.buffer) == 2
    assert not learner.actor_ready
    learner.train_critic()
    assert not learner.actor_ready  # one warm-up iteration done
    learner.train_critic(steps=1)
    assert learner.actor_ready and learner.iteration == 2 and learner.steps == 4
    with pytest.raises(ValueError, match="sample_actions"):
        learner.critic_step(lambda states: [[1]])
    with pytest.raises(ValueError, match="steps"):
        learner.train_critic(steps=0)


def test_state_dict_resume_is_bit_identical():
    a = small_learner(0)
    a.buffer.add(chain(6) + chain(4, start=20))
    a.train_critic(sample_actions=deterministic_policy)

    b = small_learner(1)  # another seed: different weights and rng until restored
    c = small_learner(1)
    b.load_state_dict(roundtrip(a.state_dict()))
    c.buffer.add(chain(6) + chain(4, start=20))

    metrics_a = a.critic_step(deterministic_policy)
    metrics_b = b.critic_step(deterministic_policy)
    metrics_c = c.critic_step(deterministic_policy)
    assert metrics_a == metrics_b and metrics_a != metrics_c
    for module in ("critic", "target"):
        params_a = dict(getattr(a, module).named_parameters())
        params_b = dict(getattr(b, module).named_parameters())
        params_c = dict(getattr(c, module).named_parameters())
        assert all(torch.equal(params_a[k], params_b[k]) for k in params_a)
        assert not all(torch.equal(params_a[k], params_c[k]) for k in params_a)
    assert a.iteration == b.iteration == 1 and a.steps == b.steps == 4
    # and the target is a Polyak average, not a copy
    assert not torch.equal(a.critic.v1[0].weight, a.target.v1[0].weight)
    assert not any(p.requires_grad for p in a.target.parameters())


def test_polyak_update_follows_tau():
    learner = small_learner(0, tau=0.25)
    learner.buffer.add(chain(5))
    before_target = {k: p.clone() for k, p in learner.target.named_parameters()}
    learner.critic_step()
    online = dict(learner.critic.named_parameters())
    for k, p in learner.target.named_parameters():
        torch.testing.assert_close(p, 0.75 * before_target[k] + 0.25 * online[k])


# -- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"gamma": 1.5}, "gamma"),
        ({"gamma": -0.1}, "gamma"),
        ({"tau": 0.0}, "tau"),
        ({"tau": 1.1}, "tau"),
        ({"critic_lr": 0.0}, "critic_lr"),
        ({"critic_lr": float("nan")}, "critic_lr"),
        ({"critic_steps": 0}, "critic_steps"),
        ({"critic_batch_size": 2.5}, "critic_batch_size"),
        ({"buffer_size": 0}, "buffer_size"),
        ({"warmup_iterations": -1}, "warmup_iterations"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"hidden_size": 30, "encoder_heads": 4}, "divisible"),
        ({"encoder": ""}, "encoder"),
        ({"max_state_tokens": 0}, "max_state_tokens"),
        ({"max_action_tokens": True}, "max_action_tokens"),
    ],
)
def test_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ArcherConfig(**kwargs)


def test_config_defaults_are_the_papers():
    config = ArcherConfig()
    assert (config.gamma, config.tau, config.max_grad_norm) == (0.95, 0.1, 1.0)
    assert (config.critic_steps, config.buffer_size) == (50, 100_000)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0)
