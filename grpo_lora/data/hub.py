"""The real datasets (GSM8K, MATH, DeepMath-103K), read in their own schemas, as `Problem`s.

A source is either a hub id, loaded with `datasets.load_dataset` (the default is the canonical id
below), or a local file or folder in the same schema: ``.jsonl``, ``.json``, ``.parquet``, a folder
`datasets.load_dataset` can read (split names come from file names: ``train.jsonl``,
``test-00000-of-00001.parquet``), or a folder written by ``save_to_disk``. Both go through the same
mapping; only the reading differs. A hub id may name one config as ``id:config``.

| name     | default source                        | question | gold (as stored)                 |
|----------|---------------------------------------|----------|----------------------------------|
| gsm8k    | openai/gsm8k, config main             | question | answer (worked, ends ``#### N``) |
| math     | EleutherAI/hendrycks_math, 7 subjects | problem  | solution (worked, ``\\boxed{}``) |
| deepmath | zwhe99/DeepMath-103K (train only)     | question | final_answer                     |

The gold is kept as the source stores it; the ``rewards`` grader of the dataset extracts the answer
(after ``####`` for GSM8K, the last ``\\boxed{}`` for MATH).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from grpo_lora.data.problems import Problem, ProblemSet
from grpo_lora.data.templates import check_template, format_prompt

MATH_SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)
# Hub ids that need a config name; every config listed is loaded and each split concatenated.
HUB_CONFIGS: dict[str, tuple[str, ...]] = {
    "openai/gsm8k": ("main",),
    "gsm8k": ("main",),
    "EleutherAI/hendrycks_math": MATH_SUBJECTS,
}
LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


@dataclass(frozen=True)
class Spec:
    hub_id: str  # the default source
    question: str  # column holding the problem text
    gold: str  # column holding what the grader needs
    default_heldout: str | None = None  # held-out source used with the default source only


SPECS = {
    "gsm8k": Spec("openai/gsm8k", "question", "answer"),
    # MATH-500 (Lightman et al. 2023): 500 problems of MATH's test split, so disjoint from train.
    "math": Spec("EleutherAI/hendrycks_math", "problem", "solution", "HuggingFaceH4/MATH-500"),
    "deepmath": Spec("zwhe99/DeepMath-103K", "question", "final_answer"),
}

Row = tuple[str, str, str]  # (id, question, gold)


def load_hub(
    name: str,
    source: str | None = None,
    heldout_source: str | None = None,
    template: str = "chat",
    tokenizer=None,
    n_heldout: int = 256,
    seed: int = 0,
    max_train: int | None = None,
) -> ProblemSet:
    """Load dataset ``name`` (gsm8k | math | deepmath) from ``source`` as a `ProblemSet`.

    The held-out split is the first of these that exists:

    1. ``heldout_source`` (its ``test`` split, or its only split);
    2. with the default source, the dataset's standard test set: GSM8K's ``test`` split, MATH-500
       for MATH (DeepMath has none);
    3. the source's own ``test`` split (a local folder with ``test.jsonl``, say);
    4. a seeded slice of ``n_heldout`` problems removed from train: DeepMath-103K (train only) and
       any single local file.

    A held-out split longer than ``n_heldout`` is cut to a seeded sample of ``n_heldout`` problems,
    kept in source order. ``max_train`` cuts train the same way (after any held-out slice is
    removed), so both are pure functions of (source, seed). Prompts are rendered with ``template``
    (`grpo_lora.data.templates`); ``chat`` needs ``tokenizer``.
    """
    if name not in SPECS:
        raise ValueError(f"data: unknown dataset {name!r}; known: {', '.join(SPECS)}")
    if n_heldout < 0:
        raise ValueError(f"data: n_heldout must be >= 0, got {n_heldout}")
    if max_train is not None and max_train < 1:
        raise ValueError(f"data: max_train must be >= 1 or None, got {max_train}")
    check_template(template, tokenizer, name)  # fail before any download
    spec = SPECS[name]

    splits, where = _load(source or spec.hub_id)
    train_split = _pick(splits, where, prefer="train")
    train = _rows(
        splits[train_split],
        spec,
        f"{where}{_split_note(splits, train_split)}",
        f"{name}-{train_split}",
    )

    if heldout_source is None and source is None:
        heldout_source = spec.default_heldout
    if heldout_source is not None:
        h_splits, h_where = _load(heldout_source)
        h_split = _pick(h_splits, h_where, prefer="test")
        heldout = _rows(
            h_splits[h_split], spec, f"{h_where}{_split_note(h_splits, h_split)}", f"{name}-heldout"
        )
    elif "test" in splits and train_split != "test":
        heldout = _rows(splits["test"], spec, f"{where} (split 'test')", f"{name}-test")
    else:
        train, heldout = _slice(train, n_heldout, f"{name}/heldout/{seed}", where)

    heldout = _sample(heldout, n_heldout, f"{name}/heldout/{seed}")
    train = _sample(train, max_train, f"{name}/train/{seed}")
    label = name if source is None else f"{name}:{source}"
    return ProblemSet(
        label,
        _problems(train, name, template, tokenizer),
        _problems(heldout, name, template, tokenizer),
    )


def _load(source: str) -> tuple[dict, str]:
    """All splits of ``source`` as ``{split: datasets.Dataset}``, and how to name it in errors."""
    path = Path(source).expanduser()
    looks_local = (
        path.exists() or path.suffix in LOCAL_FORMATS or source.startswith(("/", ".", "~"))
    )
    return _load_local(path) if looks_local else _load_hub(source)


def _load_hub(source: str) -> tuple[dict, str]:
    import datasets

    hub_id, _, config = source.partition(":")
    configs = (config,) if config else HUB_CONFIGS.get(hub_id, (None,))
    parts: dict[str, list] = {}
    for cfg in configs:
        try:
            loaded = datasets.load_dataset(hub_id, cfg)
        except Exception as e:
            raise RuntimeError(
                f"data: could not load hub dataset {hub_id!r}"
                f"{f' (config {cfg!r})' if cfg else ''}: {type(e).__name__}: {e} "
                "(if it is meant as a local path: it does not exist)"
            ) from e
        for split, ds in loaded.items():
            parts.setdefault(split, []).append(ds)
    splits = {
        s: v[0] if len(v) == 1 else datasets.concatenate_datasets(v) for s, v in parts.items()
    }
    return splits, f"hub dataset {source}"


def _load_local(path: Path) -> tuple[dict, str]:
    import datasets

    if not path.exists():
        raise FileNotFoundError(f"data: {path} does not exist")
    if path.is_dir():
        if not any(path.iterdir()):
            raise ValueError(f"data: folder {path} is empty")
        if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
            loaded = datasets.load_from_disk(str(path))  # written by save_to_disk
        else:
            loaded = _read(lambda: datasets.load_dataset(str(path)), path)
    else:
        kind = LOCAL_FORMATS.get(path.suffix)
        if kind is None:
            raise ValueError(
                f"data: {path}: unsupported file type {path.suffix!r}; use "
                f"{', '.join(LOCAL_FORMATS)} or a folder"
            )
        if path.stat().st_size == 0:
            raise ValueError(f"data: {path} is empty")
        loaded = _read(lambda: datasets.load_dataset(kind, data_files=str(path)), path)
    splits = dict(loaded.items()) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
    for split, ds in splits.items():
        if len(ds) == 0:
            raise ValueError(f"data: {path}{_split_note(splits, split)} has no rows")
    return splits, str(path)


def _read(load, path: Path):
    try:
        return load()
    except Exception as e:  # datasets raises StopIteration, ArrowInvalid, ... for unreadable files
        raise ValueError(f"data: could not read {path}: {type(e).__name__}: {e}") from e


def _pick(splits: dict, where: str, prefer: str) -> str:
    """The split named ``prefer``, or the only split."""
    if prefer in splits:
        return prefer
    if len(splits) == 1:
        return next(iter(splits))
    raise ValueError(f"data: {where} has no {prefer!r} split (splits: {', '.join(splits)})")


def _split_note(splits: dict, split: str) -> str:
    return "" if len(splits) == 1 else f" (split {split!r})"


def _rows(ds, spec: Spec, where: str, id_prefix: str) -> list[Row]:
    """(id, question, gold) per row, with the columns checked against the dataset's schema."""
    for col in (spec.question, spec.gold):
        if col not in ds.column_names:
            raise ValueError(
                f"data: {where} has no column {col!r} (columns found: {', '.join(ds.column_names)})"
            )
    rows = []
    for i, (q, g) in enumerate(zip(ds[spec.question], ds[spec.gold])):
        for col, v in ((spec.question, q), (spec.gold, g)):
            if v is None or not str(v).strip():
                raise ValueError(f"data: {where} row {i} has an empty {col!r}")
        rows.append((f"{id_prefix}-{i}", str(q), str(g)))
    return rows


def _problems(rows: list[Row], name: str, template: str, tokenizer) -> list[Problem]:
    return [Problem(i, format_prompt(q, template, tokenizer, name), g, name) for i, q, g in rows]


def _slice(rows: list[Row], k: int, key: str, where: str) -> tuple[list[Row], list[Row]]:
    """Remove a seeded sample of ``k`` rows: (train, heldout), both in source order."""
    if k >= len(rows):
        raise ValueError(
            f"data: {where} has {len(rows)} rows, too few to hold out n_heldout={k} and still "
            "train; lower n_heldout or give heldout_source"
        )
    held = set(random.Random(key).sample(range(len(rows)), k))
    return [r for i, r in enumerate(rows) if i not in held], [rows[i] for i in sorted(held)]


def _sample(rows: list[Row], k: int | None, key: str) -> list[Row]:
    """A seeded sample of ``k`` rows in source order (all rows if ``k`` is None or not smaller)."""
    if k is None or k >= len(rows):
        return rows
    return [rows[i] for i in sorted(random.Random(key).sample(range(len(rows)), k))]
