"""Problem sets: the embedded tiny-arith task, local jsonl files, and the real hub datasets."""

from __future__ import annotations

from grpo_lora.data.problems import DATASETS, Problem, ProblemSet, jsonl, tiny_arith

__all__ = ["DATASETS", "Problem", "ProblemSet", "load_problems"]


def load_problems(data, tokenizer=None) -> ProblemSet:
    """Build the problem set a config's ``data`` section names."""
    if data.name == "tiny-arith":
        return tiny_arith(n_heldout=data.heldout_size)
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
