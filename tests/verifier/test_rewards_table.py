"""The labelled table (``rewards_cases.py``): each case, and the issue's targets on the whole."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from rewards_cases import CASES

from rewards import grade
from rewards.grader import gold_answer


def _id(i: int) -> str:
    c = CASES[i]
    return f"{i:03d}-{c.dataset}-{'pos' if c.correct else 'neg'}"


@pytest.mark.parametrize("i", range(len(CASES)), ids=_id)
def test_case(i):
    c = CASES[i]
    g = grade(c.completion, c.gold, c.dataset)
    assert g.correct is c.correct, (c, g)


def test_table_targets():
    """>= 300 cases, ~45 % negatives, >= 99.5 % accuracy, 0 false positives, no case over 1 s."""
    gold_answer.cache_clear()
    wrong, false_pos, slowest = [], [], 0.0
    for c in CASES:
        t = time.perf_counter()
        g = grade(c.completion, c.gold, c.dataset)
        slowest = max(slowest, time.perf_counter() - t)
        if g.correct != c.correct:
            wrong.append((c, g))
            if g.correct:
                false_pos.append((c, g))
    n = len(CASES)
    negatives = sum(not c.correct for c in CASES)
    assert n >= 300
    assert 0.40 <= negatives / n <= 0.50, negatives / n
    assert not false_pos, false_pos
    assert 1 - len(wrong) / n >= 0.995, wrong
    assert slowest < 1.0


def test_table_covers_every_dataset_with_positives_and_negatives():
    counts = Counter((c.dataset, c.correct) for c in CASES)
    for ds in ("gsm8k", "math", "deepmath"):
        assert counts[(ds, True)] >= 40 and counts[(ds, False)] >= 30, counts


def test_table_lines_have_comments():
    """One case a line, each with a short comment (STYLE.md item 10)."""
    import inspect

    import rewards_cases

    lines = [
        ln for ln in inspect.getsource(rewards_cases).splitlines() if ln.strip().startswith("Case(")
    ]
    assert len(lines) == len(CASES)
    assert all("),  # " in ln and ln.rsplit("# ", 1)[1].strip() for ln in lines)
