"""Reading run directories: what one trainer run leaves on disk, for the sweep (which skips, resumes
and records its points) and the report (which reads finished runs and lists the others).

A run directory holds what the trainer writes (grpo_lora/rl/trainer.py): `config.yaml`,
`manifest.json`, `metrics.jsonl` (one row per step), `checkpoints/` and, once finished,
`summary.json`. The sweep adds `failed.json` when a point's process fails (`grpo_lora.checkpoint.write_failure`): its
exit code, the error and the last lines of its log, so that a failure is recorded where the run
lives and the report can list it. Beside its run directories (`OUT/sweep.json`, `SWEEP_RECORD`) the
sweep records its equivalence margin and which seeds choose each arm's LR and which confirm it;
each Run carries the record of the directory it lies in (`Run.sweep`, {} when there is none).
What the report reads of a whole runs directory is a `Found`: its finished runs and the rest.
"""

from __future__ import annotations

import gzip
import json
import math
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from grpo_lora.checkpoint import FAILED
from grpo_lora.config import Config, ConfigError, load_config
from grpo_lora.metrics import read_metrics

# beside a sweep's run directories: {"margin", "selection_seeds", "confirm_seeds"}
SWEEP_RECORD = "sweep.json"
WALL_TIMES = "sweep_times.jsonl"  # a sweep's wall time, a line per launch (`grpo-lora sweep`)

# What may differ between the runs that one study compares: the arm (the lora section), the LR,
# the seed, and what changes no result (where a run writes, how it shows progress, its
# checkpoints, the engine's memory and LoRA capacity). Every other setting splits a study.
OWN_SETTINGS = (
    "run_dir",
    "seed",
    "lora",
    "optimizer.lr",
    "checkpoint",
    "logging.tensorboard",
    "logging.wandb",
    "logging.wandb_project",
    "logging.progress",
    "engine.max_lora_rank",
    "engine.gpu_memory_utilization",
    "engine.cpu_kv_cache_gb",
)
LORA_FORM = ("lora.alpha", "lora.dropout")  # LoRA's own settings beyond the arm (rank, targets)


def is_number(v) -> bool:
    """A finite int or float (not a bool, not None: how metrics write a non-finite value)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def lr_tag(lr: float) -> str:
    """`1e-03` when the LR is a round power-of-ten multiple, else `3.16e-04` (run names, tables)."""
    short = f"{lr:.0e}"
    return short if math.isclose(float(short), lr, rel_tol=1e-9) else f"{lr:.2e}"


def read_json(path: Path) -> dict:
    """A JSON object from `path`; {} when it is missing, unreadable or not an object."""
    try:
        obj = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return obj if isinstance(obj, dict) else {}


def read_rows(run_dir: Path) -> list[dict]:
    """The metrics of a run that may be in flight or killed: none yet gives [], and a half-written
    last line is dropped. The sweep polls this while the trainer appends; the report uses it too."""
    if not any((Path(run_dir) / f).exists() for f in ("metrics.jsonl", "metrics.jsonl.gz")):
        return []
    return read_metrics(run_dir, tolerant=True)


def train_step_s(row: dict) -> float | None:
    """Seconds of a step's training work: `time/step_s` less the held-out eval it may include."""
    step_s = row.get("time/step_s")
    if not is_number(step_s):
        return None
    eval_s = row.get("time/eval_s")
    return step_s - (eval_s if is_number(eval_s) else 0.0)


def pack_size(manifest: dict) -> int:
    """How many points shared the run's trainer process (a packed sweep's `--point`s), else 1.
    They share its steps: each point's `time/step_s` and `time/eval_s` are the whole pack's."""
    return max(1, (manifest.get("argv") or []).count("--point"))


def status_of(run_dir: Path) -> str:
    """FINISHED (summary.json), CRASHED (no summary, but checkpoints/ or metrics.jsonl: the trainer
    resumes it, from step 0 when no checkpoint was saved) or NEW."""
    if (run_dir / "summary.json").exists():
        return "finished"
    if (run_dir / "checkpoints").is_dir() or (run_dir / "metrics.jsonl").exists():
        return "crashed"
    return "new"


# ---------------------------------------------------------------------------------------------
# Failure records


def load_failures(root: Path) -> list[tuple[Path, dict]]:
    """(run dir, failure record) for each unfinished run under `root` that the sweep saw fail."""
    return [
        (f.parent, read_json(f))
        for f in sorted(root.rglob(FAILED))
        if "checkpoints" not in f.parent.relative_to(root).parts
        and not (f.parent / "summary.json").exists()
    ]


# ---------------------------------------------------------------------------------------------
# Runs


@dataclass
class Run:
    """One run directory, read through its config.yaml, manifest.json, metrics and summary."""

    path: Path
    config: Config  # config.yaml, loaded and validated as the trainer loads a recipe
    rows: dict[int, dict]  # step -> metrics row
    manifest: dict
    summary: dict
    sweep: dict = field(default_factory=dict)  # the sweep's record beside it (SWEEP_RECORD), or {}

    @property
    def rank(self) -> int | str:
        return self.config.lora.rank  # an int, or "full"

    @property
    def targets(self) -> str | None:
        """None for FullFT; a list of module names is joined with commas."""
        t = self.config.lora.targets
        return None if self.rank == "full" else (t if isinstance(t, str) else ",".join(t))

    @property
    def lr(self) -> float:
        return self.config.optimizer.lr

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def pps(self) -> int:
        return self.config.data.prompts_per_step

    @property
    def command(self) -> str:
        """ "train" (GRPO) or "sft" (`grpo-lora sft`), as its summary says; older runs are GRPO."""
        return self.summary.get("command", "train")

    @property
    def model(self) -> str:
        return self.config.model.path

    @property
    def pack_size(self) -> int:
        return pack_size(self.manifest)

    @property
    def arm(self) -> tuple:
        return (self.rank, self.targets)

    @cached_property  # a model_dump, asked for again and again while runs are grouped
    def settings(self) -> dict[str, object]:
        """The settings outside `OWN_SETTINGS` (dotted name -> value), with a LoRA run's
        `LORA_FORM`: runs compared in one study must agree on all of them."""
        flat = _flatten(self.config.model_dump(mode="json"))
        own = tuple(f"{k}." for k in OWN_SETTINGS)
        kept = {k: v for k, v in flat.items() if k not in OWN_SETTINGS and not k.startswith(own)}
        if self.rank != "full":
            kept.update({k: flat[k] for k in LORA_FORM})
        return kept

    @property
    def train_steps(self) -> list[int]:
        return sorted(s for s in self.rows if s >= 1)

    @property
    def trainable_params(self) -> int | None:
        v = self.manifest.get("trainable_params", self.summary.get("trainable_params"))
        return int(v) if v is not None else None

    def series(self, key: str) -> dict[int, float]:
        return {
            s: float(self.rows[s][key])
            for s in self.train_steps
            if is_number(self.rows[s].get(key))
        }

    def episodes_at(self, step: int) -> float:
        """Cumulative completions after `step` (`episodes` key, else step x P x G)."""
        v = self.rows.get(step, {}).get("episodes")
        if is_number(v):
            return float(v)
        return float(step * self.pps * self.config.data.group_size)


def config_changes(run_dir: Path, cfg: Config) -> list[str]:
    """How the config that the run in `run_dir` saved differs from `cfg` (the `Config` its sweep
    file gives the point now): one ``key: saved -> now`` line per setting, `run_dir` aside."""
    try:
        saved = load_config(run_dir / "config.yaml")
    except ConfigError as e:
        return [f"config.yaml: {e}"]
    was, now = _flatten(saved.model_dump(mode="json")), _flatten(cfg.model_dump(mode="json"))
    keys = sorted((was.keys() | now.keys()) - {"run_dir"})
    return [f"{k}: {was.get(k)!r} -> {now.get(k)!r}" for k in keys if was.get(k) != now.get(k)]


def _flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def setting_groups(runs: list[Run]) -> list[list[Run]]:
    """Runs that agree on every setting (`Run.settings`), in a stable order. FullFT runs have no
    LoRA form: they join each LoRA group that agrees with them on the rest (the shared reference
    of LoRA runs that differ in alpha or dropout)."""
    key = lambda r: json.dumps(r.settings, sort_keys=True)  # noqa: E731
    base = lambda r: json.dumps(  # noqa: E731
        {k: v for k, v in r.settings.items() if k not in LORA_FORM}, sort_keys=True
    )
    lora: dict[str, list[Run]] = {}
    for r in runs:
        if r.rank != "full":
            lora.setdefault(key(r), []).append(r)
    groups = {k: (base(g[0]), g) for k, g in lora.items()}
    for r in runs:
        if r.rank == "full":
            homes = [g for b, g in groups.values() if b == base(r)]
            for g in homes or [groups.setdefault(key(r), (base(r), []))[1]]:
                g.append(r)
    order = lambda k: (_study_order(groups[k][1][0]), k)  # noqa: E731
    return [groups[k][1] for k in sorted(groups, key=order)]


def _study_order(r: Run) -> tuple:
    return r.model, r.pps, r.config.schedule.steps


def read_run(run_dir: Path) -> Run:
    """A Run from `run_dir`; `ConfigError` (naming the field) when config.yaml is not a valid
    config."""
    return Run(
        path=run_dir,
        config=load_config(run_dir / "config.yaml"),
        rows={int(r["step"]): r for r in read_rows(run_dir)},
        manifest=read_json(run_dir / "manifest.json"),
        summary=read_json(run_dir / "summary.json"),
        sweep=read_json(run_dir.parent / SWEEP_RECORD),
    )


def load_runs(root: Path) -> tuple[list[Run], list[Path], list[tuple[Path, str]]]:
    """(finished runs, unfinished run dirs, (dir, why) for each config.yaml that is not a valid
    config) under `root`, at any depth. Only finished runs' metrics are read; unfinished runs
    with a failure record are `load_failures`'s, not listed here."""
    finished, unfinished, unreadable = [], [], []
    for cfg in sorted(root.rglob("config.yaml")):
        d = cfg.parent
        if "checkpoints" in d.relative_to(root).parts:
            continue
        if not any(
            (d / f).exists() for f in ("metrics.jsonl", "metrics.jsonl.gz", "manifest.json")
        ):
            continue
        if not (d / "summary.json").exists():
            if not (d / FAILED).exists():
                unfinished.append(d)
            continue
        try:
            finished.append(read_run(d))
        except ConfigError as e:
            unreadable.append((d, str(e)))
    return finished, unfinished, unreadable


@dataclass
class Found:
    """What a runs directory holds for the report: finished runs (used) and the rest (listed)."""

    runs_dir: Path
    finished: list[Run]
    unfinished: list[Path]
    unreadable: list[tuple[Path, str]]  # (run dir, why its config.yaml is not a valid config)
    failed: list[tuple[Path, dict]]  # (run dir, the sweep's failure record)

    @classmethod
    def scan(cls, runs_dir: Path) -> Found:
        return cls(runs_dir, *load_runs(runs_dir), load_failures(runs_dir))


RECORD_FILES = ("config.yaml", "manifest.json", "summary.json")  # beside the gzipped metrics


def save_records(root: Path, dest: Path) -> int:
    """Copy each finished run's record under `root` to the same place under `dest`
    (`save_record`), and each sweep's record and wall times. The report remade from `dest` is the
    report of `root`. Returns how many runs were copied."""
    runs, _, _ = load_runs(root)
    for run in runs:
        save_record(run.path, dest / run.path.relative_to(root))
    save_sweep_records(root, dest)
    return len(runs)


def save_sweep_records(root: Path, dest: Path) -> None:
    """Each sweep's record and wall times under `root`, to the same place under `dest`."""
    for name in (SWEEP_RECORD, WALL_TIMES):
        for f in root.rglob(name):
            target = dest / f.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)


def save_record(run_dir: Path, out: Path) -> None:
    """A finished run's record in `out`: config, manifest, summary and metrics (gzipped,
    byte-stable: no timestamp in the header); no checkpoints, samples or logs."""
    out.mkdir(parents=True, exist_ok=True)
    for name in RECORD_FILES:
        if (run_dir / name).exists():
            shutil.copyfile(run_dir / name, out / name)
    plain, packed = run_dir / "metrics.jsonl", run_dir / "metrics.jsonl.gz"
    if plain.exists():
        (out / packed.name).write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
    else:  # a record already
        shutil.copyfile(packed, out / packed.name)


def restore_records(records: Path, out_dir: Path) -> list[str]:
    """Copy into `out_dir` each run recorded under `records` whose run directory there is absent
    or empty of work, so that a sweep started on a new machine skips what is recorded (a record
    holds `summary.json`: FINISHED). A local run in progress (crashed) is left to resume.
    Returns the restored run names."""
    restored = []
    for summary in sorted(records.glob("*/summary.json")) if records.is_dir() else []:
        run_dir = out_dir / summary.parent.name
        if status_of(run_dir) == "new":
            save_record(summary.parent, run_dir)
            restored.append(run_dir.name)
    return restored


def process_times(runs: list[Run]) -> dict[Path, float]:
    """Sweep directory -> seconds of trainer processes its finished runs took, from their own
    records: a process's wall time (`summary.json`'s `wall_s`) counts once, though each of a pack's
    points records it (the pack is its manifest's argv). Unlike `wall_times`, it survives a launch
    that was killed: what finished counts, the work lost with the killed process does not."""
    procs: dict[tuple[Path, object], float] = {}
    for run in runs:
        argv = run.manifest.get("argv") or []
        key = (run.path.parent, tuple(argv) if run.pack_size > 1 else run.path.name)
        procs[key] = max(procs.get(key, 0.0), float(run.summary.get("wall_s") or 0.0))
    out: dict[Path, float] = {}
    for (sweep, _), s in procs.items():
        out[sweep] = out.get(sweep, 0.0) + s
    return out


def wall_times(root: Path) -> dict[Path, list[dict]]:
    """Sweep directory -> its launches' wall-time records (`WALL_TIMES`), for each sweep under
    `root` that recorded them."""
    return {
        f.parent: [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
        for f in sorted(root.rglob(WALL_TIMES))
    }
