"""The trained policy: a base model with a peft LoRA adapter (rank 1 and up), or all of it (FullFT).

It knows what the engine needs after each update (adapter tensors, or full weights) and how to score
sampled tokens (teacher-forced log-probs). The study's defaults: alpha 32 with peft's alpha/r scaling,
peft's init (A random, B zero, so step 0 is the base model), every linear layer adapted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from grpo_lora.engines.base import check_model_path

ATTN_WORDS = ("attn", "attention")
MLP_WORDS = ("mlp", "ffn", "feed_forward")


def target_modules(model: nn.Module, targets: str | list[str]) -> list[str]:
    """Leaf names of the linear layers to adapt: ``all`` (every linear layer but the output head),
    ``mlp``, ``attn``, or an explicit list, which must name modules the model has."""
    linear = {
        name: name.rsplit(".", 1)[-1]
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and not name.endswith(("lm_head", "embed_out", "output"))
    }
    leaves = sorted(set(linear.values()))
    if isinstance(targets, list):
        unknown = sorted(set(targets) - set(leaves))
        if unknown:
            raise ValueError(
                f"lora.targets: {unknown} are not linear layers of the model ({leaves})"
            )
        return sorted(targets)
    words = {"all": None, "attn": ATTN_WORDS, "mlp": MLP_WORDS}
    if targets not in words:
        raise ValueError(f"lora.targets: {targets!r} is not one of all, mlp, attn or a list")
    if words[targets] is None:
        return leaves
    picked = sorted(
        {leaf for name, leaf in linear.items() if any(w in name for w in words[targets])}
    )
    if not picked:
        raise ValueError(f"lora.targets: the model has no {targets} linear layers ({leaves})")
    return picked


@dataclass
class Policy:
    model: nn.Module  # a peft PeftModel for LoRA, the transformers model for FullFT
    tokenizer: object
    rank: int | None  # None for FullFT
    lora_config: dict | None  # peft-style config the engine needs: r, lora_alpha, target_modules
    dtype: torch.dtype = torch.float32  # compute dtype of the forward (autocast when not fp32)
    adapter: str = "default"  # this policy's adapter in the peft model (a pack has several)

    @property
    def is_lora(self) -> bool:
        return self.rank is not None

    def trainable_parameters(self) -> list[nn.Parameter]:
        if not self.is_lora:
            return [p for p in self.model.parameters() if p.requires_grad]
        return [p for n, p in self.model.named_parameters() if f".{self.adapter}." in n]

    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    def activate(self) -> None:
        """Make this policy's adapter the one the model runs and trains (a pack shares the model)."""
        if self.is_lora and self.model.active_adapter != self.adapter:
            self.model.set_adapter(self.adapter)

    def weights(self) -> dict[str, torch.Tensor]:
        """What a checkpoint holds: the adapter's tensors under peft's names (the adapter's name
        left out, as in peft's files), or the model's state dict."""
        if self.is_lora:
            from peft import get_peft_model_state_dict

            return get_peft_model_state_dict(self.model, adapter_name=self.adapter)
        return self.model.state_dict()

    def load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        if self.is_lora:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.model, weights, adapter_name=self.adapter)
        else:
            self.model.load_state_dict(weights, strict=False)

    def weights_for_engine(self) -> dict[str, torch.Tensor]:
        """LoRA: the adapter tensors under peft's names; FullFT: every weight under transformers'
        names, each storage once (tied embeddings are sent as the embedding alone)."""
        if self.is_lora:
            return {k: v.detach() for k, v in self.weights().items()}
        out, seen = {}, set()
        for k, v in self.model.state_dict().items():
            if v.data_ptr() in seen:  # a tied copy (lm_head = embed_tokens): the engine ties it
                continue
            seen.add(v.data_ptr())
            out[k] = v.detach()
        return out

    def sync(self, engine, version: int) -> None:
        if self.is_lora:
            engine.load_adapter(self.weights_for_engine(), version, self.lora_config, self.adapter)
        else:
            engine.load_weights(self.weights_for_engine())

    def save(self, path: Path) -> None:
        """peft's adapter format for LoRA (loadable by peft and by vLLM as is), or the full model."""
        if self.is_lora:
            from peft.utils import SAFETENSORS_WEIGHTS_NAME
            from safetensors.torch import save_file

            path.mkdir(parents=True, exist_ok=True)
            weights = {k: v.detach().contiguous() for k, v in self.weights().items()}
            save_file(weights, path / SAFETENSORS_WEIGHTS_NAME, metadata={"format": "pt"})
            self.model.peft_config[self.adapter].save_pretrained(path)
        else:
            self.model.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)


@dataclass(frozen=True)
class Adapter:
    """One LoRA adapter to put on a base model."""

    rank: int
    alpha: float = 32
    targets: str | list[str] = "all"
    dropout: float = 0.0
    seed: int = 0  # its A matrices' random init
    name: str = "default"


def load_policy(
    model_path: str | Path,
    rank: int | None,
    alpha: float = 32,
    targets: str | list[str] = "all",
    dropout: float = 0.0,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> Policy:
    """``rank=None`` is FullFT; else one LoRA adapter (see `load_adapters`).

    ``dtype`` is the compute dtype. Whatever it is, what the optimizer updates stays fp32 (a bf16
    weight cannot hold an update 1e-4 of its size): FullFT keeps fp32 weights and computes under
    autocast; LoRA keeps the frozen base in ``dtype`` (half the memory) and peft keeps the adapter
    in fp32."""
    if rank is None:
        model, tokenizer = _load_base(model_path, torch.float32)
        model.train()
        return Policy(model, tokenizer, None, None, dtype)
    adapter = Adapter(rank, alpha, targets, dropout, seed)
    return load_adapters(model_path, [adapter], dtype)[0]


def load_adapters(
    model_path: str | Path, adapters: list[Adapter], dtype: torch.dtype = torch.float32
) -> list[Policy]:
    """One base model carrying several LoRA adapters (a pack), one `Policy` each; the first is
    active. Each adapter's init is seeded by its own ``seed`` just before it is made, so it is the
    same adapter however many others share the model."""
    from peft import LoraConfig, get_peft_model

    model, tokenizer = _load_base(model_path, dtype)
    modules = [target_modules(model, a.targets) for a in adapters]
    policies = []
    for a, targets in zip(adapters, modules):
        config = LoraConfig(
            r=a.rank, lora_alpha=a.alpha, lora_dropout=a.dropout, target_modules=targets
        )
        torch.manual_seed(a.seed)
        if not policies:
            model = get_peft_model(model, config, adapter_name=a.name)
        else:
            model.add_adapter(a.name, config)
        engine_config = {"r": a.rank, "lora_alpha": a.alpha, "target_modules": targets}
        policies.append(Policy(model, tokenizer, a.rank, engine_config, dtype, a.name))
    model.set_adapter(adapters[0].name)
    model.train()
    return policies


def _load_base(model_path: str | Path, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_model_path(model_path)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    return AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype), tokenizer
