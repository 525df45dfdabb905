"""The rounds a sweep adds once its grid has run, each derived from the finished runs alone (so a
re-launch derives the same ones): extension rounds (`lr_grid.extend`), one more LR beyond an arm's
best when that best is the lowest or highest LR it ran, and the confirmation round
(`confirm_seeds`), each arm's chosen LR on fresh seeds. The sweep file's documentation
(`grpo_lora.study.sweep_file`) says what they are for."""

from __future__ import annotations

import json
from pathlib import Path

from grpo_lora.study.runs import SWEEP_RECORD, lr_tag, read_run, status_of
from grpo_lora.study.scores import best_lr, choice_scores, final_score, grid_edge, selection_score
from grpo_lora.study.sweep_file import Point, Rank, SweepFile, make_point

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
    best LR (`scores.best_lr`, as the report picks it) is the lowest or highest it has run
    (`scores.grid_edge`) and that has passed that edge of its base grid fewer than
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
    (`scores.choice_scores`: a GRPO run's held-out pass@1, an SFT run's -(validation log-loss); the
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
    (`scores.best_lr`, as the report chooses it, on `seeds`) is inside the LRs it ran, one point at
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
