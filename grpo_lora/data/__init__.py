"""Problem sets: one file per task, and the registry that names them.

Tasks: ``tiny_arith.py`` (the embedded default), ``jsonl.py`` (local files of whole prompts),
``gsm8k.py``, ``math.py`` and ``deepmath.py`` (the real datasets). Shared: ``problems.py``
(`Problem`, `ProblemSet`, `Task`, `grade`, `seeded_batch`), ``hub.py`` (reading a dataset in its
own schema from the hub or a local copy) and ``templates.py`` (how a question becomes a prompt).

Adding a dataset: write ``grpo_lora/data/NAME.py`` that ends in ``TASK = ...``: for a dataset
with a question column and a gold column, a `HubDataset` (its hub id, the two columns, the rewards
grader of its golds) and ``TASK = DATASET.task()``, as ``gsm8k.py`` does; otherwise a `Task` of
its name, the templates it takes (its default first) and a loader from the config's ``data``
section, as ``jsonl.py`` does. Then import it and add ``NAME.TASK`` to `TASKS` below:
``data.name: NAME`` selects it, and the config takes its default template from it. A new kind of
answer also needs a grader in ``rewards``, with its instruction (`templates.INSTRUCTIONS`) and
final-answer marks (`problems.FINAL_ANSWER_MARKS`).
"""

from __future__ import annotations

from dataclasses import replace

from grpo_lora.data import deepmath, gsm8k, jsonl, math, tiny_arith
from grpo_lora.data.problems import ProblemSet, Task

__all__ = ["TASKS", "load_problems"]

# The registry, one line per task: data.name selects a task by its name.
TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        tiny_arith.TASK,
        jsonl.TASK,
        gsm8k.TASK,
        math.TASK,
        deepmath.TASK,
    )
}


def load_problems(data, tokenizer=None) -> ProblemSet:
    """Build the problem set a config's ``data`` section names. Every gold is checked against its
    grader first: a bad one stops the run here, naming the problem, not hours later mid-step."""
    import rewards

    problems = TASKS[data.name].load(data, tokenizer)
    for p in problems.train + problems.heldout:
        try:
            rewards.check_gold(p.gold, p.dataset)
        except rewards.GoldError as e:
            raise ValueError(f"data: problem {p.id}: {e}") from None
    if data.strict_answers:
        strict = lambda ps: [replace(p, strict=True) for p in ps]  # noqa: E731
        problems = ProblemSet(
            problems.name, strict(problems.train), strict(problems.heldout), strict(problems.val)
        )
    return problems
