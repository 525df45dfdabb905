"""Arms: finished runs grouped by rank and targets, then by learning rate. An arm's best LR is chosen
on its selection seeds and judged on its confirmation seeds; the held-out contrasts between arms
are what every verdict is judged on."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from grpo_lora.study.runs import Run, is_number
from grpo_lora.study.scores import (
    best_lr,
    choice_scores,
    final_pass1,
    final_score,
    grid_edge,
    heldout_score,
    selection_score,
)
from grpo_lora.study.stats import MARGIN, Effect, contrast


def mean_sd(vals: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample sd; None for what one value (sd) or none (both) cannot give."""
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
        return mean_sd(self.rewards)

    @property
    def p1(self) -> tuple[float | None, float | None]:
        return mean_sd(self.pass1)

    @property
    def score(self) -> tuple[float | None, float | None]:
        return mean_sd(self.held)


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


def gap(a: Arm, b: Arm, margin: float = MARGIN) -> Effect | None:
    """a - b held-out score, each at its best LR, on the runs that judge it (`Arm.judged`: its
    confirmation seeds when it has them), seeds paired where both ran the same."""
    return held_contrast([(a.judged, b.judged, 1.0)], margin)
