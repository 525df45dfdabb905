"""Unit tables for each stage: normalisation, parsing, extraction, equivalence; and the doctests."""

from __future__ import annotations

import doctest
import importlib

import pytest
import sympy as sp

from rewards.equivalence import equivalent
from rewards.extract import completion_answer, cut_ramble, gold_answers
from rewards.normalize import normalize, words_to_number
from rewards.parse import ParseError, parse
from rewards.values import Interval, Matrix, Relation, Seq

MODULES = [
    "rewards.normalize",
    "rewards.parse",
    "rewards.extract",
    "rewards.equivalence",
    "rewards.precision",
    "rewards.grader",
    "rewards.gsm8k",
    "rewards.math",
    "rewards.deepmath",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


# fmt: off
NORMALIZE = [
    (r"\dfrac{1}{2}", r"\frac{1}{2}"),  # dfrac
    (r"\tfrac12", r"\frac12"),  # tfrac
    (r"\left(1, 2\right)", "(1, 2)"),  # left/right
    (r"\!1\,000", "1000"),  # spacing and thin-space thousands
    (r"1{,}000{,}000", "1000000"),  # LaTeX thousands
    ("1,234,567", "1234567"),  # comma thousands
    ("1,23", "1,23"),  # not thousands
    (r"90^\circ", "90"),  # degrees
    (r"\$5.00", "5.00"),  # dollars
    ("5 dollars", "5"),  # unit word
    (r"5\text{ cm}^2", "5"),  # unit in text with a power
    (r"\text{Monday}", "Monday"),  # text unwrapped
    (r"1 \text{ and } 2", "1, 2"),  # and in text
    ("−3", "-3"),  # unicode minus
    ("3×4", r"3\times 4"),  # unicode times
    ("forty-two", "42"),  # number words
    ("Answer: 7.", "7"),  # label and period
    (r"2\frac{1}{2}", r"(2+\frac{1}{2})"),  # mixed number
    (r"2\frac{3}{2}", r"2\frac{3}{2}"),  # improper: not a mixed number
    ("2 1/2", "(2+1/2)"),  # plain mixed number
    ("12 apples", "12"),  # noun after a number
]
# fmt: on


@pytest.mark.parametrize(("raw", "expected"), NORMALIZE)
def test_normalize(raw, expected):
    assert normalize(raw).text == expected


def test_normalize_percent_and_words():
    assert normalize(r"12.5\%").percent and normalize(r"12.5\%").text == "12.5"
    assert normalize("40 percent").percent
    assert not normalize("40").percent
    assert words_to_number("one hundred and one") == 101
    assert words_to_number("minus three") == -3
    assert words_to_number("three apples") is None


x, y = sp.symbols("x y")

# fmt: off
PARSE = [
    (r"\frac{1}{2}", sp.Rational(1, 2)),  # fraction
    (r"\frac12", sp.Rational(1, 2)),  # digit arguments
    (r"\frac123", sp.Rational(3, 2)),  # \frac12 then 3
    ("0.38", sp.Rational(19, 50)),  # decimal is exact
    ("1.5e3", sp.Integer(1500)),  # scientific notation
    (r"2.5 \times 10^{-3}", sp.Rational(1, 400)),  # LaTeX scientific notation
    (r"0.1\overline{6}", sp.Rational(1, 6)),  # repeating decimal
    (r"\sqrt{8}", 2 * sp.sqrt(2)),  # sqrt
    (r"\sqrt[3]{27}", sp.Integer(3)),  # cube root
    (r"\sqrt[3]{-8}", sp.Integer(-2)),  # real odd root of a negative
    ("2^3^2", sp.Integer(512)),  # right-associative powers
    ("-x^2", -(x**2)),  # unary minus below power
    ("2x y", 2 * x * y),  # implicit multiplication
    ("xy", x * y),  # letters multiply
    ("(x+1)(x-1)", (x + 1) * (x - 1)),  # bracket product
    (r"\pi r", sp.pi * sp.Symbol("r")),  # constant times variable
    ("e^x", sp.exp(x)),  # Euler's number
    ("3+4i", 3 + 4 * sp.I),  # imaginary unit
    (r"\sin^2 x", sp.sin(x) ** 2),  # function power
    (r"\sin^{-1} x", sp.asin(x)),  # inverse function
    (r"\log_2 8", sp.Integer(3)),  # log base
    (r"\ln(e^2)", sp.Integer(2)),  # ln
    ("5!", sp.Integer(120)),  # factorial
    (r"\binom{6}{3}", sp.Integer(20)),  # binomial
    ("|x-1|", sp.Abs(x - 1)),  # absolute value
    (r"\lfloor 3.7 \rfloor", sp.Integer(3)),  # floor
    ("x_1", sp.Symbol("x_1")),  # subscript
    (r"\alpha", sp.Symbol("alpha")),  # greek
    (r"\infty", sp.oo),  # infinity
    ("sqrt(2)/2", sp.sqrt(2) / 2),  # plain-text function
    ("2**10", sp.Integer(1024)),  # python power spelling
]
# fmt: on


@pytest.mark.parametrize(("text", "expected"), PARSE)
def test_parse_scalars(text, expected):
    value = parse(text).value
    assert value == expected or sp.simplify(value - expected) == 0


def test_parse_structures():
    assert parse("[1, 2)").value == Interval(1, 2, False, True)
    assert parse(r"(-\infty, 0]").value == Interval(-sp.oo, 0, True, False)
    assert parse("(1, 2)").value == Seq("paren", (1, 2))
    assert parse("(1, 2, 3)").value == Seq("tuple", (1, 2, 3))
    assert parse(r"\{3, 1\}").value == Seq("set", (3, 1))
    assert parse("1, 2").value == Seq("list", (1, 2))
    assert parse(r"x = 1 \pm 2").value.kind == "list"
    assert parse("x = 3").value == Relation(("=",), (x, 3))
    assert parse(r"1 < x \le 2").value == Relation(("<", "<="), (1, x, 2))
    m = parse(r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}").value
    assert m == Matrix(((1, 2), (3, 4)))
    assert parse("3.0").approx and not parse("3").approx


# fmt: off
REFUSED = [
    "10^{10^{10}}",  # would expand to 10^10 digits
    "9^{9^{9}}",  # same
    "(10^{100})!",  # factorial out of range
    "x^{10^{9}}",  # exponent too large
    r"\frac{1}{0}",  # division by zero
    "1 2",  # two numbers side by side
    "__import__('os')",  # not maths
    "lambda: 0",  # not maths
    "Monday",  # a word
    r"\unknowncommand{1}",  # unknown command
    "(" * 100 + "1" + ")" * 100,  # too deep
    "1" * 2000,  # too long
    "",  # empty
]
# fmt: on


@pytest.mark.parametrize("text", REFUSED)
def test_parse_refuses(text):
    with pytest.raises(ParseError):
        parse(text)


# fmt: off
EXTRACT = [
    ("gsm8k", " 1+2=3.\n#### 3", ("3", "hash")),  # answer line
    ("gsm8k", "#### 3\n#### 4", ("4", "hash")),  # a later answer line corrects an earlier one
    ("math", r"\boxed{1} then \boxed{2}", ("2", "boxed")),  # last box
    ("math", r"Final answer: \boxed{2}. Check \boxed{2=2}", ("2", "boxed")),  # box after "final answer"
    ("math", r"\boxed{\frac{a}{\{b\}}}", (r"\frac{a}{\{b\}}", "boxed")),  # nested and escaped braces
    ("math", r"\fbox{5}", ("5", "boxed")),  # fbox
    ("math", "The answer is $x^2$. Bye", ("x^2", "phrase")),  # phrase with inline math
    ("math", "Answer: 12 apples.", ("12 apples", "phrase")),  # label
    ("math", "We find **12**.", ("12", "bold")),  # bold
    ("math", "so $y = 4$.", ("y = 4", "math")),  # last inline math
    ("math", "it is 4,\nthen 5", ("5", "number")),  # last number
    ("math", r"\frac{10}{9}", (r"\frac{10}{9}", "whole")),  # a short one-line completion
    ("math", "nothing\nhere", None),  # no answer
    ("math", "\\boxed{3}\nQuestion: next\n\\boxed{4}", ("3", "boxed")),  # ramble cut
]
# fmt: on


@pytest.mark.parametrize(("dataset", "text", "expected"), EXTRACT)
def test_completion_answer(dataset, text, expected):
    assert completion_answer(text, dataset) == expected


def test_cut_ramble_and_gold_answers():
    assert cut_ramble("a\n#### 3\nQ: b") == "a\n#### 3"
    assert cut_ramble("x<|endoftext|>y") == "x"
    assert gold_answers("blah\n#### 1,234", "gsm8k") == ["1,234"]
    assert gold_answers(r"$\boxed{2}$ and $\boxed{3}$", "math") == ["2, 3"]  # one set
    assert gold_answers(r"$\boxed{2}$, no: then $\boxed{3}$", "math") == ["3"]  # changed mind
    assert gold_answers("no box in this long solution text that goes on and on", "math") == []
    assert gold_answers(r"\frac{5}{6}", "math") == [r"\frac{5}{6}"]  # MATH-500 `answer` field
    assert gold_answers("  e^{2} ", "deepmath") == ["e^{2}"]


# fmt: off
EQUIVALENT = [
    ("1/2", "0.5", True),  # exact decimal
    ("3/8", "0.38", False),  # rounded decimal
    (r"\sqrt{2}", "1.41421356", True),  # decimal of an irrational within 1e-6
    (r"\sqrt{2}", "1.4142", False),  # too coarse
    ("x^2-1", "(x-1)(x+1)", True),  # factored
    ("x^2-1", "(x-1)^2", False),  # wrong factorisation
    (r"\{1,2\}", "2, 1", True),  # set and bare list
    ("(1,2)", "(2,1)", False),  # point order
    ("[1,2]", "[1,2)", False),  # closed vs open
    ("x=2", "2", True),  # equation and value
    ("y=2x", "2x-y=0", True),  # equation rearranged
    ("y=2x", "y=x", False),  # different line
    ("x>1", "(1,\\infty)", True),  # inequality and interval
    ("25%", "0.25", True),  # percent one side
    ("25", "25%", True),  # percent sign dropped
    ("25", "0.25", False),  # no percent anywhere
]
# fmt: on


@pytest.mark.parametrize(("gold", "answer", "expected"), EQUIVALENT)
def test_equivalent(gold, answer, expected):
    assert equivalent(parse(gold), parse(answer)) is expected
