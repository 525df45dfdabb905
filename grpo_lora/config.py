"""Recipe configuration: typed sections, YAML loading, ``key.sub=value`` overrides.

Every field explains itself beside its default; the defaults are the study's ("LoRA Without Regret"):
rank-1 LoRA on every linear layer, alpha 32, constant learning rate, unclipped importance-sampled policy
gradient with mean-centred group advantages, no KL. An unknown key or a wrong type stops the run with one
line naming the field (`ConfigError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grpo_lora.advantages import ADVANTAGES
from grpo_lora.losses import LossConfig


class ConfigError(ValueError):
    """A bad recipe or override; the message is one line that names the field."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSection(Section):
    path: str = (
        "tiny"  # "tiny" = the embedded default (built on first use); a local folder or a hub id
    )
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"  # trainer and engine dtype


class LoraSection(Section):
    rank: int | Literal["full"] = Field(1, description="LoRA rank, or 'full' for full fine-tuning")
    alpha: float = Field(32.0, gt=0)  # the study's alpha; scaling alpha/r (peft's default)
    targets: Literal["all", "mlp", "attn"] | list[str] = "all"  # linear layers to adapt
    dropout: float = Field(0.0, ge=0, lt=1)

    @field_validator("rank")
    @classmethod
    def _rank_positive(cls, rank):
        if rank != "full" and rank < 1:
            raise ValueError("must be >= 1 or 'full'")
        return rank

    @property
    def full(self) -> bool:
        return self.rank == "full"


class EngineSection(Section):
    kind: Literal["vllm", "hf"] = "vllm"  # vllm: the real engine; hf: transformers generate
    temperature: float = Field(1.0, gt=0)  # sampling temperature of the rollouts
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(48, ge=1)  # completion budget; longer completions are truncated
    max_lora_rank: int | None = None  # engine's LoRA capacity; None = lora.rank
    gpu_memory_utilization: float = Field(0.3, gt=0, le=1)  # GPU only; the trainer shares the card
    cpu_kv_cache_gb: float = Field(1.0, gt=0)  # CPU only: KV cache size vLLM may use


class DataSection(Section):
    name: Literal["tiny-arith", "jsonl", "gsm8k", "math", "deepmath"] = "tiny-arith"
    source: str | None = (
        None  # jsonl: the training file; hub sets: a hub id or local file (default: hub)
    )
    heldout_source: str | None = None  # held-out file, where the set has no test split of its own
    template: Literal["plain", "chat", "raw"] = (
        "chat"  # prompt template for hub sets (tiny: its own)
    )
    prompts_per_step: int = Field(16, ge=1)  # P: distinct prompts per step, over all processes
    group_size: int = Field(8, ge=2)  # G: completions per prompt (a group)
    heldout_size: int = Field(256, ge=1)  # held-out problems in each evaluation
    max_train: int | None = None  # cap on training problems (deterministic)


class AlgorithmSection(Section):
    advantage: str = "mean_centred"  # mean_centred | grpo | rloo | dr_grpo
    loss: LossConfig = Field(default_factory=LossConfig)  # see grpo_lora/losses.py

    @field_validator("advantage")
    @classmethod
    def _known_advantage(cls, name):
        if name not in ADVANTAGES:
            raise ValueError(f"must be one of {sorted(ADVANTAGES)}")
        return name


class OptimizerSection(Section):
    lr: float = Field(1e-3, gt=0)  # AdamW learning rate (LoRA wants ~10x FullFT's: `grpo-lora lr`)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float | None = Field(1.0, gt=0)  # max global grad norm; None = no clipping
    updates_per_batch: int = Field(1, ge=1)  # optimizer steps on each batch of rollouts
    micro_batches: int = Field(
        1, ge=1
    )  # gradient accumulation: split each update's batch in this many


class ScheduleSection(Section):
    steps: int = Field(100, ge=1)  # training steps (one batch of rollouts each)
    warmup_steps: int = Field(0, ge=0)  # linear warmup from 0
    decay: Literal["constant", "cosine"] = "constant"  # after warmup
    min_lr_ratio: float = Field(0.0, ge=0, le=1)  # cosine floor as a fraction of lr


class LoggingSection(Section):
    eval_every: int = Field(
        25, ge=0
    )  # held-out eval every K steps (and at start and end); 0 = only those
    eval_k: int = Field(8, ge=1)  # samples per held-out problem for pass@k
    tensorboard: bool = True
    wandb: bool = False  # needs the `wandb` extra
    wandb_project: str = "grpo-lora"
    progress: bool = True  # rich progress bar on the terminal


class CheckpointSection(Section):
    every: int = Field(25, ge=0)  # save every K steps (and at the end); 0 = only at the end
    keep: int = Field(2, ge=1)  # checkpoints kept on disk


class Config(Section):
    seed: int = 0  # seeds data order, vLLM requests (per step and prompt) and torch
    run_dir: str = "runs/default"  # everything the run writes goes here
    model: ModelSection = Field(default_factory=ModelSection)
    lora: LoraSection = Field(default_factory=LoraSection)
    engine: EngineSection = Field(default_factory=EngineSection)
    data: DataSection = Field(default_factory=DataSection)
    algorithm: AlgorithmSection = Field(default_factory=AlgorithmSection)
    optimizer: OptimizerSection = Field(default_factory=OptimizerSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)

    @model_validator(mode="after")
    def _consistent(self):
        cap = self.engine.max_lora_rank
        if cap is not None and not self.lora.full and cap < self.lora.rank:
            raise ValueError(f"is below lora.rank {self.lora.rank}")
        return self

    def derived(self, world_size: int = 1) -> dict[str, int]:
        """Quantities people compute by hand and get wrong; printed once at start."""
        p, g = self.data.prompts_per_step, self.data.group_size
        if p % world_size:
            raise ConfigError(
                f"data.prompts_per_step {p} is not divisible by the number of processes {world_size}"
            )
        if (p // world_size * g) % self.optimizer.micro_batches:
            raise ConfigError(
                f"optimizer.micro_batches {self.optimizer.micro_batches} does not divide the "
                f"{p // world_size * g} completions each process trains on per step"
            )
        return {
            "completions_per_step": p * g,
            "prompts_per_process": p // world_size,
            "max_completion_tokens_per_step": p * g * self.engine.max_tokens,
            "episodes_total": p * g * self.schedule.steps,
        }


def parse_overrides(overrides: list[str]) -> dict:
    """``["lora.rank=4", "optimizer.lr=3e-4"]`` -> nested dict; values are YAML scalars/lists."""
    out: dict = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with another override of {part!r}")
        node[leaf] = value
    return out


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def build_config(data: dict) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "engine.max_lora_rank"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        got = err.get("input")
        shown = (
            "" if err["type"] == "extra_forbidden" or isinstance(got, dict) else f" (got {got!r})"
        )
        raise ConfigError(f"{field}: {msg}{shown}") from None


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"recipe {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(
                f"recipe {path} is not valid YAML: {str(e).splitlines()[0]}"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"recipe {path} must be a mapping of sections, not {type(data).__name__}"
            )
    return build_config(_merge(data, parse_overrides(overrides or [])))


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
