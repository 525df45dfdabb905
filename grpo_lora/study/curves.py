"""Curves over training steps and the signal runs received: seed means smoothed by a trailing moving
average and their spread over seeds, the pointwise best over an arm's learning rates, episodes,
and the bits of reward signal against the parameters an arm trains (the capacity accounting)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from grpo_lora.study.arms import Arm
from grpo_lora.study.runs import Run, is_number
from grpo_lora.study.scores import final_logloss, final_pass1

BITS_PER_EPISODE = 1.0  # binary reward: at most 1 bit per episode


def smooth_window(runs: list[Run]) -> int:
    n = max((r.train_steps[-1] for r in runs if r.train_steps), default=1)
    return max(1, round(n / 20))


def mean_curve(runs: list[Run], key: str, window: int) -> dict[int, float]:
    """Seed mean per step, then a trailing moving average over `window` steps."""
    per_step: dict[int, list[float]] = defaultdict(list)
    for r in runs:
        for s, v in r.series(key).items():
            per_step[s].append(v)
    steps = sorted(per_step)
    means = [statistics.fmean(per_step[s]) for s in steps]
    out = {}
    for i, s in enumerate(steps):
        lo = max(0, i - window + 1)
        out[s] = statistics.fmean(means[lo : i + 1])
    return out


def sd_curve(runs: list[Run], key: str, window: int) -> dict[int, float]:
    """Spread over seeds per step (sample sd of each seed's trailing `window`-step average)."""
    per_run = [mean_curve([r], key, window) for r in runs]
    steps = sorted(set().union(*per_run)) if per_run else []
    return {
        s: statistics.stdev(vals) if len(vals := [c[s] for c in per_run if s in c]) > 1 else 0.0
        for s in steps
    }


def pointwise_best(arm: Arm, window: int) -> dict[int, tuple[float, float]]:
    """The study's "pointwise best over learning rates": at each step, the max over LRs of the
    smoothed seed-mean, with the spread over seeds (sd, same smoothing) of the LR that gives it."""
    best: dict[int, tuple[float, float]] = {}
    for cell in arm.cells.values():
        mean = mean_curve(cell.runs, "reward/mean", window)
        sd = sd_curve(cell.runs, "reward/mean", window)
        for s, v in mean.items():
            if s not in best or v > best[s][0]:
                best[s] = (v, sd.get(s, 0.0))
    return dict(sorted(best.items()))


def eval_curve(runs: list[Run], key: str) -> tuple[list[int], list[float], list[float]]:
    """Seed mean and sd of an eval metric (rows at step 0 and every eval) per step."""
    per: dict[int, list[float]] = {}
    for r in runs:
        for s, row in r.rows.items():
            if is_number(row.get(key)):
                per.setdefault(s, []).append(float(row[key]))
    steps = sorted(per)
    mean = [statistics.fmean(per[s]) for s in steps]
    sd = [statistics.stdev(per[s]) if len(per[s]) > 1 else 0.0 for s in steps]
    return steps, mean, sd


def episodes_curve(runs: list[Run]) -> dict[int, float]:
    per: dict[int, list[float]] = defaultdict(list)
    for r in runs:
        for s in r.train_steps:
            per[s].append(r.episodes_at(s))
    return {s: statistics.fmean(v) for s, v in sorted(per.items())}


def bits_excluding_zero_signal(run: Run) -> float | None:
    """Sum over steps of new episodes x (1 - reward/zero_signal_frac) x 1 bit: groups whose rewards
    are all equal have zero advantage, so they carry no reward signal to the update."""
    zs = run.series("reward/zero_signal_frac")
    steps = run.train_steps
    if not steps or any(s not in zs for s in steps):
        return None
    total, prev = 0.0, 0.0
    for s in steps:
        e = run.episodes_at(s)
        total += (e - prev) * (1 - zs[s]) * BITS_PER_EPISODE
        prev = e
    return total


def gap_series(arm: Arm, full: Arm, window: int) -> tuple[list[int], list[float], list[float]]:
    """Steps, bits/params and smoothed reward gap (LoRA - FullFT) at both arms' best LRs."""
    assert arm.best and full.best
    a = mean_curve(arm.best.runs, "reward/mean", window)
    f = mean_curve(full.best.runs, "reward/mean", window)
    eps = episodes_curve(arm.best.runs)
    params = arm.params
    steps, xs, gaps = [], [], []
    for s in sorted(set(a) & set(f)):
        if params and s in eps and eps[s] > 0:
            steps.append(s)
            xs.append(eps[s] * BITS_PER_EPISODE / params)
            gaps.append(a[s] - f[s])
    return steps, xs, gaps


def gap_opens(steps: list[int], xs: list[float], gaps: list[float], tol: float):
    """First (step, bits/params) from which the gap stays below -tol to the end, else None
    (descriptive: a smoothed seed mean, no interval; the report uses tol = the study's margin)."""
    first = None
    for s, x, g in zip(steps, xs, gaps):
        if g >= -tol:
            first = None  # back inside the band: not lasting
        elif first is None:
            first = (s, x)
    return first


def signal_share(a: Arm, full: Arm, sl: bool) -> tuple[float, float] | None:
    """(bits of signal / trainable params, share of FullFT's held-out gain) of an arm at its best LR.

    SL: bits = completion tokens trained on x the start held-out log-loss in bits/token (what the
    demonstrations can still tell the starting policy); gain = start log-loss - final log-loss.
    RL: bits = episodes x 1 bit (binary rewards); gain = final held-out pass@1 - start pass@1.
    share = the arm's gain / FullFT's gain (1 = level with FullFT)."""

    def gain(arm: Arm) -> float | None:
        vals = []
        for r in arm.best.runs:
            start = r.summary.get("eval_logloss_start" if sl else "eval_pass1_start")
            end = final_logloss(r) if sl else final_pass1(r)
            if is_number(start) and end is not None:
                vals.append(start - end if sl else end - start)
        return statistics.fmean(vals) if vals else None

    def bits(r: Run) -> float | None:
        if sl:
            h0 = r.summary.get("eval_logloss_start")
            tokens = sum(row.get("sft/tokens", 0) for s, row in r.rows.items() if s >= 1)
            return tokens * h0 / math.log(2) if is_number(h0) else None
        return r.episodes_at(r.train_steps[-1]) if r.train_steps else None

    g, gf = gain(a), gain(full)
    b = [x for r in a.best.runs if (x := bits(r)) is not None]
    if g is None or not gf or not b or not a.params:
        return None
    return statistics.fmean(b) / a.params, g / gf
