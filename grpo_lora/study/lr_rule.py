"""The published learning-rate rule that `grpo-lora lr --model PATH_OR_NAME [--lora]` prints
(`grpo_lora.commands.lr`): a learning rate from the model's width and whether it is LoRA.

The rule (our own code, from two published sources):

    lr_fullft = 5e-5 * (2000 / hidden_size) ** p_family     p_llama = 0.781, p_qwen = 0.0775
    lr_lora   = 10 * lr_fullft                                (15x for runs under ~100 steps)

- The width law and its constants are tinker-cookbook's `hyperparam_utils.get_lr` (formula version,
  thinking-machines-lab/tinker-cookbook, `tinker_cookbook/hyperparam_utils.py`): a base LR of 5e-5
  scaled by (2000 / hidden_size) to a per-family exponent, calibrated on Llama and Qwen; it raises
  for other families. Later versions of that file replaced the formula by a table of per-model LoRA
  LRs measured in an SFT sweep (Tulu-3, batch 128, 780 steps), still with FullFT = LoRA / 10.
- The 10x factor is "LoRA Without Regret" (Schulman et al., Thinking Machines, 2025,
  https://thinkingmachines.ai/blog/lora/): with alpha = 32 and the 1/r scaling the best LoRA LR is
  about 10x the best FullFT LR (9.8x fitted), roughly independent of rank, and ~15x for short runs
  (under ~100 steps); tinker-cookbook's `get_lora_lr_over_full_finetune_lr` returns 10.

Caveats printed with every answer: both constants were fitted on supervised fine-tuning of models
with hidden sizes 2048-8192, not on RL; outside that range (the embedded tiny policy has
hidden_size 128) the law is an extrapolation, and a sweep (`grpo-lora sweep`) is the real answer.

`--model` is `tiny` (the embedded default), a local directory holding a `config.json`
(`hidden_size`, or `text_config.hidden_size`, and `model_type`), or a hub name from the small
built-in table `KNOWN_MODELS` (no network).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

BASE_LR = 5e-5  # FullFT LR at hidden_size 2000 (tinker-cookbook)
REF_HIDDEN = 2000
FAMILY_EXPONENT = {"llama": 0.781, "qwen": 0.0775}  # tinker-cookbook's calibrated families
LORA_MULTIPLIER = 10.0  # LoRA Without Regret: best LoRA LR / best FullFT LR
SHORT_RUN_MULTIPLIER = 15.0  # ... for runs under ~100 steps
CALIBRATED_HIDDEN = (2048, 8192)  # hidden sizes of the models the constants were fitted on

# Hidden sizes (and families) of a few common models, so that no network is needed.
KNOWN_MODELS: dict[str, tuple[int, str]] = {
    "Qwen/Qwen2.5-0.5B": (896, "qwen2"),
    "Qwen/Qwen2.5-0.5B-Instruct": (896, "qwen2"),
    "Qwen/Qwen2.5-1.5B": (1536, "qwen2"),
    "Qwen/Qwen2.5-1.5B-Instruct": (1536, "qwen2"),
    "Qwen/Qwen2.5-Math-1.5B": (1536, "qwen2"),
    "Qwen/Qwen2.5-3B": (2048, "qwen2"),
    "Qwen/Qwen2.5-7B": (3584, "qwen2"),
    "Qwen/Qwen2.5-7B-Instruct": (3584, "qwen2"),
    "Qwen/Qwen2.5-Math-7B": (3584, "qwen2"),
    "Qwen/Qwen3-0.6B": (1024, "qwen3"),
    "Qwen/Qwen3-1.7B": (2048, "qwen3"),
    "Qwen/Qwen3-4B": (2560, "qwen3"),
    "Qwen/Qwen3-8B": (4096, "qwen3"),
    "Qwen/Qwen3-8B-Base": (4096, "qwen3"),
    "Qwen/Qwen3-32B": (5120, "qwen3"),
    "Qwen/Qwen3-30B-A3B": (2048, "qwen3_moe"),
    "meta-llama/Llama-3.2-1B": (2048, "llama"),
    "meta-llama/Llama-3.2-1B-Instruct": (2048, "llama"),
    "meta-llama/Llama-3.2-3B": (3072, "llama"),
    "meta-llama/Llama-3.2-3B-Instruct": (3072, "llama"),
    "meta-llama/Llama-3.1-8B": (4096, "llama"),
    "meta-llama/Llama-3.1-8B-Instruct": (4096, "llama"),
    "meta-llama/Llama-3.1-70B": (8192, "llama"),
}


@dataclass
class ModelInfo:
    name: str
    hidden_size: int
    model_type: str
    source: str  # where hidden_size came from


@dataclass
class Suggestion:
    lr: float
    lr_fullft: float
    multiplier: float  # 1 for FullFT
    exponent: float | None  # None: family not calibrated, no width correction
    family: str | None
    notes: list[str]


def family_of(model_type: str) -> str | None:
    """`qwen2`, `qwen3_moe` -> `qwen`; `llama` -> `llama`; anything else -> None."""
    mt = model_type.lower()
    return next((f for f in FAMILY_EXPONENT if mt.startswith(f)), None)


def _from_config_json(path: Path, name: str) -> ModelInfo:
    try:
        cfg = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}") from e
    hidden = cfg.get("hidden_size") or (cfg.get("text_config") or {}).get("hidden_size")
    mtype = cfg.get("model_type") or (cfg.get("text_config") or {}).get("model_type") or ""
    if not isinstance(hidden, int) or hidden <= 0:
        raise ValueError(f"{path} has no positive integer `hidden_size`")
    return ModelInfo(name, hidden, str(mtype), f"{path}")


def model_info(model: str) -> ModelInfo:
    """hidden_size and model_type of `tiny` (or `tiny-w<N>`), a local model directory, or a known
    hub name."""
    if model == "tiny" or model.startswith("tiny-w"):
        from grpo_lora.models import resolve_model_path  # builds the policy on first use

        d = Path(resolve_model_path(model))
        info = _from_config_json(d / "config.json", model)
        info.source = f"the embedded tiny policy ({d / 'config.json'})"
        return info
    p = Path(model).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise ValueError(f"{p} is a directory but holds no config.json")
        return _from_config_json(p / "config.json", model)
    if p.is_file() and p.name == "config.json":
        return _from_config_json(p, model)
    if model in KNOWN_MODELS:
        hidden, mtype = KNOWN_MODELS[model]
        return ModelInfo(model, hidden, mtype, "grpo-lora's built-in table (no network)")
    known = ", ".join(sorted(KNOWN_MODELS))
    raise ValueError(
        f"unknown model {model!r}: give `tiny`, a local directory with a config.json, or one of: {known}"
    )


def suggest(info: ModelInfo, lora: bool, steps: int | None = None) -> Suggestion:
    """The rule's learning rate for `info` (see the module docstring for the formula and sources)."""
    notes = []
    family = family_of(info.model_type)
    exponent = FAMILY_EXPONENT.get(family) if family else None
    if exponent is None:
        notes.append(
            f"model_type {info.model_type!r} is not a calibrated family (llama, qwen): "
            "no width correction applied, the base LR 5e-5 is used as is"
        )
        lr_full = BASE_LR
    else:
        lr_full = BASE_LR * (REF_HIDDEN / info.hidden_size) ** exponent
    lo, hi = CALIBRATED_HIDDEN
    if not lo <= info.hidden_size <= hi:
        notes.append(
            f"hidden_size {info.hidden_size} is outside the calibrated range {lo}-{hi}: an "
            "extrapolation; sweep around it (`grpo-lora sweep`)"
        )
    notes.append("constants fitted on supervised fine-tuning, not RL; treat as a grid centre")
    mult = 1.0
    if lora:
        short = steps is not None and steps < 100
        mult = SHORT_RUN_MULTIPLIER if short else LORA_MULTIPLIER
    return Suggestion(lr_full * mult, lr_full, mult, exponent, family, notes)
