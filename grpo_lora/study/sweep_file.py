"""The sweep file of `grpo-lora sweep SWEEP.yaml`: a rank x learning-rate x targets grid against
FullFT, and the points it expands to.

A sweep file names a base recipe, an output directory, fixed overrides and the axes of the grid
(see `SweepFile` for every field, and `recipes/study_tiny.yaml` for a worked example). Each point of
the grid is one call of the trainer,

    python -m grpo_lora train BASE.yaml [fixed overrides] run_dir=OUT/NAME seed=S lora.rank=R
        [lora.targets=T] optimizer.lr=LR [data.prompts_per_step=P] [--resume]

with its run directory named by its values (`r1-all-lr1e-03-s0`, `full-lr1e-04-s0`, and `-p16` before
the seed when the batch size is an axis). Every point with the same seed gets the same `seed=`, so the
data order is the same across ranks, targets and learning rates (the trainer derives it from the seed).

Every point's config is loaded and validated (`grpo_lora.config.load_config`, the trainer's own
loader) when the sweep file is read, so a bad override or axis value stops the sweep before anything
runs, with the point and the field named.

Re-launching is safe: a point whose run directory holds `summary.json` is FINISHED and skipped
(unless it ran under other settings than the file gives it now: then the sweep stops and names
them, `launch.check_unchanged`, rather than pool two experiments); one
with `checkpoints/` or `metrics.jsonl` but no `summary.json` CRASHED and is relaunched with
`--resume` (from its last checkpoint, or from step 0 when it saved none); any other point starts
fresh. Points run one after another, or `--parallel N` at a time, each on its own 1/N share of
the cores (`grpo_lora.machine.cpu_cores`: threads that share a core stall one another).
`--ray [ADDRESS]` runs the same trainer command lines as Ray tasks instead, `--parallel N` at a
time, on a new local Ray instance or an existing cluster, each asking for one GPU or a share of
the cores, wherever Ray places it (`grpo_lora.study.ray_launch`, docs/ray.md); everything else (run
directories, logs, skip, resume, failure records, extension rounds) is as above.

`records: DIR` (a folder in the repository, e.g. docs/study_smollm2/runs/rank1) keeps each
finished point's record (config, manifest, summary, gzipped metrics; no checkpoints:
`runs.save_record`), written there as the point finishes. A sweep started where `out_dir` lacks a
recorded point copies the record in first (`runs.restore_records`), so the point counts as
FINISHED: a study committed point by point goes on, on any machine, from where it was.

`--pack K` trains up to K LoRA points in one trainer process (`grpo_lora.rl.pack`: one base model
with K adapters, one engine serving them side by side), launched as
`python -m grpo_lora train BASE.yaml [fixed overrides] --point "POINT 1's overrides" --point ...`;
each point keeps its own run directory, metrics, checkpoints and outcome, exactly as alone. FullFT
points, and LoRA points whose settings other than seed, run_dir, lora.* and optimizer.* differ, do
not share a pack. The pack size is capped by a memory estimate (`cost.pack_cap`).

A point whose trainer fails (exits non-zero, or exits without `summary.json`) does not stop the
others: its run directory gets `failed.json` (exit code, error, the last lines of its log; see
`grpo_lora.study.runs`), `grpo-lora report` lists it, and the sweep exits 1 at the end naming the failed
points. Its whole output stays in `OUT/logs/NAME.log`; re-launching retries it.

How targets combine with ranks: `targets[0]` (default `all`) runs at every LoRA rank; the other
targets run only at the ranks listed in `targets_at_ranks` (default: every LoRA rank). FullFT has no
targets. So `targets: [all, mlp, attn]`, `targets_at_ranks: [1]` compares mlp/attn with all at rank 1.

`episodes: E` with the `prompts_per_step` axis keeps the total number of episodes fixed: each batch
size P runs E / (P x group_size) steps (`schedule.steps`, set per point), so that a batch-size
comparison spends the same signal at every P. `command: sft` runs each point with `grpo-lora sft`
(`python -m grpo_lora sft`, supervised fine-tuning on demonstrations) instead of GRPO, with the same
axes, resume and failure handling; such points are not packed.

Learning rates come either from explicit lists (`lrs: {full: [...], lora: [...], r4: [...]}`: the
`rN` entry wins over `lora` for rank N) or from a log grid (`lr_grid`) centred at `full_centre` for
FullFT and at `lora_lr_multiplier * full_centre` for every LoRA rank, the study's ~10x rule
("LoRA Without Regret", Schulman et al., Thinking Machines 2025).

Bracketed optima: with `lr_grid.extend: N` (default 0: off), once the grid's points have finished,
each arm (a rank, or FullFT, with one targets value and one prompts_per_step) whose best LR, picked
as the report picks it (`scores.best_lr` of `scores.choice_scores`: argmax of the seed-averaged
held-out score, pass@1 or, for SFT, -(held-out log-loss), on the selection `seeds`), is the lowest or
highest it ran gets the grid's next LR beyond that edge (edge / or x 10**(1/points_per_decade)),
at every seed; the sweep runs that round, and repeats until every arm's best is inside its LRs or
the arm has passed that edge N times (`rounds.extension_points`). Extension points are ordinary points
(named, laid out, packed and run in parallel like the grid's), and each round is derived from the
finished runs alone, so a re-launch skips what finished and derives the same rounds again. An arm
with a failed point is not extended until a re-launch has run it. `--dry-run` states the most rounds
and points the extension can add; explicit `lrs` have no grid step, so they cannot extend.

Choose on one set of seeds, judge on another (`confirm_seeds`, at least 4, none of them in `seeds`):
the best LR of the grid is chosen on the seeds that ran the grid, so it is judged on them with the
luck that chose it (winner's curse), and the more LRs an arm ran the more luck it was picked for.
With `confirm_seeds`, once the grid and its extension rounds have finished, a confirmation round
runs each arm's best LR (chosen as above, on `seeds`) once per confirmation seed
(`rounds.confirmation_points`: ordinary points, derived from the finished runs alone like an extension
round); the report judges each arm on those runs alone. An arm whose best LR is still the lowest or
highest it ran gets none: its optimum was not found. An arm with a failed point gets none until a
re-launch has run it. `--dry-run` states how many points the round can add.

The sweep writes OUT/sweep.json (`runs.SWEEP_RECORD`: `margin`, `selection_seeds`, `confirm_seeds`)
before it runs anything, so that the report, which reads run directories only, knows the
equivalence margin its verdicts use (`margin`, default `stats.MARGIN` = 0.05 pass@1) and which
seeds confirm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grpo_lora.config import Config, ConfigError, load_config
from grpo_lora.study.runs import lr_tag
from grpo_lora.study.stats import MARGIN

Target = Literal["all", "mlp", "attn"]
Rank = int | Literal["full"]
# Keys the axes set on every point; a fixed override may not set them too.
AXIS_KEYS = ("run_dir", "seed", "lora.rank", "lora.targets", "optimizer.lr")
MIN_CONFIRM_SEEDS = 4  # fewer seeds give an interval too wide to judge anything


class LrGrid(BaseModel):
    """A log-spaced learning-rate grid, the same shape for FullFT and for every LoRA rank."""

    model_config = ConfigDict(extra="forbid")

    full_centre: float = Field(gt=0)  # FullFT learning rate at the centre of the grid
    points_per_decade: float = Field(2.0, gt=0)  # grid spacing: 2 -> x3.16 between neighbours
    count: int = Field(3, ge=1)  # points per rank group, centred (odd counts include the centre)
    lora_lr_multiplier: float = Field(10.0, gt=0)  # LoRA centre = this x full_centre (study: ~10x)
    extend: int = Field(0, ge=0)  # rounds of one more LR beyond an arm's best-at-edge LR (0: none)

    @model_validator(mode="after")
    def _extend_needs_edges(self) -> LrGrid:
        if self.extend and self.count < 2:
            raise ValueError("extend: needs count >= 2 (an arm with one LR has no edge to pass)")
        return self

    def at(self, centre: float, offset: float) -> float:
        """The grid's LR `offset` steps from `centre` (negative: below), 3 significant digits."""
        return _round_sig(centre * 10 ** (offset / self.points_per_decade))

    def values(self, centre: float) -> list[float]:
        """`count` LRs spaced 10**(1/points_per_decade) apart around `centre`, 3 significant digits."""
        return [self.at(centre, i - (self.count - 1) / 2) for i in range(self.count)]


class SweepFile(BaseModel):
    """A sweep: the base recipe, where the runs go, and the axes of the grid."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["sweep"] = "sweep"  # marks a sweep file, so recipe loaders can tell it apart
    base: str  # base recipe (path relative to the current directory)
    out_dir: str  # one run directory per point is created under this
    records: str | None = None  # where finished points' records are kept (see module docstring)
    overrides: dict[str, str | int | float | bool] = {}  # fixed `key.sub=value` for every point
    ranks: list[Rank] = Field(min_length=1)  # LoRA ranks and/or "full" (full fine-tuning)
    lrs: dict[str, list[float]] | None = None  # explicit LRs: keys "full", "lora", "r<N>"
    lr_grid: LrGrid | None = None  # or a log grid (exactly one of lrs / lr_grid)
    targets: list[Target] = ["all"]  # LoRA targets; targets[0] runs at every LoRA rank
    targets_at_ranks: list[int] | None = None  # ranks where targets[1:] also run (default: all)
    seeds: list[int] = Field([0], min_length=1)  # every point runs once per seed (they choose LRs)
    confirm_seeds: list[int] = []  # fresh seeds that run each arm's chosen LR and judge it (>= 4)
    margin: float = Field(MARGIN, gt=0)  # equivalence margin of the report's verdicts (pass@1)
    prompts_per_step: list[int] | None = None  # optional batch-size axis (data.prompts_per_step)
    episodes: int | None = Field(None, ge=1)  # with prompts_per_step: the same episodes at every
    # batch size, schedule.steps = episodes / (prompts_per_step x group_size)
    command: Literal["train", "sft"] = "train"  # what each point runs: GRPO, or `grpo-lora sft`

    @model_validator(mode="before")
    @classmethod
    def _extend_in_grid(cls, raw):
        # `extend` steps along the log grid; explicit lists have no step to take
        if not isinstance(raw, dict):
            return raw  # the field checks say what is wrong
        lrs = raw.get("lrs")
        if "extend" in raw or (isinstance(lrs, dict) and "extend" in lrs):
            raise ValueError(
                "extend: needs lr_grid (set lr_grid.extend: N); explicit lrs have no grid step"
            )
        return raw

    # Value ranges (rank >= 1, LR > 0, ...) are the trainer config's to check: see `point_configs`.
    @field_validator("ranks")
    @classmethod
    def _ranks_unique(cls, v: list[Rank]) -> list[Rank]:
        if len(set(v)) != len(v):
            raise ValueError(f"duplicate ranks in {v}")
        return v

    @field_validator("targets", "seeds")
    @classmethod
    def _unique(cls, v: list) -> list:
        if len(set(v)) != len(v) or not v:
            raise ValueError(f"must be a non-empty list without duplicates, got {v}")
        return v

    @field_validator("lrs")
    @classmethod
    def _lrs_keys(cls, v: dict[str, list[float]] | None) -> dict[str, list[float]] | None:
        for key, values in (v or {}).items():
            if key not in ("full", "lora") and not (key[:1] == "r" and key[1:].isdigit()):
                raise ValueError(f"key {key!r}: use 'full', 'lora' or 'r<N>' (e.g. r4)")
            if not values:
                raise ValueError(f"key {key!r}: needs a non-empty list of LRs")
        return v

    @field_validator("overrides")
    @classmethod
    def _no_axis_keys(cls, v: dict) -> dict:
        for key in v:
            if key in AXIS_KEYS:
                raise ValueError(f"key {key!r} is set by the sweep's axes; remove it here")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> SweepFile:
        if (self.lrs is None) == (self.lr_grid is None):
            raise ValueError(
                "lrs, lr_grid: give exactly one of them (explicit lists or a log grid)"
            )
        lora_ranks = [r for r in self.ranks if r != "full"]
        if self.lrs is not None:
            for r in self.ranks:
                if not self.lrs_for(r):
                    want = "'full'" if r == "full" else f"'r{r}' or 'lora'"
                    raise ValueError(f"lrs: no learning rates for rank {r} (add {want})")
        for r in self.targets_at_ranks or []:
            if r not in lora_ranks:
                raise ValueError(f"targets_at_ranks: rank {r} is not among the LoRA ranks")
        if self.prompts_per_step is not None:
            if "data.prompts_per_step" in self.overrides:
                raise ValueError("overrides: data.prompts_per_step is also an axis")
            if len(set(self.prompts_per_step)) != len(self.prompts_per_step):
                raise ValueError("prompts_per_step: duplicate values")
        if self.confirm_seeds:
            if len(set(self.confirm_seeds)) != len(self.confirm_seeds):
                raise ValueError(f"confirm_seeds: duplicate seeds in {self.confirm_seeds}")
            if len(self.confirm_seeds) < MIN_CONFIRM_SEEDS:
                raise ValueError(
                    f"confirm_seeds: give at least {MIN_CONFIRM_SEEDS} seeds (or none), "
                    f"got {len(self.confirm_seeds)}"
                )
            if both := sorted(set(self.confirm_seeds) & set(self.seeds)):
                raise ValueError(
                    f"confirm_seeds: {both} also in seeds; the seeds that judge an LR must not "
                    "be those that chose it"
                )
        if self.episodes is not None:
            if self.prompts_per_step is None:
                raise ValueError(
                    "episodes: needs the prompts_per_step axis (it sets each one's steps)"
                )
            if "schedule.steps" in self.overrides:
                raise ValueError("overrides: schedule.steps is set by episodes; remove one of them")
        return self

    def lr_centre(self, rank: Rank) -> float:
        """The centre of `lr_grid` for one rank group."""
        g = self.lr_grid
        assert g is not None
        return g.full_centre if rank == "full" else g.lora_lr_multiplier * g.full_centre

    def lrs_for(self, rank: Rank) -> list[float]:
        """The learning rates of one rank group (before any extension: `rounds.extension_lrs`)."""
        if self.lr_grid is not None:
            return self.lr_grid.values(self.lr_centre(rank))
        assert self.lrs is not None
        if rank == "full":
            return self.lrs.get("full", [])
        return self.lrs.get(f"r{rank}", self.lrs.get("lora", []))

    def targets_for(self, rank: Rank) -> list[str | None]:
        """Targets run at `rank`: none for FullFT, targets[0] everywhere, the rest where asked."""
        if rank == "full":
            return [None]
        if self.targets_at_ranks is None or rank in self.targets_at_ranks:
            return list(self.targets)
        return [self.targets[0]]


@dataclass(frozen=True)
class Point:
    """One run of the grid."""

    name: str
    rank: Rank
    targets: str | None
    lr: float
    seed: int
    prompts_per_step: int | None
    run_dir: Path
    overrides: tuple[str, ...]  # what this point adds after the fixed overrides


def _round_sig(x: float, digits: int = 3) -> float:
    return float(f"{x:.{digits - 1}e}")


def point_name(rank: Rank, targets: str | None, lr: float, seed: int, pps: int | None) -> str:
    head = "full" if rank == "full" else f"r{rank}-{targets}"
    batch = "" if pps is None else f"-p{pps}"
    return f"{head}-lr{lr_tag(lr)}{batch}-s{seed}"


def _fmt_value(v: str | int | float | bool) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return format(v, ".6g")
    return str(v)


def make_point(
    spec: SweepFile, rank: Rank, targets: str | None, lr: float, seed: int, pps: int | None
) -> Point:
    """One point: its name (`point_name`), run directory under out_dir, and axis overrides."""
    name = point_name(rank, targets, lr, seed, pps)
    run_dir = Path(spec.out_dir) / name
    ov = [f"run_dir={run_dir}", f"seed={seed}", f"lora.rank={rank}"]
    if targets is not None:
        ov.append(f"lora.targets={targets}")
    ov.append(f"optimizer.lr={_fmt_value(float(lr))}")
    if pps is not None:
        ov.append(f"data.prompts_per_step={pps}")
    if spec.episodes is not None:
        ov.append(f"schedule.steps={steps_for_episodes(spec, pps)}")
    return Point(name, rank, targets, lr, seed, pps, run_dir, tuple(ov))


def steps_for_episodes(spec: SweepFile, pps: int) -> int:
    """schedule.steps that give `spec.episodes` episodes at `pps` prompts a step (group_size from the
    base recipe and the fixed overrides); a batch size that does not divide them is an error."""
    group = load_config(spec.base, fixed_overrides(spec)).data.group_size
    steps, left = divmod(spec.episodes, pps * group)
    if left or not steps:
        raise ValueError(
            f"episodes: {spec.episodes} is not a whole number of steps of {pps} x {group} episodes "
            f"(prompts_per_step {pps}, group_size {group})"
        )
    return steps


def expand(spec: SweepFile) -> list[Point]:
    """Every point of the grid, ordered rank, targets, LR, batch, seed; names are unique."""
    points = [
        make_point(spec, rank, targets, lr, seed, pps)
        for rank in spec.ranks
        for targets in spec.targets_for(rank)
        for lr in spec.lrs_for(rank)
        for pps in spec.prompts_per_step or [None]
        for seed in spec.seeds
    ]
    names = [p.name for p in points]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"two points share a run directory name: {dupes} (duplicate LRs?)")
    return points


def load_sweep(path: str | Path) -> SweepFile:
    """Read and validate a sweep file and every point's trainer config; errors name the field
    (`ValueError`)."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read sweep file: {e}") from e
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a sweep file is a YAML mapping")
    try:
        spec = SweepFile.model_validate(raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            # model-level checks put the field names at the start of their message
            lines.append(f"{path}: {loc}: {msg}" if loc else f"{path}: {msg}")
        raise ValueError("\n".join(lines)) from None
    try:
        point_configs(spec, expand(spec))
    except ValueError as e:
        raise ValueError("\n".join(f"{path}: {line}" for line in str(e).splitlines())) from None
    return spec


def fixed_overrides(spec: SweepFile) -> list[str]:
    """The sweep file's fixed `overrides`, as the trainer's `key.sub=value` arguments."""
    return [f"{k}={_fmt_value(v)}" for k, v in spec.overrides.items()]


def point_overrides(spec: SweepFile, point: Point) -> list[str]:
    """The `key.sub=value` list the trainer gets: the fixed overrides, then the point's axes."""
    return [*fixed_overrides(spec), *point.overrides]


def point_configs(spec: SweepFile, points: list[Point]) -> dict[str, Config]:
    """Each point's config as the trainer will load it (base recipe + overrides), with the checks
    the trainer makes at start (`Config.derived`). Raises `ValueError`, one line per distinct error
    naming the first point it hits and the field, before anything has run."""
    configs: dict[str, Config] = {}
    errors: dict[str, str] = {}  # message -> first point with it
    for p in points:
        try:
            cfg = load_config(spec.base, point_overrides(spec, p))
            cfg.derived()
            configs[p.name] = cfg
        except ConfigError as e:
            errors.setdefault(str(e), p.name)
    if errors:
        raise ValueError("\n".join(f"point {name}: {msg}" for msg, name in errors.items()))
    return configs
