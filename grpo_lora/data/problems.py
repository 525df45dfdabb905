"""Problems and problem sets: what the trainer samples prompts from and evaluates on.

A `ProblemSet` is a training list and a held-out list. Batches come from a seeded permutation per
epoch, so batch ``k`` is a pure function of (seed, k): a resumed run continues from its position and
sees exactly what the uninterrupted run would have seen.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rewards import DATASETS  # the graders the rewards package knows

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    id: str
    prompt: str  # exactly what the engine is given
    gold: str  # as the source stores it; the rewards package extracts the answer
    dataset: str  # which grader: gsm8k | math | deepmath
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


def tiny_arith(
    n_train: int = 20_000,
    n_heldout: int = 256,
    template: str = "tiny",
    tokenizer=None,
    difficulty=None,
    n_val: int = 0,
) -> ProblemSet:
    """The embedded default task (grpo_lora.tiny.task), graded like GSM8K.

    ``template`` "tiny" gives the prompts the embedded policy reads (``Q: 6-2+8=?\nA:``); "chat",
    "plain" and "raw" render the question (``6-2+8=?``) as `grpo_lora.data.templates.format_prompt`
    does for GSM8K, whose instruction asks for a final ``#### N`` line. ``difficulty`` is a
    `grpo_lora.tiny.task.Difficulty` (None = the embedded policy's). ``val``: the next ``n_val``
    problems of the training stream whose questions the training set does not hold."""
    from grpo_lora.data.templates import check_template, format_prompt
    from grpo_lora.tiny.task import heldout, train_stream

    if template == "tiny":
        render = lambda p: p.prompt  # noqa: E731
    else:
        check_template(template, tokenizer, "gsm8k")  # before generating 20k problems
        render = lambda p: format_prompt(p.question, template, tokenizer, "gsm8k")  # noqa: E731
    stream = train_stream(seed=0, diff=difficulty)
    train = [next(stream) for _ in range(n_train)]
    seen, val = {p.question for p in train}, []
    while len(val) < n_val:
        if (p := next(stream)).question not in seen:
            seen.add(p.question)
            val.append(p)

    def to_problem(split, i, p):
        return Problem(f"tiny-{split}-{i}", render(p), p.gold, "gsm8k")

    return ProblemSet(
        "tiny-arith",
        [to_problem("train", i, p) for i, p in enumerate(train)],
        [to_problem("heldout", i, p) for i, p in enumerate(heldout(n_heldout, difficulty))],
        [to_problem("val", i, p) for i, p in enumerate(val)],
    )


def jsonl_rows(path: str | Path, split: str, fields: tuple[str, ...]) -> list[tuple[int, dict]]:
    """The rows of a jsonl file with their line numbers (blank lines skipped). A missing file, a
    line that is not JSON, or a row without one of ``fields`` as a string: a one-line error that
    names the file, the line and the field."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data: {split} file {path} does not exist")
    rows = []
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"data: {path}:{line_no} is not valid JSON ({e.msg})") from None
        for key in fields:
            if not (isinstance(row, dict) and isinstance(row.get(key), str)):
                raise ValueError(f"data: {path}:{line_no} has no string field {key!r}")
        rows.append((line_no, row))
    return rows


def read_jsonl(path: str | Path, split: str) -> list[Problem]:
    """Rows ``{"prompt": ..., "gold": ..., "dataset": "gsm8k" | "math" | "deepmath"}`` (``id`` optional)."""
    problems = []
    for line_no, row in jsonl_rows(path, split, ("prompt", "gold", "dataset")):
        if row["dataset"] not in DATASETS:
            raise ValueError(
                f"data: {path}:{line_no} dataset {row['dataset']!r} is not one of {DATASETS}"
            )
        problems.append(
            Problem(
                str(row.get("id", f"{split}-{line_no}")), row["prompt"], row["gold"], row["dataset"]
            )
        )
    return problems


def jsonl(
    train_path: str | Path, heldout_path: str | Path | None, n_heldout: int = 256
) -> ProblemSet:
    train = read_jsonl(train_path, "train")
    heldout = read_jsonl(heldout_path, "heldout") if heldout_path else []
    return ProblemSet(f"jsonl:{Path(train_path).name}", train, heldout[:n_heldout])
