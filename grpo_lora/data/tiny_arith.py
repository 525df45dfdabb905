"""tiny-arith: the embedded default task (`grpo_lora.tiny.task`), graded like GSM8K.

Chains like ``6-2+8=?`` with worked golds ending in ``#### N``, deterministic for a seed, with a
fixed held-out split that no training draw uses. The difficulty knobs are the config's
``data.min_terms``, ``data.max_terms`` and ``data.max_operand`` (`DataSection.difficulty`).

Templates: ``tiny`` (the default) gives the prompts the embedded policy reads
(``Q: 6-2+8=?\\nA:``); ``chat``, ``plain`` and ``raw`` render the question as
`grpo_lora.data.templates.format_prompt` does for GSM8K, whose instruction asks for a final
``#### N`` line.
"""

from __future__ import annotations

from grpo_lora.data.problems import Problem, ProblemSet, Task
from grpo_lora.data.templates import TEMPLATES, check_template, format_prompt

GRADER = "gsm8k"  # the golds end in '#### N', as GSM8K's do


def tiny_arith(
    n_train: int = 20_000,
    n_heldout: int = 256,
    template: str = "tiny",
    tokenizer=None,
    difficulty=None,
    n_val: int = 0,
    example: bool = False,
) -> ProblemSet:
    """``n_train`` training problems, the first ``n_heldout`` held-out ones and ``n_val`` val ones.

    ``difficulty`` is a `grpo_lora.tiny.task.Difficulty` (None = the embedded policy's). ``val``:
    the next ``n_val`` problems of the training stream whose questions the training set does not
    hold. ``example``: the instruction shows a filled-in final line (`format_prompt`)."""
    # lazy: importing the grpo_lora.tiny package loads torch, which the registry must not need
    from grpo_lora.tiny.task import draw_new, heldout, train_stream

    if template == "tiny":
        render = lambda p: p.prompt  # noqa: E731
    else:
        check_template(template, tokenizer, GRADER)  # before generating 20k problems
        render = lambda p: format_prompt(p.question, template, tokenizer, GRADER, example)  # noqa: E731
    stream = train_stream(seed=0, diff=difficulty)
    train = [next(stream) for _ in range(n_train)]
    seen, val = {p.question for p in train}, []
    while len(val) < n_val:
        p = draw_new(stream, seen, f"{n_val} val problems")
        seen.add(p.question)
        val.append(p)

    def to_problem(split, i, p):
        return Problem(f"tiny-{split}-{i}", render(p), p.gold, GRADER)

    return ProblemSet(
        "tiny-arith",
        [to_problem("train", i, p) for i, p in enumerate(train)],
        [to_problem("heldout", i, p) for i, p in enumerate(heldout(n_heldout, difficulty))],
        [to_problem("val", i, p) for i, p in enumerate(val)],
    )


def from_config(data, tokenizer=None) -> ProblemSet:
    """The problems a config's ``data`` section names; the val set is as large as the held-out."""
    return tiny_arith(
        n_heldout=data.heldout_size,
        template=data.template,
        tokenizer=tokenizer,
        difficulty=data.difficulty(),
        n_val=data.heldout_size,
        example=data.answer_example,
    )


TASK = Task("tiny-arith", ("tiny", *TEMPLATES), from_config)
