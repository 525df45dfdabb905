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

The report is built in layers, each importing only those below it: the runs (`runs.Run`), their
scores (`scores`), arms (`arms.Arm`: one rank and targets over its LRs), curves, the numbers of each
set of comparable runs (`studies.Study`, one per prompts_per_step), the verdicts drawn from them
(`claims`), tables and figures (`tables`, `figures.fig_*`), then one function per section
(`sections.section_*`), which this module assembles into report.md.

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
over seeds, judged against an equivalence margin (`grpo_lora.study.stats`: Welch's interval, seeds paired
when both arms ran the same ones; `stats.judge`); the verdict functions are `grpo_lora.study.claims`'s.
The margin is the sweep's (`margin` in its sweep file, recorded in OUT/sweep.json; `stats.MARGIN`
without a record; the smallest when a study's runs come from sweeps that differ).
"""

from __future__ import annotations

from pathlib import Path

from grpo_lora.study.claims import reading_order
from grpo_lora.study.runs import Found
from grpo_lora.study.sections import analyse, section_claims, section_header
from grpo_lora.study.stats import MARGIN
from grpo_lora.study.studies import studies
from grpo_lora.study.tables import section_failed

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
    "excludes 0, else **cannot tell**. A claim that two arms are level holds when they match and "
    "does not hold when they differ by more than the margin; a claimed difference holds when its "
    "interval excludes 0 on the claimed side and does not hold when it excludes 0 on the other or "
    "lies inside the margin. A claim that cannot tell comes with the seeds an arm at which, with "
    "the observed means and spreads, it would be settled (a gap inside the margin settles only "
    "when the whole interval fits in it). A claim resting on an arm whose "
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
