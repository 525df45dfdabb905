"""Problems, problem sets and tasks: what the trainer samples prompts from and evaluates on.

A `ProblemSet` is a training list and a held-out list. Batches come from a seeded permutation per
epoch, so batch ``k`` is a pure function of (seed, k): a resumed run continues from its position and
sees exactly what the uninterrupted run would have seen. A `Task` is how a recipe's ``data`` section
turns into a `ProblemSet` (the registry: `grpo_lora.data.TASKS`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    id: str
    prompt: str  # exactly what the engine is given
    gold: str  # as the source stores it; the rewards package extracts the answer
    dataset: str  # which rewards grader: gsm8k | math | deepmath (rewards.DATASETS)
    strict: bool = (
        False  # the answer's form counts too (rewards' strict policy; data.strict_answers)
    )


# What marks a final answer as given on purpose, per grader: without it the graders fall back
# to the last number (or expression), which a completion cut off mid-derivation also has.
FINAL_ANSWER_MARKS = {"gsm8k": ("####", "\\boxed"), "math": ("\\boxed",), "deepmath": ("\\boxed",)}


def grade(
    texts: list[str], problems: list[Problem], truncated: list[bool] | None = None
) -> list[bool]:
    """Whether each completion text answers its problem, graded by the rewards package (worker
    processes with hard time limits). A completion cut at the token budget (``truncated``) counts
    only with an explicit final answer (`FINAL_ANSWER_MARKS`): its last number is a step of an
    unfinished derivation, not an answer."""
    import rewards

    grades: list = [None] * len(texts)
    for strict in (False, True):
        at = [i for i, p in enumerate(problems) if p.strict == strict]
        items = [(texts[i], problems[i].gold, problems[i].dataset) for i in at]
        for i, g in zip(at, rewards.grade_many(items, strict=strict) if at else []):
            grades[i] = g
    cut = truncated or [False] * len(texts)
    return [
        g.correct and (not c or any(m in t for m in FINAL_ANSWER_MARKS[p.dataset]))
        for g, t, p, c in zip(grades, texts, problems, cut)
    ]


@dataclass
class ProblemSet:
    name: str
    train: list[Problem]
    heldout: list[Problem]
    val: list[Problem] = field(default_factory=list)  # fresh problems to choose settings on (SFT)

    def __post_init__(self):
        if not self.train:
            raise ValueError(f"data: problem set {self.name!r} has no training problems")

    def batch(self, seed: int, step: int, size: int) -> list[Problem]:
        """The problems of batch ``step`` (0-based) of ``train`` (`seeded_batch`)."""
        return seeded_batch(self.train, seed, step, size)

    def batches(self, seed: int, size: int, start: int = 0) -> Iterator[list[Problem]]:
        step = start
        while True:
            yield self.batch(seed, step, size)
            step += 1


@dataclass(frozen=True)
class Task:
    """A problem set a recipe can name: one per file of this package, listed in
    `grpo_lora.data.TASKS`."""

    name: str  # what data.name selects
    templates: tuple[str, ...]  # the data.template values it takes, its default first
    load: Callable[[Any, Any], ProblemSet]  # (the config's data section, tokenizer) -> problems


def seeded_batch(items: Sequence[T], seed: int, step: int, size: int) -> list[T]:
    """Batch ``step`` (0-based) of ``items``: positions [step*size, (step+1)*size) of the stream
    formed by one seeded permutation of ``items`` per epoch."""
    out, n = [], len(items)
    for pos in range(step * size, (step + 1) * size):
        epoch, i = divmod(pos, n)
        out.append(items[_permutation(seed, epoch, n)[i]])
    return out


_PERMS: dict[tuple[int, int, int], list[int]] = {}


def _permutation(seed: int, epoch: int, n: int) -> list[int]:
    key = (seed, epoch, n)
    if key not in _PERMS:
        order = list(range(n))
        random.Random(f"{seed}/{epoch}").shuffle(order)
        _PERMS.clear()  # only the current epoch is ever needed again
        _PERMS[key] = order
    return _PERMS[key]
