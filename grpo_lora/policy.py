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
    like. Work is shared: consecutive sequences with the same prompt (a group's G completions) run
    that prompt through the model once, and their completions attend to its keys and values
    (`_shared_prompt_hidden`; the same values, to float tolerance, and the same gradient). Memory is
    bounded: the model's own head runs on the last position only (``logits_to_keep=1``); the head
    is applied here to the real completion positions alone, in chunks of ``chunk_tokens`` rows whose
    (rows x vocabulary) logits are recomputed in backward rather than kept (a selective
    log-softmax), so no (tokens x vocabulary) tensor exists for a whole micro-batch.
    ``dtype`` bfloat16/float16 runs the forward under autocast (trainable weights stay in their own
    dtype, fp32).
    """
    device = next(model.parameters()).device
    inner = getattr(model, "module", model)  # DDP wraps; forward still goes through the wrapper
    mask_NT = batch.mask_NT.to(device)
    n_M, t_M = mask_NT.nonzero(as_tuple=True)  # (M,) every real completion token
    with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        hidden_MH, target_M = _shared_prompt_hidden(model, inner, batch, n_M, t_M, device)
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


def _shared_prompt_hidden(model, inner, batch: Batch, n_M, t_M, device) -> tuple[Tensor, Tensor]:
    """The decoder's hidden state at the position that predicts each real completion token
    (``(M, H)``) and that token (``(M,)``), for the tokens ``(n_M, t_M)``.

    Two passes: the distinct prompts (runs of equal consecutive prompts collapse to one), left-padded
    so that each ends at the last column, with their keys and values kept; then every completion,
    attending to its prompt's keys and values (the cache rows repeated for each completion) at
    positions prompt_len + t. Completion token 0 is predicted by the prompt's last position,
    token t > 0 by completion position t - 1."""
    ids_NL, plen_N, clen_N = batch.ids_NL, batch.prompt_len_N, batch.completion_len_N
    firsts, u_N = [], []  # the first row of each distinct prompt; each row's prompt
    for n in range(len(batch)):
        p = int(plen_N[n])
        f = firsts[-1] if firsts else None
        if f is None or int(plen_N[f]) != p or not torch.equal(ids_NL[n, :p], ids_NL[f, :p]):
            firsts.append(n)
        u_N.append(len(firsts) - 1)
    P, T = int(plen_N[firsts].max()), max(int(clen_N.max()), 1)
    pad = int(ids_NL[0, -1]) if ids_NL.shape[1] else 0  # any id: padding is masked out
    prompt_UP = torch.full((len(firsts), P), pad, dtype=torch.long)
    pmask_UP = torch.zeros((len(firsts), P), dtype=torch.long)
    for u, n in enumerate(firsts):
        p = int(plen_N[n])
        prompt_UP[u, P - p :], pmask_UP[u, P - p :] = ids_NL[n, :p], 1
    comp_NT = torch.full((len(batch), T), pad, dtype=torch.long)
    for n in range(len(batch)):
        p, c = int(plen_N[n]), int(clen_N[n])
        comp_NT[n, :c] = ids_NL[n, p : p + c]
    u_N = torch.tensor(u_N)
    cmask_NT = (torch.arange(T)[None, :] < clen_N[:, None]).long()

    captured = []
    hook = inner.get_decoder().register_forward_hook(lambda _m, _a, out: captured.append(out[0]))
    keep = _keep_one(inner)
    try:
        # the prompt pass bypasses a DDP wrapper: DDP prepares one backward per forward call
        prompts = inner(
            input_ids=prompt_UP.to(device),
            attention_mask=pmask_UP.to(device),
            position_ids=(pmask_UP.cumsum(1) - 1).clamp(min=0).to(device),
            use_cache=True,
            **keep,
        )
        cache = prompts.past_key_values
        cache.reorder_cache(u_N.to(device))  # each completion's copy of its prompt's cache
        model(
            input_ids=comp_NT.to(device),
            attention_mask=torch.cat([pmask_UP[u_N], cmask_NT], dim=1).to(device),
            position_ids=(plen_N[:, None] + torch.arange(T)[None, :]).to(device),
            past_key_values=cache,
            use_cache=True,
            **keep,
        )
    finally:
        hook.remove()
    prompt_hidden_UPH, comp_hidden_NTH = captured
    u_M = u_N.to(device)[n_M]
    from_prompt = prompt_hidden_UPH[u_M, -1]
    from_completion = comp_hidden_NTH[n_M, (t_M - 1).clamp(min=0)]
    hidden_MH = torch.where((t_M == 0)[:, None], from_prompt, from_completion)
    return hidden_MH, comp_NT.to(device)[n_M, t_M]


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
