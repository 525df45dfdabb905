"""The report's sections: each returns its markdown (a list of blocks) and writes its figures into
`out`. First what was read (`section_header`), then the claims across studies (`section_claims`),
then each study's own sections in reading order (`analyse`: summary, (a)-(f))."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from grpo_lora.study.arms import Arm
from grpo_lora.study.claims import answers, evidence, plateau, study_verdicts
from grpo_lora.study.curves import episodes_curve, gap_series, signal_share
from grpo_lora.study.figures import (
    arm_colors,
    fig_capacity,
    fig_cost,
    fig_curves,
    fig_lr,
    fig_setting,
    fig_sl_rl,
    fig_targets,
)
from grpo_lora.study.runs import Found, Run, is_number, lr_tag, train_step_s
from grpo_lora.study.studies import Study
from grpo_lora.study.tables import (
    BEST_HEADER,
    best_cols,
    capacity_run_table,
    fmt_int,
    fmt_num,
    fmt_pm,
    fmt_ratio,
    fmt_times,
    per_lr_table,
    plural,
    section_sl_table,
    section_table,
    section_walls,
    table,
)


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
            f"; {plural(len(failed), 'failed point')} left out (see Failed points)"
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


# ---------------------------------------------------------------------------------------------
# Each study


def section_summary(study: Study) -> list[str]:
    """The verdicts first: the reader wants the answer, then the evidence."""
    head = f'## Summary: agreement with "LoRA Without Regret"{study.heading}\n'
    starts = [v for r in study.runs if is_number(v := r.summary.get("eval_pass1_start"))]
    if starts:  # where the runs began: a study's rewards only compare with its own start
        head += (
            f"\nHeld-out pass@1 before training: {statistics.fmean(starts):.3f} "
            f"(mean of `eval_pass1_start` over {len(starts)} runs).\n"
        )
    return [head, *(f"- {v}" for v in study_verdicts(study)), ""]


def section_lr(study: Study, out: Path) -> list[str]:
    """(a) final reward and pass@1 vs LR: the figure, then both as tables over every arm."""
    h, name, arms = study.heading, study.figure("fig_lr"), list(study.arms.values())
    fig_lr(study.main_arms, arm_colors(arms), out / name, f"Final reward and pass@1 vs LR{h}")
    return [
        f"## (a) Final reward and held-out pass@1 vs learning rate{h}\n",
        f"![final reward vs LR]({name})\n",
        "Final reward, mean ± sd over seeds, per LR:\n",
        per_lr_table(arms, lambda c: fmt_pm(c.reward) + f" (n={len(c.rewards)})"),
        "\nFinal held-out pass@1, mean ± sd over seeds, per LR:\n",
        per_lr_table(arms, lambda c: fmt_pm(c.p1)),
    ]


def section_curves(study: Study, out: Path) -> list[str]:
    """(b) reward vs step at each rank's best LR."""
    h, name = study.heading, study.figure("fig_curves")
    colors = arm_colors(list(study.arms.values()))
    fig_curves(study.main_arms, colors, study.window, out / name, f"Reward vs step{h}")
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
    rows = [best_cols(a) for group in groups.values() for a in group if a.best]
    return [*md, f"![targets]({name})\n", table(BEST_HEADER, rows)]


def _capacity_over_steps(study: Study, full: Arm, out: Path) -> list[str]:
    """Each LoRA arm's gap to FullFT at the quarters of its run, and the figure over all steps."""
    rows, gaps, tol = [], {}, study.margin
    colors = arm_colors(list(study.arms.values()))
    for a in study.arms.values():
        if a.rank == "full" or a.best is None:
            continue
        steps, xs, gs = gap_series(a, full, study.window)
        if not xs:
            continue
        ls = "-" if a.targets == study.main_targets else "--"
        gaps[f"{a.label}, {a.params:,} params"] = (xs, gs, colors[(a.rank, a.targets)], ls)
        eps = episodes_curve(a.best.runs)
        quarters = (0.25, 0.5, 0.75, 1.0)  # of the steps; a short run has fewer than four
        for i in sorted({max(0, math.ceil(q * len(steps)) - 1) for q in quarters}):
            s = steps[i]
            e = fmt_int(eps.get(s))
            rows.append(
                [a.label, lr_tag(a.best.lr), str(s), e, e, fmt_ratio(xs[i]), f"{gs[i]:+.3f}"]
            )
    header = ["arm", "LR", "step", "episodes", "bits bound", "bits/params", "gap to FullFT"]
    md = [
        "\nOver steps, each LoRA arm at its best LR against FullFT at its best LR "
        f"(gap = smoothed LoRA reward - FullFT reward, moving avg {study.window}):\n",
        table(header, rows),
    ]
    if gaps:
        name = study.figure("fig_capacity")
        title = f"Reward gap to FullFT vs signal/parameters{study.heading}"
        fig_capacity(gaps, out / name, title, tol)
        md.append(f"\n![capacity]({name})\n")
    return md


CAPACITY_INTRO = (
    "Rewards are binary (0/1), so each episode carries at most 1 bit of reward information: the "
    "bits bound is episodes x 1 bit. It is an upper bound; a group whose completions all get the "
    "same reward has zero advantage and gives nothing, so the tighter column drops those "
    "(`reward/zero_signal_frac`). The study's argument: LoRA falls behind FullFT only once the "
    "signal outgrows what its parameters can hold (its example: 10k problems x 32 samples ~ 320k "
    "bits against ~3M rank-1 parameters on Llama-3.1-8B).\n"
)


def section_capacity(study: Study, out: Path) -> list[str]:
    """(e) the signal each run got against the parameters it trains, and the gap to FullFT."""
    md = [
        f"\n## (e) Capacity accounting{study.heading}\n",
        CAPACITY_INTRO,
        "Per run:\n",
        capacity_run_table(study),
    ]
    if study.full is None:
        return [*md, "\nNo FullFT runs, so no gap to FullFT.\n"]
    return md + _capacity_over_steps(study, study.full, out)


def _arm_cost(a: Arm) -> tuple[float | None, float | None]:
    """(median train step seconds, peak MB) over every step of every run of the arm; a packed
    run's steps are its pack's, so each counts 1/pack size (the machine time of one point's step)."""
    times = [
        t / r.pack_size
        for r in a.runs
        for s in r.train_steps
        if (t := train_step_s(r.rows[s])) is not None
    ]
    mems = [max(m.values()) for r in a.runs if (m := r.series("memory/peak_mb"))]
    return (statistics.median(times) if times else None), (max(mems) if mems else None)


def section_cost(study: Study, out: Path) -> list[str]:
    """(f) step time and peak memory per arm, and each against FullFT's."""
    colors = arm_colors(list(study.arms.values()))
    cost = [(a.label, *_arm_cost(a), colors[(a.rank, a.targets)]) for a in study.arms.values()]
    full = study.arms.get(("full", None))
    ref_t, ref_m = _arm_cost(full) if full is not None else (None, None)
    rows = [
        [label, fmt_num(t, 3), fmt_times(t, ref_t), fmt_num(m, 0), fmt_times(m, ref_m)]
        for label, t, m, _ in cost
    ]
    name = study.figure("fig_cost")
    fig_cost(cost, out / name, f"Cost per rank{study.heading}")
    return [
        f"\n## (f) Step time and peak memory{study.heading}\n",
        "Step time: median over all training steps of all runs of the arm of `time/step_s`, less "
        "`time/eval_s` on the steps that ran a held-out evaluation; a packed run's step (its "
        "pack's, `grpo-lora sweep --pack`) divided by the points in the pack. Peak memory: max "
        "`memory/peak_mb` (on a GPU, allocated GPU memory; on a CPU, the trainer process's peak "
        "RSS, its in-process engine included).\n",
        table(["arm", "step time (s)", "vs FullFT", "peak memory (MB)", "vs FullFT"], rows),
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
# The claims, across studies


def section_claims(runs: list[Run], rl: list[Study], root: Path, out: Path) -> list[str]:
    """Each claim's verdict with its numbers (`claims.answers`), the studies that answer them, each
    sweep's wall time (under `root`), then the width, batch and SL-vs-RL figures."""
    ev = evidence(runs, rl)
    md = ["## The claims, one by one\n", *(v.line() for v in answers(ev)), ""]
    for kind, study in (("Main study", ev.main), ("Plateau study (claims 1-2)", ev.plateau)):
        if study:
            model, pps, episodes = study.setup
            md.append(
                f"{kind}: {model}, {pps} prompts x {study.runs[0].config.data.group_size} "
                f"completions a step, {study.n_steps} steps ({episodes:,} episodes a run). "
                + plateau(study)
                + "\n"
            )
    md += section_walls(root, runs)
    if len(ev.width) >= 2:
        title = "Width: rank-1 LoRA against FullFT, each at its best LR"
        path = out / "fig_width.png"
        fig_setting(ev.width, [1, "full"], path, "policy width (hidden size)", title)
        md.append("\n### Width\n\n![width](fig_width.png)\n")
    if len(ev.batch) >= 2:
        ranks = [*sorted({a.rank for s in ev.batch.values() for a in s.lora_main}), "full"]
        xlabel = "episodes a step (prompts x group), the same episodes in all"
        title = "Batch size: each arm at its best LR"
        fig_setting(ev.batch, ranks, out / "fig_batch.png", xlabel, title)
        md.append("\n### Batch size\n\n![batch](fig_batch.png)\n")
    if ev.main and any(a.best for a in ev.sl.values()):
        md += section_sl_rl(ev.sl, ev.main, out)
    return md


def section_sl_rl(sl: dict[tuple, Arm], main: Study, out: Path) -> list[str]:
    """SL against RL from the same starting policy: the figure, each arm's signal per parameter
    against its share of FullFT's held-out gain, and the SL log-loss per LR."""
    sl_main = [a for a in sl.values() if a.best is not None and a.targets in (None, "all")]
    rl_main = [a for a in main.main_arms if a.best is not None]
    shares = []
    for kind, arms, full in (
        ("SL", sl_main, sl.get(("full", None))),
        ("RL", rl_main, main.arm("full")),
    ):
        if full is None or full.best is None:
            continue
        for a in arms:
            if (got := signal_share(a, full, kind == "SL")) is not None:
                shares.append((kind, a, *got))
    fig_sl_rl(sl_main, rl_main, shares, main.window, out / "fig_sl_rl.png")
    rows = [[kind, a.label, f"{a.params:,}", f"{x:.3g}", f"{y:.3f}"] for kind, a, x, y in shares]
    return [
        "\n### Supervised learning against RL\n\n![SL vs RL](fig_sl_rl.png)\n",
        "Signal per parameter: RL = episodes x 1 bit (binary rewards); SL = completion tokens "
        "x the start held-out log-loss in bits (what the demonstrations can still tell the "
        "starting policy). Share = the arm's held-out gain (SL: log-loss fall; RL: pass@1 "
        "rise) over FullFT's.\n",
        table(["", "arm", "trainable params", "bits / params", "share of FullFT's gain"], rows),
        *section_sl_table(sl),
    ]
