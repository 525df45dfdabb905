"""The kinds of answer a parsed string can be, beyond a plain sympy expression.

A parsed answer is one of: a sympy expression (numbers, symbols, functions), or one of the small
frozen dataclasses below. They keep what sympy would lose or conflate: whether a bracket was open or
closed, whether a list was written as a set, as a tuple or bare, and what an equation's two sides are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A parsed value: a sympy ``Expr`` or one of the classes below (kept loose to avoid a sympy import).
Value = Any


@dataclass(frozen=True)
class Seq:
    """Several answers. ``kind`` is how they were written:

    - ``"set"``: ``\\{1, 2\\}`` (order free);
    - ``"tuple"``: ``(1, 2, 3)``, ``[1, 2, 3]`` (ordered);
    - ``"paren"``: ``(1, 2)``, a point or an open interval, decided by the other side;
    - ``"list"``: ``1, 2`` or ``1 and 2`` (roots, order free);
    - ``"ratio"``: ``5:12`` (equal to any proportional ratio, and to the number ``5/12``).
    """

    kind: str
    items: tuple


@dataclass(frozen=True)
class Interval:
    """An interval with its ends; an infinite end is always open."""

    lo: Any
    hi: Any
    lo_open: bool
    hi_open: bool


@dataclass(frozen=True)
class Union:
    """A union of intervals or sets: ``(-\\infty, 1) \\cup (2, \\infty)``."""

    parts: tuple


@dataclass(frozen=True)
class Relation:
    """A chain of comparisons ``parts[0] ops[0] parts[1] ...``; ops are ``= < > <= >= != in``."""

    ops: tuple
    parts: tuple


@dataclass(frozen=True)
class Matrix:
    """A matrix or vector, rows of sympy expressions."""

    rows: tuple


@dataclass(frozen=True)
class Text:
    """An answer that is words, compared after text normalisation."""

    text: str


@dataclass(frozen=True)
class Choice:
    """A multiple-choice letter, ``(C)``."""

    letter: str


@dataclass(frozen=True)
class Parsed:
    """A parsed answer and what comparing it needs to know.

    ``approx``: it contained a decimal literal, so a tolerance applies when the other side is
    irrational. ``percent``: a trailing percent sign was removed. ``decimals``: each decimal
    literal as ``(value, decimal places, significant digits)``, for the precision policy of
    :mod:`rewards.equivalence`.
    """

    value: Value
    approx: bool = False
    percent: bool = False
    decimals: tuple = ()
