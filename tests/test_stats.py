"""The verdict rule (grpo_lora/stats.py): a hand-worked Welch interval, and its error rates on
synthetic seeds: it must not call noise a match."""

from __future__ import annotations

import random

import pytest

from grpo_lora.stats import contrast, difference


def test_welch_interval_by_hand():
    # a: mean 0.7, s^2 0.01; b: no spread. se^2 = 0.01 / 3, df = 2, t_{0.95, 2} = 2.919986
    e = difference([0.6, 0.7, 0.8], [0.5, 0.5, 0.5])
    half = 2.919986 * (0.01 / 3) ** 0.5
    assert e.estimate == pytest.approx(0.2)
    assert (e.low, e.high) == pytest.approx((0.2 - half, 0.2 + half), abs=1e-6)
    assert e.verdict == "differs" and e.seeds_needed is None


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
    assert noisy.seeds_needed is not None and noisy.seeds_needed > 3
    assert difference([0.7], [0.6]).verdict == "cannot tell"  # one seed: no interval
    assert "(no interval: one seed)" in difference([0.7], [0.6]).text()


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
