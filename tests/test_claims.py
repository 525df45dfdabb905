"""grpo_lora.study.claims on a hand-built study (GRPO runs at three widths and two batch sizes, and SFT
runs), whose verdicts are worked out below by hand."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml

from grpo_lora.study import claims, report, runs
from grpo_lora.study.arms import group_arms
from grpo_lora.study.studies import Study, studies

G = 8
# (prompts_per_step, steps): the main batch, 4x larger with the same 1,280 episodes, and the main
# batch over twice the steps (the plateau study)
MAIN, LARGE, LONG = (8, 20), (32, 5), (8, 40)
LORA_LRS, FULL_LRS = (1e-3, 3.16e-3, 1e-2), (1e-4, 3.16e-4, 1e-3)  # half-decade grids

# model, (P, steps) -> arm -> held-out pass@1 per LR (LORA_LRS or FULL_LRS), each seed's pair (the
# runs' final reward too). Every arm ran seeds 0 and 1, so its gap to FullFT is paired by seed: a
# group of two per-seed differences, df 1, t_{0.95, 1} = 6.313752, half-width 6.313752 * sd / sqrt 2.
#   main (20 steps): every best LR is the middle one. r1 - FullFT: diffs (-0.02, -0.01), -0.015,
#         se 0.005, half 0.0316: [-0.047, +0.017] inside ±0.05: matches, claim 1 holds at 20 steps.
#         Every arm's neighbours are equal, so its fitted optimum is the grid's geometric middle
#         (10^-3.5 FullFT, 10^-2.5 LoRA) whatever the middle's seeds: ratios exactly 10 (claim 2).
#         attn - mlp: diffs (-0.08, -0.10), -0.090 [-0.153, -0.027], below 0; mlp - all: diffs
#         (0.00, -0.01), -0.005 [-0.037, +0.027], matches: claim 3 holds.
#   plateau (40 steps): r1 - FullFT -0.10 at both seeds: [-0.100, -0.100], beyond the margin:
#         claim 1 does not hold where it is judged; ratios 10 again (claim 2 holds there).
#   widths: r1 - FullFT at 64: -0.10 (no spread); at 256: diffs (-0.02, 0.00), -0.010, se 0.01.
#         Change 256 - 64 = +0.090, se 0.01, df 1: [+0.027, +0.153], above 0: claim 6 holds.
#   batch: at 256 episodes a step r1 - FullFT -0.15, r16 -0.10 (no spread); at 64 r1 -0.015 (se
#         0.005), r16 diffs (+0.01, -0.01), 0.000 (se 0.01). Changes: r1 -0.135 [-0.167, -0.103],
#         r16 -0.100 [-0.163, -0.037]: both below 0, claim 4 holds.
RL = {
    ("tiny", MAIN): {
        ("full", None): [(0.60, 0.60), (0.70, 0.72), (0.60, 0.60)],
        (1, "all"): [(0.60, 0.60), (0.68, 0.71), (0.60, 0.60)],
        (16, "all"): [(0.60, 0.60), (0.71, 0.71), (0.60, 0.60)],
        (1, "mlp"): [(0.60, 0.60), (0.68, 0.70), (0.60, 0.60)],
        (1, "attn"): [(0.50, 0.50), (0.60, 0.60), (0.40, 0.40)],
    },
    ("tiny", LONG): {
        ("full", None): [(0.70, 0.70), (0.80, 0.80), (0.70, 0.70)],
        (1, "all"): [(0.60, 0.60), (0.70, 0.70), (0.60, 0.60)],
        (16, "all"): [(0.70, 0.70), (0.75, 0.75), (0.70, 0.70)],
    },
    ("tiny-w64", MAIN): {
        ("full", None): [(0.60, 0.60), (0.70, 0.70), (0.50, 0.50)],
        (1, "all"): [(0.50, 0.50), (0.60, 0.60), (0.40, 0.40)],
    },
    ("tiny-w256", MAIN): {
        ("full", None): [(0.70, 0.70), (0.80, 0.80), (0.60, 0.60)],
        (1, "all"): [(0.70, 0.70), (0.78, 0.80), (0.60, 0.60)],
    },
    ("tiny", LARGE): {
        ("full", None): [(0.60, 0.60), (0.70, 0.70), (0.50, 0.50)],
        (1, "all"): [(0.50, 0.50), (0.55, 0.55), (0.40, 0.40)],
        (16, "all"): [(0.50, 0.50), (0.60, 0.60), (0.40, 0.40)],
    },
}
# SFT on tiny: final held-out log-loss per LR, each seed's. FullFT best 0.305 at 3.16e-4, r1 0.41 at
# 3.16e-3: rank 1 behind by diffs (0.10, 0.11), +0.105 [+0.073, +0.137], above 0 (margin 10 % of
# 0.305 = 0.0305), while in RL it is level (claim 1 at 20 steps): claim 5 holds.
SL = {
    ("full", None): [(0.35, 0.35), (0.30, 0.31), (0.33, 0.33)],
    (1, "all"): [(0.45, 0.45), (0.40, 0.42), (0.50, 0.50)],
    (16, "all"): [(0.36, 0.36), (0.31, 0.31), (0.40, 0.40)],
}
SL_START = 0.80


def _config(d: Path, model, pps, steps, rank, targets, lr, seed) -> None:
    lora = {"rank": rank} | ({} if rank == "full" else {"targets": targets})
    cfg = {
        "seed": seed,
        "model": {"path": model},
        "lora": lora,
        "optimizer": {"lr": lr},
        "data": {"prompts_per_step": pps, "group_size": G},
        "schedule": {"steps": steps},
    }
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    params = 500_000 if rank == "full" else 5_900 * rank
    (d / "manifest.json").write_text(json.dumps({"trainable_params": params}))


def _rl_run(d: Path, model, batch, rank, targets, lr, seed, final) -> None:
    pps, steps = batch
    _config(d, model, pps, steps, rank, targets, lr, seed)
    rows = [{"step": 0, "eval/pass1": 0.2}]
    for t in range(1, steps + 1):  # rises linearly to `final` at half the steps, then flat
        r = min(final, 0.2 + (final - 0.2) * t / (0.5 * steps))
        rows.append({"step": t, "episodes": t * pps * G, "reward/mean": r})
    rows[-1]["eval/pass1"] = final
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = {"steps": steps, "eval_pass1_start": 0.2, "eval_pass1_end": final}
    (d / "summary.json").write_text(json.dumps(summary))


def _sl_run(d: Path, rank, targets, lr, seed, final) -> None:
    _config(d, "tiny", 8, 10, rank, targets, lr, seed)
    rows = [{"step": 0, "eval/logloss": SL_START}]
    rows += [{"step": t, "sft/loss": 0.5, "sft/tokens": 100} for t in range(1, 11)]
    rows[-1]["eval/logloss"] = final
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = {"command": "sft", "steps": 10, "eval_logloss_start": SL_START}
    (d / "summary.json").write_text(json.dumps(summary | {"eval_logloss_end": final}))


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("study")
    i = 0
    for (model, batch), arms in RL.items():
        for (rank, targets), per_lr in arms.items():
            lrs = FULL_LRS if rank == "full" else LORA_LRS
            for lr, finals in zip(lrs, per_lr):
                for seed, final in enumerate(finals):
                    _rl_run(
                        root / "rl" / f"run{i:03d}", model, batch, rank, targets, lr, seed, final
                    )
                    i += 1
    for (rank, targets), per_lr in SL.items():
        lrs = FULL_LRS if rank == "full" else LORA_LRS
        for lr, finals in zip(lrs, per_lr):
            for seed, final in enumerate(finals):
                _sl_run(root / "sl" / f"run{i:03d}", rank, targets, lr, seed, final)
                i += 1
    times = [{"wall_s": 600.0, "finished": 30}, {"wall_s": 300.0, "finished": 4}]
    (root / "rl" / "sweep_times.jsonl").write_text("".join(json.dumps(t) + "\n" for t in times))
    return root


@pytest.fixture(scope="module")
def verdicts(study_dir) -> dict[str, claims.Verdict]:
    finished = runs.load_runs(study_dir)[0]
    rl = studies(finished)
    main = claims.main_study(rl)
    long = claims.plateau_study(rl, main)
    sl = group_arms([r for r in finished if r.command == "sft"])
    out = [
        claims.at_horizons(claims.claim_match, main, long),
        claims.at_horizons(claims.claim_lr, main, long),
        claims.claim_targets(main),
        claims.claim_batch(claims.batch_studies(rl, main)),
        claims.claim_sl_rl(sl, main),
        claims.claim_width(claims.width_studies(rl, main)),
    ]
    return {v.claim[0]: v for v in out}


def test_sft_runs_are_not_grpo_studies(study_dir):
    rl = studies(runs.load_runs(study_dir)[0])
    # tiny at P8 over 20 and 40 steps and at P32, tiny-w64, tiny-w256: the SFT runs (tiny, P8,
    # 10 steps) joined none of them
    assert sorted((s.runs[0].model, s.runs[0].pps, s.n_steps, len(s.runs)) for s in rl) == [
        ("tiny", 8, 20, 30),
        ("tiny", 8, 40, 18),
        ("tiny", 32, 5, 18),
        ("tiny-w256", 8, 20, 12),
        ("tiny-w64", 8, 20, 12),
    ]
    assert [s.suffix for s in rl if s.runs[0].model == "tiny"] == [
        "_tiny_p8_s20",
        "_tiny_p8_s40",
        "_tiny_p32_s5",
    ]


def test_rank1_match_is_judged_where_fullft_plateaued(verdicts):
    v = verdicts["1"]
    assert v.verdict == "does not hold"  # at 40 steps; at 20 it held
    at_40, at_20 = v.text.split(" At 20 steps: ")
    assert at_40 == (
        "At 40 steps: held-out pass@1 LoRA r=1 (all) (LR 3.16e-03) - FullFT (LR 3.16e-04), paired "
        "by seed (LR chosen on the same seeds: winner's curse): -0.100 [90 % CI -0.100, -0.100], margin ±0.050, seeds 2: differs."
    )
    assert at_20.startswith("holds;")
    assert "-0.015 [90 % CI -0.047, +0.017], margin ±0.050, seeds 2: matches." in at_20


def test_lr_ratio_of_fitted_optima(verdicts):
    v = verdicts["2"]
    assert v.verdict == "holds"
    at_40, at_20 = v.text.split(" At 20 steps: ")
    for text in (at_40, at_20):
        assert "FullFT 3.16e-04 [3.16e-04, 3.16e-04]; LoRA r=1 (all) 3.16e-03" in text
        assert "LoRA r=1 (all) / FullFT 10x [90 % CI 10x, 10x], log10(ratio / 10) +0.000" in text
        assert "rank independence, LoRA r=16 (all) / LoRA r=1 (all) 1x [90 % CI 1x, 1x]" in text
        assert "margin ±0.500, seeds 2 vs 2: matches" in text


def test_attention_only_trails(verdicts):
    v = verdicts["3"]
    assert v.verdict == "holds"
    assert (
        "LoRA r=1 (attn) (LR 3.16e-03) - LoRA r=1 (mlp) (LR 3.16e-03), paired by seed (LR chosen on the same seeds: winner's curse): -0.090 "
        "[90 % CI -0.153, -0.027], margin ±0.050, seeds 2: differs (claimed below 0: holds)"
    ) in v.text
    assert (
        "-0.005 [90 % CI -0.037, +0.027], margin ±0.050, seeds 2: matches (claimed level" in v.text
    )


def test_large_batches_hurt_lora_more(verdicts):
    v = verdicts["4"]
    assert v.verdict == "holds"
    assert (
        "rank 1, held-out pass@1 gap to FullFT by episodes a step (LR chosen on the same seeds: winner's curse): 64: -0.015 [-0.047, +0.017]; "
        "256: -0.150 [-0.150, -0.150]; from 64 to 256 it changes by -0.135 [90 % CI -0.167, "
        "-0.103], margin ±0.050, seeds 2 vs 2: differs (claimed below 0: holds)"
    ) in v.text
    assert "rank 16" in v.text and "changes by -0.100 [90 % CI -0.163, -0.037]" in v.text


def test_sl_against_rl(verdicts):
    v = verdicts["5"]
    assert v.verdict == "holds"
    assert (
        "SL: held-out log-loss, rank 1 (LR 3.16e-03) - FullFT (LR 3.16e-04, 0.3050 nats/token), "
        "margin 10% of FullFT's: +0.1050 [90 % CI +0.0734, +0.1366], margin ±0.0305, seeds 2: "
        "differs (claimed above 0: holds)"
    ) in v.text
    assert "seeds 2: matches (claimed level: holds)" in v.text


def test_width(verdicts):
    v = verdicts["6"]
    assert v.verdict == "holds"
    assert "64: -0.100 [-0.100, -0.100]; 128: -0.015 [-0.047, +0.017]; 256: -0.010" in v.text
    assert "changes by +0.090 [90 % CI +0.027, +0.153], margin ±0.050, seeds 2 vs 2" in v.text


def _noisy_gap_runs(root: Path) -> None:
    """Rank 1 ends 0.067 below FullFT, per-seed differences -0.112, -0.067, -0.022 (3 seeds), each
    arm best at the middle of its three LRs."""
    full = (0.70, 0.74, 0.78)
    r1 = tuple(round(f - d, 3) for f, d in zip(full, (0.112, 0.067, 0.022)))
    for arm, lrs, mid, side in (("full", FULL_LRS, full, 0.6), (1, LORA_LRS, r1, 0.55)):
        targets = None if arm == "full" else "all"
        for lr, finals in zip(lrs, ((side,) * 3, mid, (side,) * 3)):
            for seed, final in enumerate(finals):
                _rl_run(root / f"{arm}-{lr}-{seed}", "tiny", MAIN, arm, targets, lr, seed, final)


def test_noise_is_no_longer_called_a_match(tmp_path):
    """The old failure mode: rank 1 ends 0.067 below FullFT with a spread of ~0.04 over 3 seeds.
    The old rule called it level (|gap| within the seeds' sds added, 0.085 + 0.040); the interval
    cannot tell. Per-seed differences (-0.112, -0.067, -0.022): mean -0.067, sd 0.045, se 0.02598,
    t_{0.95, 2} = 2.919986, half 0.0759: [-0.143, +0.009] reaches past both -0.05 and 0. At 4 seeds
    t_{0.95, 3} * 0.045 / 2 = 0.053 < 0.067 would exclude 0 with the gap past the margin: does not
    hold."""
    _noisy_gap_runs(tmp_path)
    main = claims.main_study(studies(runs.load_runs(tmp_path)[0]))
    v = claims.claim_match(main)
    assert v.verdict == "cannot tell"
    assert (
        "-0.067 [90 % CI -0.143, +0.009], margin ±0.050, seeds 3: cannot tell (about 4 seeds "
        "each would settle the claim)"
    ) in v.text


def test_an_optimum_on_the_edge_cannot_tell(tmp_path):
    # FullFT's best is its lowest LR: its optimum may lie below, so no verdict
    for i, (lr, final) in enumerate(zip(FULL_LRS, (0.8, 0.7, 0.6))):
        _rl_run(tmp_path / f"f{i}", "tiny", MAIN, "full", None, lr, 0, final)
    for i, (lr, final) in enumerate(zip(LORA_LRS, (0.6, 0.7, 0.6))):
        _rl_run(tmp_path / f"l{i}", "tiny", MAIN, 1, "all", lr, 0, final)
    main = claims.main_study(studies(runs.load_runs(tmp_path)[0]))
    v = claims.claim_match(main)
    assert v.verdict == "cannot tell" and "edge of the LRs run for FullFT" in v.text
    v = claims.claim_lr(main)
    assert v.verdict == "cannot tell"
    assert "No optimum fitted for FullFT: best LR on the grid's edge." in v.text
    assert claims.claim_width({128: main}).verdict == "cannot tell"  # one width


def test_report_has_the_claims_and_figures(study_dir, tmp_path):
    text = report.write_report(study_dir, tmp_path).read_text()
    assert text.index("## The claims, one by one") < text.index("## Summary")
    section = text[: text.index("## Summary")]
    assert section.count("**holds**") == 5 and section.count("**does not hold**") == 1
    assert "Main study: tiny, 8 prompts x 8 completions a step, 20 steps" in text
    assert "Plateau study (claims 1-2): tiny, 8 prompts x 8 completions a step, 40 steps" in text
    assert "FullFT has plateaued by step 20" in text and "FullFT has plateaued by step 40" in text
    # the rl sweep: its runs' own process times, then its two launches' 600 + 300 s
    assert re.search(r"\| `rl` \| \d+ \| [\d.]+ min \| 2 \| 15\.0 min \|", text)
    for fig in ("fig_width.png", "fig_batch.png", "fig_sl_rl.png"):
        assert (tmp_path / fig).stat().st_size > 10_000, fig
    assert "SL final held-out log-loss" in text and "0.4100 ± 0.0141 (n=2)" in text


def test_plateau_is_the_rise_of_a_line_over_the_last_quarter(tmp_path):
    # one FullFT run over 8 steps (window 1), last quarter = steps 7-8: rising by 0.1 a step, the
    # line rises +0.100 from step 7 to 8; flat from step 4 on: +0.000
    for name, curve in (
        ("rising", [0.1 * t for t in range(1, 9)]),
        ("flat", [0.3] * 3 + [0.4] * 5),
    ):
        d = tmp_path / name
        _config(d / "run", "tiny", 8, 8, "full", None, 1e-4, 0)
        rows = [{"step": t, "reward/mean": r} for t, r in enumerate(curve, 1)]
        (d / "run" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (d / "run" / "summary.json").write_text(json.dumps({"steps": 8}))
    rising = claims.plateau(studies(runs.load_runs(tmp_path / "rising")[0])[0])
    assert "had NOT plateaued by step 8" in rising and "changed by +0.100 over steps 7-8" in rising
    flat = claims.plateau(studies(runs.load_runs(tmp_path / "flat")[0])[0])
    assert "has plateaued by step 8" in flat and "changed by +0.000 over steps 7-8" in flat


def test_main_study_is_the_shortest_horizon_even_when_the_plateau_has_more_runs(study_dir):
    rl = studies(runs.load_runs(study_dir)[0])
    long = next(s for s in rl if s.n_steps == 40)
    bigger = [dataclasses.replace(long, runs=long.runs * 3) if s is long else s for s in rl]
    main = claims.main_study(bigger)
    assert (main.runs[0].model, main.runs[0].pps, main.n_steps) == ("tiny", 8, 20)
    assert claims.plateau_study(bigger, main).n_steps == 40


def test_the_report_reads_the_main_study_then_the_plateau_then_the_rest(study_dir):
    def key(s):
        return s.runs[0].model, s.runs[0].pps, s.n_steps

    given = list(reversed(studies(runs.load_runs(study_dir)[0])))
    order = [key(s) for s in claims.reading_order(given)]
    assert order[:2] == [("tiny", 8, 20), ("tiny", 8, 40)]  # main, plateau
    assert order[2:] == [key(s) for s in given if key(s) not in order[:2]]  # the rest as given
    assert len(order) == len(given) == 5


# ---------------------------------------------------------------------------------------------
# Choose on one set of seeds, judge on another (confirm_seeds)

# Selection seeds 0, 1 at three LRs each: both arms' best LR is the middle one, where rank 1 looks
# level with FullFT (diffs 0.00, -0.01: -0.005 [-0.037, +0.027], matches). Confirmation seeds
# 10-13 at that LR show the truth: rank 1 is 0.10 below. Diffs (-0.10, -0.10, -0.12, -0.09): mean
# -0.1025, sd 0.01258, se 0.00629, t_{0.95, 3} = 2.353363, half 0.0148: [-0.117, -0.088], beyond
# the margin: does not hold.
SELECT = {
    ("full", None): [(0.60, 0.60), (0.70, 0.72), (0.60, 0.60)],
    (1, "all"): [(0.55, 0.55), (0.70, 0.71), (0.55, 0.55)],
}
CONFIRM = {("full", None): (0.70, 0.71, 0.72, 0.70), (1, "all"): (0.60, 0.61, 0.60, 0.61)}


def _confirmation_study(root: Path, record: dict | None) -> Study:
    for (rank, targets), per_lr in SELECT.items():
        lrs = FULL_LRS if rank == "full" else LORA_LRS
        for lr, finals in zip(lrs, per_lr):
            for seed, final in enumerate(finals):
                _rl_run(root / f"{rank}-{lr}-s{seed}", "tiny", MAIN, rank, targets, lr, seed, final)
        for seed, final in zip((10, 11, 12, 13), CONFIRM[(rank, targets)]):
            _rl_run(root / f"{rank}-c{seed}", "tiny", MAIN, rank, targets, lrs[1], seed, final)
    if record is not None:
        (root / "sweep.json").write_text(json.dumps(record))
    return claims.main_study(studies(runs.load_runs(root)[0]))


@pytest.mark.parametrize(
    "record",
    [
        {"margin": 0.05, "selection_seeds": [0, 1], "confirm_seeds": [10, 11, 12, 13]},
        None,  # no sweep.json: the seeds that ran one LR while others ran three confirm
    ],
)
def test_verdicts_are_judged_on_the_confirmation_seeds_alone(tmp_path, record):
    main = _confirmation_study(tmp_path, record)
    r1 = main.arms[(1, "all")]
    assert r1.best.lr == 3.16e-3 and sorted(r1.best.held_seeds) == [0, 1]  # chosen on 0, 1
    assert r1.confirmed and sorted(r1.judged.held_seeds) == [10, 11, 12, 13]
    assert all(sorted(c.held_seeds) == [0, 1] for c in r1.cells.values())  # optima: selection
    v = claims.claim_match(main)
    assert v.verdict == "does not hold"  # the selection seeds alone would have said it holds
    assert v.text == (
        "held-out pass@1 LoRA r=1 (all) (LR 3.16e-03) - FullFT (LR 3.16e-04), paired by seed, on "
        "confirmation seeds 10,11,12,13: -0.102 [90 % CI -0.117, -0.088], margin ±0.050, seeds 4: "
        "differs."
    )
    v = claims.claim_lr(main)  # fitted on the selection seeds: equal neighbours, ratio exactly 10
    assert "LoRA r=1 (all) / FullFT 10x [90 % CI 10x, 10x]" in v.text


def test_a_recorded_confirmation_seed_at_another_lr_judges_nothing(tmp_path):
    """A confirmation run at an LR the selection seeds did not choose (an earlier choice) is left
    out: of the verdict, and of the selection."""
    record = {"margin": 0.05, "selection_seeds": [0, 1], "confirm_seeds": [10, 11, 12, 13]}
    _rl_run(tmp_path / "stray", "tiny", MAIN, 1, "all", LORA_LRS[0], 10, 0.99)
    main = _confirmation_study(tmp_path, record)
    r1 = main.arms[(1, "all")]
    assert r1.best.lr == 3.16e-3 and list(r1.confirm) == [1e-3, 3.16e-3]
    assert sorted(r1.judged.held_seeds) == [10, 11, 12, 13]


def test_the_sweeps_margin_judges_every_verdict(tmp_path):
    """The noise of `test_noise_is_no_longer_called_a_match` ([-0.143, +0.009]) lies inside a
    margin of ±0.2: the sweep file said so (OUT/sweep.json), so it matches."""
    _noisy_gap_runs(tmp_path)
    record = {"margin": 0.2, "selection_seeds": [0, 1, 2], "confirm_seeds": []}
    (tmp_path / "sweep.json").write_text(json.dumps(record))
    main = claims.main_study(studies(runs.load_runs(tmp_path)[0]))
    assert main.margin == 0.2
    v = claims.claim_match(main)
    assert v.verdict == "holds"
    assert (
        "paired by seed (LR chosen on the same seeds: winner's curse): -0.067 [90 % CI -0.143, "
        "+0.009], margin ±0.200, seeds 3: matches."
    ) in v.text
    md = report.write_report(tmp_path, tmp_path / "out").read_text()
    assert "margin ±0.200" in md and "margin ±0.050" not in md


def test_sft_chooses_its_lr_on_the_validation_split_not_the_heldout_set(tmp_path):
    """Held-out log-loss favours 1e-3, the validation split 3e-3: SFT's arm takes 3e-3 and reports
    its held-out log-loss there (the held-out set chooses nothing)."""
    for i, (lr, held, val) in enumerate([(1e-3, 0.010, 0.030), (3e-3, 0.020, 0.015)]):
        for seed in (0, 1):
            d = tmp_path / f"run{i}{seed}"
            _sl_run(d, 1, "all", lr, seed, held)
            rows = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
            rows[-1]["eval/val_logloss"] = val
            (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (arm,) = group_arms(runs.load_runs(tmp_path)[0]).values()
    assert arm.best.lr == 3e-3 and arm.judged.held == pytest.approx([-0.020, -0.020])
