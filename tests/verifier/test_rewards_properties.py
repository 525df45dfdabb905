"""Property tests: any string, however long or nested, is graded without exception and quickly."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards import DATASETS, GoldError, Grade, grade, grade_many

REASONS = {"match", "mismatch", "no_answer", "unparseable", "timeout", "error"}
LIMIT_S = 1.0
SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

# LaTeX-ish pieces, so generated strings reach deep into the parser instead of failing at once.
PIECES = [
    "\\boxed{",
    "\\frac{",
    "\\sqrt{",
    "\\sqrt[",
    "}",
    "{",
    "(",
    ")",
    "[",
    "]",
    "\\{",
    "\\}",
    "^",
    "_",
    "+",
    "-",
    "*",
    "/",
    "!",
    "=",
    "<",
    "\\le",
    ",",
    "|",
    "&",
    "\\\\",
    "\\pi",
    "\\infty",
    "\\pm",
    "\\cup",
    "\\in",
    "\\left(",
    "\\right)",
    "\\text{",
    "x",
    "y",
    "e",
    "i",
    "0",
    "1",
    "2",
    "9",
    "10",
    "0.5",
    "1e9",
    "99999999",
    "\\begin{pmatrix}",
    "\\end{pmatrix}",
    "\\sin",
    "\\log_",
    "\\binom{",
    "\\overline{",
    "####",
    "The answer is ",
    "\n",
    " ",
    "$",
    "\\%",
    "\\$",
    "**",
    "\\dfrac",
    "\\circ",
    "−",
    "√",
    "π",
    "½",
    "×",
    "Final Answer: ",
    "Question:",
    "<|endoftext|>",
]
latexish = st.lists(st.sampled_from(PIECES), max_size=120).map("".join)
GOLDS = [
    ("#### 19", "gsm8k"),
    ("... $\\boxed{\\frac{1}{2}}$.", "math"),
    ("$\\boxed{(-\\infty, 3]}$", "math"),
    ("x^2 + 1", "deepmath"),
    ("\\{1, 2\\}", "deepmath"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "deepmath"),
    ("Yes", "deepmath"),
]


def _check(completion: str) -> None:
    for gold, dataset in GOLDS:
        t = time.perf_counter()
        g = grade(completion, gold, dataset)
        elapsed = time.perf_counter() - t
        assert isinstance(g, Grade) and g.reason in REASONS
        assert g.reason != "error", (completion, gold, g)  # an "error" is a bug in the grader
        assert elapsed < LIMIT_S, (completion, gold, elapsed)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text(completion):
    _check(completion)


@SETTINGS
@given(latexish)
def test_latex_like_text(completion):
    _check(completion)
    _check("\\boxed{" + completion + "}")


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.sampled_from(PIECES), st.integers(min_value=1, max_value=20_000))
def test_long_and_deeply_nested(piece, n):
    """Up to 20k repetitions of one piece (20k-deep braces, 20k pluses, ...)."""
    _check(piece * n)
    _check("\\boxed{" + piece * n + "}")


@SETTINGS
@given(st.one_of(st.text(max_size=200), latexish), st.sampled_from(DATASETS))
def test_any_gold_is_a_grade_or_a_gold_error(gold, dataset):
    try:
        g = grade("The answer is \\boxed{1}.", gold, dataset)
    except GoldError as e:
        assert str(e)  # names the gold
    else:
        assert g.reason in REASONS and g.reason != "error"


@settings(max_examples=5, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.text(max_size=200), latexish), min_size=20, max_size=40))
def test_any_batch_through_the_pool(completions):
    """The same through grade_many: every item comes back, in order, within its limit."""
    items = [(c, gold, ds) for c in completions for gold, ds in GOLDS[:3]]
    t = time.perf_counter()
    grades = grade_many(items, timeout=LIMIT_S)
    assert len(grades) == len(items)
    assert all(g.reason in REASONS and g.reason != "error" for g in grades)
    assert [g.extracted for g in grades] == [grade(*i).extracted for i in items]
    assert time.perf_counter() - t < 30
