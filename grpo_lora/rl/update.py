"""The update phase of a GRPO step: optimizer steps on one batch, each a gradient accumulated over
micro-batches of a token budget, whatever the number of processes; and the statistics it reports
(the loss's, and how far the trainer's log-probs are from the sampler's)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from accelerate import Accelerator
from torch import nn

from grpo_lora.config import OptimizerSection
from grpo_lora.rl import losses
from grpo_lora.rl.batch import Batch
from grpo_lora.rl.logprobs import token_logprobs


@dataclass
class Objective:
    """What an update minimises: a loss of `losses` (plus the optional KL to a frozen reference),
    on log-probs taken at the sampling temperature, computed in ``dtype``."""

    loss_fn: Callable
    loss_cfg: losses.LossConfig
    temperature: float
    dtype: torch.dtype = torch.float32
    ref_model: nn.Module | None = None


@dataclass
class Optim:
    """The optimizer, its settings (updates per batch, micro-batch token budget, clipping) and the
    accelerator that backpropagates and all-reduces for it."""

    optimizer: torch.optim.Optimizer
    settings: OptimizerSection
    accelerator: Accelerator


def global_totals(rollouts, accelerator) -> losses.Totals:
    """The step's sequence and completion-token counts over every process."""
    counts = torch.tensor(
        [len(rollouts), sum(len(r.completion_ids) for r in rollouts)], device=accelerator.device
    )
    if accelerator.num_processes > 1:
        counts = accelerator.reduce(counts, reduction="sum")
    return losses.Totals(sequences=int(counts[0]), tokens=int(counts[1]))


def update(model: nn.Module, batch: Batch, objective: Objective, optim: Optim) -> dict:
    """``updates_per_batch`` optimizer steps on one batch, each accumulated over micro-batches of
    at most ``micro_batch_tokens`` padded tokens.

    Each micro-batch's loss is its share of the whole step's loss (the normalisers divide by
    ``batch.totals``, counted over every process), so the accumulated gradient is that of the step,
    whatever the micro-batching and the number of processes. DDP averages gradients over
    processes, hence the factor ``world`` on each share. The first pass also measures how far the
    trainer's log-probs are from the sampler's (`drift_stats`). A non-finite loss or gradient norm
    skips the optimizer step and is counted in ``loss/nonfinite``.
    """
    settings, accelerator = optim.settings, optim.accelerator
    world = accelerator.num_processes
    micro = batch.micro_batches(settings.micro_batch_tokens)
    params = [p for p in model.parameters() if p.requires_grad]
    out: dict[str, float] = {}
    skipped = 0
    for u in range(settings.updates_per_batch):
        optim.optimizer.zero_grad(set_to_none=True)
        finite, first_pass = True, []
        for c, mb in enumerate(micro):
            last = c == len(micro) - 1
            with contextlib.nullcontext() if last else accelerator.no_sync(model):
                loss, logp_NT, entropy_NT, stats = micro_loss(model, mb, objective)
                finite &= bool(torch.isfinite(loss))
                accelerator.backward(loss * world)
            first_pass.append((mb, logp_NT.detach(), entropy_NT, stats))
        grad_norm = accelerator.clip_grad_norm_(params, settings.grad_clip or float("inf"))
        if finite and torch.isfinite(torch.as_tensor(grad_norm)):
            optim.optimizer.step()
        else:
            optim.optimizer.zero_grad(set_to_none=True)  # a NaN/inf step never reaches the weights
            skipped += 1
        if u == 0:
            out = {**_loss_stats(first_pass, world), **drift_stats(first_pass)}
            out["optim/grad_norm"] = float(grad_norm)
    out["loss/nonfinite"] = float(skipped)
    return out


def micro_loss(model, mb: Batch, objective: Objective):
    """One micro-batch's share of the loss, with its log-probs, entropies and loss statistics."""
    logp_NT, entropy_NT = token_logprobs(model, mb, objective.temperature, objective.dtype)
    mask_NT = mb.mask_NT.to(logp_NT.device)
    sampler_NT, adv_N = mb.sampler_NT.to(logp_NT.device), mb.adv_N.to(logp_NT.device)
    loss, stats = objective.loss_fn(
        logp_NT, sampler_NT, adv_N, mask_NT, objective.loss_cfg, mb.totals
    )
    if objective.ref_model is not None:
        with torch.no_grad():
            ref_NT, _ = token_logprobs(
                objective.ref_model, mb, objective.temperature, objective.dtype
            )
        kl, kl_stats = losses.kl_k3(logp_NT, ref_NT, mask_NT, objective.loss_cfg, mb.totals)
        loss, stats = loss + kl, {**stats, **kl_stats}
    return loss, logp_NT, entropy_NT, stats


def _loss_stats(first_pass, world: int) -> dict[str, float]:
    """Combine the micro-batches' loss statistics: ``loss/*`` are shares of the step's loss, so
    they add up (times ``world``: the processes' rows are averaged later); ``*_max``/``*_min`` take
    the extreme; the rest are means, weighted by real tokens (by sequences for ``is/seq_*``)."""
    out: dict[str, float] = {}
    tokens = sum(int(mb.completion_len_N.sum()) for mb, *_ in first_pass) or 1
    for mb, _, _, stats in first_pass:
        for k, v in stats.items():
            if k.startswith("loss/"):
                out[k] = out.get(k, 0.0) + v * world
            elif k.endswith("_max"):
                out[k] = max(out.get(k, -math.inf), v)
            elif k.endswith("_min"):
                out[k] = min(out.get(k, math.inf), v)
            else:
                share = (
                    len(mb) / sum(len(m) for m, *_ in first_pass)
                    if k.startswith("is/seq_")
                    else int(mb.completion_len_N.sum()) / tokens
                )
                out[k] = out.get(k, 0.0) + (0.0 if math.isnan(v) else v) * share
    return out


def drift_stats(first_pass) -> dict[str, float]:
    """How far the trainer's log-probs are from the sampler's on the sampled tokens, before any
    update: the check that the engine runs the weights the trainer has. Also the token IS ratio
    rho = exp(logp - sampler_logp) and the policy's entropy."""
    diffs, entropies = [], []
    for mb, logp_NT, entropy_NT, _ in first_pass:
        mask_NT = mb.mask_NT.to(logp_NT.device)
        diffs.append((logp_NT - mb.sampler_NT.to(logp_NT.device))[mask_NT])
        entropies.append(entropy_NT[mask_NT])
    diff, entropy = torch.cat(diffs).double(), torch.cat(entropies)
    if diff.numel() == 0:
        return {}
    ratio = diff.exp()
    return {
        "engine/logp_diff_mean": diff.abs().mean().item(),
        "engine/logp_diff_max": diff.abs().max().item(),
        "is/ratio_mean": ratio.mean().item(),
        "is/ratio_max": ratio.max().item(),
        "is/ratio_min": ratio.min().item(),
        "policy/entropy": entropy.mean().item(),
    }
