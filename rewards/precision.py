"""The precision policy: when a decimal the model wrote equals an exact value.

One rule, used everywhere a number is compared (bare answers, tuple items, interval ends, matrix
cells, both sides of an equation):

1. A decimal equals a value that has a finite decimal form only when it is that form exactly:
   ``0.375`` is ``3/8``; ``0.38`` is not (nothing forced the rounding).
2. A decimal equals a value with no finite decimal form (``1/3``, ``\\sqrt 2``, ``\\pi``) when it has
   at least :data:`MIN_SIGNIFICANT_DIGITS` significant digits and is that value rounded or truncated
   at its last written digit (an error under one unit in that place): ``0.333333``, ``0.666667`` and
   ``0.3333333333`` are ``1/3`` or ``2/3``; ``0.333``, ``0.67`` and ``3.14`` (for ``\\pi``) have too
   few digits; ``0.333335`` is off by more than a unit.
3. A decimal that is the result of arithmetic on decimals (``1 + 1.414214``) has no written last digit;
   it is held to the same six digits as a relative tolerance, :data:`COMPUTED_RTOL`.

>>> from fractions import Fraction
>>> matches(Fraction(1, 3), Fraction("0.333333"), places=6, sig=6)
True
>>> matches(Fraction(2, 3), Fraction("0.67"), places=2, sig=2)
False
"""

from __future__ import annotations

import mpmath

MIN_SIGNIFICANT_DIGITS = 6
COMPUTED_RTOL = 1e-6  # rule 3: ~six significant digits


def matches(exact, decimal, places: int, sig: int) -> bool:
    """Rule 2 for a decimal literal with ``places`` decimal places and ``sig`` significant digits;
    ``exact`` and ``decimal`` are anything ``mpmath.mpf`` reads (an ``mpc`` with no imaginary part)."""
    if sig < MIN_SIGNIFICANT_DIGITS:
        return False
    with mpmath.workdps(60):
        exact = mpmath.mpmathify(exact)
        if isinstance(exact, mpmath.mpc):
            if abs(exact.imag) > 0:
                return False
            exact = exact.real
        value = mpmath.mpf(decimal.numerator) / decimal.denominator
        return abs(exact - value) < mpmath.mpf(10) ** (-places)
