"""GSM8K reward: 1.0 when the completion's final number equals the gold's ``#### N``.

The gold is the dataset's full worked solution (or a bare number); so is the project's tiny-arith
task. The completion's answer is its first ``#### N`` line, else a boxed or stated answer, else its
last number; numbers compare as exact fractions (``1,234.00`` is ``1234``; ``0.5`` is ``1/2``).

.. math:: r(c, g) = \\mathbb{1}[\\mathrm{answer}(c) = \\mathrm{answer}(g)]

>>> reward(" 6-2=4. 4+8=12. 12+7=19.\\n#### 19", " 6-2=4. 4+8=12. 12+7=19.\\n#### 19")
1.0
>>> reward("She pays $1,234 in total.", "... = 1234 dollars.\\n#### 1,234")
1.0
>>> reward(" 6-2=4. 4+8=12. 12+7=18.\\n#### 18", "#### 19")
0.0
>>> reward("#### 19", "no answer line here")
Traceback (most recent call last):
...
rewards.grader.GoldError: gsm8k gold has no '#### N' answer line: 'no answer line here'
"""

from __future__ import annotations

from rewards.grader import grade


def reward(completion: str, gold: str) -> float:
    """1.0 if correct, else 0.0; an unreadable gold raises :class:`rewards.GoldError`."""
    return 1.0 if grade(completion, gold, "gsm8k").correct else 0.0
