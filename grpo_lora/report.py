"""`grpo-lora report RUNS_DIR [--out DIR]`: the study's tables and figures from a sweep's runs.

Writes `report.md` and PNG figures (matplotlib, Agg) into `--out` (default: RUNS_DIR):
  fig_lr.png        (a) final reward and final held-out pass@1 vs learning rate, a line per rank + FullFT
  fig_curves.png    (b) reward vs step at each rank's best LR, and the pointwise best over LRs
  fig_targets.png   (c) targets (all / mlp / attn) compared at equal rank
  fig_capacity.png  (e) each rank's reward gap to FullFT vs (bits of reward signal) / (trainable params)
  fig_cost.png      (f) step time and peak memory per rank vs FullFT
and in report.md the per-rank table (d), the capacity accounting (e) per run and over steps, and a
plain statement of where the result agrees with "LoRA Without Regret" (Schulman et al., Thinking
Machines 2025: rank-1 LoRA matches FullFT in RL; best LoRA LR ~10x FullFT's; attention-only LoRA
trails MLP and all-layer LoRA) and where it doesn't.

Runs are grouped by their `config.yaml`, loaded and validated as the trainer loads a recipe
(lora.rank, lora.targets, optimizer.lr, seed, data.prompts_per_step), never by directory names. Only FINISHED runs (with `summary.json`) count;
unfinished ones are listed and left out.

Definitions (also written into the report):
  final reward   = mean of `reward/mean` over the last 10% of training steps, ceil(0.1 N) >= 1 steps
  final pass@1   = `eval/pass1` at the run's last eval row (else summary.json's eval_pass1_end)
  best LR        = argmax over LRs of the seed-averaged final reward (per rank and targets)
  spread         = sample standard deviation over seeds (n - 1), at that LR
  bits bound     = episodes x 1 bit: rewards are binary (0/1), so an episode carries at most 1 bit
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from grpo_lora.config import Config, ConfigError, load_config
from grpo_lora.sweep import is_number, lr_tag, read_rows, train_step_s

FINAL_FRAC = 0.10  # final reward averages the last 10% of steps
BITS_PER_EPISODE = 1.0  # binary reward: at most 1 bit per episode
MIN_TOL = 0.02  # smallest reward gap called a difference (absolute, reward in [0, 1])
STUDY_LR_RATIO = 10.0  # LoRA Without Regret: best LoRA LR / best FullFT LR ~ 10 (9.8 fitted)


# ---------------------------------------------------------------------------------------------
# Loading


@dataclass
class Run:
    """One run directory, read through its config.yaml, manifest.json, metrics and summary."""

    path: Path
    config: Config  # config.yaml, loaded and validated as the trainer loads a recipe
    rows: dict[int, dict]  # step -> metrics row
    manifest: dict
    summary: dict

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
    def arm(self) -> tuple:
        return (self.rank, self.targets)

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


def _read_json(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return obj if isinstance(obj, dict) else {}


def read_run(run_dir: Path) -> Run:
    """A Run from `run_dir`; `ConfigError` (naming the field) when config.yaml is not a valid
    config."""
    return Run(
        path=run_dir,
        config=load_config(run_dir / "config.yaml"),
        rows={int(r["step"]): r for r in read_rows(run_dir)},
        manifest=_read_json(run_dir / "manifest.json"),
        summary=_read_json(run_dir / "summary.json"),
    )


def load_runs(runs_dir: Path) -> tuple[list[Run], list[Path], list[tuple[Path, str]]]:
    """(finished runs, unfinished run dirs, (dir, why) for each config.yaml that is not a valid
    config) under `runs_dir`, at any depth. Only finished runs' metrics are read."""
    finished, unfinished, unreadable = [], [], []
    for cfg in sorted(runs_dir.rglob("config.yaml")):
        d = cfg.parent
        if "checkpoints" in d.relative_to(runs_dir).parts:
            continue
        if not (d / "metrics.jsonl").exists() and not (d / "manifest.json").exists():
            continue
        if not (d / "summary.json").exists():
            unfinished.append(d)
            continue
        try:
            finished.append(read_run(d))
        except ConfigError as e:
            unreadable.append((d, str(e)))
    return finished, unfinished, unreadable


# ---------------------------------------------------------------------------------------------
# Numbers


def final_reward(run: Run) -> float | None:
    """Mean of `reward/mean` over the last ceil(10% of N) training steps (N = last step)."""
    steps = run.train_steps
    if not steps:
        return None
    n = steps[-1]
    k = max(1, math.ceil(FINAL_FRAC * n))
    vals = [v for s, v in run.series("reward/mean").items() if s > n - k]
    return statistics.fmean(vals) if vals else None


def final_pass1(run: Run) -> float | None:
    evals = {
        s: r["eval/pass1"] for s, r in run.rows.items() if s >= 1 and is_number(r.get("eval/pass1"))
    }
    if evals:
        return float(evals[max(evals)])
    v = run.summary.get("eval_pass1_end")
    return float(v) if is_number(v) else None


def _mean_sd(vals: list[float]) -> tuple[float | None, float | None]:
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


@dataclass
class LrCell:
    """All seeds of one (arm, LR)."""

    lr: float
    runs: list[Run]
    rewards: list[float] = field(default_factory=list)
    pass1: list[float] = field(default_factory=list)

    @property
    def reward(self) -> tuple[float | None, float | None]:
        return _mean_sd(self.rewards)

    @property
    def p1(self) -> tuple[float | None, float | None]:
        return _mean_sd(self.pass1)


@dataclass
class Arm:
    """One rank (and targets) over its learning rates."""

    rank: int | str
    targets: str | None
    cells: dict[float, LrCell]

    @property
    def label(self) -> str:
        return "FullFT" if self.rank == "full" else f"LoRA r={self.rank} ({self.targets})"

    @property
    def best(self) -> LrCell | None:
        """argmax over LRs of the seed-averaged final reward (ties: the smaller LR)."""
        scored = [c for c in self.cells.values() if c.reward[0] is not None]
        if not scored:
            return None
        return max(sorted(scored, key=lambda c: c.lr), key=lambda c: c.reward[0])

    @property
    def best_at_edge(self) -> bool:
        lrs = sorted(self.cells)
        return len(lrs) > 1 and self.best is not None and self.best.lr in (lrs[0], lrs[-1])

    @property
    def params(self) -> int | None:
        ps = [r.trainable_params for c in self.cells.values() for r in c.runs if r.trainable_params]
        return int(statistics.median(ps)) if ps else None


def _rank_key(rank) -> tuple:
    return (1, 0) if rank == "full" else (0, rank)


def group_arms(runs: list[Run]) -> dict[tuple, Arm]:
    arms: dict[tuple, Arm] = {}
    for run in runs:
        arm = arms.setdefault(run.arm, Arm(run.rank, run.targets, {}))
        cell = arm.cells.setdefault(run.lr, LrCell(run.lr, []))
        cell.runs.append(run)
        if (fr := final_reward(run)) is not None:
            cell.rewards.append(fr)
        if (p1 := final_pass1(run)) is not None:
            cell.pass1.append(p1)
    order = sorted(arms, key=lambda a: (_rank_key(a[0]), a[1] or ""))
    return {
        k: Arm(arms[k].rank, arms[k].targets, dict(sorted(arms[k].cells.items()))) for k in order
    }


def smooth_window(runs: list[Run]) -> int:
    n = max((r.train_steps[-1] for r in runs if r.train_steps), default=1)
    return max(1, round(n / 20))


def mean_curve(runs: list[Run], key: str, window: int) -> dict[int, float]:
    """Seed mean per step, then a trailing moving average over `window` steps."""
    per_step: dict[int, list[float]] = defaultdict(list)
    for r in runs:
        for s, v in r.series(key).items():
            per_step[s].append(v)
    steps = sorted(per_step)
    means = [statistics.fmean(per_step[s]) for s in steps]
    out = {}
    for i, s in enumerate(steps):
        lo = max(0, i - window + 1)
        out[s] = statistics.fmean(means[lo : i + 1])
    return out


def pointwise_best(arm: Arm, window: int) -> dict[int, float]:
    """The study's "pointwise best over learning rates": max over LRs of the smoothed seed-mean."""
    best: dict[int, float] = {}
    for cell in arm.cells.values():
        for s, v in mean_curve(cell.runs, "reward/mean", window).items():
            best[s] = max(best.get(s, -math.inf), v)
    return dict(sorted(best.items()))


def episodes_curve(runs: list[Run]) -> dict[int, float]:
    per: dict[int, list[float]] = defaultdict(list)
    for r in runs:
        for s in r.train_steps:
            if (e := r.episodes_at(s)) is not None:
                per[s].append(e)
    return {s: statistics.fmean(v) for s, v in sorted(per.items())}


def bits_excluding_zero_signal(run: Run) -> float | None:
    """Sum over steps of new episodes x (1 - reward/zero_signal_frac) x 1 bit: groups whose rewards
    are all equal have zero advantage, so they carry no reward signal to the update."""
    zs = run.series("reward/zero_signal_frac")
    steps = run.train_steps
    if not steps or any(s not in zs for s in steps):
        return None
    total, prev = 0.0, 0.0
    for s in steps:
        e = run.episodes_at(s)
        if e is None:
            return None
        total += (e - prev) * (1 - zs[s]) * BITS_PER_EPISODE
        prev = e
    return total


# ---------------------------------------------------------------------------------------------
# Formatting


def _f(x: float | None, nd: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _pm(ms: tuple[float | None, float | None], nd: int = 3) -> str:
    m, sd = ms
    if m is None:
        return "n/a"
    return f"{m:.{nd}f}" if sd is None else f"{m:.{nd}f} ± {sd:.{nd}f}"


def _int(x) -> str:
    return "n/a" if x is None else f"{round(x):,}"


def _ratio(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.3g}" if x < 100 else f"{x:,.0f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


BEST_HEADER = [
    "rank",
    "targets",
    "trainable params",
    "best LR",
    "best final reward (± sd)",
    "pass@1 at best LR",
]


def _best_cols(a: Arm) -> list[str]:
    """An arm's row at its best LR, under BEST_HEADER; the best LR is flagged when it is the only LR
    run or at the edge of the grid (then the optimum may lie outside it)."""
    assert a.best is not None
    flag = " (only LR)" if len(a.cells) == 1 else (" (grid edge)" if a.best_at_edge else "")
    return [
        "full" if a.rank == "full" else str(a.rank),
        a.targets or "-",
        _int(a.params),
        lr_tag(a.best.lr) + flag,
        _pm(a.best.reward),
        _pm(a.best.p1),
    ]


def _tol(a: Arm, b: Arm) -> float:
    sds = [x.best.reward[1] or 0.0 for x in (a, b) if x.best]
    return max(MIN_TOL, sum(sds))


# ---------------------------------------------------------------------------------------------
# Figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(arms: list[Arm]) -> dict[tuple, object]:
    plt = _plt()
    lora = [a for a in arms if a.rank != "full"]
    cmap = plt.get_cmap("viridis")
    out: dict[tuple, object] = {}
    for i, a in enumerate(lora):
        out[(a.rank, a.targets)] = cmap(0.85 * i / max(1, len(lora) - 1))
    out[("full", None)] = "black"
    return out


def fig_lr(arms: list[Arm], path: Path, title: str) -> None:
    plt = _plt()
    colors = _colors(arms)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, which, ylabel in (
        (axes[0], "reward", "final reward\n(mean reward/mean, last 10% of steps)"),
        (axes[1], "p1", "final held-out pass@1\n(eval/pass1 at the last eval)"),
    ):
        for a in arms:
            xs, ys, es = [], [], []
            for c in a.cells.values():
                m, sd = getattr(c, which)
                if m is not None:
                    xs.append(c.lr)
                    ys.append(m)
                    es.append(sd or 0.0)
            if not xs:
                continue
            style = dict(color=colors[(a.rank, a.targets)], lw=2.2 if a.rank == "full" else 1.6)
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=a.label, **style)
            if a.best is not None and getattr(a.best, which)[0] is not None:
                ax.plot(
                    a.best.lr,
                    getattr(a.best, which)[0],
                    marker="*",
                    ms=15,
                    color=style["color"],
                    mec="white",
                    zorder=5,
                )
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_title("final reward vs LR (star = best LR by final reward)")
    axes[1].set_title("held-out pass@1 vs LR")
    axes[0].legend(fontsize=9)
    fig.suptitle(title + "  (error bars: sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fig_curves(arms: list[Arm], window: int, path: Path, title: str) -> None:
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    colors = _colors(arms)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for a in arms:
        if a.best is None:
            continue
        c = colors[(a.rank, a.targets)]
        lw = 2.2 if a.rank == "full" else 1.6
        cur = mean_curve(a.best.runs, "reward/mean", window)
        axes[0].plot(
            list(cur),
            list(cur.values()),
            color=c,
            lw=lw,
            label=f"{a.label}, lr {lr_tag(a.best.lr)}",
        )
        pb = pointwise_best(a, window)
        axes[1].plot(list(pb), list(pb.values()), color=c, lw=lw, label=a.label)
    axes[0].set_title("reward at each rank's best LR")
    axes[1].set_title("pointwise best over learning rates")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("training step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=9)
    axes[0].set_ylabel(f"reward/mean (seed mean, moving avg {window} steps)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fig_targets(by_rank: dict, window: int, path: Path, title: str) -> None:
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    ranks = list(by_rank)
    fig, axes = plt.subplots(len(ranks), 2, figsize=(12, 4.5 * len(ranks)), squeeze=False)
    tcolor = {"all": "tab:blue", "mlp": "tab:green", "attn": "tab:red"}
    for row, rank in enumerate(ranks):
        ax_lr, ax_curve = axes[row]
        for a in by_rank[rank]:
            c = tcolor.get(a.targets or "")
            cells = [x for x in a.cells.values() if x.reward[0] is not None]
            ax_lr.errorbar(
                [x.lr for x in cells],
                [x.reward[0] for x in cells],
                yerr=[x.reward[1] or 0.0 for x in cells],
                marker="o",
                capsize=3,
                color=c,
                label=f"{a.targets} ({_int(a.params)} params)",
            )
            if a.best is not None:
                cur = mean_curve(a.best.runs, "reward/mean", window)
                ax_curve.plot(
                    list(cur),
                    list(cur.values()),
                    color=c,
                    label=f"{a.targets}, lr {lr_tag(a.best.lr)}",
                )
        ax_lr.set_xscale("log")
        ax_lr.set_xlabel("learning rate (log scale)")
        ax_lr.set_ylabel("final reward (last 10% of steps)")
        ax_lr.set_title(f"rank {rank}: final reward vs LR by targets")
        ax_curve.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_curve.set_xlabel("training step")
        ax_curve.set_ylabel(f"reward/mean (seed mean, moving avg {window})")
        ax_curve.set_title(f"rank {rank}: reward at each target's best LR")
        for ax in (ax_lr, ax_curve):
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fig_capacity(gaps: dict[str, tuple], path: Path, title: str, tol: float) -> None:
    """gaps: label -> (x = bits/params per step, gap per step, color, linestyle)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.5, 5))
    for label, (xs, ys, c, ls) in gaps.items():
        ax.plot(xs, ys, color=c, ls=ls, lw=1.8, label=label)
    ax.axhline(0, color="black", lw=1)
    ax.axhspan(-tol, tol, color="grey", alpha=0.15, label=f"±{tol:.3f} (no-difference band)")
    ax.axvline(1, color="tab:red", ls=":", lw=1.5, label="bits bound = trainable params")
    ax.set_xscale("log")
    ax.set_xlabel("bits of reward signal (upper bound: episodes x 1 bit) / trainable params  (log)")
    ax.set_ylabel("reward gap to FullFT\n(LoRA - FullFT, both at best LR, smoothed)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fig_cost(
    rows: list[tuple[str, float | None, float | None, object]], path: Path, title: str
) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = [r[0] for r in rows]
    for ax, idx, ylabel in (
        (axes[0], 1, "median train step time (s)\n(time/step_s - time/eval_s)"),
        (axes[1], 2, "peak memory/peak_mb (MB)"),
    ):
        vals = [r[idx] or 0.0 for r in rows]
        bars = ax.bar(range(len(rows)), vals, color=[r[3] for r in rows])
        for b, r in zip(bars, rows):
            txt = "n/a" if r[idx] is None else f"{r[idx]:.3g}"
            ax.annotate(
                txt,
                (b.get_x() + b.get_width() / 2, b.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_xticks(range(len(rows)), labels, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_title("step time per rank vs FullFT")
    axes[1].set_title("peak memory per rank vs FullFT")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# The report


def _gap_series(arm: Arm, full: Arm, window: int) -> tuple[list[int], list[float], list[float]]:
    """Steps, bits/params and smoothed reward gap (LoRA - FullFT) at both arms' best LRs."""
    assert arm.best and full.best
    a = mean_curve(arm.best.runs, "reward/mean", window)
    f = mean_curve(full.best.runs, "reward/mean", window)
    eps = episodes_curve(arm.best.runs)
    params = arm.params
    steps, xs, gaps = [], [], []
    for s in sorted(set(a) & set(f)):
        if params and s in eps and eps[s] > 0:
            steps.append(s)
            xs.append(eps[s] * BITS_PER_EPISODE / params)
            gaps.append(a[s] - f[s])
    return steps, xs, gaps


def _gap_opens(steps: list[int], xs: list[float], gaps: list[float], tol: float):
    """First (step, bits/params) from which the gap stays below -tol to the end, else None."""
    first = None
    for s, x, g in zip(steps, xs, gaps):
        if g >= -tol:
            first = None  # back inside the band: not lasting
        elif first is None:
            first = (s, x)
    return first


def analyse(runs: list[Run], out: Path, suffix: str, heading: str) -> list[str]:
    """The report's sections for one set of comparable runs; writes figures, returns markdown."""
    md: list[str] = []
    arms_all = group_arms(runs)
    window = smooth_window(runs)
    full = arms_all.get(("full", None))
    lora_targets = [a.targets for a in arms_all.values() if a.rank != "full"]
    main_t = (
        "all"
        if "all" in lora_targets
        else (max(set(lora_targets), key=lora_targets.count) if lora_targets else None)
    )
    main_arms = [a for a in arms_all.values() if a.rank == "full" or a.targets == main_t]
    lora_main = [a for a in main_arms if a.rank != "full"]
    by_rank: dict = defaultdict(list)
    for a in arms_all.values():
        if a.rank != "full":
            by_rank[a.rank].append(a)
    multi_target = {r: v for r, v in by_rank.items() if len(v) > 1}
    n_steps = max((r.train_steps[-1] for r in runs if r.train_steps), default=0)
    colors = _colors(list(arms_all.values()))

    # -- verdicts first: the reader wants the answer, then the evidence
    md.append(f'## Summary: agreement with "LoRA Without Regret"{heading}\n')
    verdicts: list[str] = []
    if full is None or full.best is None:
        verdicts.append("No finished FullFT runs: nothing to compare LoRA against.")
    else:
        fb = full.best
        for a in lora_main:
            if a.best is None:
                continue
            gap = a.best.reward[0] - fb.reward[0]
            tol = _tol(a, full)
            p1a, p1f = a.best.p1[0], fb.p1[0]
            p1txt = (
                ""
                if p1a is None or p1f is None
                else f"; held-out pass@1 {p1a:.3f} vs {p1f:.3f} ({p1a - p1f:+.3f})"
            )
            claim = " (the study: rank-1 LoRA matches FullFT in RL)" if a.rank == 1 else ""
            if abs(gap) <= tol:
                verdict = f"**agrees**{claim}: within ±{tol:.3f}"
            elif gap < 0:
                verdict = f"**does not agree**{claim}: LoRA ends {-gap:.3f} below FullFT (more than ±{tol:.3f})"
            else:
                verdict = f"LoRA ends {gap:.3f} above FullFT (more than ±{tol:.3f})"
            n_a, n_f = len(a.best.rewards), len(fb.rewards)
            seeds = f" Seeds: {n_a} vs {n_f}" + (
                "; a single seed gives no spread, so the tolerance is its floor and the verdict "
                "is weak."
                if min(n_a, n_f) < 2
                else "."
            )
            verdicts.append(
                f"{a.label} vs FullFT, best final reward {a.best.reward[0]:.3f} vs {fb.reward[0]:.3f} "
                f"(gap {gap:+.3f}){p1txt}: {verdict}.{seeds}"
            )
        for a in lora_main:
            if a.best is None:
                continue
            if len(a.cells) < 2 or len(full.cells) < 2:
                verdicts.append(
                    f"Best LR ratio, {a.label}: **not measured**: it ran at {len(a.cells)} LR(s) "
                    f"and FullFT at {len(full.cells)}; a best LR needs at least two."
                )
                continue
            ratio = a.best.lr / fb.lr
            near = abs(math.log10(ratio / STUDY_LR_RATIO)) <= 0.5
            edge = ""
            if a.best_at_edge or full.best_at_edge:
                edge = " The best LR sits at the edge of its grid, so the true optimum may lie outside it and the ratio is only a bound."
            short = (
                " (the study saw ~15x for runs under ~100 steps; these ran " + str(n_steps) + ")"
                if n_steps < 100
                else ""
            )
            verdicts.append(
                f"Best LR ratio, {a.label}: {lr_tag(a.best.lr)} / {lr_tag(fb.lr)} = {ratio:.3g}x "
                f"vs the study's ~10x{short}: **{'agrees' if near else 'does not agree'}** "
                f"(agreement = within a factor 10^0.5 ≈ 3.2 of 10x).{edge}"
            )
    for rank, group in multi_target.items():
        best = {a.targets: a for a in group if a.best is not None}
        if "attn" not in best or len(best) < 2:
            continue
        attn = best["attn"]
        others = [a for t, a in best.items() if t != "attn"]
        parts = ", ".join(f"{a.targets} {a.best.reward[0]:.3f}" for a in best.values())
        diffs = [attn.best.reward[0] - o.best.reward[0] for o in others]
        tol = max(_tol(attn, o) for o in others)
        if all(d < -tol for d in diffs):
            v = "**agrees** (attention-only trails the others by more than the tolerance)"
        elif any(d > tol for d in diffs):
            v = "**does not agree** (attention-only beats another target set)"
        else:
            v = f"**inconclusive** (differences within ±{tol:.3f})"
        verdicts.append(
            f"Targets at rank {rank} (study: attention-only LoRA trails MLP-only and all-layer), "
            f"best final reward {parts}: {v}."
        )
    if full is not None and full.best is not None:
        for a in lora_main:
            if a.best is None or not a.params:
                continue
            steps, xs, gaps = _gap_series(a, full, window)
            if not xs:
                continue
            tol = _tol(a, full)
            opens = _gap_opens(steps, xs, gaps, tol)
            end = f"bits/params reached {xs[-1]:.3g} at step {steps[-1]} ({a.params:,} params)"
            if opens is None:
                text = f"no lasting gap below -{tol:.3f}; {end}"
                text += (
                    "; consistent with the study's capacity argument."
                    if xs[-1] < 1
                    else "; the bits bound outgrew the parameters without a gap opening."
                )
            elif opens[1] >= 1:
                text = (
                    f"a lasting gap opens at step {opens[0]}, bits/params {opens[1]:.3g} >= 1: "
                    f"consistent with the capacity argument; {end}."
                )
            else:
                text = (
                    f"a lasting gap opens at step {opens[0]}, bits/params {opens[1]:.3g} < 1: "
                    f"the signal bound had not outgrown the parameters, so capacity (as the study "
                    f"counts it) does not explain it; {end}."
                )
            verdicts.append(f"Capacity, {a.label}: {text}")
    md += [f"- {v}" for v in verdicts] + [""]

    # -- (a)
    f_lr = f"fig_lr{suffix}.png"
    fig_lr(main_arms, out / f_lr, f"Final reward and pass@1 vs LR{heading}")
    md.append(f"## (a) Final reward and held-out pass@1 vs learning rate{heading}\n")
    md.append(f"![final reward vs LR]({f_lr})\n")
    lrs = sorted({c for a in arms_all.values() for c in a.cells})
    rows = []
    for a in arms_all.values():
        cells = [a.cells.get(lr) for lr in lrs]
        rows.append(
            [a.label] + [_pm(c.reward) + f" (n={len(c.rewards)})" if c else "" for c in cells]
        )
    md.append("Final reward, mean ± sd over seeds, per LR:\n")
    md.append(_table(["arm"] + [lr_tag(x) for x in lrs], rows))
    rows = [
        [a.label] + [_pm(a.cells[lr].p1) if lr in a.cells else "" for lr in lrs]
        for a in arms_all.values()
    ]
    md.append("\nFinal held-out pass@1, mean ± sd over seeds, per LR:\n")
    md.append(_table(["arm"] + [lr_tag(x) for x in lrs], rows))

    # -- (b)
    f_cv = f"fig_curves{suffix}.png"
    fig_curves(main_arms, window, out / f_cv, f"Reward vs step{heading}")
    md.append(f"\n## (b) Reward vs step at each rank's best LR{heading}\n")
    md.append(f"![reward vs step]({f_cv})\n")
    md.append(
        f"Curves are seed means of `reward/mean`, smoothed by a trailing moving average of {window} "
        "step(s). The right panel is the study's pointwise best over learning rates: at each step, the "
        "highest smoothed curve among that rank's LRs.\n"
    )

    # -- (c)
    md.append(f"\n## (c) Targets at equal rank{heading}\n")
    if multi_target:
        f_t = f"fig_targets{suffix}.png"
        fig_targets(multi_target, window, out / f_t, f"Targets at equal rank{heading}")
        md.append(f"![targets]({f_t})\n")
        rows = [_best_cols(a) for group in multi_target.values() for a in group if a.best]
        md.append(_table(BEST_HEADER, rows))
    else:
        md.append("No rank was run with more than one set of targets.\n")

    # -- (d)
    md.append(f"\n## (d) Per-rank table{heading}\n")
    rows = []
    for a in arms_all.values():
        if a.best is None:
            continue
        ratio = (
            "1 (reference)"
            if a.rank == "full"
            else (f"{a.best.lr / full.best.lr:.3g}" if full and full.best else "n/a")
        )
        seeds = sorted({r.seed for r in a.best.runs})
        rows.append([*_best_cols(a), ratio, ",".join(map(str, seeds))])
    md.append(_table([*BEST_HEADER, "best LR / best FullFT LR", "seeds"], rows))

    # -- (e)
    md.append(f"\n## (e) Capacity accounting{heading}\n")
    md.append(
        "Rewards are binary (0/1), so each episode carries at most 1 bit of reward information: the "
        "bits bound is episodes x 1 bit. It is an upper bound; a group whose completions all get the "
        "same reward has zero advantage and gives nothing, so the tighter column drops those "
        "(`reward/zero_signal_frac`). The study's argument: LoRA falls behind FullFT only once the "
        "signal outgrows what its parameters can hold (its example: 10k problems x 32 samples ~ 320k "
        "bits against ~3M rank-1 parameters on Llama-3.1-8B).\n"
    )
    rows = []
    for a in arms_all.values():
        for c in a.cells.values():
            for r in sorted(c.runs, key=lambda r: r.seed):
                last = r.train_steps[-1] if r.train_steps else None
                eps = (
                    r.summary.get("episodes")
                    if is_number(r.summary.get("episodes"))
                    else (r.episodes_at(last) if last else None)
                )
                bits = None if eps is None else eps * BITS_PER_EPISODE
                tight = bits_excluding_zero_signal(r)
                p = r.trainable_params
                rows.append(
                    [
                        r.path.name,
                        "full" if a.rank == "full" else str(a.rank),
                        a.targets or "-",
                        lr_tag(r.lr),
                        str(r.seed),
                        _int(last),
                        _int(eps),
                        _int(bits),
                        _int(tight),
                        _int(p),
                        _ratio(bits / p) if bits is not None and p else "n/a",
                        _f(final_reward(r)),
                    ]
                )
    md.append("Per run:\n")
    md.append(
        _table(
            [
                "run",
                "rank",
                "targets",
                "LR",
                "seed",
                "steps",
                "episodes",
                "bits bound",
                "bits excl. zero-signal",
                "trainable params",
                "bits/params",
                "final reward",
            ],
            rows,
        )
    )
    gaps: dict[str, tuple] = {}
    tol_band = MIN_TOL
    if full is not None and full.best is not None:
        rows = []
        for a in arms_all.values():
            if a.rank == "full" or a.best is None:
                continue
            steps, xs, gs = _gap_series(a, full, window)
            if not xs:
                continue
            gaps[f"{a.label}, {a.params:,} params"] = (
                xs,
                gs,
                colors[(a.rank, a.targets)],
                "-" if a.targets == main_t else "--",
            )
            tol_band = max(tol_band, _tol(a, full))
            eps = episodes_curve(a.best.runs)
            quarters = (0.25, 0.5, 0.75, 1.0)  # of the steps; a short run has fewer than four
            for i in sorted({max(0, math.ceil(q * len(steps)) - 1) for q in quarters}):
                s = steps[i]
                rows.append(
                    [
                        a.label,
                        lr_tag(a.best.lr),
                        str(s),
                        _int(eps.get(s)),
                        _int(eps.get(s)),
                        _ratio(xs[i]),
                        f"{gs[i]:+.3f}",
                    ]
                )
        md.append(
            "\nOver steps, each LoRA arm at its best LR against FullFT at its best LR "
            f"(gap = smoothed LoRA reward - FullFT reward, moving avg {window}):\n"
        )
        md.append(
            _table(
                ["arm", "LR", "step", "episodes", "bits bound", "bits/params", "gap to FullFT"],
                rows,
            )
        )
        if gaps:
            f_c = f"fig_capacity{suffix}.png"
            fig_capacity(
                gaps, out / f_c, f"Reward gap to FullFT vs signal/parameters{heading}", tol_band
            )
            md.append(f"\n![capacity]({f_c})\n")
    else:
        md.append("\nNo FullFT runs, so no gap to FullFT.\n")

    # -- (f)
    md.append(f"\n## (f) Step time and peak memory{heading}\n")
    cost_rows = []
    ref_t = ref_m = None
    for a in arms_all.values():
        all_runs = [r for c in a.cells.values() for r in c.runs]
        times = [
            t for r in all_runs for s in r.train_steps if (t := train_step_s(r.rows[s])) is not None
        ]
        mems = [
            max(r.series("memory/peak_mb").values()) for r in all_runs if r.series("memory/peak_mb")
        ]
        t = statistics.median(times) if times else None
        m = max(mems) if mems else None
        if a.rank == "full":
            ref_t, ref_m = t, m
        cost_rows.append((a.label, t, m, colors[(a.rank, a.targets)]))
    rows = []
    for label, t, m, _ in cost_rows:
        rows.append(
            [
                label,
                _f(t, 3),
                "n/a" if not (t and ref_t) else f"{t / ref_t:.2f}x",
                _f(m, 0),
                "n/a" if not (m and ref_m) else f"{m / ref_m:.2f}x",
            ]
        )
    md.append(
        "Step time: median over all training steps of all runs of the arm of `time/step_s`, less "
        "`time/eval_s` on the steps that ran a held-out evaluation. Peak memory: max "
        "`memory/peak_mb` (on a GPU, allocated GPU memory; on a CPU, the trainer process's peak "
        "RSS, its in-process engine included).\n"
    )
    md.append(_table(["arm", "step time (s)", "vs FullFT", "peak memory (MB)", "vs FullFT"], rows))
    f_cost = f"fig_cost{suffix}.png"
    fig_cost(cost_rows, out / f_cost, f"Cost per rank{heading}")
    md.append(f"\n![cost]({f_cost})\n")
    return md


def write_report(runs_dir: Path, out: Path | None = None) -> Path:
    """Write report.md and the figures; returns the report's path."""
    out = out or runs_dir
    out.mkdir(parents=True, exist_ok=True)
    finished, unfinished, unreadable = load_runs(runs_dir)
    if not finished:
        raise ValueError(f"no finished runs (config.yaml + summary.json) under {runs_dir}")
    md = ["# grpo-lora study report\n"]
    md.append(
        f"Runs: `{runs_dir}`, {len(finished)} finished runs"
        + (
            f"; {len(unfinished)} unfinished runs left out: "
            + ", ".join(f"`{p.name}`" for p in unfinished)
            if unfinished
            else ""
        )
        + ". Runs are grouped by their `config.yaml` (lora.rank, lora.targets, optimizer.lr, seed).\n"
    )
    if unreadable:
        md.append(
            "Left out, config.yaml not a valid config: "
            + ", ".join(f"`{p.name}` ({why})" for p, why in unreadable)
            + "\n"
        )
    md.append(
        "Definitions:\n\n"
        "- **final reward** of a run: mean of `reward/mean` over the last 10% of its training steps "
        "(the last ceil(0.1 N) steps of N, at least one).\n"
        "- **final held-out pass@1**: `eval/pass1` at the run's last eval step.\n"
        "- **best LR** of a rank (and targets): argmax over LRs of the seed-averaged final reward; "
        "spread = sample standard deviation over seeds at that LR (`±`), n = number of seeds.\n"
        f"- **agrees / does not agree** on rewards: a difference counts only when larger than the "
        f"tolerance max({MIN_TOL}, sd_a + sd_b), the two spreads added.\n"
        "- **bits bound**: rewards are binary (0/1), so each episode carries at most 1 bit of reward "
        "information; bits bound = episodes x 1 bit.\n"
    )
    pps_values = sorted({r.pps for r in finished})
    for pps in pps_values:
        subset = [r for r in finished if r.pps == pps]
        if len(pps_values) > 1:
            md += analyse(subset, out, f"_p{pps}", f" (prompts_per_step = {pps})")
        else:
            md += analyse(subset, out, "", "")
    path = out / "report.md"
    path.write_text("\n".join(md))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="grpo-lora report",
        description="Write report.md and PNG figures from a sweep's run directories.",
    )
    parser.add_argument(
        "runs_dir", type=Path, help="directory holding the runs (e.g. runs/study_tiny)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default: RUNS_DIR)"
    )
    args = parser.parse_args(argv)
    if not args.runs_dir.is_dir():
        print(f"error: {args.runs_dir} is not a directory", file=sys.stderr)
        return 2
    try:
        path = write_report(args.runs_dir, args.out)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
