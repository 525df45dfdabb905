"""The trained policy: a base model with a peft LoRA adapter (rank 1 and up), or all of it (FullFT).

It knows what the engine needs after each update (adapter tensors, or full weights) and how to score
sampled tokens (teacher-forced log-probs). The study's defaults: alpha 32 with peft's alpha/r scaling,
peft's init (A random, B zero, so step 0 is the base model), every linear layer adapted.
"""

from __future__ import annotations

from dataclasses import dataclass
from inspect import signature
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from grpo_lora.batch import Batch
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

    @property
    def is_lora(self) -> bool:
        return self.rank is not None

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    def weights_for_engine(self) -> dict[str, torch.Tensor]:
        """LoRA: the adapter tensors under peft's names; FullFT: every weight under transformers'
        names, each storage once (tied embeddings are sent as the embedding alone)."""
        if self.is_lora:
            from peft import get_peft_model_state_dict

            return {k: v.detach() for k, v in get_peft_model_state_dict(self.model).items()}
        out, seen = {}, set()
        for k, v in self.model.state_dict().items():
            if v.data_ptr() in seen:  # a tied copy (lm_head = embed_tokens): the engine ties it
                continue
            seen.add(v.data_ptr())
            out[k] = v.detach()
        return out

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
    """``rank=None`` is FullFT. ``adapter_path`` resumes a peft adapter saved by :meth:`Policy.save`.

    ``dtype`` is the compute dtype. Whatever it is, what the optimizer updates stays fp32 (a bf16
    weight cannot hold an update 1e-4 of its size): FullFT keeps fp32 weights and computes under
    autocast; LoRA keeps the frozen base in ``dtype`` (half the memory) and peft keeps the adapter
    in fp32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_model_path(model_path)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(
        model_path, dtype=torch.float32 if rank is None else dtype
    )
    if rank is None:
        model.train()
        return Policy(model, tokenizer, None, None, dtype)
    from peft import LoraConfig, PeftModel, get_peft_model

    modules = target_modules(model, targets)
    if adapter_path is not None:
        model = PeftModel.from_pretrained(model, adapter_path, is_trainable=True)
    else:
        config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=modules)
        model = get_peft_model(model, config)
    model.train()
    engine_config = {"r": rank, "lora_alpha": alpha, "target_modules": modules}
    return Policy(model, tokenizer, rank, engine_config, dtype)


def token_logprobs(
    model: nn.Module,
    batch: Batch,
    temperature: float = 1.0,
    dtype: torch.dtype = torch.float32,
    chunk_tokens: int = 1024,
) -> tuple[Tensor, Tensor]:
    """Teacher-forced log-probs of the sampled completion tokens and the entropy of the
    distributions they were drawn from: ``(logp_NT, entropy_NT)``, 0 on padding; entropy has no grad.

    Both are of the temperature-scaled distribution softmax(logits / temperature), the one vLLM
    samples from and reports ``processed_logprobs`` of, so the importance ratio compares like with
    like. Memory is bounded: the model's own head runs on the last position only
    (``logits_to_keep=1``); the head is applied here to the real completion positions alone, in
    chunks of ``chunk_tokens`` rows whose (rows x vocabulary) logits are recomputed in backward
    rather than kept (a selective log-softmax), so no (tokens x vocabulary) tensor exists for a
    whole micro-batch. ``dtype`` bfloat16/float16 runs the forward under autocast (trainable
    weights stay in their own dtype, fp32).
    """
    device = next(model.parameters()).device
    inner = getattr(model, "module", model)  # DDP wraps; forward still goes through the wrapper
    captured = {}
    hook = inner.get_decoder().register_forward_hook(
        lambda _m, _args, out: captured.__setitem__("hidden", out[0])
    )
    ids_NL = batch.ids_NL.to(device)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        try:
            model(
                input_ids=ids_NL, attention_mask=batch.attention_NL.to(device), **_keep_one(inner)
            )
        finally:
            hook.remove()
        mask_NT = batch.mask_NT.to(device)
        n_M, t_M = mask_NT.nonzero(as_tuple=True)  # (M,) every real completion token
        pos_M = batch.prompt_len_N.to(device)[n_M] + t_M  # its position in ids_NL
        hidden_MH = captured["hidden"][n_M, pos_M - 1]  # the position that predicts it
        target_M = ids_NL[n_M, pos_M]
        head = inner.get_output_embeddings()
        pieces = [
            checkpoint(
                _selective_logp,
                head,
                hidden_MH[i : i + chunk_tokens],
                target_M[i : i + chunk_tokens],
                temperature,
                use_reentrant=False,
            )
            for i in range(0, len(target_M), chunk_tokens)
        ]
    logp_M = torch.cat([p[0] for p in pieces]) if pieces else hidden_MH.new_zeros(0)
    entropy_M = torch.cat([p[1] for p in pieces]) if pieces else logp_M.detach()
    zeros_NT = torch.zeros(mask_NT.shape, dtype=logp_M.dtype, device=device)
    logp_NT = zeros_NT.index_put((n_M, t_M), logp_M)
    entropy_NT = zeros_NT.index_put((n_M, t_M), entropy_M)
    return logp_NT, entropy_NT


def _keep_one(model: nn.Module) -> dict:
    """Ask the model for its last position's logits only, where its forward allows it (a peft
    model passes the argument through to the transformers model it wraps)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {"logits_to_keep": 1} if "logits_to_keep" in signature(base.forward).parameters else {}


def _selective_logp(head, hidden_MH, target_M, temperature):
    """log softmax(head(h) / temperature)[target] and the entropy, for one chunk of rows."""
    logits_MV = head(hidden_MH)
    if logits_MV.dtype in (torch.bfloat16, torch.float16):  # log-softmax in at least fp32
        logits_MV = logits_MV.float()
    logits_MV = logits_MV / temperature
    lse_M = torch.logsumexp(logits_MV, dim=-1)
    logp_M = logits_MV.gather(1, target_M[:, None]).squeeze(1) - lse_M
    with torch.no_grad():
        entropy_M = lse_M - (logits_MV.softmax(-1) * logits_MV).sum(-1)
    return logp_M, entropy_M
