"""The optimizer and its learning-rate schedule (AdamW; warmup, then constant or cosine)."""

from __future__ import annotations

import math

import torch

from grpo_lora.config import OptimizerSection, ScheduleSection


def make_optimizer(params, settings: OptimizerSection) -> torch.optim.AdamW:
    """AdamW, fused (one kernel for all parameters: 0.06 s against 0.34-0.49 s a step for
    SmolLM2's 135M parameters on 2 CPU cores)."""
    return torch.optim.AdamW(
        params,
        lr=settings.lr,
        betas=settings.betas,
        eps=settings.eps,
        weight_decay=settings.weight_decay,
        fused=True,
    )


def make_scheduler(optimizer, schedule: ScheduleSection) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped by hand once per training step (accelerate's wrapper would step it per process)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(schedule))


def lr_factor(schedule: ScheduleSection):
    r"""The LR multiplier at each step: linear warmup (step + 1) / W over W steps, then 1
    (constant) or, over the remaining S - W steps,
    min\_ratio + (1 - min\_ratio) \cdot \tfrac{1}{2}(1 + \cos(\pi \cdot progress))."""

    def factor(step: int) -> float:
        if step < schedule.warmup_steps:
            return (step + 1) / schedule.warmup_steps
        if schedule.decay == "constant":
            return 1.0
        progress = (step - schedule.warmup_steps) / max(1, schedule.steps - schedule.warmup_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return schedule.min_lr_ratio + (1 - schedule.min_lr_ratio) * cosine

    return factor
