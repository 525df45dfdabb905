"""The study's one verdict rule: an effect over seeds with its 90 % interval, judged against an
equivalence margin.

An effect is a contrast of seed groups, sum_i w_i * mean(x_i): LoRA - FullFT is ([lora, full],
[1, -1]); a difference of two gaps is ([a1, b1, a2, b2], [1, -1, -1, 1]); seeds paired by data
order enter as one group of per-seed differences. Its interval is Welch's:

    se^2 = sum_i w_i^2 s_i^2 / n_i,   df = se^4 / sum_i (w_i^2 s_i^2 / n_i)^2 / (n_i - 1)
    interval = estimate -/+ t_{0.95, df} * se          (90 %: two one-sided tests at 5 %)

The verdict: **matches** when the whole interval lies inside (-margin, +margin) (the two one-sided
tests of equivalence both reject); else **differs** when it excludes 0; else **cannot tell**. A
single seed in any group gives no interval: cannot tell.

A claim's verdict (holds / does not hold / cannot tell) comes from its effect's interval through
`judge`, given the claimed direction: "level" (the effect is within ±margin: holds when it matches;
does not hold when the interval excludes 0 and the estimate lies beyond the margin), "up" or "down"
(the effect is positive / negative: holds when the interval excludes 0 on that side; does not hold
when it excludes 0 on the other side, or lies wholly inside ±margin, a negligible effect). A claim
that cannot tell comes with the seeds per group that would settle it were the means and spreads
those observed (`Effect.seeds_to_settle`): a claim of level whose gap lies inside the margin
settles only when the whole interval fits in it, however soon the interval excludes 0.

An arm's best LR as a measurement (`fit_optimum`): a quadratic in log10(LR) through the best grid
point (seed-mean held-out score; ties to the smaller LR) and its two neighbours; its vertex, clamped
to those three points, is the optimum. A best point on the grid's edge, or fewer than three LRs,
gives no optimum (it may lie beyond). Its 90 % interval: a bootstrap over seeds (each LR's seeds
resampled with replacement, `DRAWS` times, fixed RNG seed `RNG_SEED`; each draw refitted around its
own best point). The ratio of two arms' optima (`ratio_effect`) takes its interval from the paired
draws (draw k of one arm against draw k of the other), in log10 units.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, replace

from scipy.stats import t as student_t

LEVEL = 0.90  # two one-sided tests at 5 % each
MARGIN = 0.05  # held-out pass@1; a sweep file's `margin` overrides it
MAX_SEEDS = 1000  # past this, "more seeds" is no advice
DRAWS = 1000  # bootstrap draws of an arm's fitted optimum LR
RNG_SEED = 0  # the bootstrap's fixed RNG seed: a report is reproducible


@dataclass(frozen=True)
class Effect:
    estimate: float
    low: float | None  # None: some group has one seed, so there is no spread to build on
    high: float | None
    margin: float
    seeds: tuple[int, ...]  # per group
    spread: tuple[float, ...] = ()  # per group w^2 s^2, to size the interval at other seed counts
    level: float = LEVEL

    @property
    def verdict(self) -> str:
        if self.low is None:
            return "cannot tell"
        if -self.margin < self.low and self.high < self.margin:
            return "matches"
        if self.low > 0 or self.high < 0:
            return "differs"
        return "cannot tell"

    def text(self, claimed: str, digits: int = 3) -> str:
        """``-0.012 [90 % CI -0.031, +0.007], margin ±0.050, seeds 4 vs 4: matches``, and when the
        claim (`judge`'s ``claimed``) cannot tell, the seeds that would settle it."""
        f = f"{{:+.{digits}f}}"
        interval = (
            f" [90 % CI {f.format(self.low)}, {f.format(self.high)}]"
            if self.low is not None
            else " (no interval: one seed)"
        )
        seeds = " vs ".join(str(n) for n in self.seeds)
        out = (
            f"{f.format(self.estimate)}{interval}, margin ±{self.margin:.{digits}f}, seeds {seeds}"
        )
        out += f": {self.verdict}"
        if (needed := self.seeds_to_settle(claimed)) is not None:
            out += f" (about {needed} seeds each would settle the claim)"
        return out

    def seeds_to_settle(self, claimed: str) -> int | None:
        """The fewest seeds per group at which, with the observed means and spreads, the claim's
        verdict (`judge`) would no longer be "cannot tell". None when it is settled, when there is
        no spread to build on, or past MAX_SEEDS."""
        if self.low is None or not any(self.spread) or judge(self, claimed) != "cannot tell":
            return None
        for n in range(max(self.seeds) + 1, MAX_SEEDS + 1):
            half = _half_width(list(self.spread), [n] * len(self.spread), self.level)
            at_n = replace(self, low=self.estimate - half, high=self.estimate + half)
            if judge(at_n, claimed) != "cannot tell":
                return n
        return None


def contrast(
    groups: list[list[float]], weights: list[float], margin: float = MARGIN, level: float = LEVEL
) -> Effect:
    """The effect sum_i w_i * mean(groups[i]) with its Welch interval and verdict (module doc)."""
    if len(groups) != len(weights) or not groups or any(not g for g in groups):
        raise ValueError("a contrast needs one weight per group and at least one value a group")
    estimate = sum(w * statistics.fmean(g) for g, w in zip(groups, weights))
    seeds = tuple(len(g) for g in groups)
    if min(seeds) < 2:
        return Effect(estimate, None, None, margin, seeds)
    # per-group variance of the contrast's term, w^2 s^2 (its share of se^2 is that / n)
    spread = [w * w * statistics.variance(g) for g, w in zip(groups, weights)]
    half = _half_width(spread, list(seeds), level)
    return Effect(estimate, estimate - half, estimate + half, margin, seeds, tuple(spread), level)


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


# ---------------------------------------------------------------------------------------------
# A claim's verdict from its effect


def judge(effect: Effect, claimed: str) -> str:
    """holds / does not hold / cannot tell for a claim about `effect`; `claimed` is its direction:
    "level" (within ±margin), "up" (> 0) or "down" (< 0) (module doc)."""
    if effect.low is None:
        return "cannot tell"
    if claimed == "level":
        if effect.verdict == "matches":
            return "holds"
        if effect.verdict == "differs" and abs(effect.estimate) > effect.margin:
            return "does not hold"
        return "cannot tell"
    if claimed not in ("up", "down"):
        raise ValueError(f"claimed must be level, up or down, got {claimed!r}")
    sign = 1.0 if claimed == "up" else -1.0
    low, high = sorted((sign * effect.low, sign * effect.high))
    if low > 0:
        return "holds"
    if high < 0 or (-effect.margin < low and high < effect.margin):
        return "does not hold"
    return "cannot tell"


def combine(verdicts: list[str]) -> str:
    """A claim made of parts: does not hold if any part does not, else cannot tell if any part
    cannot, else holds."""
    for v in ("does not hold", "cannot tell"):
        if v in verdicts:
            return v
    return "holds"


# ---------------------------------------------------------------------------------------------
# An arm's optimum LR, fitted


@dataclass(frozen=True)
class Optimum:
    """An arm's fitted optimum, in log10(LR), with its bootstrap interval and draws."""

    log10_lr: float | None  # None: the best grid point is on the grid's edge, or < 3 LRs
    low: float | None
    high: float | None
    seeds: int  # the fewest seeds at any LR
    draws: tuple[float, ...] = ()

    @property
    def lr(self) -> float | None:
        return None if self.log10_lr is None else 10**self.log10_lr


def vertex(xs: list[float], ys: list[float]) -> float:
    """The x of the maximum of the parabola through three points (xs ascending), clamped to
    [xs[0], xs[2]]; a fit that is not concave (a line, a valley) gives the highest point's x."""
    (x0, x1, x2), (y0, y1, y2) = xs, ys
    d1, d2 = (y1 - y0) / (x1 - x0), (y2 - y1) / (x2 - x1)
    a = (d2 - d1) / (x2 - x0)  # p(x) = y0 + d1 (x - x0) + a (x - x0)(x - x1)
    if a >= 0:
        return xs[max(range(3), key=lambda i: (ys[i], -i))]
    return min(max((x0 + x1) / 2 - d1 / (2 * a), x0), x2)


def _fit(xs: list[float], means: list[float]) -> tuple[float, bool]:
    """(vertex through the best point and its neighbours, whether the best point is an edge)."""
    best = max(range(len(xs)), key=lambda i: (means[i], -i))  # ties: the smaller LR
    j = min(max(best, 1), len(xs) - 2)  # the middle of the three points fitted
    return vertex(xs[j - 1 : j + 2], means[j - 1 : j + 2]), best in (0, len(xs) - 1)


def fit_optimum(
    cells: dict[float, list[float]], draws: int = DRAWS, seed: int = RNG_SEED, level: float = LEVEL
) -> Optimum:
    """An arm's optimum LR from LR -> each seed's held-out score (module doc)."""
    lrs = sorted(lr for lr, v in cells.items() if v)
    seeds = min((len(cells[lr]) for lr in lrs), default=0)
    if len(lrs) < 3:
        return Optimum(None, None, None, seeds)
    xs = [math.log10(lr) for lr in lrs]
    x, edge = _fit(xs, [statistics.fmean(cells[lr]) for lr in lrs])
    rng = random.Random(seed)
    got = tuple(
        _fit(xs, [statistics.fmean(rng.choices(cells[lr], k=len(cells[lr]))) for lr in lrs])[0]
        for _ in range(draws)
    )
    low, high = _interval(list(got), level)
    return Optimum(None if edge else x, low, high, seeds, got)


def ratio_effect(
    a: Optimum, b: Optimum, target: float, factor: float, level: float = LEVEL
) -> Effect | None:
    """log10(optimum a / optimum b) - log10(target) as an Effect whose margin is log10(factor):
    it "matches" when the ratio's whole interval lies within `factor` of `target`. The interval
    comes from the paired draws. None when either arm has no optimum (on its grid's edge)."""
    if a.log10_lr is None or b.log10_lr is None:
        return None
    t = math.log10(target)
    low, high = _interval([x - y for x, y in zip(a.draws, b.draws)], level)
    estimate = a.log10_lr - b.log10_lr - t
    return Effect(estimate, low - t, high - t, math.log10(factor), (a.seeds, b.seeds))


def _interval(values: list[float], level: float) -> tuple[float, float]:
    """The central `level` percentile interval of `values` (linear interpolation)."""
    v = sorted(values)

    def q(p: float) -> float:
        i = p * (len(v) - 1)
        lo = math.floor(i)
        return v[lo] + (v[min(lo + 1, len(v) - 1)] - v[lo]) * (i - lo)

    return q((1 - level) / 2), q((1 + level) / 2)
