"""tiny-arith: a synthetic GSM8K-style task the project builds itself.

Each problem is a short chain of additions and subtractions, either bare (``Q: 6-2+8+7=?``) or dressed as
a one-line word problem. The worked solution reduces the chain left to right and ends with a GSM8K
answer line, so the same ``rewards`` verifier grades it as it grades GSM8K::

    Q: 6-2+8+7=?
    A: 6-2=4. 4+8=12. 12+7=19.
    #### 19

Problems are a pure function of (seed, index), so a split is reproducible anywhere. The held-out split
uses its own seed stream and is removed from the training stream, so evaluation never sees a training
prompt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PROMPT_PREFIX = "Q: "
PROMPT_SUFFIX = "\nA:"
HELDOUT_SEED = 10_007  # a seed stream no training seed uses (training seeds are folded below it)
HELDOUT_MAX = 512  # held-out problems kept out of every training draw (the policy's build included)

NAMES = ("Ann", "Bob", "Cy", "Dee", "Eli", "Flo")
ITEMS = ("apples", "cards", "coins", "eggs", "pens", "shells")


@dataclass(frozen=True)
class Difficulty:
    """Knobs of the generator; the defaults are what the embedded policy is trained on."""

    min_terms: int = 2  # numbers in the chain
    max_terms: int = 4
    max_operand: int = 20  # operands are drawn from 1..max_operand
    word_fraction: float = 0.3  # share of problems phrased as a word problem (two terms only)
    allow_negative: bool = False  # if False, subtractions never go below zero


@dataclass(frozen=True)
class ArithProblem:
    question: str  # the text after "Q: "
    terms: tuple[int, ...]
    ops: tuple[str, ...]  # "+" or "-", one fewer than terms
    answer: int

    @property
    def prompt(self) -> str:
        return f"{PROMPT_PREFIX}{self.question}{PROMPT_SUFFIX}"

    def solution(self, slip_at: int | None = None, slip: int = 0) -> str:
        """The worked solution; ``slip`` is added to the result of step ``slip_at`` (a deliberate error
        carried through to the final answer, used to make imperfect SFT demonstrations)."""
        acc, steps = self.terms[0], []
        for i, (op, x) in enumerate(zip(self.ops, self.terms[1:])):
            new = acc + x if op == "+" else acc - x
            if i == slip_at:
                new += slip
            steps.append(f"{acc}{op}{x}={new}.")
            acc = new
        return " " + " ".join(steps) + f"\n#### {acc}"

    @property
    def gold(self) -> str:
        return self.solution()


def make_problem(rng: random.Random, diff: Difficulty) -> ArithProblem:
    n = rng.randint(diff.min_terms, diff.max_terms)
    terms = [rng.randint(1, diff.max_operand)]
    ops: list[str] = []
    acc = terms[0]
    for _ in range(n - 1):
        x = rng.randint(1, diff.max_operand)
        op = rng.choice("+-")
        if op == "-" and x > acc and not diff.allow_negative:
            op = "+"
        acc = acc + x if op == "+" else acc - x
        terms.append(x)
        ops.append(op)
    if n == 2 and rng.random() < diff.word_fraction:
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        verb = "gets" if ops[0] == "+" else "loses"
        question = f"{name} has {terms[0]} {item} and {verb} {terms[1]}. How many now?"
    else:
        question = "".join(f"{t}{o}" for t, o in zip(terms, [*ops, "=?"]))
    return ArithProblem(question, tuple(terms), tuple(ops), acc)


def heldout(n: int = 256, diff: Difficulty | None = None) -> list[ArithProblem]:
    """The fixed held-out split: the first ``n`` distinct problems of the held-out stream."""
    problems, seen, out = draws(random.Random(HELDOUT_SEED), diff), set(), []
    while len(out) < n:
        p = draw_new(problems, seen, f"{n} held-out problems")
        seen.add(p.question)
        out.append(p)
    return out


def train_stream(seed: int, diff: Difficulty | None = None, exclude: int = HELDOUT_MAX):
    """An endless, seeded stream of training problems, none of them among the first ``exclude``
    held-out problems."""
    banned = {p.question for p in heldout(exclude, diff)}
    problems = draws(random.Random(seed % HELDOUT_SEED), diff)
    while True:
        yield draw_new(problems, banned, "training problems")


MAX_MISSES = 100_000  # draws in a row that find no new question: the difficulty's space is spent


def draws(rng: random.Random, diff: Difficulty | None):
    """The endless problems of ``rng`` at difficulty ``diff``."""
    while True:
        yield make_problem(rng, diff or Difficulty())


def draw_new(problems, seen: set[str], what: str) -> ArithProblem:
    """The next of ``problems`` whose question is not in ``seen``. A small difficulty (two numbers
    up to 10, no word problems) has ~150 distinct questions; rather than loop forever looking for
    more, say so."""
    for _, p in zip(range(MAX_MISSES), problems):
        if p.question not in seen:
            return p
    raise ValueError(
        f"tiny-arith: {what}: no new question in {MAX_MISSES:,} draws beyond the {len(seen):,} "
        "taken; the difficulty has too few distinct problems (raise data.max_operand, "
        "data.max_terms or data.word_fraction)"
    )
