"""Arithmetic on parsed matrices, so that an answer written as a sum or product the text evaluates
(``A + B``, ``2A``, ``A B``) compares as the matrix it denotes. Sizes are already bounded by the
parser (:data:`rewards.parse.MAX_ITEMS` cells), so a product costs at most a few thousand sympy ops.
"""

from __future__ import annotations

import sympy as sp

from rewards.values import Matrix


class MatrixError(ValueError):
    """Shapes that do not fit, or an operand that is neither a matrix nor a number."""


def _shape(m: Matrix) -> tuple[int, int]:
    return len(m.rows), len(m.rows[0])


def add(a, b, sign: int = 1) -> Matrix:
    """``a + sign * b`` for two matrices of one shape."""
    if not (isinstance(a, Matrix) and isinstance(b, Matrix)) or _shape(a) != _shape(b):
        raise MatrixError("sum of a matrix and something else")
    return Matrix(tuple(tuple(x + sign * y for x, y in zip(r, s)) for r, s in zip(a.rows, b.rows)))


def mul(a, b) -> Matrix:
    """``a b``: matrix product, or a number times a matrix."""
    if isinstance(a, sp.Basic) and isinstance(b, Matrix):
        return Matrix(tuple(tuple(a * x for x in r) for r in b.rows))
    if isinstance(a, Matrix) and isinstance(b, sp.Basic):
        return mul(b, a)
    if not (isinstance(a, Matrix) and isinstance(b, Matrix)):
        raise MatrixError("product of a matrix and something else")
    (n, k), (k2, m) = _shape(a), _shape(b)
    if k != k2:
        raise MatrixError("matrix shapes do not fit")
    cols = list(zip(*b.rows))
    return Matrix(
        tuple(
            tuple(sp.Add(*(x * y for x, y in zip(a.rows[i], cols[j]))) for j in range(m))
            for i in range(n)
        )
    )
