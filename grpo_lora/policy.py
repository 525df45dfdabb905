"""The trained policy: a base model with a peft LoRA adapter (rank 1 and up), or all of it (FullFT).

It knows what the engine needs after each update (adapter tensors, or full weights) and how to score
sampled tokens (teacher-forced log-probs). The study's defaults: alpha 32 with peft's alpha/r scaling,
peft's init (A random, B zero, so step 0 is the base model), every linear layer adapted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
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

    @property
    def is_lora(self) -> bool:
        return self.rank is not None

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    def weights_for_engine(self) -> dict[str, torch.Tensor]:
        """LoRA: the adapter tensors under peft's names; FullFT: every weight under transformers' names."""
        if self.is_lora:
            from peft import get_peft_model_state_dict

            return {k: v.detach() for k, v in get_peft_model_state_dict(self.model).items()}
        return {k: v.detach() for k, v in self.model.state_dict().items()}

    def sync(self, engine, version: int) -> None:
        if self.is_lora:
            engine.load_adapter(self.weights_for_engine(), version, self.lora_config)
        else:
            engine.load_weights(self.weights_for_engine())

    def save(self, path: Path) -> None:
        """peft's adapter format for LoRA (loadable by peft and by vLLM as is), or the full model."""
        self.model.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)


def load_policy(
    model_path: str | Path,
    rank: int | None,
    alpha: float = 32,
    targets: str | list[str] = "all",
    dropout: float = 0.0,
    dtype: torch.dtype = torch.float32,
    adapter_path: str | Path | None = None,
) -> Policy:
    """``rank=None`` is FullFT. ``adapter_path`` resumes a peft adapter saved by :meth:`Policy.save`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_model_path(model_path)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    if rank is None:
        model.train()
        return Policy(model, tokenizer, None, None)
    from peft import LoraConfig, PeftModel, get_peft_model

    modules = target_modules(model, targets)
    if adapter_path is not None:
        model = PeftModel.from_pretrained(model, adapter_path, is_trainable=True)
    else:
        config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=modules)
        model = get_peft_model(model, config)
    model.train()
    engine_config = {"r": rank, "lora_alpha": alpha, "target_modules": modules}
    return Policy(model, tokenizer, rank, engine_config)


def token_logprobs(
    model: nn.Module,
    prompt_ids: list[list[int]],
    completion_ids: list[list[int]],
    temperature: float = 1.0,
    pad_id: int = 0,
    with_entropy: bool = False,
):
    """Teacher-forced log-probs of each completion token, right-padded: ``(logp_NT, mask_NT)``, and
    with ``with_entropy`` also the per-token entropy of the (temperature-scaled) distribution.

    The logits are divided by ``temperature`` so that these are log-probs of the distribution the
    sampler drew from (vLLM's processed log-probs), which the importance ratio compares against.
    """
    n = len(prompt_ids)
    lengths = [len(p) + len(c) for p, c in zip(prompt_ids, completion_ids)]
    width = max(lengths)
    t_max = max(max((len(c) for c in completion_ids), default=0), 1)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    attn = torch.zeros((n, width), dtype=torch.long)
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        ids[i, : lengths[i]] = torch.tensor(p + c)
        attn[i, : lengths[i]] = 1
    device = next(model.parameters()).device
    logits = model(input_ids=ids.to(device), attention_mask=attn.to(device)).logits.float()
    logits = logits / temperature if temperature > 0 else logits
    # token at position j is predicted by the logits at j-1
    index = torch.zeros((n, t_max), dtype=torch.long)
    target = torch.zeros((n, t_max), dtype=torch.long)
    mask = torch.zeros((n, t_max), dtype=torch.bool)
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        k = len(c)
        index[i, :k] = torch.arange(len(p) - 1, len(p) - 1 + k)
        target[i, :k] = torch.tensor(c, dtype=torch.long)
        mask[i, :k] = True
    index, target, mask = index.to(device), target.to(device), mask.to(device)
    picked = torch.gather(
        logits, 1, index.unsqueeze(-1).expand(-1, -1, logits.shape[-1])
    )  # (N, T, V)
    logp_all = F.log_softmax(picked, dim=-1)
    logp_NT = torch.gather(logp_all, 2, target.unsqueeze(-1)).squeeze(-1)
    logp_NT = torch.where(mask, logp_NT, torch.zeros_like(logp_NT))
    if not with_entropy:
        return logp_NT, mask
    entropy_NT = -(logp_all.exp() * logp_all).sum(-1).detach()
    return logp_NT, mask, torch.where(mask, entropy_NT, torch.zeros_like(entropy_NT))
