"""`grpo-lora sweep SWEEP.yaml`: run a rank x learning-rate x targets grid against FullFT.

A sweep file names a base recipe, an output directory, fixed overrides and the axes of the grid
(see `SweepFile` for every field, and `recipes/study_tiny.yaml` for a worked example). Each point of
the grid is one call of the trainer,

    python -m grpo_lora.train BASE.yaml [fixed overrides] run_dir=OUT/NAME seed=S lora.rank=R
        [lora.targets=T] optimizer.lr=LR [data.prompts_per_step=P] [--resume]

with its run directory named by its values (`r1-all-lr1e-03-s0`, `full-lr1e-04-s0`, and `-p16` before
the seed when the batch size is an axis). Every point with the same seed gets the same `seed=`, so the
data order is the same across ranks, targets and learning rates (the trainer derives it from the seed).

Every point's config is loaded and validated (`grpo_lora.config.load_config`, the trainer's own
loader) when the sweep file is read, so a bad override or axis value stops the sweep before anything
runs, with the point and the field named.

Re-launching is safe: a point whose run directory holds `summary.json` is FINISHED and skipped; one
with `checkpoints/` or `metrics.jsonl` but no `summary.json` CRASHED and is relaunched with
`--resume` (from its last checkpoint, or from step 0 when it saved none); any other point starts
fresh. Points run one after another, or `--parallel N` at a time, each on its own 1/N share of
the cores (`grpo_lora.machine.cpu_cores`: threads that share a core stall one another).
`--ray [ADDRESS]` runs the same trainer command lines as Ray tasks instead, `--parallel N` at a
time, on a new local Ray instance or an existing cluster, each asking for one GPU or a share of
the cores, wherever Ray places it (`grpo_lora.ray_launch`, docs/ray.md); everything else (run
directories, logs, skip, resume, failure records, extension rounds) is as above.

`--pack K` trains up to K LoRA points in one trainer process (`grpo_lora.pack`: one base model
with K adapters, one engine serving them side by side), launched as
`python -m grpo_lora.train BASE.yaml [fixed overrides] --point "POINT 1's overrides" --point ...`;
each point keeps its own run directory, metrics, checkpoints and outcome, exactly as alone. FullFT
points, and LoRA points whose settings other than seed, run_dir, lora.* and optimizer.* differ, do
not share a pack. The pack size is capped by a memory estimate (`pack_cap`).

A point whose trainer fails (exits non-zero, or exits without `summary.json`) does not stop the
others: its run directory gets `failed.json` (exit code, error, the last lines of its log; see
`grpo_lora.runs`), `grpo-lora report` lists it, and the sweep exits 1 at the end naming the failed
points. Its whole output stays in `OUT/logs/NAME.log`; re-launching retries it.

How targets combine with ranks: `targets[0]` (default `all`) runs at every LoRA rank; the other
targets run only at the ranks listed in `targets_at_ranks` (default: every LoRA rank). FullFT has no
targets. So `targets: [all, mlp, attn]`, `targets_at_ranks: [1]` compares mlp/attn with all at rank 1.

`episodes: E` with the `prompts_per_step` axis keeps the total number of episodes fixed: each batch
size P runs E / (P x group_size) steps (`schedule.steps`, set per point), so that a batch-size
comparison spends the same signal at every P. `command: sft` runs each point with `grpo-lora sft`
(`python -m grpo_lora.sft`, supervised fine-tuning on demonstrations) instead of GRPO, with the same
axes, resume and failure handling; such points are not packed.

Learning rates come either from explicit lists (`lrs: {full: [...], lora: [...], r4: [...]}`: the
`rN` entry wins over `lora` for rank N) or from a log grid (`lr_grid`) centred at `full_centre` for
FullFT and at `lora_lr_multiplier * full_centre` for every LoRA rank, the study's ~10x rule
("LoRA Without Regret", Schulman et al., Thinking Machines 2025).

Bracketed optima: with `lr_grid.extend: N` (default 0: off), once the grid's points have finished,
each arm (a rank, or FullFT, with one targets value and one prompts_per_step) whose best LR, picked
as the report picks it (`report.best_lr` of `report.choice_scores`: argmax of the seed-averaged
held-out score, pass@1 or, for SFT, -(held-out log-loss), on the selection `seeds`), is the lowest or
highest it ran gets the grid's next LR beyond that edge (edge / or x 10**(1/points_per_decade)),
at every seed; the sweep runs that round, and repeats until every arm's best is inside its LRs or
the arm has passed that edge N times (`extension_points`). Extension points are ordinary points
(named, laid out, packed and run in parallel like the grid's), and each round is derived from the
finished runs alone, so a re-launch skips what finished and derives the same rounds again. An arm
with a failed point is not extended until a re-launch has run it. `--dry-run` states the most rounds
and points the extension can add; explicit `lrs` have no grid step, so they cannot extend.

Choose on one set of seeds, judge on another (`confirm_seeds`, at least 4, none of them in `seeds`):
the best LR of the grid is chosen on the seeds that ran the grid, so it is judged on them with the
luck that chose it (winner's curse), and the more LRs an arm ran the more luck it was picked for.
With `confirm_seeds`, once the grid and its extension rounds have finished, a confirmation round
runs each arm's best LR (chosen as above, on `seeds`) once per confirmation seed
(`confirmation_points`: ordinary points, derived from the finished runs alone like an extension
round); the report judges each arm on those runs alone. An arm whose best LR is still the lowest or
highest it ran gets none: its optimum was not found. An arm with a failed point gets none until a
re-launch has run it. `--dry-run` states how many points the round can add.

The sweep writes OUT/sweep.json (`runs.SWEEP_RECORD`: `margin`, `selection_seeds`, `confirm_seeds`)
before it runs anything, so that the report, which reads run directories only, knows the
equivalence margin its verdicts use (`margin`, default `stats.MARGIN` = 0.05 pass@1) and which
seeds confirm.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grpo_lora import ray_launch
from grpo_lora.config import Config, ConfigError, load_config
from grpo_lora.machine import available_memory_mb, cpu_cores, thread_env
from grpo_lora.report import best_lr, choice_scores, final_score, grid_edge, selection_score
from grpo_lora.runs import (
    FAILED,
    SWEEP_RECORD,
    clear_failure,
    is_number,
    lr_tag,
    read_json,
    read_rows,
    read_run,
    status_of,
    train_step_s,
    write_failure,
)
from grpo_lora.stats import MARGIN

Target = Literal["all", "mlp", "attn"]
Rank = int | Literal["full"]
# Keys the axes set on every point; a fixed override may not set them too.
AXIS_KEYS = ("run_dir", "seed", "lora.rank", "lora.targets", "optimizer.lr")
MIN_CONFIRM_SEEDS = 4  # fewer seeds give an interval too wide to judge anything


def default_train_cmd(spec: SweepFile) -> list[str]:
    """How a point runs: `python -m grpo_lora.train` (GRPO) or `python -m grpo_lora.sft`."""
    return [sys.executable, "-m", f"grpo_lora.{spec.command}"]


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
        """The learning rates of one rank group (before any extension: `extension_lrs`)."""
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


@dataclass
class Outcome:
    """What became of one point in this sweep."""

    point: Point
    status: str  # "skipped" | "finished" | "failed"
    resumed: bool = False
    wall_s: float = 0.0
    result: dict = field(default_factory=dict)  # the trainer's last stdout line, if JSON
    log: Path | None = None
    exit_code: int | None = None
    error: str = ""  # why it failed: the last line of its output, usually the exception


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
    fixed = [f"{k}={_fmt_value(v)}" for k, v in spec.overrides.items()]
    group = load_config(spec.base, fixed).data.group_size
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


def point_overrides(spec: SweepFile, point: Point) -> list[str]:
    """The `key.sub=value` list the trainer gets: the fixed overrides, then the point's axes."""
    return [*(f"{k}={_fmt_value(v)}" for k, v in spec.overrides.items()), *point.overrides]


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


def command_for(
    points: list[Point], spec: SweepFile, train_cmd: list[str], resume: bool
) -> list[str]:
    """The trainer's command line for one point, or for a pack of points (`--point` each)."""
    tail = ["--resume"] if resume else []
    if len(points) == 1:
        return [*train_cmd, spec.base, *point_overrides(spec, points[0]), *tail]
    fixed = [f"{k}={_fmt_value(v)}" for k, v in spec.overrides.items()]
    # quoted, so that a value with spaces stays one override (`train` splits with shlex)
    own = [arg for p in points for arg in ("--point", shlex.join(p.overrides))]
    return [*train_cmd, spec.base, *fixed, *own, *tail]


def packs(points: list[Point], configs: dict[str, Config], k: int) -> list[list[Point]]:
    """The launch units, in grid order: LoRA points that can share a pack (`pack.pack_key`), at
    most `k` to a pack; FullFT points alone."""
    from grpo_lora.pack import pack_key

    groups: dict[str, list[Point]] = {}
    for p in points:
        groups.setdefault(pack_key(configs[p.name]), []).append(p)
    units = [g[i : i + k] for g in groups.values() for i in range(0, len(g), k)]
    order = {p.name: i for i, p in enumerate(points)}
    return sorted(units, key=lambda u: order[u[0].name])


# ---------------------------------------------------------------------------------------------
# Bracketing the optimum (lr_grid.extend)

# (rank, targets, prompts_per_step): the points that share one best LR, as the report groups them
ArmKey = tuple[Rank, str | None, int | None]


def arm_of(p: Point) -> ArmKey:
    return (p.rank, p.targets, p.prompts_per_step)


def arm_label(arm: ArmKey) -> str:
    """`r1-all`, `full`, `r4-all-p16`: a point's name without its LR and seed."""
    rank, targets, pps = arm
    head = "full" if rank == "full" else f"r{rank}-{targets}"
    return head if pps is None else f"{head}-p{pps}"


def extension_lrs(
    spec: SweepFile, rewards: dict[ArmKey, dict[float, list[float]]]
) -> dict[ArmKey, float]:
    """The next extension round of a sweep with `lr_grid`: arm -> the new LR, for each arm whose
    best LR (`report.best_lr`, as the report picks it) is the lowest or highest it has run
    (`report.grid_edge`) and that has passed that edge of its base grid fewer than
    `lr_grid.extend` times: the grid's next LR beyond that edge. `rewards`: arm -> LR -> each
    seed's final reward, over every LR the arm has run."""
    g = spec.lr_grid
    assert g is not None
    half = (g.count - 1) / 2  # the base grid spans offsets -half .. +half around the centre
    new = {}
    for arm, by_lr in rewards.items():
        side = grid_edge(list(by_lr), best_lr(by_lr))
        if side is None:
            continue
        centre = spec.lr_centre(arm[0])
        lo, hi = g.at(centre, -half), g.at(centre, half)
        done = sum(lr < lo for lr in by_lr) if side == "low" else sum(lr > hi for lr in by_lr)
        if done < g.extend:
            new[arm] = g.at(centre, -(half + done + 1) if side == "low" else half + done + 1)
    return new


def arm_rewards(
    points: list[Point], seeds: list[int] | None = None
) -> dict[ArmKey, dict[float, list[float]]]:
    """Arm -> LR -> each selection seed's score, what the report chooses an arm's LR on
    (`report.choice_scores`: a GRPO run's held-out pass@1, an SFT run's -(validation log-loss); the
    final score when the arm has no held-out score; read from the run directories), over the points
    of `seeds` (default: all), for the arms whose points have all finished: a failed point may
    hold the best LR, so its arm is decided once a re-launch has run it."""
    by_arm: dict[ArmKey, list[Point]] = {}
    for p in points:
        if seeds is None or p.seed in seeds:
            by_arm.setdefault(arm_of(p), []).append(p)
    out = {}
    for arm, arm_points in by_arm.items():
        if any(status_of(p.run_dir) != "finished" for p in arm_points):
            continue
        held: dict[float, list[float]] = {}
        final: dict[float, list[float]] = {}
        for p in arm_points:
            run = read_run(p.run_dir)
            for cells, score in ((held, selection_score(run)), (final, final_score(run))):
                cells.setdefault(p.lr, []).extend([] if score is None else [score])
        out[arm] = choice_scores(held, final)
    return out


def extension_points(spec: SweepFile, points: list[Point]) -> list[Point]:
    """The next extension round after `points` (base grid and earlier rounds) have run: each new
    LR of `extension_lrs` at every seed. Derived from finished runs only, so a re-launch derives
    the same points again."""
    if spec.lr_grid is None or not spec.lr_grid.extend:
        return []
    new = extension_lrs(spec, arm_rewards(points, spec.seeds))
    return [
        make_point(spec, rank, targets, lr, seed, pps)
        for (rank, targets, pps), lr in new.items()
        for seed in spec.seeds
    ]


def edges_left(spec: SweepFile, points: list[Point]) -> list[str]:
    """After the last extension round: a line per finished arm whose best LR still sits on an edge
    (so it has used up lr_grid.extend on that side, and gets no confirmation points)."""
    extend = spec.lr_grid.extend if spec.lr_grid is not None else 0
    lines = []
    for arm, by_lr in arm_rewards(points, spec.seeds).items():
        best = best_lr(by_lr)
        if side := grid_edge(list(by_lr), best):
            lines.append(
                f"{arm_label(arm)}: best LR {lr_tag(best)} is still the {side}est it ran, after "
                f"lr_grid.extend = {extend} extension(s); its optimum may lie beyond "
                "(raise lr_grid.extend to look further)"
                + ("; no confirmation points for it" if spec.confirm_seeds else "")
            )
    return lines


def confirmation_points(spec: SweepFile, points: list[Point]) -> list[Point]:
    """The confirmation round (`confirm_seeds`) after the grid and its extension rounds (`points`)
    have run: for each arm whose selection points have all finished and whose best LR
    (`report.best_lr`, as the report chooses it, on `seeds`) is inside the LRs it ran, one point at
    that LR per confirmation seed. Derived from finished runs only, so a re-launch derives the same
    points again."""
    if not spec.confirm_seeds:
        return []
    out = []
    for (rank, targets, pps), by_lr in arm_rewards(points, spec.seeds).items():
        best = best_lr(by_lr)
        if best is None or grid_edge(list(by_lr), best) is not None:
            continue  # no score, or its optimum was not found: nothing worth confirming
        out += [make_point(spec, rank, targets, best, seed, pps) for seed in spec.confirm_seeds]
    return out


def next_round(spec: SweepFile, points: list[Point]) -> tuple[str, list[Point]]:
    """What to run once `points` have run: the next extension round, else the confirmation points
    not among `points` yet; ("", []) when nothing is left."""
    if new := extension_points(spec, points):
        return "LR extension", new
    names = {p.name for p in points}
    if new := [p for p in confirmation_points(spec, points) if p.name not in names]:
        return "confirmation", new
    return "", []


def confirmation_note(spec: SweepFile, points: list[Point]) -> str:
    """What --dry-run can say of the confirmation round before any result exists."""
    n_arms = len({arm_of(p) for p in points})
    n = len(spec.confirm_seeds)
    return (
        f"confirm_seeds = {spec.confirm_seeds}: once the grid"
        + (" and its extension rounds have" if spec.lr_grid and spec.lr_grid.extend else " has")
        + f" finished, each arm's best LR (chosen on seeds {spec.seeds}) runs once per "
        f"confirmation seed, the report judging it on those alone: {n_arms} arms x {n} seeds = at "
        f"most {n_arms * n} more points (none for an arm whose best LR is on its grid's edge; not "
        "listed or counted above)"
    )


def write_sweep_record(spec: SweepFile) -> None:
    """OUT/sweep.json: the margin and the selection and confirmation seeds, for the report."""
    record = {
        "margin": spec.margin,
        "selection_seeds": spec.seeds,
        "confirm_seeds": spec.confirm_seeds,
    }
    out = Path(spec.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / SWEEP_RECORD).write_text(json.dumps(record) + "\n")


def extension_note(spec: SweepFile, n_points: int) -> str:
    """What --dry-run can say of the extension rounds before any result exists."""
    g = spec.lr_grid
    # An arm extends on one side only: a new LR past the edge is either the new best (the edge
    # again) or leaves the old edge best, now inside. So at most `extend` rounds, one LR an arm.
    most = g.extend * n_points // g.count
    return (
        f"lr_grid.extend = {g.extend}: once these points have finished, each arm whose best LR is "
        f"the lowest or highest of its grid gets the next LR beyond it, at every seed, until its "
        f"best is inside: up to {g.extend} more round(s), at most {most} more points (not listed "
        "or counted above: which ones depends on the results)"
    )


# ---------------------------------------------------------------------------------------------
# Cost estimate (for --dry-run)


def n_evals(cfg: Config) -> int:
    """Held-out evaluations a fresh run makes: at step 0, every `eval_every` steps and at the end."""
    steps, every = cfg.schedule.steps, cfg.logging.eval_every
    return 1 + sum(1 for s in range(1, steps + 1) if s == steps or (every and s % every == 0))


@dataclass
class Measured:
    """From finished points: train seconds per step (median, per arm and overall), a point's held-out
    evaluations (median total seconds), the rest of its wall time (start-up, checkpoints: median),
    and, from finished LoRA points, peak memory (MB) and trainable parameters (median)."""

    step_s: dict[tuple, float]
    eval_s: float | None
    fixed_s: float | None
    lora_peak_mb: float | None = None
    lora_params: float | None = None

    def point_s(self, point: Point, steps: int) -> float | None:
        return self.pack_s([point], steps)

    def pack_s(self, points: list[Point], steps: int) -> float | None:
        """Points run in one process: their steps and evaluations one after another, one start-up
        (an upper bound: a pack also batches their sampling)."""
        per_step = [self.step_s.get((p.rank, p.targets), self.step_s.get(())) for p in points]
        if None in per_step or self.eval_s is None or self.fixed_s is None:
            return None
        return steps * sum(per_step) + len(points) * self.eval_s + self.fixed_s


def measure(points: list[Point]) -> Measured:
    per: dict[tuple, list[float]] = {}
    evals, fixed, peaks, params = [], [], [], []
    for p in points:
        if status_of(p.run_dir) != "finished":
            continue
        rows = [r for r in read_rows(p.run_dir) if r.get("step", 0) >= 1]
        times = [t for r in rows if (t := train_step_s(r)) is not None]
        if not times:
            continue
        med = statistics.median(times)
        per.setdefault((p.rank, p.targets), []).append(med)
        per.setdefault((), []).append(med)
        all_rows = read_rows(p.run_dir)
        eval_s = sum(r["time/eval_s"] for r in all_rows if is_number(r.get("time/eval_s")))
        wall = read_json(p.run_dir / "summary.json").get("wall_s")
        if is_number(wall):
            evals.append(eval_s)
            fixed.append(max(0.0, wall - sum(times) - eval_s))
        peak = max(
            (r["memory/peak_mb"] for r in rows if is_number(r.get("memory/peak_mb"))), default=None
        )
        trainable = read_json(p.run_dir / "manifest.json").get("trainable_params")
        if p.rank != "full" and peak is not None and is_number(trainable):
            peaks.append(peak)
            params.append(trainable)
    med = lambda v: statistics.median(v) if v else None  # noqa: E731
    return Measured(
        {k: statistics.median(v) for k, v in per.items()},
        med(evals),
        med(fixed),
        med(peaks),
        med(params),
    )


# Per extra adapter in a pack: its fp32 weights, gradient and two Adam moments in the trainer (16
# bytes a parameter), and the engine's copies of it (old and new version while swapping).
PACK_BYTES_PER_PARAM = 16 + 2 * 4


def pack_cap(measured: Measured, requested: int, available_mb: float) -> tuple[int, str]:
    """The pack size to use: `requested`, capped so that the estimated peak memory of a pack (one
    LoRA run alone's measured peak, plus each further adapter's bytes) stays within 90 % of the
    memory available now; with the estimate, in words."""
    if requested == 1:
        return 1, ""
    if measured.lora_peak_mb is None:
        return requested, "pack memory: unknown until one LoRA point has finished (not capped)"
    per_mb = measured.lora_params * PACK_BYTES_PER_PARAM / 2**20
    fit = 1 + int(max(0.0, 0.9 * available_mb - measured.lora_peak_mb) / max(per_mb, 1e-9))
    k = max(1, min(requested, fit))
    estimate = measured.lora_peak_mb + (k - 1) * per_mb
    text = (
        f"pack memory: ~{estimate:,.0f} MB for a pack of {k} (a LoRA run alone peaked at "
        f"{measured.lora_peak_mb:,.0f} MB, + {per_mb:,.1f} MB per further adapter); "
        f"{available_mb:,.0f} MB available"
        + (f"; --pack {requested} capped to {k}" if k < requested else "")
    )
    return k, text


def _dur(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:,.1f} min"


def dry_run(
    spec: SweepFile,
    points: list[Point],
    configs: dict[str, Config],
    train_cmd,
    parallel,
    console,
    pack: int = 1,
) -> None:
    from rich.table import Table

    measured = measure(points)
    table = Table(title=f"{len(points)} points -> {spec.out_dir}")
    cols = ("#", "run dir", "status", "steps", "train completions", "eval completions", "est. s")
    for col in cols:
        table.add_column(col, justify="left" if col in ("run dir", "status") else "right")
    totals = {"train": [0, 0], "eval": [0, 0], "s": [0.0, 0.0]}  # [in all, still to run]
    timed = 0
    for i, p in enumerate(points, 1):
        cfg = configs[p.name]
        steps, pps, group = cfg.schedule.steps, cfg.data.prompts_per_step, cfg.data.group_size
        train = steps * pps * group
        evals = n_evals(cfg)
        heldout, k = cfg.data.heldout_size, cfg.logging.eval_k
        evalc = evals * heldout * (k + 1)  # k samples and one greedy completion per problem
        secs = measured.point_s(p, steps)
        st = status_of(p.run_dir)
        for key, v in (("train", train), ("eval", evalc), ("s", secs or 0.0)):
            totals[key][0] += v
            totals[key][1] += v if st != "finished" else 0
        timed += secs is not None
        table.add_row(
            str(i),
            p.name,
            {"finished": "done (skip)", "crashed": "resume", "new": "new"}[st],
            str(steps),
            f"{steps} x {pps} x {group} = {train:,}",
            f"{evals} x {heldout} x ({k}+1) = {evalc:,}",
            "?" if secs is None else f"{secs:,.0f}",
        )
    console.print(table)
    console.print("example command: " + shlex.join(command_for(points[:1], spec, train_cmd, False)))
    console.print(
        f"train completions (steps x prompts_per_step x group_size): {totals['train'][0]:,} in all, "
        f"{totals['train'][1]:,} still to run"
    )
    console.print(
        f"eval completions (evals x heldout_size x (eval_k samples + 1 greedy)): "
        f"{totals['eval'][0]:,} in all, {totals['eval'][1]:,} still to run"
    )
    if timed:
        todo = totals["s"][1]
        console.print(
            f"time from finished points (steps x measured train s/step + measured start-up, evals "
            f"and checkpoints): {_dur(totals['s'][0])} in all, {_dur(todo)} still to run one after "
            f"another, ~{_dur(todo / parallel)} at --parallel {parallel} if the cores allow"
            + (f"; {len(points) - timed} points not estimated" if timed < len(points) else "")
        )
    else:
        console.print("time: unknown until one point has finished (it is measured, not guessed)")
    if spec.lr_grid is not None and spec.lr_grid.extend:
        console.print(extension_note(spec, len(points)), **PLAIN)
    if spec.confirm_seeds:
        console.print(confirmation_note(spec, points), **PLAIN)
    if pack > 1:
        _dry_run_packs(points, configs, measured, pack, console)


def _dry_run_packs(points, configs, measured: Measured, pack: int, console) -> None:
    """The packs `--pack` would launch, each with its predicted wall time, and the memory cap."""
    k, memory = pack_cap(measured, pack, available_memory_mb())
    todo = [p for p in points if status_of(p.run_dir) != "finished"]
    units = packs(todo, configs, k)
    console.print(
        f"--pack {pack}: {len(units)} trainers for {len(todo)} points still to run", **PLAIN
    )
    total = 0.0
    for unit in units:
        secs = measured.pack_s(unit, configs[unit[0].name].schedule.steps)
        total += secs or 0.0
        est = "?" if secs is None else _dur(secs)
        console.print(f"  [{est}] " + ", ".join(p.name for p in unit), **PLAIN)
    if measured.eval_s is not None:
        console.print(
            f"packed, one trainer at a time: ~{_dur(total)} (steps and evaluations one after "
            "another, one start-up per pack; an upper bound, as a pack also batches sampling)",
            **PLAIN,
        )
    if memory:
        console.print(memory, **PLAIN)


# ---------------------------------------------------------------------------------------------
# Running

TAIL_LINES = 20  # log lines kept in a failed point's failed.json
# Lines printed as they are (names and paths are not rich markup), each on one line however narrow
# the terminal, so that a person can grep them.
PLAIN = dict(markup=False, highlight=False, soft_wrap=True)


@dataclass
class Launched:
    """A trainer process that is running: one point, or a pack of LoRA points."""

    points: list[Point]
    resumes: list[bool]  # per point: it continues a crashed run
    command: list[str]
    proc: subprocess.Popen  # or a Ray task with the same poll/terminate/wait (ray_launch.RayRun)
    slot: int  # its share of the cores (grpo_lora.machine.cpu_cores)
    log: Path  # the points' log, appended to by every attempt
    log_start: int  # where the trainer's output of this attempt starts in it (bytes)
    steps: int  # the runs' length, for their progress bars and failure records
    tasks: list  # a progress bar per point
    t0: float = field(default_factory=time.monotonic)

    def output(self) -> list[str]:
        """The lines the trainer wrote in this attempt (stdout and stderr)."""
        with contextlib.suppress(OSError), self.log.open("rb") as fh:
            fh.seek(self.log_start)
            return fh.read().decode(errors="replace").splitlines()
        return []


def _steps_done(run_dir: Path) -> int:
    return max((int(r.get("step", 0)) for r in read_rows(run_dir)), default=0)


def _last_line(lines: list[str]) -> str:
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


def _result(lines: list[str]) -> dict:
    """The trainer's result: its last non-empty output line, when that is a JSON object."""
    with contextlib.suppress(json.JSONDecodeError):
        obj = json.loads(_last_line(lines))
        return obj if isinstance(obj, dict) else {}
    return {}


def _exit_text(rc: int) -> str:
    return f"killed by signal {-rc}" if rc < 0 else f"exit {rc}"


def _launch(
    points: list[Point],
    resumes: list[bool],
    spec: SweepFile,
    train_cmd: list[str],
    log_dir: Path,
    progress,
    steps: int,
    slot: tuple[int, int] = (0, 1),
    runner=None,
) -> Launched:
    """Start the trainer of one point (or of a pack of points) on share `slot` = (i, n) of the
    cores, its output appended to `log_dir/NAME.log` (the first point's name), with a progress bar
    of `steps` per point; clears the record of an earlier failure of each (the log keeps it).
    With a `runner` (`ray_launch.RayRunner`), the same command runs as a Ray task instead, on the
    node and cores Ray gives it."""
    cmd = command_for(points, spec, train_cmd, any(resumes))
    for p in points:
        clear_failure(p.run_dir)
    log = log_dir / f"{points[0].name}{'-pack' if len(points) > 1 else ''}.log"
    with log.open("a") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n")
        fh.flush()
        start = log.stat().st_size
        if runner is None:
            env = {**os.environ, **thread_env(cpu_cores(*slot))}
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    if runner is not None:
        proc = runner.start(cmd, log)
    tasks = [
        progress.add_task(f"  {p.name}{' (resume)' if r else ''}", total=steps)
        for p, r in zip(points, resumes)
    ]
    return Launched(points, resumes, cmd, proc, slot[0], log, start, steps, tasks)


def _finish(run: Launched, rc: int) -> list[Outcome]:
    """The outcome of each point of a trainer that exited with `rc`; a failure is also recorded in
    its run directory (`failed.json`, unless the pack's trainer recorded it itself), so that the
    report lists it and nothing about it is lost."""
    lines = run.output()
    outcomes = []
    for p, resumed in zip(run.points, run.resumes):
        finished = status_of(p.run_dir) == "finished"
        ok = finished and (rc == 0 or len(run.points) > 1)  # one packed run's failure sets rc
        out = Outcome(
            p,
            "finished" if ok else "failed",
            resumed=resumed,
            wall_s=time.monotonic() - run.t0,
            result=read_json(p.run_dir / "summary.json") if finished else {},
            log=run.log,
            exit_code=rc,
        )
        outcomes.append(out)
        if ok:
            continue
        own = read_json(p.run_dir / FAILED)  # the pack's trainer records its runs' failures
        out.error = own.get("error") or (
            "exited 0 but wrote no summary.json" if rc == 0 else (_last_line(lines) or "no output")
        )
        record = {
            "point": p.name,
            "exit_code": rc,
            "error": out.error,
            "steps_done": _steps_done(p.run_dir),
            "steps": run.steps,
            "resumed": resumed,
            "wall_s": round(out.wall_s, 1),
            "command": shlex.join(run.command),
            "log": str(run.log),
            "log_tail": lines[-TAIL_LINES:],
        }
        write_failure(p.run_dir, record)
    return outcomes


def _say(console, out: Outcome) -> None:
    """One line per point as it ends."""
    name, r = out.point.name, out.result
    if out.status == "failed":
        why = _exit_text(out.exit_code) + f": {out.error}"
        console.print(f"FAILED {name} ({why}); log: {out.log}", style="red", **PLAIN)
        return
    extra = ""
    if is_number(r.get("eval_pass1_start")) and is_number(r.get("eval_pass1_end")):
        extra = f", pass@1 {r['eval_pass1_start']:.3f} -> {r['eval_pass1_end']:.3f}"
    console.print(f"done   {name} in {out.wall_s:.0f} s{extra}", **PLAIN)


def _stop(running: list[Launched]) -> None:
    for run in running:
        run.proc.terminate()
    for run in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            run.proc.wait(timeout=10)


def _progress(console):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    return Progress(*columns, TimeElapsedColumn(), console=console, transient=False)


def run_sweep(
    spec: SweepFile,
    parallel: int = 1,
    train_cmd: list[str] | None = None,
    console=None,
    poll_s: float = 0.5,
    pack: int = 1,
    runner=None,
) -> list[Outcome]:
    """Run every unfinished point, `parallel` trainers at a time, each trainer running one point or
    (`pack` > 1) a pack of up to `pack` LoRA points, here or (`runner`: `ray_launch.RayRunner`)
    as Ray tasks; then, with `lr_grid.extend`, the extension rounds (`extension_points`) the
    same way, until none is left; then, with `confirm_seeds`, the confirmation round
    (`confirmation_points`). Writes OUT/sweep.json first (`write_sweep_record`). Returns one
    Outcome per point, in grid order, then each round's. A point that fails is recorded and the others go on. Every
    point's config is validated first (`ValueError`), so a bad one stops the sweep before any run
    starts (an extension round's, before that round starts)."""
    from rich.console import Console

    train_cmd = list(train_cmd or default_train_cmd(spec))
    console = console or Console(stderr=True)
    points = expand(spec)
    configs = point_configs(spec, points)
    log_dir = Path(spec.out_dir) / "logs"  # trainer output; the report skips dirs w/o config.yaml
    log_dir.mkdir(parents=True, exist_ok=True)
    write_sweep_record(spec)
    outcomes: dict[str, Outcome] = {}
    with _progress(console) as progress:
        done = sum(status_of(p.run_dir) == "finished" for p in points)
        grid = progress.add_task(f"grid ({done} already finished)", total=len(points))
        todo, round_ = points, 0
        while todo:
            outcomes |= _run_round(
                todo,
                spec,
                configs,
                train_cmd,
                log_dir,
                parallel,
                pack,
                poll_s,
                progress,
                grid,
                runner,
            )
            kind, todo = next_round(spec, points)
            if todo:
                configs |= point_configs(spec, todo)
                points = points + todo
                progress.update(grid, total=len(points))
                names = ", ".join(p.name for p in todo)
                if kind == "confirmation":
                    console.print(
                        f"Confirmation round (each arm's best LR, seeds {spec.confirm_seeds}): "
                        + names,
                        **PLAIN,
                    )
                    continue
                round_ += 1
                console.print(f"LR extension round {round_} (best LR on an edge): {names}", **PLAIN)
    if (spec.lr_grid is not None and spec.lr_grid.extend) or spec.confirm_seeds:
        for line in edges_left(spec, points):
            console.print(line, **PLAIN)
    return [outcomes[p.name] for p in points if p.name in outcomes]


def _run_round(
    points: list[Point],
    spec: SweepFile,
    configs: dict[str, Config],
    train_cmd: list[str],
    log_dir: Path,
    parallel: int,
    pack: int,
    poll_s: float,
    progress,
    grid,
    runner=None,
) -> dict[str, Outcome]:
    """Run the unfinished `points` (the base grid, or one extension round) to their end, advancing
    the `grid` progress bar; name -> Outcome for each, finished ones "skipped"."""
    status = {p.name: status_of(p.run_dir) for p in points}
    outcomes = {p.name: Outcome(p, "skipped") for p in points if status[p.name] == "finished"}
    progress.advance(grid, len(outcomes))
    queue = packs([p for p in points if p.name not in outcomes], configs, pack)
    running: list[Launched] = []
    console = progress.console
    try:
        while queue or running:
            while queue and len(running) < parallel:
                unit = queue.pop(0)
                resumes = [status[p.name] == "crashed" for p in unit]
                steps = configs[unit[0].name].schedule.steps
                free = min(set(range(parallel)) - {r.slot for r in running})
                slot = (free, parallel)
                running.append(
                    _launch(unit, resumes, spec, train_cmd, log_dir, progress, steps, slot, runner)
                )
            time.sleep(poll_s)
            for run in list(running):
                for p, task in zip(run.points, run.tasks):
                    progress.update(task, completed=_steps_done(p.run_dir))
                if (rc := run.proc.poll()) is None:
                    continue
                running.remove(run)
                for task in run.tasks:
                    progress.remove_task(task)
                for out in _finish(run, rc):
                    progress.advance(grid)
                    outcomes[out.point.name] = out
                    _say(console, out)
    except KeyboardInterrupt:
        _stop(running)
        raise
    return outcomes


def closing_lines(outcomes: list[Outcome], out_dir: str, wall_s: float) -> list[str]:
    """What a person reads last: the failed points on one line (if any), then one sentence on what
    ran, how long it took and where the runs are."""
    count = {s: sum(o.status == s for o in outcomes) for s in ("skipped", "finished", "failed")}
    resumed = sum(o.resumed and o.status == "finished" for o in outcomes)
    lines = []
    if failed := [o for o in outcomes if o.status == "failed"]:
        names = ", ".join(f"{o.point.name} ({_exit_text(o.exit_code)})" for o in failed)
        lines.append(
            f"{len(failed)} of {len(outcomes)} points failed: {names}; each one's failed.json "
            "holds its error, and re-launching the same command retries them."
        )
    lines.append(
        f"Sweep of {len(outcomes)} points done in {_dur(wall_s)}: {count['finished']} ran "
        f"({resumed} resumed), {count['skipped']} were already finished and {count['failed']} "
        f"failed; the runs are in {out_dir} (next: grpo-lora report {out_dir})."
    )
    return lines


WALL_TIMES = "sweep_times.jsonl"


def record_wall_time(out_dir: str, outcomes: list[Outcome], wall_s: float, pack, parallel) -> None:
    """Append this invocation's wall time to OUT/sweep_times.jsonl: the report states each sweep's
    time as the sum over its invocations (a re-launch adds what it ran)."""
    count = {s: sum(o.status == s for o in outcomes) for s in ("skipped", "finished", "failed")}
    row = {"ended": time.strftime("%Y-%m-%dT%H:%M:%S"), "wall_s": round(wall_s, 1), **count}
    with open(Path(out_dir) / WALL_TIMES, "a") as f:
        f.write(json.dumps(row | {"pack": pack, "parallel": parallel}) + "\n")


LOCAL_RAY = "local"  # `--ray` without an address: a new Ray instance on this machine


@contextlib.contextmanager
def _runner(args, console):
    """None (trainers run here), or with `--ray` a `ray_launch.RayRunner` on the Ray instance it
    starts or joins for the sweep (and shuts down after, if it started it)."""
    if args.ray is None:
        yield None
        return
    address = None if args.ray == LOCAL_RAY else args.ray
    with ray_launch.session(address):
        nodes = ray_launch.nodes()
        cpus, gpus, at_once = ray_launch.plan(
            nodes, args.parallel, args.cpus_per_run, args.gpus_per_run
        )
        has = {k: sum(n.get(k, 0) for n in nodes) for k in ("CPU", "GPU")}
        where = "a local Ray instance" if address is None else f"the Ray cluster at {address}"
        console.print(
            f"ray: {where}, {len(nodes)} node(s) with {has['CPU']:g} CPUs and {has['GPU']:g} GPUs;"
            f" each trainer asks for {cpus} CPU(s)"
            + (f" and {gpus:g} GPU(s)" if gpus else "")
            + f", {args.parallel} at a time (--parallel)",
            **PLAIN,
        )
        if at_once < args.parallel:
            console.print(
                f"[yellow]ray: the cluster holds {at_once} such trainer(s) at once now; the others "
                "wait in Ray's queue (for more nodes, or lower --cpus-per-run)[/yellow]"
            )
        yield ray_launch.RayRunner(cpus, gpus)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="grpo-lora sweep",
        description="Run a rank x learning-rate x targets grid against FullFT (see grpo_lora/sweep.py).",
    )
    parser.add_argument("sweep", help="sweep file (YAML), e.g. recipes/study_tiny.yaml")
    parser.add_argument("--parallel", type=int, default=1, help="trainers run at once (default 1)")
    parser.add_argument(
        "--pack",
        type=int,
        default=1,
        metavar="K",
        help="train up to K LoRA points in one process, on one base model and one engine "
        "(default 1: each alone); capped by the memory estimate --dry-run prints",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the points and their estimated cost"
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL_RAY,
        default=None,
        metavar="ADDRESS",
        help="run each trainer as a Ray task, on a new local Ray instance or (ADDRESS: auto, "
        "HOST:PORT, ray://HOST:PORT) an existing cluster; needs grpo-lora[ray] and run "
        "directories that every node sees (docs/ray.md)",
    )
    parser.add_argument(
        "--cpus-per-run",
        type=int,
        default=None,
        metavar="N",
        help="with --ray: CPUs each trainer asks for (default: one GPU node's cores per GPU, "
        "or the cluster's cores split --parallel ways)",
    )
    parser.add_argument(
        "--gpus-per-run",
        type=float,
        default=None,
        metavar="G",
        help="with --ray: GPUs each trainer asks for (default: 1 where the cluster has GPUs, "
        "else 0)",
    )
    # Hidden: the trainer command, for tests (a fake trainer) and wrappers (e.g. accelerate launch).
    parser.add_argument("--train-cmd", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from rich.console import Console

    console = Console(stderr=True)
    if args.parallel < 1 or args.pack < 1:
        print("error: --parallel and --pack must be >= 1", file=sys.stderr)
        return 2
    if args.ray is None and (args.cpus_per_run is not None or args.gpus_per_run is not None):
        print("error: --cpus-per-run and --gpus-per-run go with --ray", file=sys.stderr)
        return 2
    if (args.cpus_per_run is not None and args.cpus_per_run < 1) or (args.gpus_per_run or 0) < 0:
        print("error: --cpus-per-run must be >= 1 and --gpus-per-run >= 0", file=sys.stderr)
        return 2
    if args.ray is not None and not args.dry_run:
        try:
            ray_launch.import_ray()
        except ImportError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    try:
        spec = load_sweep(args.sweep)
        points = expand(spec)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if spec.command == "sft" and args.pack > 1:
        print(
            "error: --pack packs GRPO points; an sft sweep runs its points alone", file=sys.stderr
        )
        return 2
    train_cmd = shlex.split(args.train_cmd) if args.train_cmd else default_train_cmd(spec)
    if args.dry_run:
        configs = point_configs(spec, points)
        dry_run(spec, points, configs, train_cmd, args.parallel, Console(), args.pack)
        return 0
    pack, memory = pack_cap(measure(points), args.pack, available_memory_mb())
    if memory:
        console.print(memory, **PLAIN)
    if args.ray is None and args.parallel > (os.cpu_count() or 1):
        console.print(f"[yellow]--parallel {args.parallel} exceeds {os.cpu_count()} CPUs[/yellow]")
    t0 = time.monotonic()
    try:
        with _runner(args, console) as runner:
            outcomes = run_sweep(spec, args.parallel, train_cmd, console, pack=pack, runner=runner)
    except KeyboardInterrupt:
        console.print("interrupted: re-launch the same command to resume")
        return 130
    except ray_launch.RayStartError as e:  # e.g. no cluster at that address
        print(f"error: {e}", file=sys.stderr)
        return 2
    wall_s = time.monotonic() - t0
    record_wall_time(spec.out_dir, outcomes, wall_s, pack, args.parallel)
    lines = closing_lines(outcomes, spec.out_dir, wall_s)
    for line in lines:
        console.print(line, **PLAIN)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
