"""IGPO's information-gain turn rewards (Wang et al., arXiv 2510.14967): scored with a model
whose behaviour is known (an induction-head "copy" model), checked by hand against
`agentgym.policies.hf.score` with the tiny chat model, and fed to `igpo_advantages`."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="IGPO's scores need torch (pip install 'agentgym[train]')")
pytest.importorskip("transformers", reason="IGPO's scores need transformers (pip install 'agentgym[train]')")

from agentgym.policies.hf import score  # noqa: E402
from agentgym.rollout.prompts import HistoryTurn, PromptBuilder  # noqa: E402
from agentgym.rollout.types import Group, Task, Trajectory, Turn  # noqa: E402
from agentgym.trainers.advantages import igpo_advantages  # noqa: E402
from agentgym.trainers.igpo import ground_truth_scores, information_gain_rewards  # noqa: E402
from agentgym.trainers.steps import StepTable  # noqa: E402
from agentgym.types import Observation  # noqa: E402

ANSWER = "kiwi"
SYSTEM = "Answer the question. Search by writing <search>words</search>; answer by writing <answer>the answer</answer>."
QUESTION = "Question: which fruit is brown and fuzzy outside and green inside?"
NOTHING = "Results: no page matches those words."
REVEAL = f"Results: the fruit that is brown and fuzzy outside and green inside is the {ANSWER}."
SEARCHES = ["<search>brown fuzzy fruit</search>", "<search>green fruit</search>", "<search>fuzzy fruit</search>"]
COPY_BIGRAMS = ("ki", "iw", "wi")  # the answer's letter pairs: what the copy model can copy


# --- fixtures: the tiny chat model and a copy model over its vocabulary --------------------------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agentgym.policies.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("igpo-tiny"))


@pytest.fixture(scope="module")
def tokenizer(tiny_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_dir)


@pytest.fixture(scope="module")
def tiny_model(tiny_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_dir).eval()


class CopyModel(torch.nn.Module):
    """An induction head with the causal-LM call interface: at position i, every token that
    followed an earlier occurrence of token i gets logit `strength`, every other token 0. It
    ignores positions and padding (masked tokens are never copied), so a padded batch scores
    exactly as its rows alone. `calls` counts forward passes."""

    def __init__(self, vocab_size: int, strength: float = 8.0):
        super().__init__()
        self.vocab_size = vocab_size
        self.strength = torch.nn.Parameter(torch.tensor(strength))
        self.calls = 0

    def forward(self, input_ids, attention_mask=None, position_ids=None, **kwargs):
        self.calls += 1
        length = input_ids.shape[1]
        real = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        earlier = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).tril(-1)  # [i, k]: k < i
        same = (input_ids[:, :, None] == input_ids[:, None, :]) & earlier & real[:, None, :] & real[:, :, None]
        follower = torch.nn.functional.one_hot(input_ids[:, 1:], self.vocab_size).float() * real[:, 1:, None]
        seen = (same[:, :, :-1].float() @ follower).clamp(max=1.0)  # [b, i, v]: v followed token i before
        return SimpleNamespace(logits=self.strength * seen)


@pytest.fixture
def copy_model(tokenizer) -> CopyModel:
    return CopyModel(len(tokenizer))


# --- trajectories built as the rollout builds them ----------------------------------------------


def trajectory(
    tokenizer, observations: list[str], actions: list[str], *, episode_id: str, outcome: float = 1.0, truth=ANSWER
) -> Trajectory:
    """An episode whose turn t answered observations[t] with actions[t]; the last turn answers
    and gets `outcome`. Prompts come from the rollout's PromptBuilder (full history)."""
    builder, history, turns = PromptBuilder(tokenizer), [], []
    for index, (text, action) in enumerate(zip(observations, actions, strict=True)):
        response = tokenizer.encode(action, add_special_tokens=False) + [tokenizer.eos_token_id]
        turns.append(
            Turn(
                index=index,
                prompt_ids=builder.build(SYSTEM, history, Observation(text=text)),
                response_ids=response,
                response_logprobs=[-1.0] * len(response),
                response_text=action,
                finish_reason="stop",
                observation=text,
                anchor=text,
                reward=outcome if index == len(observations) - 1 else 0.0,
            )
        )
        history.append(HistoryTurn(text, action))
    return Trajectory(
        episode_id=episode_id, group_id="g", task=Task(env_id="qa-v0", seed=0), turns=turns, ground_truth=truth
    )


def revealing(tokenizer, episode_id: str = "reveal", outcome: float = 1.0) -> Trajectory:
    """Four turns; the observation answering turn 1 (shown in turn 2's prompt) names the answer."""
    return trajectory(
        tokenizer,
        [QUESTION, NOTHING, REVEAL, NOTHING],
        [*SEARCHES, f"<answer>{ANSWER}</answer>"],
        episode_id=episode_id,
        outcome=outcome,
    )


def searching(tokenizer, episode_id: str, outcome: float) -> Trajectory:
    """Four turns, no observation names the answer."""
    return trajectory(
        tokenizer,
        [QUESTION, NOTHING, NOTHING, NOTHING],
        [*SEARCHES, f"<answer>{ANSWER}</answer>"],
        episode_id=episode_id,
        outcome=outcome,
    )


# --- the copy model: the gain sits on the turn that reveals the answer -------------------------


def test_the_gain_is_positive_on_the_turn_that_reveals_the_answer(tokenizer, copy_model):
    episode = revealing(tokenizer)
    texts = [tokenizer.decode(turn.prompt_ids) for turn in episode.turns]
    # the premise: before the reveal no prompt holds a letter pair of the answer
    assert not any(pair in text.lower() for text in texts[:2] for pair in COPY_BIGRAMS)
    assert ANSWER in texts[2] and ANSWER in texts[3]

    ig = information_gain_rewards(
        copy_model, tokenizer, [Group(group_id="g", task=episode.task, trajectories=[episode])]
    )

    assert ig.shape == (4,) and np.isnan(ig[3]) and np.isfinite(ig[:3]).all()
    assert ig[1] > 1.0  # the turn whose observation revealed the answer
    assert abs(ig[0]) < 0.1 * ig[1] and abs(ig[2]) < 0.1 * ig[1]  # the others changed little
    # the same in the probability variant
    prob = information_gain_rewards(
        copy_model, tokenizer, [Group(group_id="g", task=episode.task, trajectories=[episode])], variant="prob"
    )
    assert prob[1] > 0 and prob[1] > 10 * max(abs(prob[0]), abs(prob[2]))


def test_copy_model_scores_match_their_closed_form(tokenizer, copy_model):
    """Every context's score, before and after the reveal, is the mean over the answer's tokens of
    the copy model's log-probability, computed here from its definition."""
    episode = revealing(tokenizer)
    prefix = tokenizer.encode("<answer>", add_special_tokens=False)
    answer = tokenizer.encode(ANSWER, add_special_tokens=False)
    values = ground_truth_scores(copy_model, tokenizer, [t.prompt_ids for t in episode.turns], [ANSWER] * 4)
    strength = copy_model.strength.item()
    for context, value in zip((t.prompt_ids for t in episode.turns), values, strict=True):
        sequence = context + prefix + answer
        expected = []
        for j, target in enumerate(answer):
            i = len(context) + len(prefix) + j - 1  # the position whose logits predict answer[j]
            copyable = {sequence[k + 1] for k in range(i) if sequence[k] == sequence[i]}
            hit = strength if target in copyable else 0.0
            log_normaliser = math.log(len(copyable) * math.exp(strength) + (copy_model.vocab_size - len(copyable)))
            expected.append(hit - log_normaliser)
        assert value == pytest.approx(np.mean(expected), abs=1e-5)


def test_minibatches_are_one_forward_each_and_do_not_change_the_values(tokenizer, copy_model):
    group = Group(
        group_id="g",
        task=Task(env_id="qa-v0", seed=0),
        trajectories=[revealing(tokenizer), searching(tokenizer, "b", 1.0), searching(tokenizer, "c", 0.0)],
    )
    contexts = [t.prompt_ids for t in group.trajectories[0].turns + group.trajectories[1].turns]
    one = ground_truth_scores(copy_model, tokenizer, contexts, [ANSWER] * len(contexts), batch_size=1)
    unique = len({tuple(c) for c in contexts})  # the episodes' first two prompts are the same: scored once
    assert unique == len(contexts) - 2 and copy_model.calls == unique
    copy_model.calls = 0
    many = ground_truth_scores(copy_model, tokenizer, contexts, [ANSWER] * len(contexts), batch_size=3)
    assert copy_model.calls == math.ceil(unique / 3)
    np.testing.assert_allclose(many, one, rtol=0, atol=1e-6)

    copy_model.calls = 0
    ig = information_gain_rewards(copy_model, tokenizer, [group], batch_size=4)
    # 12 prompts, 6 distinct: the searching episodes repeat each other and the first two prompts
    # of the revealing one
    distinct = {tuple(turn.prompt_ids) for trajectory in group.trajectories for turn in trajectory.turns}
    assert len(distinct) == 6 and copy_model.calls == math.ceil(6 / 4)
    assert ig.shape == (12,)


# --- the real tiny model: shapes, NaN, no gradient, the variants, a hand computation ------------


def test_tiny_model_values_equal_a_hand_computation_with_score(tokenizer, tiny_model):
    episode = revealing(tokenizer)
    contexts = [turn.prompt_ids for turn in episode.turns]
    prefix = tokenizer.encode("<answer>", add_special_tokens=False)
    answer = tokenizer.encode(ANSWER, add_special_tokens=False)
    by_hand = [float(np.mean(score(tiny_model, context + prefix, answer))) for context in contexts]

    values = ground_truth_scores(tiny_model, tokenizer, contexts, [ANSWER] * 4, batch_size=3)
    np.testing.assert_allclose(values, by_hand, rtol=0, atol=1e-5)
    group = Group(group_id="g", task=episode.task, trajectories=[episode])
    ig = information_gain_rewards(tiny_model, tokenizer, [group])
    np.testing.assert_allclose(ig[:3], np.diff(by_hand), rtol=0, atol=2e-5)

    # another prefix and no prefix at all
    plain = ground_truth_scores(tiny_model, tokenizer, contexts[:1], [ANSWER], answer_prefix="")
    assert plain[0] == pytest.approx(np.mean(score(tiny_model, contexts[0], answer)), abs=1e-5)


def test_tiny_model_rows_nan_no_gradient_and_the_prob_variant(tokenizer, tiny_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    model.train()  # as during an update; scoring uses eval mode and restores this
    task = Task(env_id="qa-v0", seed=0)
    failed = searching(tokenizer, "failed", 0.0).model_copy(
        update={"status": "failed", "failure": "env_error: x", "ground_truth": None}
    )
    empty = Trajectory(episode_id="empty", group_id="g", task=task, truncated=True, truncation="context_overflow")
    single = trajectory(tokenizer, [QUESTION], [f"<answer>{ANSWER}</answer>"], episode_id="single")
    groups = [
        Group(group_id="g", task=task, trajectories=[revealing(tokenizer), failed, searching(tokenizer, "b", 0.0)]),
        Group(group_id="nothing", task=task, trajectories=[empty]),
        Group(group_id="h", task=task, trajectories=[single, searching(tokenizer, "c", 1.0)]),
    ]
    table = StepTable.from_groups(groups)

    ig = information_gain_rewards(model, tokenizer, groups, batch_size=5)
    assert ig.shape == (table.n_steps,) == (4 + 4 + 1 + 4,)
    assert np.isnan(ig[table.last]).all() and np.isfinite(ig[~table.last]).all()
    assert all(p.grad is None for p in model.parameters())
    assert model.training and torch.is_grad_enabled() and not torch.is_inference_mode_enabled()

    contexts = [t.prompt_ids for g in groups for tr in g.completed for t in tr.turns]
    logprob = ground_truth_scores(model, tokenizer, contexts, [ANSWER] * len(contexts))
    prob = ground_truth_scores(model, tokenizer, contexts, [ANSWER] * len(contexts), variant="prob")
    assert logprob.dtype == np.float64 and (logprob < 0).all()
    np.testing.assert_allclose(prob, np.exp(logprob), rtol=1e-12)
    ig_prob = information_gain_rewards(model, tokenizer, groups, variant="prob")
    steps = np.flatnonzero(~table.last)
    np.testing.assert_allclose(ig_prob[steps], prob[steps + 1] - prob[steps], rtol=0, atol=1e-7)
    np.testing.assert_allclose(ig[steps], logprob[steps + 1] - logprob[steps], rtol=0, atol=2e-5)
    assert all(p.grad is None for p in model.parameters())


def test_a_trajectory_without_ground_truth_is_a_clear_error(tokenizer, copy_model):
    task = Task(env_id="qa-v0", seed=0)
    blind = searching(tokenizer, "blind-episode", 1.0).model_copy(update={"ground_truth": None})
    group = Group(group_id="g", task=task, trajectories=[revealing(tokenizer), blind])
    with pytest.raises(ValueError, match=r"episode 'blind-episode'.*no ground truth.*info\['ground_truth'\]"):
        information_gain_rewards(copy_model, tokenizer, [group])
    with pytest.raises(ValueError, match="tokenizes to no tokens"):
        ground_truth_scores(copy_model, tokenizer, [[1, 2]], [""])
    with pytest.raises(ValueError, match="variant"):
        ground_truth_scores(copy_model, tokenizer, [[1, 2]], ["x"], variant="logits")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="contexts"):
        ground_truth_scores(copy_model, tokenizer, [[1, 2]], ["x", "y"])


# --- with igpo_advantages: the revealing turn earns the advantage -------------------------------


@pytest.mark.parametrize("pooling", ["separate", "joint"])
def test_the_revealing_trajectory_gets_the_higher_advantage_on_its_revealing_turn(tokenizer, copy_model, pooling):
    group = Group(
        group_id="g",
        task=Task(env_id="qa-v0", seed=0),
        trajectories=[
            revealing(tokenizer, "reveal", 1.0),
            searching(tokenizer, "same-outcome", 1.0),
            searching(tokenizer, "wrong", 0.0),
        ],
    )
    table = StepTable.from_groups([group])
    ig = information_gain_rewards(copy_model, tokenizer, [group])
    advantage = table.split(igpo_advantages(table, ig, pooling=pooling))
    revealed, same, wrong = advantage
    assert revealed[1] > 0
    assert revealed[1] > same[1] and revealed[1] > wrong[1]
    assert same[1] > wrong[1]  # the outcome still counts
    # without the information gain, the two right answers would be tied on that turn
    flat = table.split(igpo_advantages(table, np.zeros(table.n_steps), pooling=pooling))
    assert flat[0][1] == pytest.approx(flat[1][1])
    # no information arrives in the searching episodes: their gains are all equal (zero)
    ig_split = table.split(ig)
    np.testing.assert_allclose(ig_split[1][:3], ig_split[2][:3], atol=1e-9)
