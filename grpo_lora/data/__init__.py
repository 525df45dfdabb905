"""Problem sets: the embedded tiny-arith task, local jsonl files, and the real hub datasets."""

from __future__ import annotations

from dataclasses import replace

from grpo_lora.data.problems import DATASETS, Problem, ProblemSet, jsonl, tiny_arith

__all__ = ["DATASETS", "Problem", "ProblemSet", "load_problems"]


def load_problems(data, tokenizer=None) -> ProblemSet:
    """Build the problem set a config's ``data`` section names. Every gold is checked against its
    grader first: a bad one stops the run here, naming the problem, not hours later mid-step."""
    import rewards

    problems = _build(data, tokenizer)
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


def _build(data, tokenizer) -> ProblemSet:
    if data.name == "tiny-arith":
        return tiny_arith(
            n_heldout=data.heldout_size,
            template=data.template,
            tokenizer=tokenizer,
            difficulty=data.difficulty(),
            n_val=data.heldout_size,
        )
    if data.name == "jsonl":
        if not data.source:
            raise ValueError("data.source: a jsonl problem set needs the path of its training file")
        return jsonl(data.source, data.heldout_source, data.heldout_size)
    from grpo_lora.data.hub import load_hub

    return load_hub(
        data.name,
        source=data.source,
        heldout_source=data.heldout_source,
        template=data.template,
        tokenizer=tokenizer,
        n_heldout=data.heldout_size,
        max_train=data.max_train,
    )
