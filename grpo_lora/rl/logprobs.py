"""The trainer's log-probs of sampled completions: teacher-forced, of the temperature-scaled
distribution the engine samples from, with the prompt shared by its group's completions computed
once (`token_logprobs`)."""

from __future__ import annotations

from inspect import signature

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from grpo_lora.rl.batch import Batch


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
