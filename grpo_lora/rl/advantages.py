"""Group-relative advantages: pure functions of a reward tensor of shape (P, G).

P prompts, G completions per prompt. Every function takes `rewards_PG` (any real dtype; integer
and bool rewards are promoted to the default float dtype) and returns a float tensor of the same
shape. Nothing here holds state or logs. The trainer flattens the result row-major,
`adv_N = adv_PG.reshape(-1)  # (P*G,)`, so sequence n = p*G + g.

Rewards must be finite: a completion whose reward is a skip (None / NaN) has to be dropped, with
its whole group, before this point; a non-finite reward raises ValueError rather than spreading
NaN through the group.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor


def _check_rewards(rewards_PG: Tensor) -> Tensor:
    """Validate a (P, G) reward tensor and return it as a float tensor."""
    if not isinstance(rewards_PG, Tensor):
        raise TypeError(f"rewards_PG must be a torch.Tensor, got {type(rewards_PG).__name__}")
    if rewards_PG.ndim != 2:
        raise ValueError(
            "rewards_PG must be 2-D with shape (P prompts, G completions per prompt); "
            f"got shape {tuple(rewards_PG.shape)}"
        )
    if rewards_PG.shape[1] < 1:
        raise ValueError(
            f"rewards_PG needs at least one completion per group; got G=0 (shape {tuple(rewards_PG.shape)})"
        )
    if not rewards_PG.is_floating_point():
        rewards_PG = rewards_PG.to(torch.get_default_dtype())
    if not torch.isfinite(rewards_PG).all():
        raise ValueError(
            "rewards_PG holds non-finite values (NaN/inf); drop skipped completions "
            "(reward None) and their groups before computing advantages"
        )
    return rewards_PG


def _centred(rewards_PG: Tensor) -> Tensor:
    """r - group mean, exactly 0 in a group of equal rewards (where the float mean can be off by
    an ulp: 7 x 0.7 in float32 would otherwise give 6e-8, which std-normalisation blows up)."""
    centred_PG = rewards_PG - rewards_PG.mean(dim=1, keepdim=True)
    return torch.where(zero_signal(rewards_PG)[:, None], 0.0, centred_PG)


def mean_centred(rewards_PG: Tensor) -> Tensor:
    r"""Group mean-centred advantage, the study's default.

    .. math:: A_{p,g} = r_{p,g} - \frac{1}{G}\sum_{g'} r_{p,g'}

    Source: "LoRA Without Regret" (Schulman et al., Thinking Machines, 2025), which uses the
    group mean as the baseline and no std normalisation (as tinker-cookbook's RL recipes do).
    A group whose rewards are all equal gets A = 0 everywhere (see `zero_signal`).

    >>> mean_centred(torch.tensor([[1.0, 0.0, 0.0, 1.0]]))
    tensor([[ 0.5000, -0.5000, -0.5000,  0.5000]])
    """
    return _centred(_check_rewards(rewards_PG))


def grpo(rewards_PG: Tensor, eps: float = 1e-6, correction: int = 0) -> Tensor:
    r"""GRPO std-normalised group advantage.

    .. math:: A_{p,g} = \frac{r_{p,g} - \operatorname{mean}_g r_{p,\cdot}}{\operatorname{std}_g r_{p,\cdot} + \epsilon},\quad
              \operatorname{std}_g = \sqrt{\tfrac{1}{G - c}\sum_g (r_{p,g} - \operatorname{mean}_g r_{p,\cdot})^2}

    Source: Shao et al. 2024, "DeepSeekMath" (GRPO with outcome supervision):
    A = (r - mean(r)) / std(r).

    ``correction`` c = 0 (the default, config name ``grpo``): the *population* std (divide by G),
    defined for G = 1 and what ``numpy.std`` computes. c = 1 (config name ``grpo_bessel``): the
    Bessel-corrected std (divide by G-1) that TRL's GRPOTrainer and verl use (TRL also takes
    eps = 1e-4); the population form gives advantages sqrt(G/(G-1)) times larger. A group of equal
    rewards gives exactly A = 0, never NaN.

    >>> grpo(torch.tensor([[1.0, 0.0, 0.0, 1.0]]))
    tensor([[ 1.0000, -1.0000, -1.0000,  1.0000]])
    """
    rewards_PG = _check_rewards(rewards_PG)
    std_P1 = rewards_PG.std(dim=1, keepdim=True, correction=correction)  # (P, 1); NaN if G=1, c=1
    std_P1 = torch.where(zero_signal(rewards_PG)[:, None], 1.0, std_P1)
    return _centred(rewards_PG) / (std_P1 + eps)


def rloo(rewards_PG: Tensor) -> Tensor:
    r"""REINFORCE leave-one-out (RLOO) advantage.

    .. math:: A_{p,g} = r_{p,g} - \frac{1}{G-1}\sum_{g' \ne g} r_{p,g'}
              = \frac{G}{G-1}\,(r_{p,g} - \operatorname{mean}_g r_{p,\cdot})

    Source: Kool et al. 2019, "Buy 4 REINFORCE samples, get a baseline for free!";
    Ahmadian et al. 2024, "Back to Basics" (RLOO for LLMs). The baseline excludes the sample
    itself, so the estimator is unbiased. Needs G >= 2.

    >>> rloo(torch.tensor([[1.0, 0.0, 0.0]]))
    tensor([[ 1.0000, -0.5000, -0.5000]])
    """
    rewards_PG = _check_rewards(rewards_PG)
    G = rewards_PG.shape[1]
    if G < 2:
        raise ValueError(
            f"rloo needs G >= 2 completions per prompt (leave-one-out baseline); got G={G}"
        )
    return _centred(rewards_PG) * (G / (G - 1))  # = r - (sum - r) / (G - 1), exact 0 if all equal


def dr_grpo(rewards_PG: Tensor) -> Tensor:
    r"""Dr. GRPO advantage: GRPO without the std division, i.e. exactly `mean_centred`.

    .. math:: A_{p,g} = r_{p,g} - \operatorname{mean}_g r_{p,\cdot}

    Source: Liu et al. 2025, "Understanding R1-Zero-Like Training: A Critical Perspective"
    (Dr. GRPO). Its other change, dividing the summed token loss by a constant instead
    of each sequence's length, lives in the loss: ``LossConfig(aggregation="constant")``.
    This is a one-line call, not a copy.
    """
    return mean_centred(rewards_PG)


def zero_signal(rewards_PG: Tensor) -> Tensor:
    """Bool (P,): True for groups whose rewards are all equal (exact equality).

    Such a group has A = 0 for every completion under every advantage here, so it contributes no
    policy gradient; the trainer counts them (metric: fraction of zero-signal groups). A group of
    G = 1 is always zero-signal.

    >>> zero_signal(torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
    tensor([ True, False])
    """
    rewards_PG = _check_rewards(rewards_PG)
    return (rewards_PG == rewards_PG[:, :1]).all(dim=1)


# Config name -> function; the config validates `advantage` against these keys.
ADVANTAGES: dict[str, Callable[[Tensor], Tensor]] = {
    "mean_centred": mean_centred,
    "grpo": grpo,
    "grpo_bessel": partial(grpo, correction=1),
    "rloo": rloo,
    "dr_grpo": dr_grpo,
}
