"""The verdict rule (grpo_lora/stats.py): a hand-worked Welch interval, and its error rates on
synthetic seeds: it must not call noise a match; a claim's verdict from an effect (`judge`); an
arm's optimum LR fitted to an exact parabola, and the ratio of two."""

from __future__ import annotations

import math
import random

import pytest

from grpo_lora.study.stats import (
    Effect,
    combine,
    contrast,
    difference,
    fit_optimum,
    judge,
    ratio_effect,
    vertex,
)


def test_welch_interval_by_hand():
    # a: mean 0.7, s^2 0.01; b: no spread. se^2 = 0.01 / 3, df = 2, t_{0.95, 2} = 2.919986
    e = difference([0.6, 0.7, 0.8], [0.5, 0.5, 0.5])
    half = 2.919986 * (0.01 / 3) ** 0.5
    assert e.estimate == pytest.approx(0.2)
    assert (e.low, e.high) == pytest.approx((0.2 - half, 0.2 + half), abs=1e-6)
    assert e.verdict == "differs"
    assert e.seeds_to_settle("up") is None and e.seeds_to_settle("level") is None  # settled


def test_welch_degrees_of_freedom_by_hand():
    # s_a^2 = 0.0008 / 3 (n 4), s_b^2 = 0.0016 (n 3): terms 6.667e-5 and 5.333e-4, se^2 = 6e-4;
    # df = se^4 / (6.667e-5^2 / 3 + 5.333e-4^2 / 2) = 2.5052; t_{0.95, 2.5052} = 2.5555
    a, b = [0.50, 0.52, 0.54, 0.52], [0.50, 0.54, 0.58]
    e = difference(a, b)
    assert e.estimate == pytest.approx(0.52 - 0.54)
    assert e.high - e.estimate == pytest.approx(2.5555 * 6e-4**0.5, rel=1e-4)


def test_a_match_needs_the_whole_interval_inside_the_margin():
    level = difference([0.70, 0.71, 0.69, 0.70], [0.71, 0.70, 0.70, 0.71])
    assert level.verdict == "matches" and -0.05 < level.low < level.high < 0.05
    noisy = difference([0.60, 0.75, 0.68], [0.70, 0.62, 0.77])  # small gap, wide interval
    assert noisy.verdict == "cannot tell" and noisy.low < -0.05
    assert noisy.seeds_to_settle("level") > 3
    assert difference([0.7], [0.6]).verdict == "cannot tell"  # one seed: no interval
    assert "(no interval: one seed)" in difference([0.7], [0.6]).text("level")


def test_a_gap_inside_the_margin_settles_a_level_claim_only_by_fitting_in_it():
    """Per-seed differences -0.02, -0.04: mean -0.030, sd 0.01414. At 3 seeds the half-width,
    t_{0.95, 2} 2.920 x 0.01414 / sqrt 3 = 0.0238, would exclude 0 (settling a claimed direction)
    but not fit inside ±0.05 (it needs < 0.020); at 4, t_{0.95, 3} 2.353 x 0.01414 / 2 = 0.0166
    does, and the claim "level" holds."""
    e = difference([0.58, 0.60], [0.60, 0.64], paired=True)
    assert judge(e, "level") == judge(e, "down") == "cannot tell"
    assert e.seeds_to_settle("down") == 3
    assert e.seeds_to_settle("level") == 4
    assert e.text("level").endswith("cannot tell (about 4 seeds each would settle the claim)")


def test_paired_seeds_cancel_what_they_share():
    base = [0.40, 0.60, 0.80, 0.50]  # seeds differ a lot; LoRA is about 0.08 below at each
    lora = [x - d for x, d in zip(base, (0.07, 0.09, 0.08, 0.08))]
    assert difference(lora, base).verdict == "cannot tell"
    paired = difference(lora, base, paired=True)
    assert paired.verdict == "differs" and paired.estimate == pytest.approx(-0.08)


def test_a_difference_of_gaps_is_one_contrast():
    r1_64, full_64 = [0.60, 0.62, 0.61], [0.70, 0.71, 0.69]
    r1_256, full_256 = [0.64, 0.66, 0.65], [0.70, 0.72, 0.71]
    e = contrast([r1_256, full_256, r1_64, full_64], [1, -1, -1, 1])
    assert e.estimate == pytest.approx((0.65 - 0.71) - (0.61 - 0.70))
    assert e.seeds == (3, 3, 3, 3)


def _rate(gap: float, sd: float, n: int, trials: int = 4000, seed: int = 0) -> float:
    rng = random.Random(seed)
    hits = 0
    for _ in range(trials):
        a = [rng.gauss(0.7 + gap, sd) for _ in range(n)]
        b = [rng.gauss(0.7, sd) for _ in range(n)]
        hits += difference(a, b).verdict == "matches"
    return hits / trials


def test_a_true_gap_at_the_margin_is_rarely_called_a_match():
    # the old tolerance rule called this a match 68 % of the time at sd 0.04
    assert _rate(-0.05, 0.04, 3) <= 0.05


def test_no_gap_with_a_small_spread_is_called_a_match():
    assert _rate(0.0, 0.01, 5) >= 0.80


def _e(estimate: float, low: float | None, high: float | None) -> Effect:
    return Effect(estimate, low, high, 0.05, (3, 3), None)


@pytest.mark.parametrize(
    ("effect", "claimed", "verdict"),
    [
        (_e(-0.01, -0.03, 0.01), "level", "holds"),  # inside ±0.05
        (_e(-0.10, -0.15, -0.05), "level", "does not hold"),  # excludes 0, beyond the margin
        (_e(-0.03, -0.06, -0.001), "level", "cannot tell"),  # excludes 0, estimate inside
        (_e(-0.067, -0.143, 0.009), "level", "cannot tell"),  # the old rule's "holds"
        (_e(-0.01, None, None), "level", "cannot tell"),  # one seed
        (_e(0.02, 0.01, 0.03), "up", "holds"),  # above 0, small but sure
        (_e(-0.10, -0.15, -0.05), "up", "does not hold"),  # the other way
        (_e(0.00, -0.02, 0.02), "up", "does not hold"),  # negligible: inside the margin
        (_e(0.03, -0.03, 0.09), "up", "cannot tell"),
        (_e(-0.10, -0.15, -0.05), "down", "holds"),
        (_e(0.02, 0.01, 0.03), "down", "does not hold"),
        (_e(-0.03, -0.09, 0.03), "down", "cannot tell"),
    ],
)
def test_a_claims_verdict_from_its_effect(effect, claimed, verdict):
    assert judge(effect, claimed) == verdict


def test_a_claim_of_parts():
    assert combine(["holds", "holds"]) == "holds"
    assert combine(["holds", "cannot tell"]) == "cannot tell"
    assert combine(["cannot tell", "does not hold"]) == "does not hold"


def test_vertex_of_an_exact_parabola():
    # y = 0.8 - (x + 3.4)^2 through x = -4, -3.5, -3: the parabola itself, vertex -3.4
    xs = [-4.0, -3.5, -3.0]
    assert vertex(xs, [0.8 - (x + 3.4) ** 2 for x in xs]) == pytest.approx(-3.4)
    # uneven spacing: y = -(x - 1)^2 at 0, 0.5, 3 -> vertex 1
    assert vertex([0.0, 0.5, 3.0], [-1.0, -0.25, -4.0]) == pytest.approx(1.0)
    # a line or a valley has no maximum inside: the highest point (ties: the first)
    assert vertex([0.0, 1.0, 2.0], [0.1, 0.2, 0.3]) == 2.0
    assert vertex([0.0, 1.0, 2.0], [0.5, 0.5, 0.5]) == 0.0


def _cells(peak: float, xs: list[float], jitter: float = 0.01) -> dict[float, list[float]]:
    """Two seeds at each LR 10^x, jitter either side of 0.8 - (x - peak)^2."""
    return {10**x: [0.8 - (x - peak) ** 2 - jitter, 0.8 - (x - peak) ** 2 + jitter] for x in xs}


def test_fitted_optimum_of_a_known_parabola():
    # five LRs; the best is the middle one (x = -4): the fit uses it and its two neighbours only,
    # so an outer point bent away from the parabola changes nothing
    xs = [-5.0, -4.5, -4.0, -3.5, -3.0]
    cells = _cells(-4.1, xs)
    cells[1e-5] = [0.0, 0.0]
    opt = fit_optimum(cells)
    assert opt.log10_lr == pytest.approx(-4.1) and opt.lr == pytest.approx(10**-4.1)
    assert opt.low <= -4.1 <= opt.high and opt.seeds == 2 and len(opt.draws) == 1000
    assert fit_optimum(cells).draws == opt.draws  # a fixed RNG seed: reproducible
    # no noise: every draw is the vertex
    exact = fit_optimum(_cells(-4.1, xs, jitter=0.0))
    assert (exact.low, exact.high) == pytest.approx((-4.1, -4.1))


def test_an_optimum_on_the_edge_is_not_fitted():
    assert fit_optimum(_cells(-5.2, [-5.0, -4.5, -4.0])).log10_lr is None  # best at the low edge
    assert fit_optimum(_cells(-4.0, [-4.5, -4.0])).log10_lr is None  # two LRs: no quadratic


def test_the_ratio_of_fitted_optima():
    full = fit_optimum(_cells(-3.4, [-4.0, -3.5, -3.0]))
    lora = fit_optimum(_cells(-2.4, [-3.0, -2.5, -2.0]))
    e = ratio_effect(lora, full, target=10.0, factor=10**0.5)
    # log10(optimum ratio / 10) = -2.4 - (-3.4) - 1 = 0; the interval from the paired draws
    assert e.estimate == pytest.approx(0.0) and e.margin == pytest.approx(0.5)
    diffs = sorted(a - b for a, b in zip(lora.draws, full.draws))
    assert e.low == pytest.approx(diffs[round(0.05 * 999)] - 1, abs=0.02)
    assert e.high == pytest.approx(diffs[round(0.95 * 999)] - 1, abs=0.02)
    assert e.verdict == "matches" and judge(e, "level") == "holds"
    # LoRA's optimum at FullFT's: a ratio of 1, a decade below 10: does not hold
    same = fit_optimum(_cells(-3.4, [-4.0, -3.5, -3.0], jitter=0.0))
    e = ratio_effect(same, full, target=10.0, factor=10**0.5)
    assert e.estimate == pytest.approx(-1.0) and judge(e, "level") == "does not hold"
    edge = fit_optimum(_cells(-5.2, [-5.0, -4.5, -4.0]))
    assert ratio_effect(edge, full, 10.0, 10**0.5) is None
    assert math.isclose(10 ** (lora.log10_lr - full.log10_lr), 10.0)
