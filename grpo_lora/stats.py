"""The study's one verdict rule: an effect over seeds with its 90 % interval, judged against an
equivalence margin.

An effect is a contrast of seed groups, sum_i w_i * mean(x_i): LoRA - FullFT is ([lora, full],
[1, -1]); a difference of two gaps is ([a1, b1, a2, b2], [1, -1, -1, 1]); seeds paired by data
order enter as one group of per-seed differences. Its interval is Welch's:

    se^2 = sum_i w_i^2 s_i^2 / n_i,   df = se^4 / sum_i (w_i^2 s_i^2 / n_i)^2 / (n_i - 1)
    interval = estimate -/+ t_{0.95, df} * se          (90 %: two one-sided tests at 5 %)

The verdict: **matches** when the whole interval lies inside (-margin, +margin) (the two one-sided
tests of equivalence both reject); else **differs** when it excludes 0; else **cannot tell**, with
the seeds per group that the observed spread says would settle it. A single seed in any group gives
no interval: cannot tell.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy.stats import t as student_t

LEVEL = 0.90  # two one-sided tests at 5 % each
MARGIN = 0.05  # held-out pass@1; a sweep file's `margin` overrides it
MAX_SEEDS = 1000  # past this, "more seeds" is no advice


@dataclass(frozen=True)
class Effect:
    estimate: float
    low: float | None  # None: some group has one seed, so there is no spread to build on
    high: float | None
    margin: float
    seeds: tuple[int, ...]  # per group
    seeds_needed: int | None  # per group, to settle a "cannot tell" (None: none would, or settled)

    @property
    def verdict(self) -> str:
        if self.low is None:
            return "cannot tell"
        if -self.margin < self.low and self.high < self.margin:
            return "matches"
        if self.low > 0 or self.high < 0:
            return "differs"
        return "cannot tell"

    def text(self, digits: int = 3) -> str:
        """``-0.012 [90 % CI -0.031, +0.007], margin ±0.050, seeds 4 vs 4: matches``"""
        f = f"{{:+.{digits}f}}"
        interval = (
            f" [90 % CI {f.format(self.low)}, {f.format(self.high)}]"
            if self.low is not None
            else " (no interval: one seed)"
        )
        seeds = " vs ".join(str(n) for n in self.seeds)
        out = f"{f.format(self.estimate)}{interval}, margin ±{self.margin:.{digits}f}, seeds {seeds}"
        out += f": {self.verdict}"
        if self.verdict == "cannot tell" and self.seeds_needed is not None:
            out += f" (about {self.seeds_needed} seeds each would settle it)"
        return out


def contrast(
    groups: list[list[float]], weights: list[float], margin: float = MARGIN, level: float = LEVEL
) -> Effect:
    """The effect sum_i w_i * mean(groups[i]) with its Welch interval and verdict (module doc)."""
    if len(groups) != len(weights) or not groups or any(not g for g in groups):
        raise ValueError("a contrast needs one weight per group and at least one value a group")
    estimate = sum(w * statistics.fmean(g) for g, w in zip(groups, weights))
    seeds = tuple(len(g) for g in groups)
    if min(seeds) < 2:
        return Effect(estimate, None, None, margin, seeds, None)
    # per-group variance of the contrast's term, w^2 s^2 (its share of se^2 is that / n)
    spread = [w * w * statistics.variance(g) for g, w in zip(groups, weights)]
    half = _half_width(spread, list(seeds), level)
    effect = Effect(estimate, estimate - half, estimate + half, margin, seeds, None)
    if effect.verdict != "cannot tell":
        return effect
    needed = _seeds_needed(estimate, spread, margin, level, start=max(seeds) + 1)
    return Effect(estimate, effect.low, effect.high, margin, seeds, needed)


def difference(
    a: list[float], b: list[float], margin: float = MARGIN, paired: bool = False
) -> Effect:
    """mean(a) - mean(b); ``paired``: a[i] and b[i] share seed i (its data order), so the effect is
    the mean of the per-seed differences, whose spread leaves out what the seeds share."""
    if not paired:
        return contrast([a, b], [1.0, -1.0], margin)
    if len(a) != len(b):
        raise ValueError(f"paired seeds need equal counts, got {len(a)} and {len(b)}")
    return contrast([[x - y for x, y in zip(a, b)]], [1.0], margin)


def _half_width(spread: list[float], seeds: list[int], level: float) -> float:
    terms = [s / n for s, n in zip(spread, seeds)]
    se2 = sum(terms)
    if se2 == 0:
        return 0.0
    df = se2**2 / sum(t * t / (n - 1) for t, n in zip(terms, seeds) if t > 0)
    return float(student_t.ppf(0.5 + level / 2, df)) * math.sqrt(se2)


def _seeds_needed(
    estimate: float, spread: list[float], margin: float, level: float, start: int
) -> int | None:
    """The fewest seeds per group at which, with the observed means and spreads, the interval
    would either fit inside the margin or exclude 0."""
    if sum(spread) == 0:
        return None
    for n in range(max(2, start), MAX_SEEDS + 1):
        half = _half_width(spread, [n] * len(spread), level)
        if half < abs(estimate) or half < margin - abs(estimate):
            return n
    return None
