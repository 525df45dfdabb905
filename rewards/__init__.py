"""A safe, exact verifier for GSM8K, MATH and DeepMath answers.

- :func:`grade` grades one completion in-process (no time limit; sizes are bounded);
- :func:`grade_many` grades a batch in worker processes with a hard per-item time limit, from any
  thread;
- :func:`rewards.gsm8k.reward`, :func:`rewards.math.reward`, :func:`rewards.deepmath.reward` are the
  ``(completion, gold) -> float`` reward functions.

Model text is never evaluated: answers are parsed by :mod:`rewards.parse` into sympy objects.
"""

from rewards import deepmath, gsm8k, math
from rewards.grader import DATASETS, GoldError, Grade, check_gold, grade
from rewards.parse import ParseError
from rewards.pool import grade_many, shutdown

__all__ = [
    "DATASETS",
    "GoldError",
    "Grade",
    "ParseError",
    "check_gold",
    "deepmath",
    "grade",
    "grade_many",
    "gsm8k",
    "math",
    "shutdown",
]
