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
(lora.rank, lora.targets, optimizer.lr, seed), never by directory names; runs that differ in any
other setting that can change a result are separate studies (`runs.setting_groups`). Only
FINISHED runs (with `summary.json`) count; unfinished ones are listed and left out, and points the
sweep saw fail (`failed.json`) are listed with their error under "Failed points".

The report is built in stages: the numbers of each set of comparable runs (`Study`, one per
prompts_per_step), the verdicts drawn from them (`verdicts`), then one function per section
(`section_*`), each drawing its figure (`fig_*`).

Definitions (also written into the report):
  final reward   = mean of `reward/mean` over the last 10% of training steps, ceil(0.1 N) >= 1 steps
  final pass@1   = `eval/pass1` at the run's last eval row (else summary.json's eval_pass1_end)
  held-out score = a GRPO run's final pass@1; an SFT run's -(final held-out log-loss)
  best LR        = argmax over LRs of the seed-averaged held-out score (per rank and targets; ties:
                   the smaller LR) on the selection seeds; an arm with no held-out evaluation falls
                   back to final reward
  confirmation   = the runs of an arm's confirmation seeds at its best LR (a sweep's
                   `confirm_seeds`, recorded in OUT/sweep.json; without that record, the seeds that
                   ran at one LR of an arm while others ran at several): an arm's verdicts are
                   judged on them alone when it has them, so the seeds that chose the LR do not
                   judge it (winner's curse); else on the selection seeds, and the verdict says so
  spread         = sample standard deviation over seeds (n - 1), at that LR
  bits bound     = episodes x 1 bit: rewards are binary (0/1), so an episode carries at most 1 bit
Every verdict is an effect on the held-out score, each arm at its best LR, with its 90 % interval
over seeds, judged against an equivalence margin (`grpo_lora.stats`: Welch's interval, seeds paired
when both arms ran the same ones; `stats.judge`); the verdict functions are `grpo_lora.claims`'s.
The margin is the sweep's (`margin` in its sweep file, recorded in OUT/sweep.json; `stats.MARGIN`
without a record; the smallest when a study's runs come from sweeps that differ).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from grpo_lora.runs import (
    LORA_FORM,
    Run,
    is_number,
    load_failures,
    load_runs,
    lr_tag,
    setting_groups,
    train_step_s,
)
from grpo_lora.stats import MARGIN, Effect, contrast

FINAL_FRAC = 0.10  # final reward averages the last 10% of steps
BITS_PER_EPISODE = 1.0  # binary reward: at most 1 bit per episode
STUDY_LR_RATIO = 10.0  # LoRA Without Regret: best LoRA LR / best FullFT LR ~ 10 (9.8 fitted)


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


def last_eval(run: Run, key: str, summary_key: str) -> float | None:
    """`key` at the run's last evaluation after step 0, else summary.json's `summary_key`."""
    evals = {s: r[key] for s, r in run.rows.items() if s >= 1 and is_number(r.get(key))}
    if evals:
        return float(evals[max(evals)])
    v = run.summary.get(summary_key)
    return float(v) if is_number(v) else None


def final_logloss(run: Run) -> float | None:
    """An SFT run's held-out log-loss (nats/token) at its last evaluation."""
    return last_eval(run, "eval/logloss", "eval_logloss_end")


def final_score(run: Run) -> float | None:
    """What a run's best LR maximises: a GRPO run's final reward; an SFT run's -(final held-out
    log-loss), so the lowest loss is the best."""
    if run.command == "sft":
        loss = final_logloss(run)
        return None if loss is None else -loss
    return final_reward(run)


def final_pass1(run: Run) -> float | None:
    return last_eval(run, "eval/pass1", "eval_pass1_end")


def heldout_score(run: Run) -> float | None:
    """What a run's best LR maximises and its verdicts compare: a GRPO run's final held-out pass@1;
    an SFT run's -(final held-out log-loss), so the lowest loss is the best."""
    if run.command == "sft":
        loss = final_logloss(run)
        return None if loss is None else -loss
    return final_pass1(run)


def selection_score(run: Run) -> float | None:
    """What a run's LR is chosen on: its `heldout_score`, but an SFT run's -(final validation
    log-loss), on demonstrations split from its training set, so that SFT never chooses on the
    held-out set it reports (runs that logged no validation loss: their held-out score)."""
    if run.command == "sft":
        val = last_eval(run, "eval/val_logloss", "eval_val_logloss_end")
        if val is not None:
            return -val
    return heldout_score(run)


def choice_scores(
    held: dict[float, list[float]], rewards: dict[float, list[float]]
) -> dict[float, list[float]]:
    """What an arm's LR is chosen on, LR -> each seed's score: its held-out scores, or its final
    scores when none of its runs has a held-out score. (The sweep chooses with it too.)"""
    return held if any(held.values()) else rewards


def best_lr(rewards: dict[float, list[float]]) -> float | None:
    """The best LR of an arm, given LR -> each seed's score (held-out: `heldout_score`): argmax
    over LRs of the seed-averaged score (ties: the smaller LR); None when no LR has a score."""
    means = {lr: statistics.fmean(v) for lr, v in rewards.items() if v}
    return max(sorted(means), key=means.__getitem__, default=None)


def grid_edge(lrs: list[float], best: float | None) -> str | None:
    """Which edge of two or more `lrs` the best LR is on, "low" or "high" (the optimum may lie
    beyond it); None when it is inside, or there is one LR or no best."""
    lrs = sorted(lrs)
    if len(lrs) < 2 or best is None:
        return None
    return {lrs[0]: "low", lrs[-1]: "high"}.get(best)


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
    held: list[float] = field(default_factory=list)  # each seed's `heldout_score`
    held_seeds: list[int] = field(default_factory=list)  # the seed of each `held` value
    chosen: list[float] = field(default_factory=list)  # each seed's `selection_score`

    @property
    def reward(self) -> tuple[float | None, float | None]:
        return _mean_sd(self.rewards)

    @property
    def p1(self) -> tuple[float | None, float | None]:
        return _mean_sd(self.pass1)

    @property
    def score(self) -> tuple[float | None, float | None]:
        return _mean_sd(self.held)


@dataclass
class Arm:
    """One rank (and targets) over its learning rates: `cells` hold its selection seeds' runs (they
    choose its LR), `confirm` its confirmation seeds' runs (they judge it; `confirm_seeds`)."""

    rank: int | str
    targets: str | None
    cells: dict[float, LrCell]
    confirm: dict[float, LrCell] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return "FullFT" if self.rank == "full" else f"LoRA r={self.rank} ({self.targets})"

    @property
    def best(self) -> LrCell | None:
        """The cell at the arm's best LR on its selection seeds (`best_lr` of `choice_scores`)."""
        rewards = {c.lr: c.rewards for c in self.cells.values()}
        lr = best_lr(choice_scores(self.chosen_by_lr, rewards))
        return None if lr is None else self.cells[lr]

    @property
    def judged(self) -> LrCell | None:
        """What the arm's verdicts compare: its confirmation seeds' runs at its best LR when it has
        them (with a held-out score), else the selection seeds' cell at its best LR."""
        best = self.best
        cell = self.confirm.get(best.lr) if best is not None else None
        return cell if cell is not None and cell.held else best

    @property
    def confirmed(self) -> bool:
        """Its verdicts are judged on confirmation seeds, not on the seeds that chose its LR."""
        return self.judged is not None and self.judged is not self.best

    @property
    def chosen_by_lr(self) -> dict[float, list[float]]:
        """LR -> each selection seed's `selection_score`: what the arm's LR is chosen on and its
        optimum fitted to."""
        return {c.lr: c.chosen for c in self.cells.values()}

    @property
    def best_at_edge(self) -> bool:
        best = self.best
        return grid_edge(list(self.cells), None if best is None else best.lr) is not None

    @property
    def params(self) -> int | None:
        ps = [r.trainable_params for c in self.cells.values() for r in c.runs if r.trainable_params]
        return int(statistics.median(ps)) if ps else None

    @property
    def runs(self) -> list[Run]:
        """Every run of the arm, selection and confirmation seeds."""
        return [r for c in [*self.cells.values(), *self.confirm.values()] for r in c.runs]


def _rank_key(rank) -> tuple:
    return (1, 0) if rank == "full" else (0, rank)


def confirm_seeds(runs: list[Run]) -> set[int]:
    """The confirmation seeds among one arm's runs: those its sweep recorded (`confirm_seeds` in
    OUT/sweep.json); without a record, the seeds that ran at one LR of the arm while another seed
    ran at several (a confirmation round runs one LR, the grid several)."""
    recorded = [r.sweep["confirm_seeds"] for r in runs if "confirm_seeds" in r.sweep]
    if recorded:
        return {s for seeds in recorded for s in seeds}
    lrs: dict[int, set[float]] = defaultdict(set)
    for r in runs:
        lrs[r.seed].add(r.lr)
    if max((len(v) for v in lrs.values()), default=0) < 2:
        return set()
    return {s for s, v in lrs.items() if len(v) == 1}


def group_arms(runs: list[Run]) -> dict[tuple, Arm]:
    """Runs grouped by (rank, targets), then by LR: LoRA ranks ascending, FullFT last; an arm's
    confirmation seeds' runs (`confirm_seeds`) go to its `confirm` cells, the rest to `cells`. Each
    cell's `rewards` hold each run's `final_score` (an SFT run's: -(held-out log-loss)); `held`
    each run's `heldout_score`, the verdicts' measure."""
    by_arm: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        by_arm[run.arm].append(run)
    confirm = {k: confirm_seeds(v) for k, v in by_arm.items()}
    arms: dict[tuple, Arm] = {}
    for run in runs:
        arm = arms.setdefault(run.arm, Arm(run.rank, run.targets, {}))
        cells = arm.confirm if run.seed in confirm[run.arm] else arm.cells
        cell = cells.setdefault(run.lr, LrCell(run.lr, []))
        cell.runs.append(run)
        if (fr := final_score(run)) is not None:
            cell.rewards.append(fr)
        if (p1 := final_pass1(run)) is not None:
            cell.pass1.append(p1)
        if (h := heldout_score(run)) is not None:
            cell.held.append(h)
            cell.held_seeds.append(run.seed)
        if (c := selection_score(run)) is not None:
            cell.chosen.append(c)
    order = sorted(arms, key=lambda a: (_rank_key(a[0]), a[1] or ""))
    return {
        k: Arm(
            arms[k].rank,
            arms[k].targets,
            dict(sorted(arms[k].cells.items())),
            dict(sorted(arms[k].confirm.items())),
        )
        for k in order
    }


def sweep_margin(runs: list[Run]) -> float:
    """The equivalence margin the runs' sweeps recorded (OUT/sweep.json's `margin`): the smallest
    when they differ; `stats.MARGIN` when none did."""
    recorded = [m for r in runs if is_number(m := r.sweep.get("margin")) and m > 0]
    return min(recorded, default=MARGIN)


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


def pointwise_best(arm: Arm, window: int) -> dict[int, tuple[float, float]]:
    """The study's "pointwise best over learning rates": at each step, the max over LRs of the
    smoothed seed-mean, with the spread over seeds (sd, same smoothing) of the LR that gives it."""
    best: dict[int, tuple[float, float]] = {}
    for cell in arm.cells.values():
        mean = mean_curve(cell.runs, "reward/mean", window)
        sd = sd_curve(cell.runs, "reward/mean", window)
        for s, v in mean.items():
            if s not in best or v > best[s][0]:
                best[s] = (v, sd.get(s, 0.0))
    return dict(sorted(best.items()))


def sd_curve(runs: list[Run], key: str, window: int) -> dict[int, float]:
    """Spread over seeds per step (sample sd of each seed's trailing `window`-step average)."""
    per_run = [mean_curve([r], key, window) for r in runs]
    steps = sorted(set().union(*per_run)) if per_run else []
    return {
        s: statistics.stdev(vals) if len(vals := [c[s] for c in per_run if s in c]) > 1 else 0.0
        for s in steps
    }


def episodes_curve(runs: list[Run]) -> dict[int, float]:
    per: dict[int, list[float]] = defaultdict(list)
    for r in runs:
        for s in r.train_steps:
            per[s].append(r.episodes_at(s))
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
        total += (e - prev) * (1 - zs[s]) * BITS_PER_EPISODE
        prev = e
    return total


def paired(a: LrCell, b: LrCell) -> bool:
    """Both cells ran the same seeds, each once: a seed fixes the data order (the sweep gives every
    point of one seed the same `seed=`), so their difference is taken seed by seed."""
    sa, sb = set(a.held_seeds), set(b.held_seeds)
    return sa == sb and len(sa) == len(a.held) == len(b.held)


def held_contrast(
    pairs: list[tuple[LrCell, LrCell, float]], margin: float = MARGIN
) -> Effect | None:
    """The effect sum_k w_k * (mean(a_k) - mean(b_k)) of held-out scores, for pairs (a_k, b_k, w_k)
    of cells, with its interval and verdict (`stats.contrast`): each pair enters as one group of
    per-seed differences when `paired`, else as its two groups. None when a cell has no score."""
    groups, weights = [], []
    for a, b, w in pairs:
        if not a.held or not b.held:
            return None
        if paired(a, b):
            sa, sb = dict(zip(a.held_seeds, a.held)), dict(zip(b.held_seeds, b.held))
            groups.append([sa[s] - sb[s] for s in sorted(sa)])
            weights.append(w)
        else:
            groups += [a.held, b.held]
            weights += [w, -w]
    return contrast(groups, weights, margin)


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
    """First (step, bits/params) from which the gap stays below -tol to the end, else None
    (descriptive: a smoothed seed mean, no interval; the report uses tol = the study's margin)."""
    first = None
    for s, x, g in zip(steps, xs, gaps):
        if g >= -tol:
            first = None  # back inside the band: not lasting
        elif first is None:
            first = (s, x)
    return first


@dataclass
class Study:
    """The numbers of one set of comparable runs (one prompts_per_step), which every verdict,
    section and figure reads; `suffix` and `heading` tell the sets apart in file names and titles
    when the report has more than one."""

    runs: list[Run]
    arms: dict[tuple, Arm]  # (rank, targets) -> arm, LoRA ranks ascending, FullFT last
    window: int  # trailing moving average of reward curves, in steps
    n_steps: int  # the longest run's last step
    main_targets: str | None  # the targets ranks are compared at: "all", else the most run
    suffix: str = ""
    heading: str = ""

    @cached_property
    def margin(self) -> float:
        """The equivalence margin its verdicts are judged against (`sweep_margin`)."""
        return sweep_margin(self.runs)

    @property
    def full(self) -> Arm | None:
        """FullFT, when it has a best LR (the reference every gap and ratio needs)."""
        full = self.arms.get(("full", None))
        return full if full is not None and full.best is not None else None

    @property
    def main_arms(self) -> list[Arm]:
        """FullFT and each LoRA rank at the main targets: the rank comparison."""
        return [a for a in self.arms.values() if a.rank == "full" or a.targets == self.main_targets]

    @property
    def lora_main(self) -> list[Arm]:
        return [a for a in self.main_arms if a.rank != "full"]

    @property
    def multi_target(self) -> dict[int, list[Arm]]:
        """rank -> its arms, for each LoRA rank run with more than one set of targets."""
        by_rank: dict = defaultdict(list)
        for a in self.arms.values():
            if a.rank != "full":
                by_rank[a.rank].append(a)
        return {r: v for r, v in by_rank.items() if len(v) > 1}

    @cached_property
    def colors(self) -> dict[tuple, object]:
        return _colors(list(self.arms.values()))

    def figure(self, stem: str) -> str:
        """A figure's file name, suffixed when the report holds more than one study."""
        return f"{stem}{self.suffix}.png"


def study_of(runs: list[Run], suffix: str = "", heading: str = "") -> Study:
    arms = group_arms(runs)
    targets = [a.targets for a in arms.values() if a.rank != "full"]
    main = "all" if "all" in targets else max(sorted(set(targets)), key=targets.count, default=None)
    n_steps = max((r.train_steps[-1] for r in runs if r.train_steps), default=0)
    return Study(runs, arms, smooth_window(runs), n_steps, main, suffix, heading)


# ---------------------------------------------------------------------------------------------
# Verdicts


def verdicts(study: Study) -> list[str]:
    """The study's claims, each judged by `grpo_lora.claims`'s functions on held-out scores (one
    rule: `stats.judge`): each LoRA rank against FullFT, its fitted best-LR ratio, targets at
    equal rank; then the capacity argument (descriptive)."""
    from grpo_lora import claims  # it builds on this module

    full = study.full
    if full is None:
        out = ["No finished FullFT runs: nothing to compare LoRA against."]
    else:
        arms = [a for a in study.lora_main if a.best is not None]
        out = [
            claims.match_verdict(
                a,
                full,
                f"{a.label} level with FullFT" + (" (claim 1)" if a.rank == 1 else ""),
                study.margin,
            ).sentence()
            for a in arms
        ]
        out += [
            claims.lr_verdict([a], full, f"Best LR ratio, {a.label} (claim 2: ~10x)").sentence()
            for a in arms
        ]
    out += [
        claims.targets_verdict(
            rank, group, f"Targets at rank {rank} (claim 3)", study.margin
        ).sentence()
        for rank, group in study.multi_target.items()
    ]
    if full is not None:
        out += [
            v
            for a in study.lora_main
            if (v := _capacity_verdict(a, full, study.window, study.margin))
        ]
    return out


def _capacity_verdict(a: Arm, full: Arm, window: int, tol: float = MARGIN) -> str | None:
    """Does a lasting gap to FullFT open only once the bits bound outgrows the parameters?"""
    if a.best is None or not a.params:
        return None
    steps, xs, gaps = _gap_series(a, full, window)
    if not xs:
        return None
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
    return f"Capacity, {a.label}: {text}"


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


def _vs(x: float | None, ref: float | None) -> str:
    return "n/a" if not (x and ref) else f"{x / ref:.2f}x"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Free text (an error message) made safe for one markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


BEST_HEADER = [
    "rank",
    "targets",
    "trainable params",
    "best LR",
    "final reward at best LR (± sd)",
    "held-out pass@1 at best LR (± sd)",
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


# ---------------------------------------------------------------------------------------------
# Figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(arms: list[Arm]) -> dict[tuple, object]:
    """A colour per arm: LoRA arms along viridis, FullFT black."""
    cmap = _plt().get_cmap("viridis")
    lora = [a for a in arms if a.rank != "full"]
    out: dict[tuple, object] = {
        (a.rank, a.targets): cmap(0.85 * i / max(1, len(lora) - 1)) for i, a in enumerate(lora)
    }
    out[("full", None)] = "black"
    return out


def _save(fig, path: Path, title: str) -> None:
    plt = _plt()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _lr_panel(ax, arms: list[Arm], colors: dict, which: str, ylabel: str) -> None:
    """One quantity (`reward` or `p1` of each LR cell) vs LR, a line per arm, its best LR starred."""
    for a in arms:
        points = [(c.lr, *getattr(c, which)) for c in a.cells.values()]
        points = [(lr, m, sd or 0.0) for lr, m, sd in points if m is not None]
        if not points:
            continue
        xs, ys, es = zip(*points)
        style = dict(color=colors[(a.rank, a.targets)], lw=2.2 if a.rank == "full" else 1.6)
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=a.label, **style)
        best = getattr(a.best, which)[0] if a.best is not None else None
        if best is not None:
            ax.plot(a.best.lr, best, marker="*", ms=15, color=style["color"], mec="white", zorder=5)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


def fig_lr(arms: list[Arm], colors: dict, path: Path, title: str) -> None:
    """(a) final reward and final held-out pass@1 vs LR, a line per arm."""
    fig, axes = _plt().subplots(1, 2, figsize=(12, 4.8))
    _lr_panel(
        axes[0], arms, colors, "reward", "final reward\n(mean reward/mean, last 10% of steps)"
    )
    _lr_panel(axes[1], arms, colors, "p1", "final held-out pass@1\n(eval/pass1 at the last eval)")
    axes[0].set_title("final reward vs LR (star = best LR, by held-out pass@1)")
    axes[1].set_title("held-out pass@1 vs LR (star = best LR)")
    axes[0].legend(fontsize=9)
    _save(fig, path, title + "  (error bars: sd over seeds)")


def _step_axis(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")


def fig_curves(arms: list[Arm], colors: dict, window: int, path: Path, title: str) -> None:
    """(b) reward vs step at each arm's best LR, and the pointwise best over its LRs."""
    fig, axes = _plt().subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for a in arms:
        if a.best is None:
            continue
        style = dict(color=colors[(a.rank, a.targets)], lw=2.2 if a.rank == "full" else 1.6)
        cur = mean_curve(a.best.runs, "reward/mean", window)
        label = f"{a.label}, lr {lr_tag(a.best.lr)}"
        axes[0].plot(list(cur), list(cur.values()), label=label, **style)
        pb = pointwise_best(a, window)
        xs, ms, sds = list(pb), [m for m, _ in pb.values()], [sd for _, sd in pb.values()]
        axes[1].plot(xs, ms, label=a.label, **style)
        lo, hi = [m - d for m, d in zip(ms, sds)], [m + d for m, d in zip(ms, sds)]
        axes[1].fill_between(xs, lo, hi, color=style["color"], alpha=0.15, lw=0)
    axes[0].set_title("reward at each rank's best LR")
    axes[1].set_title("pointwise best over learning rates (band: sd over seeds)")
    for ax in axes:
        _step_axis(ax)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=9)
    axes[0].set_ylabel(f"reward/mean (seed mean, moving avg {window} steps)")
    _save(fig, path, title)


TARGET_COLORS = {"all": "tab:blue", "mlp": "tab:green", "attn": "tab:red"}


def _targets_row(ax_lr, ax_curve, rank, group: list[Arm], window: int) -> None:
    """One rank of (c): final reward vs LR per targets, and reward at each targets' best LR."""
    for a in group:
        c = TARGET_COLORS.get(a.targets or "")
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
            label = f"{a.targets}, lr {lr_tag(a.best.lr)}"
            ax_curve.plot(list(cur), list(cur.values()), color=c, label=label)
    ax_lr.set_xscale("log")
    ax_lr.set_xlabel("learning rate (log scale)")
    ax_lr.set_ylabel("final reward (last 10% of steps)")
    ax_lr.set_title(f"rank {rank}: final reward vs LR by targets")
    _step_axis(ax_curve)
    ax_curve.set_ylabel(f"reward/mean (seed mean, moving avg {window})")
    ax_curve.set_title(f"rank {rank}: reward at each target's best LR")
    for ax in (ax_lr, ax_curve):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=9)


def fig_targets(by_rank: dict[int, list[Arm]], window: int, path: Path, title: str) -> None:
    """(c) targets compared at equal rank, a row of two panels per rank."""
    n = len(by_rank)
    fig, axes = _plt().subplots(n, 2, figsize=(12, 4.5 * n), squeeze=False)
    for (ax_lr, ax_curve), (rank, group) in zip(axes, by_rank.items()):
        _targets_row(ax_lr, ax_curve, rank, group, window)
    _save(fig, path, title)


def fig_capacity(gaps: dict[str, tuple], path: Path, title: str, tol: float) -> None:
    """(e) reward gap to FullFT vs bits/params; gaps: label -> (xs, gaps, color, linestyle)."""
    fig, ax = _plt().subplots(figsize=(8.5, 5))
    for label, (xs, ys, c, ls) in gaps.items():
        ax.plot(xs, ys, color=c, ls=ls, lw=1.8, label=label)
    ax.axhline(0, color="black", lw=1)
    ax.axhspan(-tol, tol, color="grey", alpha=0.15, label=f"±{tol:.3f} (the equivalence margin)")
    ax.axvline(1, color="tab:red", ls=":", lw=1.5, label="bits bound = trainable params")
    ax.set_xscale("log")
    ax.set_xlabel("bits of reward signal (upper bound: episodes x 1 bit) / trainable params  (log)")
    ax.set_ylabel("reward gap to FullFT\n(LoRA - FullFT, both at best LR, smoothed)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)


def fig_cost(
    rows: list[tuple[str, float | None, float | None, object]], path: Path, title: str
) -> None:
    """(f) step time and peak memory per arm; rows: (label, step s, peak MB, color)."""
    fig, axes = _plt().subplots(1, 2, figsize=(12, 4.5))
    for ax, idx, ylabel in (
        (axes[0], 1, "median train step time (s)\n(time/step_s - time/eval_s)"),
        (axes[1], 2, "peak memory/peak_mb (MB)"),
    ):
        bars = ax.bar(range(len(rows)), [r[idx] or 0.0 for r in rows], color=[r[3] for r in rows])
        for b, r in zip(bars, rows):
            txt = "n/a" if r[idx] is None else f"{r[idx]:.3g}"
            xy = (b.get_x() + b.get_width() / 2, b.get_height())
            ax.annotate(txt, xy, ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(rows)), [r[0] for r in rows], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_title("step time per rank vs FullFT")
    axes[1].set_title("peak memory per rank vs FullFT")
    _save(fig, path, title)


# ---------------------------------------------------------------------------------------------
# Sections: each returns its markdown (a list of blocks) and writes its figure into `out`


def section_summary(study: Study) -> list[str]:
    """The verdicts first: the reader wants the answer, then the evidence."""
    head = f'## Summary: agreement with "LoRA Without Regret"{study.heading}\n'
    starts = [v for r in study.runs if is_number(v := r.summary.get("eval_pass1_start"))]
    if starts:  # where the runs began: a study's rewards only compare with its own start
        head += (
            f"\nHeld-out pass@1 before training: {statistics.fmean(starts):.3f} "
            f"(mean of `eval_pass1_start` over {len(starts)} runs).\n"
        )
    return [head, *(f"- {v}" for v in verdicts(study)), ""]


def _per_lr_table(arms: list[Arm], text) -> str:
    """A row per arm, a column per LR any arm ran; `text(cell)` fills the cells an arm has."""
    lrs = sorted({lr for a in arms for lr in a.cells})
    rows = [[a.label] + [text(a.cells[lr]) if lr in a.cells else "" for lr in lrs] for a in arms]
    return _table(["arm"] + [lr_tag(x) for x in lrs], rows)


def section_lr(study: Study, out: Path) -> list[str]:
    """(a) final reward and pass@1 vs LR: the figure, then both as tables over every arm."""
    h, name, arms = study.heading, study.figure("fig_lr"), list(study.arms.values())
    fig_lr(study.main_arms, study.colors, out / name, f"Final reward and pass@1 vs LR{h}")
    return [
        f"## (a) Final reward and held-out pass@1 vs learning rate{h}\n",
        f"![final reward vs LR]({name})\n",
        "Final reward, mean ± sd over seeds, per LR:\n",
        _per_lr_table(arms, lambda c: _pm(c.reward) + f" (n={len(c.rewards)})"),
        "\nFinal held-out pass@1, mean ± sd over seeds, per LR:\n",
        _per_lr_table(arms, lambda c: _pm(c.p1)),
    ]


def section_curves(study: Study, out: Path) -> list[str]:
    """(b) reward vs step at each rank's best LR."""
    h, name = study.heading, study.figure("fig_curves")
    fig_curves(study.main_arms, study.colors, study.window, out / name, f"Reward vs step{h}")
    return [
        f"\n## (b) Reward vs step at each rank's best LR{h}\n",
        f"![reward vs step]({name})\n",
        f"Curves are seed means of `reward/mean`, smoothed by a trailing moving average of "
        f"{study.window} step(s). The right panel is the study's pointwise best over learning "
        "rates: at each step, the highest smoothed curve among that rank's LRs.\n",
    ]


def section_targets(study: Study, out: Path) -> list[str]:
    """(c) targets at equal rank, for the ranks run with more than one set of targets."""
    h, groups = study.heading, study.multi_target
    md = [f"\n## (c) Targets at equal rank{h}\n"]
    if not groups:
        return [*md, "No rank was run with more than one set of targets.\n"]
    name = study.figure("fig_targets")
    fig_targets(groups, study.window, out / name, f"Targets at equal rank{h}")
    rows = [_best_cols(a) for group in groups.values() for a in group if a.best]
    return [*md, f"![targets]({name})\n", _table(BEST_HEADER, rows)]


def section_table(study: Study) -> list[str]:
    """(d) a row per arm at its best LR, with its LR ratio to FullFT's best and its seeds."""
    full = study.full
    rows = []
    for a in study.arms.values():
        if a.best is None:
            continue
        if a.rank == "full":
            ratio = "1 (reference)"
        else:
            ratio = f"{a.best.lr / full.best.lr:.3g}" if full else "n/a"
        seeds = sorted({r.seed for r in a.best.runs})
        confirmed = "n/a"
        if a.confirmed:
            conf = ",".join(str(s) for s in sorted(a.judged.held_seeds))
            confirmed = f"{_pm(a.judged.p1)} (seeds {conf})"
        rows.append([*_best_cols(a), ratio, ",".join(map(str, seeds)), confirmed])
    header = [
        *BEST_HEADER,
        "best LR / best FullFT LR",
        "seeds",
        "held-out pass@1 on confirmation seeds (± sd)",
    ]
    return [f"\n## (d) Per-rank table{study.heading}\n", _table(header, rows)]


CAPACITY_INTRO = (
    "Rewards are binary (0/1), so each episode carries at most 1 bit of reward information: the "
    "bits bound is episodes x 1 bit. It is an upper bound; a group whose completions all get the "
    "same reward has zero advantage and gives nothing, so the tighter column drops those "
    "(`reward/zero_signal_frac`). The study's argument: LoRA falls behind FullFT only once the "
    "signal outgrows what its parameters can hold (its example: 10k problems x 32 samples ~ 320k "
    "bits against ~3M rank-1 parameters on Llama-3.1-8B).\n"
)
CAPACITY_RUN_HEADER = [
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
]


def _capacity_run_row(a: Arm, r: Run) -> list[str]:
    """One run's signal budget: episodes, the bits bound, the tighter bound, and per parameter."""
    last = r.train_steps[-1] if r.train_steps else None
    eps = r.summary.get("episodes")
    if not is_number(eps):
        eps = r.episodes_at(last) if last else None
    bits = None if eps is None else eps * BITS_PER_EPISODE
    p = r.trainable_params
    return [
        r.path.name,
        "full" if a.rank == "full" else str(a.rank),
        a.targets or "-",
        lr_tag(r.lr),
        str(r.seed),
        _int(last),
        _int(eps),
        _int(bits),
        _int(bits_excluding_zero_signal(r)),
        _int(p),
        _ratio(bits / p) if bits is not None and p else "n/a",
        _f(final_reward(r)),
    ]


def _capacity_over_steps(study: Study, full: Arm, out: Path) -> list[str]:
    """Each LoRA arm's gap to FullFT at the quarters of its run, and the figure over all steps."""
    rows, gaps, tol = [], {}, study.margin
    for a in study.arms.values():
        if a.rank == "full" or a.best is None:
            continue
        steps, xs, gs = _gap_series(a, full, study.window)
        if not xs:
            continue
        ls = "-" if a.targets == study.main_targets else "--"
        gaps[f"{a.label}, {a.params:,} params"] = (xs, gs, study.colors[(a.rank, a.targets)], ls)
        eps = episodes_curve(a.best.runs)
        quarters = (0.25, 0.5, 0.75, 1.0)  # of the steps; a short run has fewer than four
        for i in sorted({max(0, math.ceil(q * len(steps)) - 1) for q in quarters}):
            s = steps[i]
            e = _int(eps.get(s))
            rows.append([a.label, lr_tag(a.best.lr), str(s), e, e, _ratio(xs[i]), f"{gs[i]:+.3f}"])
    header = ["arm", "LR", "step", "episodes", "bits bound", "bits/params", "gap to FullFT"]
    md = [
        "\nOver steps, each LoRA arm at its best LR against FullFT at its best LR "
        f"(gap = smoothed LoRA reward - FullFT reward, moving avg {study.window}):\n",
        _table(header, rows),
    ]
    if gaps:
        name = study.figure("fig_capacity")
        title = f"Reward gap to FullFT vs signal/parameters{study.heading}"
        fig_capacity(gaps, out / name, title, tol)
        md.append(f"\n![capacity]({name})\n")
    return md


def section_capacity(study: Study, out: Path) -> list[str]:
    """(e) the signal each run got against the parameters it trains, and the gap to FullFT."""
    rows = [
        _capacity_run_row(a, r)
        for a in study.arms.values()
        for c in [*a.cells.values(), *a.confirm.values()]
        for r in sorted(c.runs, key=lambda r: r.seed)
    ]
    md = [
        f"\n## (e) Capacity accounting{study.heading}\n",
        CAPACITY_INTRO,
        "Per run:\n",
        _table(CAPACITY_RUN_HEADER, rows),
    ]
    if study.full is None:
        return [*md, "\nNo FullFT runs, so no gap to FullFT.\n"]
    return md + _capacity_over_steps(study, study.full, out)


def _arm_cost(a: Arm) -> tuple[float | None, float | None]:
    """(median train step seconds, peak MB) over every step of every run of the arm."""
    times = [t for r in a.runs for s in r.train_steps if (t := train_step_s(r.rows[s])) is not None]
    mems = [max(m.values()) for r in a.runs if (m := r.series("memory/peak_mb"))]
    return (statistics.median(times) if times else None), (max(mems) if mems else None)


def section_cost(study: Study, out: Path) -> list[str]:
    """(f) step time and peak memory per arm, and each against FullFT's."""
    cost = [
        (a.label, *_arm_cost(a), study.colors[(a.rank, a.targets)]) for a in study.arms.values()
    ]
    full = study.arms.get(("full", None))
    ref_t, ref_m = _arm_cost(full) if full is not None else (None, None)
    rows = [[label, _f(t, 3), _vs(t, ref_t), _f(m, 0), _vs(m, ref_m)] for label, t, m, _ in cost]
    name = study.figure("fig_cost")
    fig_cost(cost, out / name, f"Cost per rank{study.heading}")
    return [
        f"\n## (f) Step time and peak memory{study.heading}\n",
        "Step time: median over all training steps of all runs of the arm of `time/step_s`, less "
        "`time/eval_s` on the steps that ran a held-out evaluation. Peak memory: max "
        "`memory/peak_mb` (on a GPU, allocated GPU memory; on a CPU, the trainer process's peak "
        "RSS, its in-process engine included).\n",
        _table(["arm", "step time (s)", "vs FullFT", "peak memory (MB)", "vs FullFT"], rows),
        f"\n![cost]({name})\n",
    ]


def analyse(study: Study, out: Path) -> list[str]:
    """Every section of one study, in reading order; writes its figures into `out`."""
    return [
        *section_summary(study),
        *section_lr(study, out),
        *section_curves(study, out),
        *section_targets(study, out),
        *section_table(study),
        *section_capacity(study, out),
        *section_cost(study, out),
    ]


# ---------------------------------------------------------------------------------------------
# The report


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


# how a study is named by a setting that tells it apart: (file-name part, heading part)
STUDY_NAMES = {
    "model.path": lambda v: (str(v), str(v)),
    "data.prompts_per_step": lambda v: (f"p{v}", f"prompts_per_step = {v}"),
    "schedule.steps": lambda v: (f"s{v}", f"{v} steps"),
}


def studies(runs: list[Run]) -> list[Study]:
    """One study per setting of the GRPO runs (`runs.setting_groups`): runs are only compared on
    one model, at one batch size, over one horizon, with every other setting equal. (`grpo-lora
    sft` runs are `claims`'s.)"""
    groups = setting_groups([r for r in runs if r.command == "train"])
    if len(groups) <= 1:
        return [study_of(g) for g in groups]
    # name a study by the settings that tell it apart (a LoRA run's, with LoRA's form)
    shared = [next((r for r in g if r.rank != "full"), g[0]).settings for g in groups]
    keys = {k for s in shared for k in s}
    varies = [k for k in STUDY_NAMES if _varies(k, shared)]
    varies += sorted(k for k in keys - set(STUDY_NAMES) if _varies(k, shared))

    def named(s: dict) -> tuple[str, str]:
        parts = [
            STUDY_NAMES[k](s.get(k)) if k in STUDY_NAMES else _setting_name(k, s.get(k))
            for k in varies
        ]
        return "".join("_" + a for a, _ in parts), " (" + ", ".join(b for _, b in parts) + ")"

    return [study_of(g, *named(s)) for g, s in zip(groups, shared)]


def _varies(key: str, settings: list[dict]) -> bool:
    """Groups differ on ``key`` (a FullFT-only group has no LoRA form, which tells nothing)."""
    values = {json.dumps(s[key]) for s in settings if key in s}
    return len(values) > 1 or (key not in LORA_FORM and any(key not in s for s in settings))


def _setting_name(key: str, value) -> tuple[str, str]:
    leaf = key.rsplit(".", 1)[-1]
    return "".join(
        c if c.isalnum() or c in ".-" else "-" for c in f"{leaf}{value}"
    ), f"{key} = {value}"


def section_header(found: Found) -> list[str]:
    """What was read, and what was left out and why."""
    unfinished, failed = found.unfinished, found.failed
    md = [
        "# grpo-lora study report\n",
        f"Runs: `{found.runs_dir}`, {len(found.finished)} finished runs"
        + (
            f"; {len(unfinished)} unfinished runs left out: "
            + ", ".join(f"`{p.name}`" for p in unfinished)
            if unfinished
            else ""
        )
        + (
            f"; {_count(len(failed), 'failed point')} left out (see Failed points)"
            if failed
            else ""
        )
        + ". Runs are grouped by their `config.yaml` (lora.rank, lora.targets, optimizer.lr, seed).\n",
    ]
    if found.unreadable:
        md.append(
            "Left out, config.yaml not a valid config: "
            + ", ".join(f"`{p.name}` ({why})" for p, why in found.unreadable)
            + "\n"
        )
    return md


def section_failed(found: Found) -> list[str]:
    """The points the sweep saw fail, each with its exit code and error (from failed.json)."""
    if not found.failed:
        return []
    rows = []
    for d, rec in found.failed:
        done = f"{rec.get('steps_done', '?')} of {rec.get('steps', '?')}"
        log = f"`{rec['log']}`" if rec.get("log") else "n/a"
        error = _cell(rec.get("error", "no record of the error"))
        rows.append(
            [f"`{d.relative_to(found.runs_dir)}`", str(rec.get("exit_code", "?")), done, error, log]
        )
    return [
        "## Failed points\n",
        "These points failed and are left out of every table and figure below; re-launching "
        "the sweep retries them (from their last checkpoint, if any). Each run directory's "
        "`failed.json` holds the exit code and the last lines of its log.\n",
        _table(["point", "exit code", "steps done", "error", "log"], rows),
    ]


DEFINITIONS = (
    "Definitions:\n\n"
    "- **final reward** of a run: mean of `reward/mean` over the last 10% of its training steps "
    "(the last ceil(0.1 N) steps of N, at least one).\n"
    "- **final held-out pass@1**: `eval/pass1` at the run's last eval step.\n"
    "- **held-out score**: a GRPO run's final held-out pass@1; an SFT run's -(final held-out "
    "log-loss).\n"
    "- **best LR** of a rank (and targets): argmax over LRs of the seed-averaged held-out score "
    "(ties: the smaller LR) on its selection seeds; spread = sample standard deviation over seeds "
    "at that LR (`±`), n = number of seeds.\n"
    "- **confirmation seeds**: fresh seeds a sweep ran at each arm's best LR once the selection "
    "seeds had chosen it (`confirm_seeds`); an arm's verdicts are judged on them alone, so that "
    "the seeds that picked the best of several LRs (whose luck the pick favours) do not also judge "
    "it. A verdict judged on the selection seeds says so: \"LR chosen on the same seeds: winner's "
    'curse".\n'
    "- **verdicts**: every claim is an effect on the held-out score (e.g. LoRA - FullFT held-out "
    "pass@1, each arm at its best LR) with a 90 % confidence interval over seeds (Welch's t; seeds "
    "paired when both arms ran the same ones, which share their data order). An effect "
    "**matches** when its whole interval lies inside the equivalence margin (the sweep file's "
    f"`margin`, ±{MARGIN} pass@1 unless stated: two one-sided tests at 5 %), **differs** when it "
    "excludes 0, else **cannot tell**, with the seeds the observed spread says would settle it. A claim that two arms are "
    "level holds when they match and does not hold when they differ by more than the margin; a "
    "claimed difference holds when its interval excludes 0 on the claimed side and does not hold "
    "when it excludes 0 on the other or lies inside the margin. A claim resting on an arm whose "
    "best LR is on the edge of its grid cannot tell. The best-LR ratio is that of fitted optima "
    "(a quadratic in log10 LR through the best LR and its neighbours), with a bootstrap interval "
    "over seeds.\n"
    "- **bits bound**: rewards are binary (0/1), so each episode carries at most 1 bit of reward "
    "information; bits bound = episodes x 1 bit.\n"
)


def render(found: Found, out: Path) -> Path:
    """Write report.md and the figures of `found` into `out`; returns the report's path."""
    if not found.finished and not found.failed:
        raise ValueError(f"no finished runs (config.yaml + summary.json) under {found.runs_dir}")
    out.mkdir(parents=True, exist_ok=True)
    md = [*section_header(found), *section_failed(found)]
    if found.finished:
        from grpo_lora.claims import reading_order, section_claims  # they build on this module

        md.append(DEFINITIONS)
        rl = studies(found.finished)
        md += section_claims(found.finished, rl, found.runs_dir, out)
        for study in reading_order(rl):
            md += analyse(study, out)
    else:
        md.append("No finished runs: nothing to analyse.\n")
    path = out / "report.md"
    path.write_text("\n".join(md))
    return path


def write_report(runs_dir: Path, out: Path | None = None) -> Path:
    """Write report.md and the figures (into `out`, default `runs_dir`); returns the report's path."""
    return render(Found.scan(runs_dir), out or runs_dir)


def _closing_sentence(found: Found, path: Path, wall_s: float) -> str:
    """What the report read, what it left out, how long it took and where it is."""
    counts = {
        "unfinished": len(found.unfinished),
        "with an invalid config.yaml": len(found.unreadable),
        "failed": len(found.failed),
    }
    left = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    return (
        f"Report on {len(found.finished)} finished runs of {found.runs_dir} written in "
        f"{wall_s:.1f} s to {path} (figures beside it)" + (f"; left out: {left}." if left else ".")
    )


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
    t0 = time.monotonic()
    found = Found.scan(args.runs_dir)
    try:
        path = render(found, args.out or args.runs_dir)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # the sentence is for a person (stderr); the path stays the last stdout line, for scripts
    print(_closing_sentence(found, path, time.monotonic() - t0), file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
