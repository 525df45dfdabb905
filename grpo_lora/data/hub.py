"""Datasets read in their own schemas, from the hub or from a local copy, as `Problem`s.

A `HubDataset` names a dataset's default hub id, the columns that hold the question and the gold,
and the rewards grader of its golds; each task file (gsm8k.py, math.py, deepmath.py) holds one.

A source is either a hub id, loaded with `datasets.load_dataset` (the default is the dataset's own
id), or a local file or folder in the same schema: ``.jsonl``, ``.json``, ``.parquet``, a folder
`datasets.load_dataset` can read (split names come from file names: ``train.jsonl``,
``test-00000-of-00001.parquet``), or a folder written by ``save_to_disk``. Both go through the same
mapping; only the reading differs. A hub id may name one config as ``id:config``. The gold is kept
as the source stores it; the grader extracts the answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from grpo_lora.data.problems import Problem, ProblemSet, Task
from grpo_lora.data.templates import TEMPLATES, check_template, format_prompt

LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}

Row = tuple[str, str, str]  # (id, question, gold)


@dataclass(frozen=True)
class HubDataset:
    """One dataset's schema and sources: `load` reads it, `task` lists it in the registry."""

    name: str  # data.name; also the prefix of problem ids and the key of its seeded samples
    grader: str  # the rewards grader of its golds, which also picks the answer instruction
    hub_id: str  # the default source
    question: str  # column holding the problem text
    gold: str  # column holding what the grader needs
    # hub ids that need config names: every config listed is loaded and each split concatenated
    configs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    default_heldout: str | None = None  # held-out source used with the default source only

    def task(self) -> Task:
        """This dataset in the registry: it takes the shared templates, chat by default."""
        return Task(self.name, TEMPLATES, self.from_config)

    def from_config(self, data, tokenizer=None) -> ProblemSet:
        """The problems a config's ``data`` section names."""
        return self.load(
            source=data.source,
            heldout_source=data.heldout_source,
            template=data.template,
            tokenizer=tokenizer,
            n_heldout=data.heldout_size,
            max_train=data.max_train,
            example=data.answer_example,
        )

    def load(
        self,
        source: str | None = None,
        heldout_source: str | None = None,
        template: str = "chat",
        tokenizer=None,
        n_heldout: int = 256,
        seed: int = 0,
        max_train: int | None = None,
        example: bool = False,
    ) -> ProblemSet:
        """This dataset, from ``source`` (default: `hub_id`), as a `ProblemSet`.

        The held-out split is the first of these that exists:

        1. ``heldout_source`` (its ``test`` split, or its only split);
        2. with the default source, `default_heldout` where the dataset names one (MATH-500 for
           MATH);
        3. the source's own ``test`` split (GSM8K's on the hub, a local folder's ``test.jsonl``);
        4. a seeded slice of ``n_heldout`` problems removed from train: DeepMath-103K (train only)
           and any single local file.

        A held-out split longer than ``n_heldout`` is cut to a seeded sample of ``n_heldout``
        problems, kept in source order. ``max_train`` cuts train the same way (after any held-out
        slice is removed), so both are pure functions of (source, seed). Prompts are rendered with
        ``template`` (`grpo_lora.data.templates`; ``example`` adds a filled-in final line to the
        instruction); ``chat`` needs ``tokenizer``.
        """
        name = self.name
        if n_heldout < 0:
            raise ValueError(f"data: n_heldout must be >= 0, got {n_heldout}")
        if max_train is not None and max_train < 1:
            raise ValueError(f"data: max_train must be >= 1 or None, got {max_train}")
        check_template(template, tokenizer, self.grader)  # fail before any download

        splits, where = _load(source or self.hub_id, self.configs)
        train_split = _pick(splits, where, prefer="train")
        train = self._rows(
            splits[train_split],
            f"{where}{_split_note(splits, train_split)}",
            f"{name}-{train_split}",
        )

        if heldout_source is None and source is None:
            heldout_source = self.default_heldout
        if heldout_source is not None:
            h_splits, h_where = _load(heldout_source, self.configs)
            h_split = _pick(h_splits, h_where, prefer="test")
            heldout = self._rows(
                h_splits[h_split], f"{h_where}{_split_note(h_splits, h_split)}", f"{name}-heldout"
            )
        elif "test" in splits and train_split != "test":
            heldout = self._rows(splits["test"], f"{where} (split 'test')", f"{name}-test")
        else:
            train, heldout = _slice(train, n_heldout, f"{name}/heldout/{seed}", where)

        heldout = _sample(heldout, n_heldout, f"{name}/heldout/{seed}")
        train = _sample(train, max_train, f"{name}/train/{seed}")
        label = name if source is None else f"{name}:{source}"
        return ProblemSet(
            label,
            self._problems(train, template, tokenizer, example),
            self._problems(heldout, template, tokenizer, example),
        )

    def _rows(self, ds, where: str, id_prefix: str) -> list[Row]:
        """(id, question, gold) per row, with the columns checked against the dataset's schema."""
        for col in (self.question, self.gold):
            if col not in ds.column_names:
                raise ValueError(
                    f"data: {where} has no column {col!r} "
                    f"(columns found: {', '.join(ds.column_names)})"
                )
        rows = []
        for i, (q, g) in enumerate(zip(ds[self.question], ds[self.gold])):
            for col, v in ((self.question, q), (self.gold, g)):
                if v is None or not str(v).strip():
                    raise ValueError(f"data: {where} row {i} has an empty {col!r}")
            rows.append((f"{id_prefix}-{i}", str(q), str(g)))
        return rows

    def _problems(self, rows: list[Row], template: str, tokenizer, example) -> list[Problem]:
        return [
            Problem(i, format_prompt(q, template, tokenizer, self.grader, example), g, self.grader)
            for i, q, g in rows
        ]


def _load(source: str, configs: dict[str, tuple[str, ...]]) -> tuple[dict, str]:
    """All splits of ``source`` as ``{split: datasets.Dataset}``, and how to name it in errors."""
    path = Path(source).expanduser()
    looks_local = (
        path.exists() or path.suffix in LOCAL_FORMATS or source.startswith(("/", ".", "~"))
    )
    return _load_local(path) if looks_local else _load_hub(source, configs)


def _load_hub(source: str, configs: dict[str, tuple[str, ...]]) -> tuple[dict, str]:
    import datasets

    hub_id, _, config = source.partition(":")
    parts: dict[str, list] = {}
    for cfg in (config,) if config else configs.get(hub_id, (None,)):
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
