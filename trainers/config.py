"""The training configuration: one YAML file, `agentgym train CONFIG.yaml`.

Every section has defaults (GiGPO's reference settings where the papers give them); a key the
schema does not know is an error that names it, so a typo never silently falls back to a
default. See examples/train/*.yaml for one config per algorithm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentgym.errors import AgentGymError

__all__ = [
    "ArcherSection",
    "ConfigError",
    "EnvSection",
    "GiGPOSection",
    "GRPOSection",
    "IGPOSection",
    "LoggingSection",
    "LossSection",
    "ModelSection",
    "NoCheckpoint",
    "OptimSection",
    "OutputDirInUse",
    "RolloutSection",
    "TrainConfig",
    "WarmStartSection",
    "load_config",
]

Algorithm = Literal["grpo", "gigpo", "igpo", "archer"]


class ConfigError(AgentGymError):
    """The training configuration is invalid: the message names the file, the key and the fix."""


class NoCheckpoint(FileNotFoundError):
    """--resume found no checkpoint in the output directory."""


class OutputDirInUse(FileExistsError):
    """The output directory holds another run's checkpoints: resume it, overwrite it, or pick another."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TinyModelSection(_Section):
    """The tiny model's size (`agentgym.policies.tiny.build_tiny_model`); its seed is the run's."""

    hidden_size: int = Field(64, ge=8)
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    vocab_size: int = Field(512, ge=300)
    max_positions: int = Field(4096, ge=64)

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TinyModelSection:
        if self.hidden_size % self.heads or (self.hidden_size // self.heads) % 2:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be heads ({self.heads}) x an even head size")
        return self


class ModelSection(_Section):
    """The policy model.

    Fields:
        name: a Hugging Face model name or local path, or "tiny": a small random model and a
            tokenizer trained on the environment's own text, built offline into
            `<output_dir>/tiny-model` (`agentgym.policies.tiny.build_tiny_model`).
        tiny: the tiny model's size (hidden_size, layers, heads, vocab_size, max_positions).
        dtype: "auto" (bfloat16 autocast on a GPU that supports it, float32 on CPU),
            "float32" or "bfloat16".
        device: "auto" (CUDA when available), "cpu" or "cuda[:N]".
    """

    name: str = "tiny"
    tiny: TinyModelSection = Field(default_factory=TinyModelSection)
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")


class EnvSection(_Section):
    """Where the episodes are played.

    Fields:
        id: the registered environment id.
        kwargs: keyword arguments for the environment (`agentgym.make(id, **kwargs)`).
        serve: start `agentgym serve ID` in a subprocess for the run and play over WebSocket
            (the environment then runs in its own process, as in production).
        url: the base URL of a running server (`ws://host:port` or `http://...`); excludes `serve`.
        seed_offset: task seeds are seed_offset + 0, 1, 2, ... (a group per seed).
        num_tasks: cycle through this many seeds (seed_offset .. seed_offset + num_tasks - 1),
            training on a fixed pool of tasks; None: a new seed for every group.
    """

    id: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    serve: bool = False
    url: str | None = None
    seed_offset: int = 0
    num_tasks: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_source(self) -> EnvSection:
        if self.serve and self.url:
            raise ValueError("set env.serve or env.url, not both")
        if self.serve and self.kwargs:
            raise ValueError("env.kwargs cannot be used with env.serve (a served environment uses its registered defaults)")
        return self


class RolloutSection(_Section):
    """How episodes are sampled (see `agentgym.rollout.RolloutEngine`).

    Fields:
        group_size: G, episodes per task (the group of GRPO / GiGPO / IGPO).
        groups_per_step: task groups per training step.
        max_in_flight: episodes played at once.
        max_turns / max_response_tokens: limits of an episode and of one response.
        history: past turns shown in the prompt (None: all).
        temperature: sampling temperature (the loss scores at the same temperature).
        max_staleness: consume only groups sampled by weights at most this many updates old.
        backend: "hf" samples with an `HFPolicy` in this process (weights synced in place);
            "vllm" with an in-process `VLLMPolicy` (a GPU and `pip install 'agentgym[vllm]'`;
            weights reloaded into the engine after every step).
        vllm: extra `vllm.AsyncEngineArgs` for the vllm backend (e.g. gpu_memory_utilization).
    """

    group_size: int = Field(8, ge=1)
    groups_per_step: int = Field(8, ge=1)
    max_in_flight: int = Field(64, ge=1)
    max_turns: int = Field(15, ge=1)
    max_response_tokens: int = Field(32, ge=1)
    history: int | None = Field(2, ge=0)
    temperature: float = Field(1.0, gt=0)
    max_staleness: int | None = Field(1, ge=0)
    backend: Literal["hf", "vllm"] = "hf"
    vllm: dict[str, Any] = Field(default_factory=dict)


class OptimSection(_Section):
    """The optimizer and the update schedule.

    Fields:
        steps: training steps (one batch of `groups_per_step` groups each).
        lr / weight_decay / betas: AdamW's.
        epochs: passes over each batch (PPO epochs).
        mini_batches: optimizer steps per epoch (the batch is split into this many parts).
        micro_batch_size: sequences per forward/backward; gradients of a mini-batch's
            micro-batches are accumulated (normalised by the mini-batch's token count).
        max_grad_norm: gradient clipping by global norm (None: off).
        warmup_steps: optimizer steps over which the learning rate rises linearly from lr /
            (warmup_steps + 1) to lr (0: none). Adam's first updates move every weight by about
            lr whatever the gradient's size, which can wreck a small or freshly warm-started model.
    """

    steps: int = Field(50, ge=1)
    lr: float = Field(1e-6, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.999)
    epochs: int = Field(1, ge=1)
    mini_batches: int = Field(1, ge=1)
    micro_batch_size: int = Field(32, ge=1)
    max_grad_norm: float | None = Field(1.0, gt=0)
    warmup_steps: int = Field(0, ge=0)


class LossSection(_Section):
    """The PPO-clip loss (`agentgym.trainers.loss`)."""

    clip_low: float = Field(0.2, ge=0, lt=1)
    clip_high: float = Field(0.2, ge=0)
    kl_coef: float = Field(0.01, ge=0)
    entropy_coef: float = Field(0.001, ge=0)


class GRPOSection(_Section):
    normalization: Literal["mean_std", "mean"] = "mean_std"


class GiGPOSection(_Section):
    """GiGPO's settings (`gigpo_advantages`): defaults from the paper's reference, except
    `invalid_penalty`: 0, because agentgym's environments already penalise an invalid action in
    their reward (the reference adds 0.1 since its environments do not; adding it here would
    charge GiGPO twice and make comparisons with GRPO unequal)."""

    gamma: float = Field(0.95, ge=0, le=1)
    omega: float = Field(1.0, ge=0)
    normalization: Literal["mean_std", "mean"] = "mean_std"
    invalid_penalty: float = Field(0.0, ge=0)
    episode_weighting: Literal["episode", "step"] = "episode"


class IGPOSection(_Section):
    """IGPO's settings: the information-gain reward and its advantage (`agentgym.trainers.igpo`)."""

    gamma: float = Field(1.0, ge=0, le=1)
    pooling: Literal["separate", "joint"] = "separate"
    variant: Literal["logprob", "prob"] = "logprob"
    answer_prefix: str = "<answer>"
    normalization: Literal["mean_std", "mean"] = "mean_std"


class ArcherSection(_Section):
    """ArCHer's critic settings (`agentgym.trainers.archer.ArcherConfig`; unset keys keep its
    defaults) and whether the V target uses fresh actions sampled from the current policy (the
    paper) or the replayed action."""

    critic: dict[str, Any] = Field(default_factory=dict)
    fresh_actions: bool = True


class WarmStartSection(_Section):
    """Behaviour cloning from an expert before RL.

    Fields:
        expert: "module:Class" of an agent with `reset(observation, system_prompt)` and
            `act(observation) -> str` (e.g. `agentgym.environments.sokoban.solver:SokobanSolver`).
        episodes: expert episodes played (in process, on seeds disjoint from training's).
        steps / batch_size / lr: the supervised updates (token-mean cross-entropy on the
            expert's responses, the end-of-turn token included).
    """

    expert: str
    episodes: int = Field(64, ge=1)
    steps: int = Field(100, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)


class LoggingSection(_Section):
    """Fields:
        tensorboard: also write TensorBoard event files (needs `tensorboard`).
        checkpoint_every: save a checkpoint every N steps (and always at the end); 0: only at the end.
        keep_checkpoints: keep the newest N checkpoints.
        save_trajectories: trajectories of the final batch written to trajectories.jsonl.
        progress: show a live progress display.
    """

    tensorboard: bool = True
    checkpoint_every: int = Field(10, ge=0)
    keep_checkpoints: int = Field(2, ge=1)
    save_trajectories: int = Field(8, ge=0)
    progress: bool = True


class TrainConfig(_Section):
    """The whole configuration. `output_dir` gets metrics.jsonl, tensorboard/, checkpoints/,
    curve.png, trajectories.jsonl and the final model (model/)."""

    algorithm: Algorithm = "gigpo"
    seed: int = Field(0, ge=0)
    output_dir: Path = Path("runs/agentgym")
    model: ModelSection = Field(default_factory=ModelSection)
    env: EnvSection
    rollout: RolloutSection = Field(default_factory=RolloutSection)
    optim: OptimSection = Field(default_factory=OptimSection)
    loss: LossSection = Field(default_factory=LossSection)
    grpo: GRPOSection = Field(default_factory=GRPOSection)
    gigpo: GiGPOSection = Field(default_factory=GiGPOSection)
    igpo: IGPOSection = Field(default_factory=IGPOSection)
    archer: ArcherSection = Field(default_factory=ArcherSection)
    warm_start: WarmStartSection | None = None
    logging: LoggingSection = Field(default_factory=LoggingSection)

    @model_validator(mode="after")
    def _valid_critic(self) -> TrainConfig:
        """ArCHer's critic settings are checked by `ArcherConfig` itself (only for archer runs:
        it imports torch)."""
        if self.algorithm != "archer":
            return self
        from agentgym.trainers.archer import ArcherConfig

        try:
            ArcherConfig(**self.archer.critic)
        except TypeError as error:
            raise ValueError(f"archer.critic: {error}; the keys are ArcherConfig's fields") from None
        except ValueError as error:
            raise ValueError(f"archer.critic: {error}") from None
        return self


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read and validate a YAML config; `overrides` maps dotted keys ("optim.steps") to values.

    Raises:
        ConfigError: the file is missing or not YAML, or a key or value is invalid.
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no config file at {path}; see examples/train/ for one per algorithm") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (algorithm, env, rollout, ...), got {type(data).__name__}")
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"cannot set {dotted}: {key} is not a section")
        node[leaf] = value
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}" for item in error.errors()
        )
        raise ConfigError(f"invalid config {path}: {problems}") from None
