"""DeepMath reward: 1.0 when the completion's answer is equivalent to the bare ``final_answer``.

DeepMath-103K stores the answer alone (``\\dfrac{1}{2}``, ``e^{2}``, ``Yes``, ``[0, 1]``); it is
compared like a MATH box: numbers exactly, expressions symbolically, words as words.

.. math:: r(c, g) = \\mathbb{1}[\\mathrm{answer}(c) \\equiv g]

>>> reward("... so the limit is \\\\boxed{e^2}.", "e^{2}")
1.0
>>> reward("**Final Answer**\\n\\\\boxed{No}", "Yes")
0.0
"""

from __future__ import annotations

from rewards.grader import grade


def reward(completion: str, gold: str) -> float:
    """1.0 if correct, else 0.0; an empty gold raises :class:`rewards.GoldError`."""
    return 1.0 if grade(completion, gold, "deepmath").correct else 0.0
