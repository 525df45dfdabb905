"""The study's claims, answered across its sweeps: the first section of `grpo-lora report`.

The claims of "LoRA Without Regret" (Schulman et al., Thinking Machines 2025) that this miniature
can test, each given a verdict (holds / does not hold / cannot tell) and its effects, each with a
90 % interval over seeds and the margin it is judged against:

  1. rank-1 LoRA matches FullFT in RL;
  2. the best LoRA LR is ~10x FullFT's and nearly independent of rank;
  3. attention-only LoRA trails MLP-only, which is level with all layers;
  4. larger batches hurt LoRA more than FullFT (the same episodes in fewer, larger steps);
  5. in supervised learning low ranks fall behind FullFT, in RL rank 1 keeps up;
and one explanation the earlier tiny study offered without testing it:
  6. rank 1 trails because the 128-wide policy is narrow: the gap closes as the policy widens.

Which finished runs (anywhere under the report's directory) answer which claim:
  main study  the GRPO runs on `tiny` at the batch size with the most runs, over the fewest steps
              run at it: claims 1-3, 5's RL side
  plateau     GRPO runs on the main study's model and batch size over more steps, long enough for
              FullFT to plateau: claims 1-2 are judged there, the main study's verdicts beside them
  width       GRPO runs on `tiny-w<N>` at the main study's batch size: claim 6 (`tiny` is width 128)
  batch       GRPO runs on the main study's model and number of episodes at other batch sizes: 4
  SL          `grpo-lora sft` runs from the same starting policy: claim 5's SL side

Verdicts. Every claim is judged by one rule (`grpo_lora.study.stats`), on the held-out score (GRPO: final held-out
pass@1; SFT: held-out log-loss), each arm at its own best LR (`scores.best_lr`: the argmax of the
seed-averaged held-out score on its selection seeds), judged on its confirmation seeds' runs at
that LR when it has them (`arms.Arm.judged`: a sweep's `confirm_seeds`), so that the seeds that
chose the LR do not judge it; else on the selection seeds, and the verdict says "LR chosen on the
same seeds: winner's curse" (the best of several noisy LRs looks better than it is). The claim's
effect, e.g. LoRA - FullFT held-out pass@1, or a difference of two such gaps (claims 4, 6), is a contrast of seed groups with a 90 % Welch interval,
seeds paired where both arms of a gap ran the same seeds (same data order; across studies, never).
It **matches** when the whole interval lies inside ±margin (the sweep file's `margin`, recorded in
OUT/sweep.json: `Study.margin`, default `stats.MARGIN` = 0.05 pass@1; claim 5's SL side:
`SL_MARGIN_REL` of FullFT's held-out log-loss); **differs** when it excludes 0; else **cannot
tell**. `stats.judge` maps that to the claim, by
its claimed direction: a claim of level (1, 5's RL side, 3's mlp vs all) holds when the effect
matches and does not hold when it differs by more than the margin (point estimate beyond it); a
claimed difference (3's attn below mlp, 4, 5's SL side, 6) holds when the interval excludes 0 on
the claimed side and does not hold when it excludes 0 on the other side or lies inside the margin;
anything else cannot tell, with the seeds an arm at which the observed means and spreads would
settle the claim (`stats.Effect.seeds_to_settle`). A claim with several parts holds when all hold
and does not hold when any does not (`stats.combine`).

A claim resting on an arm whose best LR is the lowest or highest it ran is "cannot tell": that
optimum was not found. Claim 2 measures the best LR: each arm's optimum is the vertex of a
quadratic in log10(LR) through its best grid point and the two neighbours (seed-mean held-out
pass@1 of the selection seeds), with a 90 % bootstrap interval over seeds (`stats.fit_optimum`);
the LoRA/FullFT ratio of fitted optima, with the interval of the paired draws, is "~10x" when that
interval lies within a factor `LR_FACTOR` = 10^0.5 of 10 (one half-decade grid step), and the
LoRA ranks are "rank-independent" when the ratio of the highest rank's optimum to the lowest's lies
within that same factor of 1: both as "level" claims in log10 units (margin 0.5).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from grpo_lora.models import tiny_width
from grpo_lora.study.arms import Arm, gap, group_arms, held_contrast, paired
from grpo_lora.study.curves import gap_opens, gap_series, pointwise_best
from grpo_lora.study.runs import Run, lr_tag, setting_groups
from grpo_lora.study.stats import MARGIN, Effect, combine, fit_optimum, judge, ratio_effect
from grpo_lora.study.studies import Study, common_margin
from grpo_lora.tiny import TinyRecipe

STUDY_LR_RATIO = 10.0  # LoRA Without Regret: best LoRA LR / best FullFT LR ~ 10 (9.8 fitted)
# claim 5's SL margin, relative to FullFT's held-out log-loss: log-losses near the end of SFT are
# small (~0.01-0.02 nats/token on tiny-arith), so a fixed margin in nats would mean nothing
SL_MARGIN_REL = 0.10
LR_FACTOR = 10**0.5  # one step of a half-decade grid: "~10x" is within this factor of 10
PLATEAU_FRACTION = 0.25  # FullFT has plateaued when its last quarter rises less than PLATEAU_RISE
PLATEAU_RISE = 0.02  # of training reward (descriptive: the horizon check, not a claim's verdict)


@dataclass
class Verdict:
    claim: str
    verdict: str  # "holds" | "does not hold" | "cannot tell"
    text: str  # the effects, each as `stats.Effect.text()`

    def sentence(self) -> str:
        return f"**{self.claim}**: **{self.verdict}**. {self.text}"

    def line(self) -> str:
        return f"- {self.sentence()}"


def width_of(model: str) -> int | None:
    """The tiny policy's width named by `model` (`tiny`, `tiny-w<N>`: grpo_lora.models), else None."""
    if model == "tiny":
        return TinyRecipe().width
    return tiny_width(model) if model.startswith("tiny-w") else None


# ---------------------------------------------------------------------------------------------
# Reading the runs


def main_study(rl: list[Study]) -> Study | None:
    """The study on `tiny` (else on any model) at the batch size with the most runs, over the
    fewest steps of that batch size: the equal-budget reference (longer ones are `plateau_study`)."""
    tiny = [s for s in rl if s.runs[0].model == "tiny"] or rl
    if not tiny:
        return None
    runs_at = Counter()
    for s in tiny:
        runs_at[s.runs[0].pps] += len(s.runs)
    pps = max(sorted(runs_at), key=runs_at.get)  # sorted: a tie goes to the smaller batch
    return min((s for s in tiny if s.runs[0].pps == pps), key=lambda s: s.n_steps)


def plateau_study(rl: list[Study], main: Study) -> Study | None:
    """The study on the main study's model and batch size with the most steps, if more than its."""
    model, pps, _ = main.setup
    longer = [s for s in rl if s.setup[:2] == (model, pps) and s.n_steps > main.n_steps]
    return max(longer, key=lambda s: s.n_steps, default=None)


def reading_order(rl: list[Study]) -> list[Study]:
    """The main study, then the plateau study, then the rest as given: the report's sections."""
    main = main_study(rl)
    first = [s for s in (main, main and plateau_study(rl, main)) if s]
    return first + [s for s in rl if all(s is not f for f in first)]


def width_studies(rl: list[Study], main: Study) -> dict[int, Study]:
    """Width -> study, for tiny policies at the main study's batch size and number of steps."""
    _, pps, _ = main.setup
    out = {}
    for s in rl:
        model, p, _ = s.setup
        if (w := width_of(model)) is not None and p == pps and s.n_steps == main.n_steps:
            out[w] = s
    return dict(sorted(out.items()))


def batch_studies(rl: list[Study], main: Study) -> dict[int, Study]:
    """Episodes per step -> study, for the main model at the main study's number of episodes."""
    model, _, episodes = main.setup
    out = {}
    for s in rl:
        m, _, e = s.setup
        if m == model and e == episodes:
            out[e // s.n_steps] = s
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------------------------
# Verdicts


def _edges(*arms: Arm) -> str:
    """ "" when every arm's best LR is inside the LRs it ran, else the sentence saying which is not."""
    at = [a.label for a in arms if a.best_at_edge]
    if not at:
        return ""
    return f"best LR on the edge of the LRs run for {', '.join(at)}: its optimum was not found"


def _seeds(*arms: Arm) -> str:
    """Which seeds judged the arms: `, on confirmation seeds 10,11,12,13`, or the warning that an
    arm's LR was chosen on the seeds that judge it."""
    if all(a.confirmed for a in arms):
        seeds = sorted({s for a in arms for s in a.judged.held_seeds})
        return f", on confirmation seeds {','.join(map(str, seeds))}"
    if not any(a.confirmed for a in arms):
        return " (LR chosen on the same seeds: winner's curse)"
    which = ", ".join(dict.fromkeys(a.label for a in arms if not a.confirmed))
    return f" ({which}: LR chosen on the same seeds: winner's curse)"


def _vs(a: Arm, b: Arm) -> str:
    """`LoRA r=1 (all) (LR 3e-03) - FullFT (LR 3e-04), paired by seed, on confirmation seeds
    10,11,12,13`"""
    how = "paired by seed" if paired(a.judged, b.judged) else "unpaired (Welch)"
    return (
        f"{a.label} (LR {lr_tag(a.best.lr)}) - {b.label} (LR {lr_tag(b.best.lr)}), {how}"
        + _seeds(a, b)
    )


def _ci(e: Effect) -> str:
    """`-0.015 [-0.047, +0.017]`: an effect and its interval, in a row of several."""
    if e.low is None:
        return f"{e.estimate:+.3f} (one seed)"
    return f"{e.estimate:+.3f} [{e.low:+.3f}, {e.high:+.3f}]"


def match_verdict(a: Arm, full: Arm, name: str, margin: float = MARGIN) -> Verdict:
    """`a` is level with `full`: held-out pass@1 a - full at their best LRs, claimed "level"."""
    e = gap(a, full, margin)
    if e is None:
        return Verdict(name, "cannot tell", "no held-out pass@1 at a best LR.")
    text = f"held-out pass@1 {_vs(a, full)}: {e.text('level')}."
    if edge := _edges(a, full):
        return Verdict(name, "cannot tell", f"{text} {edge}.")
    return Verdict(name, judge(e, "level"), text)


def claim_match(main: Study) -> Verdict:
    name = "1. rank-1 LoRA matches FullFT in RL"
    r1, full = main.arm(1), main.arm("full")
    if r1 is None or full is None:
        return Verdict(name, "cannot tell", "needs finished rank-1 and FullFT GRPO runs.")
    return match_verdict(r1, full, name, main.margin)


def _ratio_text(e: Effect, target: float) -> str:
    """`10x [90 % CI 8.1x, 12.3x]` from an effect in log10(ratio / target)."""

    def x(v: float) -> str:
        return f"{target * 10**v:.3g}x"

    return f"{x(e.estimate)} [90 % CI {x(e.low)}, {x(e.high)}]"


def lr_verdict(lora: list[Arm], full: Arm, name: str) -> Verdict:
    """Each LoRA arm's fitted optimum LR is ~10x FullFT's (its ratio "level" with 10 within a
    factor LR_FACTOR, in log10 units), and with two or more ranks, the highest rank's optimum is
    level with the lowest's within that factor (module doc)."""
    opt = {a.label: fit_optimum(a.chosen_by_lr) for a in [full, *lora]}
    missing = [k for k, o in opt.items() if o.log10_lr is None]
    fitted = "; ".join(
        f"{k} {lr_tag(o.lr)} [{lr_tag(10**o.low)}, {lr_tag(10**o.high)}]"
        for k, o in opt.items()
        if o.log10_lr is not None
    )
    text = (
        "fitted optimum LR (vertex of a quadratic in log10 LR through the best LR and its "
        "neighbours, seed-mean held-out pass@1; 90 % bootstrap interval over seeds): "
        + (fitted or "none")
        + "."
    )
    if missing:
        why = "; ".join(
            f"{k}: " + ("fewer than 3 LRs" if len(a.cells) < 3 else "best LR on the grid's edge")
            for k, a in ((a.label, a) for a in [full, *lora])
            if k in missing
        )
        return Verdict(name, "cannot tell", f"{text} No optimum fitted for {why}.")
    parts, verdicts = [], []
    for a in lora:
        e = ratio_effect(opt[a.label], opt[full.label], STUDY_LR_RATIO, LR_FACTOR)
        verdicts.append(judge(e, "level"))
        parts.append(
            f"{a.label} / FullFT {_ratio_text(e, STUDY_LR_RATIO)}, log10(ratio / "
            f"{STUDY_LR_RATIO:g}) {e.text('level')}"
        )
    if len(lora) > 1:
        lo, hi = min(lora, key=lambda a: a.rank), max(lora, key=lambda a: a.rank)
        e = ratio_effect(opt[hi.label], opt[lo.label], 1.0, LR_FACTOR)
        verdicts.append(judge(e, "level"))
        parts.append(
            f"rank independence, {hi.label} / {lo.label} {_ratio_text(e, 1.0)}, log10 ratio "
            f"{e.text('level')}"
        )
    text += " Ratios (margin: a factor 10^0.5 ≈ 3.16): " + "; ".join(parts) + "."
    return Verdict(name, combine(verdicts), text)


def claim_lr(main: Study) -> Verdict:
    name = "2. best LoRA LR ~10x FullFT's, nearly rank-independent"
    full = main.arm("full")
    lora = [a for a in main.lora_main if a.best is not None]
    if full is None or not lora:
        return Verdict(name, "cannot tell", "needs finished LoRA and FullFT GRPO runs.")
    return lr_verdict(lora, full, name)


def at_horizons(claim, main: Study, long: Study | None) -> Verdict:
    """`claim` judged on the plateau study `long` (FullFT had the steps to level off there), with
    its verdict on the main study's shorter horizon beside it; on the main study alone without one."""
    short = claim(main)
    if long is None:
        return short
    v = claim(long)
    return Verdict(
        v.claim,
        v.verdict,
        f"At {long.n_steps} steps: {v.text} At {main.n_steps} steps: {short.verdict}; {short.text}",
    )


def targets_verdict(rank, group: list[Arm], name: str, margin: float = MARGIN) -> Verdict:
    """At one rank, attention-only trails MLP-only (attn - mlp, claimed "down") and MLP-only is
    level with all layers (mlp - all, claimed "level")."""
    have = {a.targets: a for a in group if a.best is not None}
    if not {"all", "mlp", "attn"} <= set(have):
        return Verdict(name, "cannot tell", "needs all, mlp and attn arms at one rank.")
    al, mlp, attn = have["all"], have["mlp"], have["attn"]
    e_attn, e_mlp = gap(attn, mlp, margin), gap(mlp, al, margin)
    if e_attn is None or e_mlp is None:
        return Verdict(name, "cannot tell", "no held-out pass@1 at a best LR.")
    v_attn, v_mlp = judge(e_attn, "down"), judge(e_mlp, "level")
    text = (
        f"rank {rank}, held-out pass@1 at each one's best LR: {_vs(attn, mlp)}: {e_attn.text('down')} "
        f"(claimed below 0: {v_attn}); {_vs(mlp, al)}: {e_mlp.text('level')} (claimed level: {v_mlp})."
    )
    if edge := _edges(al, mlp, attn):
        return Verdict(name, "cannot tell", f"{text} {edge}.")
    return Verdict(name, combine([v_attn, v_mlp]), text)


def claim_targets(main: Study) -> Verdict:
    name = "3. attention-only LoRA trails MLP-only, which matches all layers"
    groups = main.multi_target
    rank = min(groups, default=None)
    return targets_verdict(rank, groups.get(rank, []), name, main.margin)


def _gap_change(
    studies: dict[int, Study], rank, margin: float = MARGIN
) -> tuple[list[str], Effect, list[Arm]] | None:
    """Rank `rank`'s held-out gap to FullFT in each study (keyed by width or batch), and how it
    changes from the first key to the last, as one contrast: (rows, change, arms). Seeds are
    paired within a study, never across studies (another batch size is another data order)."""
    rows, pairs, arms = [], [], []
    for key, s in studies.items():
        a, full = s.arm(rank), s.arm("full")
        if a is None or full is None or (e := gap(a, full, margin)) is None:
            return None
        rows.append(f"{key}: {_ci(e)}")
        pairs.append((a.judged, full.judged))
        arms += [a, full]
    (a1, f1), (a0, f0) = pairs[-1], pairs[0]
    return rows, held_contrast([(a1, f1, 1.0), (a0, f0, -1.0)], margin), arms


def claim_batch(batch: dict[int, Study]) -> Verdict:
    name = "4. larger batches hurt LoRA more than FullFT"
    if len(batch) < 2:
        return Verdict(
            name,
            "cannot tell",
            "needs GRPO runs at two or more batch sizes with the "
            "same number of episodes (recipes/study/batch_*.yaml).",
        )
    parts, verdicts, edges = [], [], []
    lo, hi = min(batch), max(batch)
    ranks = sorted({a.rank for s in batch.values() for a in s.lora_main}, key=str)
    for rank in ranks:
        got = _gap_change(batch, rank, common_margin(batch.values()))
        if got is None:
            continue
        rows, change, arms = got
        v = judge(change, "down")
        parts.append(
            f"rank {rank}, held-out pass@1 gap to FullFT by episodes a step{_seeds(*arms)}: "
            f"{'; '.join(rows)}; from {lo} to {hi} it changes by {change.text('down')} "
            f"(claimed below 0: {v})"
        )
        verdicts.append(v)
        if edge := _edges(*arms):
            edges.append(edge)
    if not parts:
        return Verdict(name, "cannot tell", "no LoRA rank ran at every batch size with FullFT.")
    text = "; ".join(parts) + "."
    if edges:
        return Verdict(name, "cannot tell", f"{text} {'; '.join(sorted(set(edges)))}.")
    return Verdict(name, combine(verdicts), text)


def claim_width(width: dict[int, Study]) -> Verdict:
    name = "6. the rank-1 gap closes as the policy widens"
    if len(width) < 2:
        return Verdict(
            name,
            "cannot tell",
            "needs GRPO runs on two or more widths (recipes/study/width_*.yaml).",
        )
    got = _gap_change(width, 1, common_margin(width.values()))
    if got is None:
        return Verdict(name, "cannot tell", "needs rank-1 and FullFT runs at every width.")
    rows, change, arms = got
    v = judge(change, "up")
    text = (
        f"rank-1 held-out pass@1 gap to FullFT by width{_seeds(*arms)}: {'; '.join(rows)}; from "
        f"width {min(width)} to {max(width)} it changes by {change.text('up')} (claimed above 0)."
    )
    if edge := _edges(*arms):
        return Verdict(name, "cannot tell", f"{text} {edge}.")
    return Verdict(name, v, text)


def claim_sl_rl(sl: dict[tuple, Arm], main: Study | None) -> Verdict:
    name = "5. low ranks fall behind FullFT in SL but not in RL"
    full_sl = sl.get(("full", None))
    r1_sl = sl.get((1, "all"))
    if full_sl is None or r1_sl is None or full_sl.best is None or r1_sl.best is None:
        return Verdict(
            name,
            "cannot tell",
            "needs rank-1 and FullFT `grpo-lora sft` runs (recipes/study/sft.yaml).",
        )
    r1, full = (main.arm(1), main.arm("full")) if main else (None, None)
    if r1 is None or full is None:
        return Verdict(name, "cannot tell", "needs the rank-1 and FullFT GRPO runs too.")
    if not full_sl.judged.held:
        return Verdict(name, "cannot tell", "no held-out log-loss at FullFT's best LR.")
    full_loss = -statistics.fmean(full_sl.judged.held)
    # held = -(log-loss): FullFT's minus rank 1's is rank 1's log-loss minus FullFT's
    sl_e = gap(full_sl, r1_sl, SL_MARGIN_REL * full_loss)
    rl_e = gap(r1, full, main.margin)
    if sl_e is None or rl_e is None:
        return Verdict(name, "cannot tell", "no held-out score at a best LR.")
    v_sl, v_rl = judge(sl_e, "up"), judge(rl_e, "level")
    text = (
        f"SL: held-out log-loss, rank 1 (LR {lr_tag(r1_sl.best.lr)}) - FullFT (LR "
        f"{lr_tag(full_sl.best.lr)}, {full_loss:.4f} nats/token), margin {SL_MARGIN_REL:.0%} of "
        f"FullFT's: {sl_e.text('up', 4)} (claimed above 0: {v_sl}); RL: held-out pass@1 {_vs(r1, full)}: "
        f"{rl_e.text('level')} (claimed level: {v_rl})."
    )
    if edge := _edges(r1_sl, full_sl, r1, full):
        return Verdict(name, "cannot tell", f"{text} {edge}.")
    return Verdict(name, combine([v_sl, v_rl]), text)


def plateau(study: Study) -> str:
    """Whether FullFT's pointwise best over LRs has levelled off: the rise of its least-squares line
    over the last quarter of the steps (a line, so that one noisy step at either end cannot decide)."""
    full = study.arm("full")
    if full is None:
        return "FullFT plateau: no FullFT runs."
    pb = pointwise_best(full, study.window)
    last = sorted(pb)[-max(2, round(len(pb) * PLATEAU_FRACTION)) :]
    if len(last) < 2 or len(pb) < 4:
        return "FullFT plateau: too few steps to tell."
    slope = statistics.linear_regression(last, [pb[s][0] for s in last]).slope
    rise = slope * (last[-1] - last[0])
    flat = "has plateaued" if rise < PLATEAU_RISE else "had NOT plateaued"
    return (
        f"FullFT {flat} by step {last[-1]}: its pointwise best over LRs (smoothed over "
        f"{study.window} steps) changed by {rise:+.3f} over steps {last[0]}-{last[-1]} (least-squares "
        f"line; plateau = a rise under {PLATEAU_RISE} over the last {PLATEAU_FRACTION:.0%} of the "
        "steps)."
    )


# ---------------------------------------------------------------------------------------------
# Every claim, and each study's own


@dataclass
class Evidence:
    """The studies and arms that answer the claims (the module doc: which runs answer which)."""

    main: Study | None
    plateau: Study | None  # the main study over more steps (`plateau_study`)
    width: dict[int, Study]  # `width_studies`
    batch: dict[int, Study]  # `batch_studies`
    sl: dict[tuple, Arm]  # the SFT arms


def evidence(runs: list[Run], rl: list[Study]) -> Evidence:
    """Which of `runs` (and of their GRPO studies `rl`) answer which claim."""
    main = main_study(rl)
    # SFT arms: their cells' rewards are -(held-out log-loss) (`scores.final_score`); of SFT runs
    # with other settings, those on the main study's model, the most numerous setting
    sft = setting_groups([r for r in runs if r.command == "sft"])
    on_model = [g for g in sft if main is None or g[0].model == main.runs[0].model]
    sl = group_arms(max(on_model, key=len, default=[]))
    width = width_studies(rl, main) if main else {}
    batch = batch_studies(rl, main) if main else {}
    long = plateau_study(rl, main) if main else None
    return Evidence(main, long, width, batch, sl)


def answers(ev: Evidence) -> list[Verdict]:
    """Each claim's verdict, in the module doc's order."""
    main, long = ev.main, ev.plateau
    none = Verdict("", "cannot tell", "needs GRPO runs.")
    return [
        at_horizons(claim_match, main, long) if main else none,
        at_horizons(claim_lr, main, long) if main else none,
        claim_targets(main) if main else none,
        claim_batch(ev.batch),
        claim_sl_rl(ev.sl, main),
        claim_width(ev.width),
    ]


def study_verdicts(study: Study) -> list[str]:
    """One study's claims, each judged by this module's functions on held-out scores (one rule:
    `stats.judge`): each LoRA rank against FullFT, its fitted best-LR ratio, targets at equal
    rank; then the capacity argument (descriptive)."""
    full = study.full
    if full is None:
        out = ["No finished FullFT runs: nothing to compare LoRA against."]
    else:
        arms = [a for a in study.lora_main if a.best is not None]
        out = [
            match_verdict(
                a,
                full,
                f"{a.label} level with FullFT" + (" (claim 1)" if a.rank == 1 else ""),
                study.margin,
            ).sentence()
            for a in arms
        ]
        out += [
            lr_verdict([a], full, f"Best LR ratio, {a.label} (claim 2: ~10x)").sentence()
            for a in arms
        ]
    out += [
        targets_verdict(rank, group, f"Targets at rank {rank} (claim 3)", study.margin).sentence()
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
    steps, xs, gaps = gap_series(a, full, window)
    if not xs:
        return None
    opens = gap_opens(steps, xs, gaps, tol)
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
