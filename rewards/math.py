"""MATH reward: 1.0 when the completion's answer is equivalent to the gold solution's last box.

The gold is the dataset's full solution with ``\\boxed{...}`` (nested braces, ``\\fbox``, several
boxes; a bare answer such as MATH-500's ``answer`` field works too). Equivalence is mathematical:
``\\frac{1}{2}`` = ``0.5`` = ``\\tfrac12``; ``\\{1, 2\\}`` = ``2, 1``; ``[1, 2)`` != ``[1, 2]``.

(This module is ``rewards.math``; with absolute imports it does not shadow the stdlib ``math``.)

.. math:: r(c, g) = \\mathbb{1}[\\mathrm{answer}(c) \\equiv \\mathrm{box}(g)]

>>> reward("Thus $x = \\\\boxed{\\\\dfrac{\\\\sqrt{3}}{2}}$.", "So $\\\\boxed{\\\\frac{\\\\sqrt3}{2}}$.")
1.0
>>> reward("The answer is $(1, 2]$.", "The solution set is $\\\\boxed{(1,2)}$.")
0.0
"""

from __future__ import annotations

from rewards.grader import grade


def reward(completion: str, gold: str) -> float:
    """1.0 if correct, else 0.0; a gold without a box raises :class:`rewards.GoldError`."""
    return 1.0 if grade(completion, gold, "math").correct else 0.0
