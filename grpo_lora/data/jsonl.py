"""jsonl: local files of whole prompts, each row naming the grader that grades it.

Rows ``{"prompt": ..., "gold": ..., "dataset": "gsm8k" | "math" | "deepmath"}`` (``id``
optional): the prompt goes to the engine as it is (``data.template`` does not apply), and the
row's ``dataset`` is the rewards grader of its gold. ``data.source`` is the training file,
``data.heldout_source`` the optional held-out one. `jsonl_rows`, the reader with one-line errors,
also reads SFT's demonstration files.
"""

from __future__ import annotations

import json
from pathlib import Path

from grpo_lora.data.problems import Problem, ProblemSet, Task
from grpo_lora.data.templates import TEMPLATES


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
    """The problems of one file; a row's ``id`` defaults to ``{split}-{line number}``."""
    from rewards import DATASETS  # lazy: the graders load sympy, which the registry must not need

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
    """A training file and an optional held-out file, cut to its first ``n_heldout`` rows."""
    train = read_jsonl(train_path, "train")
    heldout = read_jsonl(heldout_path, "heldout") if heldout_path else []
    return ProblemSet(f"jsonl:{Path(train_path).name}", train, heldout[:n_heldout])


def from_config(data, tokenizer=None) -> ProblemSet:
    """The problems a config's ``data`` section names (the tokenizer is not needed)."""
    if not data.source:
        raise ValueError("data.source: a jsonl problem set needs the path of its training file")
    return jsonl(data.source, data.heldout_source, data.heldout_size)


# data.template is accepted, and resolved to chat as for the hub sets, but the rows' prompts are
# used whole
TASK = Task("jsonl", TEMPLATES, from_config)
