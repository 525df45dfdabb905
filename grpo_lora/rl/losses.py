r"""Policy-gradient losses: pure functions of per-token log-probs.

Every loss has the signature

    loss_fn(logp_NT, sampler_logp_NT, adv_N, mask_NT, cfg, totals=None) -> (loss, stats)

- ``logp_NT``         (N, T) trainer log-prob of each sampled completion token; requires grad.
- ``sampler_logp_NT`` (N, T) the sampler's (vLLM's) log-prob of the same tokens; no grad.
- ``adv_N``           (N,)   advantage per sequence, ``adv_PG.reshape(-1)`` (sequence n = p*G + g).
- ``mask_NT``         (N, T) 1/True on real completion tokens, 0/False on padding (bool or 0/1
  numeric; fractional weights are not supported).
- ``cfg``             a `LossConfig`.
- ``totals``          optional `Totals`: the step's sequence and token counts (see Normalisers).

N = P*G sequences, T = padded completion length. The loss is to be *minimised* (it is the negated
objective), a 0-dim tensor. ``stats`` are plain Python floats computed without grad, with
namespaced keys: ``loss/pg``, ``is/ratio_mean``, ``is/ratio_max``, ``is/ratio_min`` (the token
ratio rho over real tokens) and ``is/clip_frac`` (fraction of real tokens whose weight was
clipped or truncated; meaning per loss in its docstring).

Every importance ratio is taken against the SAMPLER, the true behaviour policy:
rho_t = exp(logp_t - sampler_logp_t). There is no separate "old trainer policy"; after several
optimizer steps on one batch the ratio simply moves away from 1. Padding positions may hold
garbage (NaN, -inf) in any input: they are replaced by ``torch.where`` before any arithmetic,
so they contribute exactly 0 to the loss and to the gradient.

Normalisers (`aggregate`, shared by every loss and by `kl_k3`):
  token     sum of masked token terms / number of real tokens (DAPO's token mean)
  sequence  mean over sequences of each sequence's token mean (original GRPO)
  constant  sum of masked token terms / (N * constant_norm) (Dr. GRPO)

The counts they divide by (real tokens, sequences N) are those of the whole step when the trainer
passes ``totals`` (a `Totals`): a loss called on one micro-batch of one process then returns that
micro-batch's share, and the shares add up to the loss of the whole step, exactly as DAPO's token mean
(and TRL's ``dapo`` loss) defines it. Without ``totals`` the counts are those of the call's own inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from grpo_lora.config import Aggregation, LossConfig

# ----------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Totals:
    """The counts a normaliser divides by: sequences and real completion tokens of the whole step
    (every micro-batch of every process). See the module docstring."""

    sequences: int
    tokens: int

    @classmethod
    def of(cls, mask_NT: Tensor) -> Totals:
        """The counts of one batch on its own."""
        return cls(sequences=mask_NT.shape[0], tokens=int(mask_NT.bool().sum()))


def aggregate(
    values_NT: Tensor,
    mask_NT: Tensor,
    how: Aggregation,
    constant_norm: int | None = None,
    totals: Totals | None = None,
) -> Tensor:
    r"""Reduce per-token terms (N, T) to a scalar over the real tokens.

    token:    \sum_{n,t} m v / K                                  (DAPO token mean)
    sequence: \frac{1}{S}\sum_n (\sum_t m v / \sum_t m)            (GRPO; empty sequences count 0)
    constant: \sum_{n,t} m v / (S \cdot constant\_norm)            (Dr. GRPO)

    K = ``totals.tokens`` and S = ``totals.sequences``: the step's counts, so that the sums over
    micro-batches and processes of these shares are the step's loss; by default the counts of
    ``mask_NT`` itself (K = \sum m, S = N). Masked positions are selected away with ``torch.where``
    (not multiplied by 0), so inf/NaN there cannot leak. With no real token at all the result is 0
    (still attached to the graph).
    """
    mask_NT = mask_NT.bool()
    totals = totals or Totals.of(mask_NT)
    masked_NT = torch.where(mask_NT, values_NT, torch.zeros_like(values_NT))
    if how == "token":
        return masked_NT.sum() / max(totals.tokens, 1)
    if how == "sequence":
        per_seq_N = masked_NT.sum(dim=1) / mask_NT.sum(dim=1).clamp(min=1)  # (N,)
        return per_seq_N.sum() / max(totals.sequences, 1)
    if how == "constant":
        if constant_norm is None:
            raise ValueError(
                "aggregation='constant' needs constant_norm (e.g. the sampling max_tokens); "
                "the trainer must fill LossConfig.constant_norm before calling the loss"
            )
        return masked_NT.sum() / (max(totals.sequences, 1) * constant_norm)
    raise ValueError(f"unknown aggregation {how!r}; expected 'token', 'sequence' or 'constant'")


def _check_inputs(
    logp_NT: Tensor, sampler_logp_NT: Tensor, adv_N: Tensor, mask_NT: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Validate shapes; return (logp, sampler_logp, adv, mask) with padding made harmless.

    Padding entries of logp and sampler_logp become 0 via torch.where (gradient 0 there, never
    NaN); mask becomes bool; adv takes logp's dtype.
    """
    if logp_NT.ndim != 2:
        raise ValueError(
            f"logp_NT must be 2-D (N sequences, T tokens); got shape {tuple(logp_NT.shape)}"
        )
    if logp_NT.shape[0] == 0:
        raise ValueError("logp_NT has no sequences (N=0)")
    for name, t in (("sampler_logp_NT", sampler_logp_NT), ("mask_NT", mask_NT)):
        if t.shape != logp_NT.shape:
            raise ValueError(
                f"{name} must have logp_NT's shape {tuple(logp_NT.shape)}; got {tuple(t.shape)}"
            )
    if adv_N.shape != logp_NT.shape[:1]:
        raise ValueError(
            f"adv_N must have shape (N,) = ({logp_NT.shape[0]},), one advantage per sequence "
            f"(adv_PG.reshape(-1)); got {tuple(adv_N.shape)}"
        )
    if mask_NT.dtype != torch.bool and not ((mask_NT == 0) | (mask_NT == 1)).all():
        raise ValueError("mask_NT must be bool or hold only 0 and 1 (no fractional token weights)")
    mask_NT = mask_NT.bool()
    zeros_NT = torch.zeros_like(logp_NT)
    logp_NT = torch.where(mask_NT, logp_NT, zeros_NT)
    sampler_logp_NT = torch.where(mask_NT, sampler_logp_NT.detach().to(logp_NT.dtype), zeros_NT)
    return logp_NT, sampler_logp_NT, adv_N.detach().to(logp_NT.dtype), mask_NT


@torch.no_grad()
def _is_stats(
    loss: Tensor, ratio_NT: Tensor, clipped_NT: Tensor, mask_NT: Tensor
) -> dict[str, float]:
    """loss/pg and the token IS-ratio statistics over real tokens (NaN ratios if none)."""
    ratio = ratio_NT[mask_NT]
    n = ratio.numel()
    return {
        "loss/pg": float(loss),
        "is/ratio_mean": float(ratio.mean()) if n else math.nan,
        "is/ratio_max": float(ratio.max()) if n else math.nan,
        "is/ratio_min": float(ratio.min()) if n else math.nan,
        "is/clip_frac": float(clipped_NT[mask_NT].float().mean()) if n else 0.0,
    }


# ----------------------------------------------------------------------------- losses


def is_pg(
    logp_NT: Tensor,
    sampler_logp_NT: Tensor,
    adv_N: Tensor,
    mask_NT: Tensor,
    cfg: LossConfig,
    totals: Totals | None = None,
) -> tuple[Tensor, dict[str, float]]:
    r"""Importance-sampled policy gradient, no clipping: the study's default loss.

    .. math:: L = \operatorname{agg}_{n,t}\big[-\,\mathrm{sg}(w_{n,t})\,A_n\,
              e^{\log\pi_\theta - \mathrm{sg}(\log\pi_\theta)}\big],\quad
              w = \rho = \pi_\theta/\pi_{\text{sampler}}\ \ (\text{or } \min(\rho, C))

    Value: -w A per token (= -rho A, the IS surrogate, when uncapped);
    gradient: -w A \nabla\log\pi_\theta (= the gradient of -rho A, since \nabla\rho = \rho\nabla\log\pi).
    Source: "LoRA Without Regret" (Thinking Machines, 2025) trains with Tinker's
    ``importance_sampling`` loss, -(p_theta/q) A. With ``cfg.is_cap = C`` the weight is
    truncated, w = min(rho, C) (truncated IS, Yao et al. 2025): value -min(rho, C) A,
    gradient -min(rho, C) A \nabla\log\pi; tokens with rho <= C are untouched. Written with
    exp(logp - sg(logp)) rather than sg(min(rho,C)/rho)*rho so that a ratio that underflows to
    0 cannot give 0/0.
    Normaliser: ``cfg.aggregation``. ``is/clip_frac`` = fraction of real tokens with rho > C.
    """
    logp_NT, sampler_logp_NT, adv_N, mask_NT = _check_inputs(
        logp_NT, sampler_logp_NT, adv_N, mask_NT
    )
    ratio_NT = torch.exp(logp_NT.detach() - sampler_logp_NT)  # rho, no grad
    if cfg.is_cap is None:
        weight_NT, truncated_NT = ratio_NT, torch.zeros_like(mask_NT)
    else:
        weight_NT, truncated_NT = ratio_NT.clamp(max=cfg.is_cap), ratio_NT > cfg.is_cap
    unit_NT = torch.exp(logp_NT - logp_NT.detach())  # value 1, gradient = grad logp
    per_token_NT = -weight_NT * adv_N[:, None] * unit_NT
    loss = aggregate(per_token_NT, mask_NT, cfg.aggregation, cfg.constant_norm, totals)
    return loss, _is_stats(loss, ratio_NT, truncated_NT, mask_NT)


def ppo(
    logp_NT: Tensor,
    sampler_logp_NT: Tensor,
    adv_N: Tensor,
    mask_NT: Tensor,
    cfg: LossConfig,
    totals: Totals | None = None,
) -> tuple[Tensor, dict[str, float]]:
    r"""PPO / GRPO clipped surrogate per token (covers DAPO clip-higher).

    .. math:: L = \operatorname{agg}_{n,t}\big[-\min(\rho_{n,t} A_n,\
              \operatorname{clip}(\rho_{n,t}, 1-\epsilon_{low}, 1+\epsilon_{high}) A_n)\big]

    Sources: Schulman et al. 2017 (PPO, the clipped objective); Shao et al. 2024 (GRPO, same
    surrogate with group advantages, sequence aggregation); Yu et al. 2025 (DAPO: decoupled
    clip with epsilon_high = 0.28 and token aggregation = ``clip_high=0.28, aggregation="token"``).
    Departure: rho is against the sampler, not a separate old trainer policy.
    A token's gradient is 0 when clipping binds: rho > 1+eps_high with A > 0, or
    rho < 1-eps_low with A < 0; ``is/clip_frac`` is the fraction of real tokens where it does.
    Normaliser: ``cfg.aggregation``.
    """
    logp_NT, sampler_logp_NT, adv_N, mask_NT = _check_inputs(
        logp_NT, sampler_logp_NT, adv_N, mask_NT
    )
    ratio_NT = torch.exp(logp_NT - sampler_logp_NT)  # rho, with grad
    lo, hi = 1.0 - cfg.clip_low, 1.0 + cfg.clip_high
    adv_N1 = adv_N[:, None]  # (N, 1)
    per_token_NT = -torch.minimum(ratio_NT * adv_N1, ratio_NT.clamp(lo, hi) * adv_N1)
    loss = aggregate(per_token_NT, mask_NT, cfg.aggregation, cfg.constant_norm, totals)
    with torch.no_grad():
        clipped_NT = ((adv_N1 > 0) & (ratio_NT > hi)) | ((adv_N1 < 0) & (ratio_NT < lo))
    return loss, _is_stats(loss, ratio_NT.detach(), clipped_NT, mask_NT)


def gspo(
    logp_NT: Tensor,
    sampler_logp_NT: Tensor,
    adv_N: Tensor,
    mask_NT: Tensor,
    cfg: LossConfig,
    totals: Totals | None = None,
) -> tuple[Tensor, dict[str, float]]:
    r"""GSPO: sequence-level, length-normalised ratio with a sequence-level clip.

    .. math:: s_n = \exp\Big(\frac{1}{|y_n|}\sum_t m_{n,t}(\log\pi_\theta - \log\pi_{\text{sampler}})\Big),\quad
              L = \frac{1}{N}\sum_n -\min\big(s_n A_n,\ \operatorname{clip}(s_n, 1-\epsilon_{low}, 1+\epsilon_{high}) A_n\big)

    Source: Zheng et al. 2025, "Group Sequence Policy Optimization" (Qwen), with their
    epsilon_low = 3e-4, epsilon_high = 4e-4 (``gspo_clip_low/high``).
    Normaliser: always per sequence (1/N over sequences, as in the paper), whatever
    ``cfg.aggregation`` says. Departure: s is against the sampler, so sampler/trainer numeric
    mismatch alone moves s; with the paper's tiny clip range, check ``is/clip_frac`` on step 1.
    ``is/clip_frac`` = fraction of real tokens that belong to a clipped sequence (clip binding
    with the sign of A, as in `ppo`); ``is/ratio_*`` are the token ratios rho, like every loss,
    and ``is/seq_ratio_mean/max/min`` those of s.
    """
    logp_NT, sampler_logp_NT, adv_N, mask_NT = _check_inputs(
        logp_NT, sampler_logp_NT, adv_N, mask_NT
    )
    length_N = mask_NT.sum(dim=1).clamp(min=1)  # (N,)
    log_s_N = (logp_NT - sampler_logp_NT).sum(dim=1) / length_N  # padding is 0 already
    s_N = torch.exp(log_s_N)
    lo, hi = 1.0 - cfg.gspo_clip_low, 1.0 + cfg.gspo_clip_high
    per_seq_N = -torch.minimum(s_N * adv_N, s_N.clamp(lo, hi) * adv_N)
    per_token_NT = per_seq_N[:, None].expand_as(logp_NT)  # (N, T): sequence mean gives per_seq_N
    loss = aggregate(per_token_NT, mask_NT, "sequence", totals=totals)
    with torch.no_grad():
        clipped_N = ((adv_N > 0) & (s_N > hi)) | ((adv_N < 0) & (s_N < lo))
        stats = _is_stats(
            loss,
            torch.exp(logp_NT.detach() - sampler_logp_NT),
            clipped_N[:, None].expand_as(mask_NT),
            mask_NT,
        )
        s = s_N.detach()
        stats |= {
            "is/seq_ratio_mean": float(s.mean()),
            "is/seq_ratio_max": float(s.max()),
            "is/seq_ratio_min": float(s.min()),
        }
    return loss, stats


def cispo(
    logp_NT: Tensor,
    sampler_logp_NT: Tensor,
    adv_N: Tensor,
    mask_NT: Tensor,
    cfg: LossConfig,
    totals: Totals | None = None,
) -> tuple[Tensor, dict[str, float]]:
    r"""CISPO: clipped IS weight, stop-gradient, times the log-prob.

    .. math:: L = \operatorname{agg}_{n,t}\big[-\,\mathrm{sg}(\min(\rho_{n,t}, 1+\epsilon^{IS}_{high}))\,A_n\,\log\pi_\theta(y_{n,t})\big]

    Source: MiniMax 2025, "MiniMax-M1" (CISPO). The paper writes clip(rho, 1-eps_low, 1+eps_high)
    but sets no lower bound in practice ("setting eps_low^IS to a large value"), so only the
    upper cap is applied. Unlike ppo, no token's gradient is ever zeroed: every token gets
    -w A \nabla\log\pi with w = min(rho, 1+eps_high) (the same gradient as `is_pg` with
    ``is_cap = 1 + cispo_clip_high``). The loss *value* is -w A log pi, as written in the paper,
    so it is not comparable across kinds. Normaliser: ``cfg.aggregation`` (paper: token).
    ``is/clip_frac`` = fraction of real tokens with rho > 1 + cispo_clip_high.
    """
    logp_NT, sampler_logp_NT, adv_N, mask_NT = _check_inputs(
        logp_NT, sampler_logp_NT, adv_N, mask_NT
    )
    ratio_NT = torch.exp(logp_NT.detach() - sampler_logp_NT)  # rho, no grad
    cap = 1.0 + cfg.cispo_clip_high
    per_token_NT = -ratio_NT.clamp(max=cap) * adv_N[:, None] * logp_NT
    loss = aggregate(per_token_NT, mask_NT, cfg.aggregation, cfg.constant_norm, totals)
    return loss, _is_stats(loss, ratio_NT, ratio_NT > cap, mask_NT)


def kl_k3(
    logp_NT: Tensor,
    ref_logp_NT: Tensor,
    mask_NT: Tensor,
    cfg: LossConfig,
    totals: Totals | None = None,
) -> tuple[Tensor, dict[str, float]]:
    r"""beta times the k3 estimate of KL(pi_theta || pi_ref) on the sampled tokens.

    .. math:: k3_{n,t} = e^{d} - d - 1,\quad d = \log\pi_{ref} - \log\pi_\theta,\qquad
              L = \beta\,\operatorname{agg}_{n,t}[k3_{n,t}]

    Source: J. Schulman, "Approximating KL Divergence" (2020), estimator k3 (unbiased, >= 0);
    used with this form by GRPO (Shao et al. 2024). Gradient per token: beta (1 - e^d) / norm.
    Normaliser: ``cfg.aggregation`` (as the pg loss; for gspo too). The trainer adds this to the
    pg loss when ``cfg.kl_beta > 0``; with beta = 0 the loss is 0.
    Stats: ``loss/kl`` = beta * KL (the term added to the loss), ``loss/kl_k3`` = the KL estimate.
    """
    if ref_logp_NT.shape != logp_NT.shape or mask_NT.shape != logp_NT.shape or logp_NT.ndim != 2:
        raise ValueError(
            "kl_k3 needs logp_NT, ref_logp_NT and mask_NT of one 2-D shape (N, T); got "
            f"{tuple(logp_NT.shape)}, {tuple(ref_logp_NT.shape)}, {tuple(mask_NT.shape)}"
        )
    mask_NT = mask_NT.bool()
    zeros_NT = torch.zeros_like(logp_NT)
    logp_NT = torch.where(mask_NT, logp_NT, zeros_NT)
    ref_logp_NT = torch.where(mask_NT, ref_logp_NT.detach().to(logp_NT.dtype), zeros_NT)
    d_NT = ref_logp_NT - logp_NT
    k3_NT = torch.exp(d_NT) - d_NT - 1.0
    kl = aggregate(k3_NT, mask_NT, cfg.aggregation, cfg.constant_norm, totals)
    loss = cfg.kl_beta * kl
    return loss, {"loss/kl": float(loss.detach()), "loss/kl_k3": float(kl.detach())}


# Config name (LossConfig.kind) -> loss function.
LOSSES: dict[str, Callable[..., tuple[Tensor, dict[str, float]]]] = {
    "is_pg": is_pg,
    "ppo": ppo,
    "gspo": gspo,
    "cispo": cispo,
}
