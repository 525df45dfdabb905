"""grpo_lora.study.report on a hand-built runs directory whose answers are worked out below by hand, and
end to end on a sweep run by the fake trainer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from grpo_lora import checkpoint
from grpo_lora.commands import report as report_command
from grpo_lora.study import cost, launch, report, runs, scores, sweep_file
from grpo_lora.study.arms import group_arms
from grpo_lora.study.studies import studies

REPO = Path(__file__).resolve().parents[1]
STEPS = 20  # last 10% = steps 19 and 20
EPISODES_PER_STEP = 64  # 8 prompts x 8 completions
PARAMS = {
    ("full", None): 500_000,
    (1, "all"): 5_900,
    (4, "all"): 23_600,
    (1, "mlp"): 3_700,
    (1, "attn"): 2_200,
}
STEP_S = {"full": 2.0, 1: 1.0, 4: 1.2}
PEAK_MB = {"full": 800.0, 1: 500.0, 4: 520.0}

# (rank, targets, lr) -> final reward of seed 0, seed 1; each run's held-out pass@1 is 0.1 below
# it (`_write_run`), so the best LRs by pass@1 are those by reward. Worked out by hand:
#   FullFT: seed means 0.51, 0.72, 0.60 -> best 3e-4, 0.720 ± 0.028 (sd of 0.70, 0.74)
#   r1 all: seed means 0.61, 0.69, 0.53 -> best 3e-3, 0.690 ± 0.014; grid ratio 3e-3 / 3e-4 = 10.
#           (the best single seed, 0.76, is at 1e-2: selection must average seeds first)
#   r4 all: seed means 0.72, 0.71, 0.50 -> best 1e-3 (grid edge), 0.720 ± 0.014; ratio 3.33
#   r1 mlp 0.660 ± 0.000, r1 attn 0.510 ± 0.014 (both at 3e-3 only)
#   r1 - FullFT held-out pass@1, paired by seed: (0.58 - 0.60, 0.60 - 0.64) = (-0.02, -0.04):
#           -0.030, sd 0.01414, se 0.01, t_{0.95, 1} = 6.3138: [-0.093, +0.033], past -0.05 and
#           0: cannot tell (the old tolerance rule said "agrees"); a level claim settles when the
#           interval fits in ±0.05: at 4 seeds, t_{0.95, 3} 2.353 x 0.01414 / 2 = 0.017 < 0.020
#           (at 3, 2.92 x 0.01414 / sqrt 3 = 0.024 would only exclude 0)
#   attn - mlp: (-0.16, -0.14) -> -0.150 [-0.213, -0.087], below 0; mlp - all: (-0.02, -0.04) ->
#           -0.030 [-0.093, +0.033], not yet level: claim 3 cannot tell
#   fitted optima (seed-mean pass@1 through the three LRs): FullFT (0.41, 0.62, 0.50) at log10 LR
#           (-4, -3.523, -3): vertex -3.4328 (3.69e-4); r1 (0.51, 0.59, 0.43) at (-3, -2.523,
#           -2): vertex -2.5844 (2.60e-3); ratio 10^0.8484 = 7.05x
FINALS = {
    ("full", None, 1e-4): (0.50, 0.52),
    ("full", None, 3e-4): (0.70, 0.74),
    ("full", None, 1e-3): (0.60, 0.60),
    (1, "all", 1e-3): (0.60, 0.62),
    (1, "all", 3e-3): (0.68, 0.70),
    (1, "all", 1e-2): (0.30, 0.76),
    (4, "all", 1e-3): (0.71, 0.73),
    (4, "all", 3e-3): (0.70, 0.72),
    (4, "all", 1e-2): (0.50, 0.50),
    (1, "mlp", 3e-3): (0.66, 0.66),
    (1, "attn", 3e-3): (0.50, 0.52),
}


def _write_run(d: Path, rank, targets, lr, seed, final, steps=STEPS, finished=True) -> None:
    d.mkdir(parents=True)
    lora = {"rank": rank, "alpha": 32} | ({} if rank == "full" else {"targets": targets})
    cfg = {
        "seed": seed,
        "lora": lora,
        "optimizer": {"lr": lr},
        "data": {"prompts_per_step": 8, "group_size": 8},
        "schedule": {"steps": steps},
    }
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    params = PARAMS[(rank, targets)]
    (d / "manifest.json").write_text(
        json.dumps(
            {
                "seed": seed,
                "world_size": 1,
                "trainable_params": params,
                "total_params": 500_000,
                "versions": {},
            }
        )
    )
    rows = [{"step": 0, "eval/pass1": 0.2}]
    for t in range(1, steps + 1):
        r = 0.2 + (final - 0.2) * t / steps
        if t == steps - 1:
            r = final - 0.01
        if t == steps:
            r = final + 0.01
        row = {
            "step": t,
            "episodes": t * EPISODES_PER_STEP,
            "reward/mean": r,
            "reward/zero_signal_frac": 0.5,
            "time/step_s": STEP_S[rank],
            "memory/peak_mb": PEAK_MB[rank],
        }
        if t in (10, steps):
            # the trainer's time/step_s includes the eval; the report takes it off
            row |= {"eval/pass1": final - 0.1, "time/eval_s": 30.0}
            row["time/step_s"] += 30.0
        rows.append(row)
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "checkpoints").mkdir()
    if finished:
        (d / "summary.json").write_text(
            json.dumps(
                {
                    "run_dir": str(d),
                    "steps": steps,
                    "eval_pass1_start": 0.2 + 0.01 * seed,
                    "eval_pass1_end": final - 0.1,
                    "wall_s": 60.0,
                    "trainable_params": params,
                    "episodes": steps * EPISODES_PER_STEP,
                }
            )
        )


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    i = 0
    for (rank, targets, lr), finals in FINALS.items():
        for seed, final in enumerate(finals):
            # names say nothing: the report must group by config.yaml
            _write_run(root / f"run-{i:02d}", rank, targets, lr, seed, final)
            i += 1
    # a crashed run with a great reward: unfinished, so it must not count
    _write_run(root / "run-crashed", 1, "all", 3e-2, 0, 0.99, finished=False)
    (root / "logs").mkdir()  # a sweep's log folder, no config.yaml: ignored
    # a finished run whose config.yaml is not a valid config: listed with the field, not used
    _write_run(root / "run-badconfig", 1, "all", 1e-3, 0, 0.99)
    cfg = yaml.safe_load((root / "run-badconfig" / "config.yaml").read_text())
    cfg["lora"]["rank"] = 0
    (root / "run-badconfig" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return root


@pytest.fixture(scope="module")
def written(runs_dir, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("report")
    path = report.write_report(runs_dir, out)
    return out, path.read_text()


def test_final_reward_is_mean_of_last_10_percent(tmp_path):
    _write_run(tmp_path / "a", 1, "all", 1e-3, 0, 0.6, steps=30)  # last 3 steps: 28, 29, 30
    run = runs.read_run(tmp_path / "a")
    assert run.rank == 1 and run.targets == "all" and run.lr == 1e-3
    # step 28: 0.2 + 0.4 * 28/30, step 29: 0.59, step 30: 0.61
    assert scores.final_reward(run) == pytest.approx((0.2 + 0.4 * 28 / 30 + 0.59 + 0.61) / 3)
    del run.rows[29]["reward/mean"]  # a missing key is absent, not zero
    assert scores.final_reward(run) == pytest.approx((0.2 + 0.4 * 28 / 30 + 0.61) / 2)
    assert scores.final_pass1(run) == pytest.approx(0.5)


def test_best_over_lr_is_argmax_of_seed_mean(runs_dir):
    finished, unfinished, unreadable = runs.load_runs(runs_dir)
    assert len(finished) == 22 and [p.name for p in unfinished] == ["run-crashed"]
    assert [(p.name, why) for p, why in unreadable] == [
        ("run-badconfig", "lora.rank: must be >= 1 or 'full' (got 0)")
    ]
    arms = group_arms(finished)
    assert list(arms) == [(1, "all"), (1, "attn"), (1, "mlp"), (4, "all"), ("full", None)]
    best = {k: a.best for k, a in arms.items()}
    assert best[("full", None)].lr == 3e-4
    assert best[(1, "all")].lr == 3e-3  # not 1e-2, where the single best seed is
    assert best[(4, "all")].lr == 1e-3
    assert best[(1, "all")].reward[0] == pytest.approx(0.69)
    assert best[(1, "all")].score[0] == pytest.approx(0.59)  # held-out pass@1 picks the LR
    assert sorted(best[(1, "all")].held_seeds) == [0, 1]
    assert best[(1, "all")].reward[1] == pytest.approx(0.0141421, abs=1e-6)
    assert best[("full", None)].reward[1] == pytest.approx(0.0282843, abs=1e-6)
    assert arms[(4, "all")].best_at_edge and not arms[(1, "all")].best_at_edge


def test_report_tables_hold_the_hand_worked_numbers(written):
    _, md = written
    # (d) per-rank table: params, best LR, best final reward ± sd, pass@1, ratio to FullFT's best LR
    assert "| 1 | all | 5,900 | 3e-03 | 0.690 ± 0.014 | 0.590 ± 0.014 | 10 | 0,1 |" in md
    assert (
        "| 4 | all | 23,600 | 1e-03 (grid edge) | 0.720 ± 0.014 | 0.620 ± 0.014 | 3.33 | 0,1 |"
        in md
    )
    assert (
        "| full | - | 500,000 | 3e-04 | 0.720 ± 0.028 | 0.620 ± 0.028 | 1 (reference) | 0,1 |" in md
    )
    # (c) targets at rank 1 (mlp and attn ran at one LR: flagged)
    assert "| 1 | mlp | 3,700 | 3e-03 (only LR) | 0.660 ± 0.000 |" in md
    assert "| 1 | attn | 2,200 | 3e-03 (only LR) | 0.510 ± 0.014 |" in md
    # verdicts, each an effect with its interval
    assert (
        "- **LoRA r=1 (all) level with FullFT (claim 1)**: **cannot tell**. held-out pass@1 LoRA "
        "r=1 (all) (LR 3e-03) - FullFT (LR 3e-04), paired by seed (LR chosen on the same seeds: winner's curse): -0.030 [90 % CI -0.093, "
        "+0.033], margin ±0.050, seeds 2: cannot tell (about 4 seeds each would settle the claim)."
    ) in md
    assert "**LoRA r=4 (all) level with FullFT**: **cannot tell**" in md
    assert "edge of the LRs run for LoRA r=4 (all): its optimum was not found" in md
    assert "FullFT 3.69e-04 [" in md and "LoRA r=1 (all) 2.60e-03 [" in md
    assert "LoRA r=1 (all) / FullFT 7.05x [90 % CI " in md
    assert "No optimum fitted for LoRA r=4 (all): best LR on the grid's edge." in md
    assert (
        "**Targets at rank 1 (claim 3)**: **cannot tell**. rank 1, held-out pass@1 at each one's "
        "best LR: LoRA r=1 (attn) (LR 3e-03) - LoRA r=1 (mlp) (LR 3e-03), paired by seed (LR chosen on the same seeds: winner's curse): -0.150 "
        "[90 % CI -0.213, -0.087], margin ±0.050, seeds 2: differs (claimed below 0: holds)"
    ) in md
    assert "-0.030 [90 % CI -0.093, +0.033]" in md and "(claimed level: cannot tell)" in md
    assert "tolerance" not in md and "agrees" not in md
    # (e) capacity: 20 steps x 64 = 1,280 episodes = 1,280 bits; half the groups carry no signal
    assert "| 1,280 | 1,280 | 640 | 5,900 | 0.217 |" in md
    assert "1 bit" in md and "episodes x 1 bit" in md
    # (f) cost: train step time without the 30 s evals
    assert "| LoRA r=1 (all) | 1.000 | 0.50x | 500 | 0.62x |" in md
    assert "| FullFT | 2.000 | 1.00x | 800 | 1.00x |" in md
    # the start: seeds 0 and 1 began at 0.20 and 0.21
    assert "Held-out pass@1 before training: 0.205 (mean of `eval_pass1_start` over" in md
    # the crashed run is listed, not used
    assert "`run-crashed`" in md and "0.990" not in md and "3e-02" not in md
    assert "not a valid config: `run-badconfig` (lora.rank: must be >= 1" in md


def test_figures_exist_and_are_linked(written):
    out, md = written
    for name in (
        "fig_lr.png",
        "fig_curves.png",
        "fig_targets.png",
        "fig_capacity.png",
        "fig_cost.png",
    ):
        path = out / name
        assert path.exists() and path.stat().st_size > 10_000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in md


def test_the_report_remade_from_saved_records_is_the_same(runs_dir, written, tmp_path):
    """`grpo-lora report --save-records DIR`: finished runs' records (config, manifest, summary,
    gzipped metrics; no checkpoints) are enough to remake the same report."""
    records, out = tmp_path / "records", tmp_path / "out"
    assert (
        report_command.main(
            [str(runs_dir), "--out", str(tmp_path / "again"), "--save-records", str(records)]
        )
        == 0
    )
    assert runs.save_records(runs_dir, records) == 22  # 11 arm-LR cells x 2 seeds, all finished
    assert not list(records.rglob("checkpoints")) and not list(records.rglob("metrics.jsonl"))
    assert len(list(records.rglob("metrics.jsonl.gz"))) == 22
    remade = report.write_report(records, out).read_text()
    # every section the same; only the header's list of runs left out differs (no record of them)
    assert remade.split("\n## ", 1)[1] == written[1].split("\n## ", 1)[1]
    for fig in written[0].glob("*.png"):
        assert (out / fig.name).read_bytes() == fig.read_bytes(), fig.name


def test_one_seed_cannot_tell_however_large_the_gap(tmp_path):
    _write_run(tmp_path / "a", "full", None, 1e-4, 0, 0.80)
    _write_run(tmp_path / "b", 1, "all", 1e-3, 0, 0.70)
    md = report.write_report(tmp_path, tmp_path / "out").read_text()
    # one seed and one LR each: said, not passed off as a finding
    assert (
        "**LoRA r=1 (all) level with FullFT (claim 1)**: **cannot tell**. held-out pass@1 LoRA "
        "r=1 (all) (LR 1e-03) - FullFT (LR 1e-04), paired by seed (LR chosen on the same seeds: winner's curse): -0.100 (no interval: one "
        "seed), margin ±0.050, seeds 1: cannot tell."
    ) in md
    assert (
        "**Best LR ratio, LoRA r=1 (all) (claim 2: ~10x)**: **cannot tell**. fitted optimum LR"
    ) in md
    assert "No optimum fitted for FullFT: fewer than 3 LRs; LoRA r=1 (all): fewer than 3 LRs." in md
    assert "| 1 | all | 5,900 | 1e-03 (only LR) |" in md


def test_short_run_lists_each_step_once(tmp_path):
    """(e) over steps shows the quarters of the run; 3 steps have three, not four."""
    _write_run(tmp_path / "a", "full", None, 1e-4, 0, 0.50, steps=3)
    _write_run(tmp_path / "b", 1, "all", 1e-3, 0, 0.50, steps=3)
    md = report.write_report(tmp_path, tmp_path / "out").read_text()
    steps = [
        line.split(" | ")[2]
        for line in md.splitlines()
        if line.startswith("| LoRA r=1 (all) | 1e-03 |")
    ]
    assert steps == ["1", "2", "3"]


def test_main_errors_on_empty_dir(tmp_path, capsys):
    assert report_command.main([str(tmp_path)]) == 2
    assert "no finished runs" in capsys.readouterr().err


def test_sweep_then_report_end_to_end(tmp_path, monkeypatch):
    """The fake trainer's optimum is known: LR 1e-3 for LoRA, 1e-4 for FullFT (tests/fake_train.py)."""
    monkeypatch.delenv("FAKE_TRAIN_CRASH", raising=False)
    base = tmp_path / "base.yaml"
    base.write_text(
        yaml.safe_dump(
            {
                "lora": {"rank": 1},
                "optimizer": {"lr": 1e-3},
                "data": {"prompts_per_step": 4, "group_size": 4},
                "schedule": {"steps": 10},
            }
        )
    )
    spec = sweep_file.SweepFile.model_validate(
        {
            "base": str(base),
            "out_dir": str(tmp_path / "runs"),
            "ranks": [1, "full"],
            "lr_grid": {"full_centre": 1e-4, "points_per_decade": 1, "count": 3},
            "seeds": [0, 1],
        }
    )
    fake = [sys.executable, str(REPO / "tests" / "fake_train.py")]
    console = Console(quiet=True)
    outcomes = launch.run_sweep(spec, parallel=2, train_cmd=fake, console=console, poll_s=0.02)
    assert {o.status for o in outcomes} == {"finished"} and len(outcomes) == 12
    md = report.write_report(tmp_path / "runs").read_text()
    assert "| 1 | all | 5,900 | 1e-03 |" in md and "| full | - | 500,000 | 1e-04 |" in md
    # the fake's pass@1: a parabola in log10 LR peaking at 1e-3 (LoRA), 1e-4 (FullFT), + jitter
    assert "**Best LR ratio, LoRA r=1 (all) (claim 2: ~10x)**: **holds**" in md
    assert "LoRA r=1 (all) / FullFT 9.61x [90 % CI 9.45x, 9.77x]" in md  # seed jitter


def test_failed_points_are_listed_with_their_error(tmp_path):
    """Points the sweep saw fail are listed with their error, not dropped and not counted."""
    _write_run(tmp_path / "a", "full", None, 1e-4, 0, 0.80)
    _write_run(tmp_path / "b", 1, "all", 1e-3, 0, 0.70)
    _write_run(tmp_path / "c", 1, "all", 1e-2, 0, 0.99, finished=False)  # died at some step
    record = {"exit_code": 1, "steps_done": 7, "steps": 20, "log": "logs/c.log"}
    checkpoint.write_failure(
        tmp_path / "c", record | {"error": "RuntimeError: CUDA | out of memory"}
    )
    checkpoint.write_failure(
        tmp_path / "d", {"exit_code": -9, "error": "no output"}
    )  # died at start
    md = report.write_report(tmp_path, tmp_path / "out").read_text()
    assert "2 finished runs; 2 failed points left out (see Failed points)." in md
    assert "unfinished" not in md and "0.990" not in md and "1e-02" not in md
    assert "## Failed points\n" in md
    assert "| `c` | 1 | 7 of 20 | RuntimeError: CUDA \\| out of memory | `logs/c.log` |" in md
    assert "| `d` | -9 | ? of ? | no output | n/a |" in md
    assert "| 1 | all | 5,900 | 1e-03 (only LR) |" in md  # the finished runs still make the report

    # only failures: a report that lists them, not an error
    for d in ("a", "b"):
        (tmp_path / d / "summary.json").unlink()
        checkpoint.write_failure(tmp_path / d, {"exit_code": 2, "error": "boom"})
    md = report.write_report(tmp_path, tmp_path / "out").read_text()
    assert "0 finished runs; 4 failed points left out" in md and "No finished runs" in md
    assert md.count("| boom |") == 2


def test_sweep_with_a_failure_then_report(tmp_path, monkeypatch, capsys):
    """A sweep point dies mid-run (tests/fake_train.py); the report lists it with its error and
    ends with a sentence for a person (stderr) and the report's path for scripts (stdout)."""
    monkeypatch.setenv("FAKE_TRAIN_CRASH", "full-lr1e-04-s1:3")
    base = tmp_path / "base.yaml"
    data = {"prompts_per_step": 4, "group_size": 4}
    base.write_text(yaml.safe_dump({"data": data, "schedule": {"steps": 10}}))
    spec = sweep_file.SweepFile.model_validate(
        {
            "base": str(base),
            "out_dir": str(tmp_path / "runs"),
            "ranks": [1, "full"],
            "lrs": {"full": [1e-4], "lora": [1e-3]},
            "seeds": [0, 1],
        }
    )
    fake = [sys.executable, str(REPO / "tests" / "fake_train.py")]
    out = launch.run_sweep(spec, train_cmd=fake, console=Console(quiet=True), poll_s=0.02)
    assert [o.status for o in out] == ["finished", "finished", "finished", "failed"]
    assert report_command.main([str(tmp_path / "runs")]) == 0
    std = capsys.readouterr()
    path = tmp_path / "runs" / "report.md"
    assert std.out.splitlines()[-1] == str(path)
    sentence = std.err.strip()
    assert sentence.startswith(f"Report on 3 finished runs of {tmp_path / 'runs'} written in ")
    assert sentence.endswith(f"s to {path} (figures beside it); left out: 1 failed.")
    md = path.read_text()
    log = tmp_path / "runs" / "logs" / "full-lr1e-04-s1.log"
    assert f"| `full-lr1e-04-s1` | 3 | 3 of 10 | fake crash after step 3 | `{log}` |" in md
    assert "| full | - | 500,000 | 1e-04 (only LR) |" in md  # from seed 0 alone


def _set(run_dir: Path, section: str, key: str, value) -> None:
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg.setdefault(section, {})[key] = value
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))


def test_runs_that_differ_outside_the_key_are_not_merged(tmp_path):
    """A run with another loss is not a third seed of the same arm; LoRA runs with another dropout
    form their own study, each compared against the same FullFT runs."""
    _write_run(tmp_path / "full", "full", None, 1e-4, 0, 0.80)
    _write_run(tmp_path / "a", 1, "all", 1e-3, 0, 0.70)
    _write_run(tmp_path / "b", 1, "all", 1e-3, 1, 0.50)
    _write_run(tmp_path / "c", 1, "all", 1e-3, 2, 0.60)
    _write_run(tmp_path / "d", 1, "all", 1e-3, 0, 0.40)
    _set(tmp_path / "b", "algorithm", "loss", {"kind": "ppo"})
    _set(tmp_path / "c", "algorithm", "loss", {"kind": "ppo"})
    _set(tmp_path / "d", "lora", "dropout", 0.1)
    found = runs.load_runs(tmp_path)[0]
    groups = {s.suffix: sorted(r.path.name for r in s.runs) for s in studies(found)}
    assert groups == {
        "_kindis-pg_dropout0.0": ["a", "full"],
        "_kindis-pg_dropout0.1": ["d", "full"],
        "_kindppo_dropout0.0": ["b", "c"],
    }
    headings = [s.heading for s in studies(found)]
    assert " (algorithm.loss.kind = ppo, lora.dropout = 0.0)" in headings


def test_machine_time_counts_a_pack_once_and_survives_a_killed_launch(tmp_path):
    """A sweep's machine time from its runs' own records: a pack of K points is one process (its
    wall time once, not K times), a run alone is its own; no launch record is needed (a launch
    killed at a session's end writes none)."""
    sweep = tmp_path / "study" / "plateau"
    pack = ["python", "-m", "grpo_lora", "train", "r.yaml", "--point", "a", "--point", "b"]
    for name, argv, wall in (("a", pack, 100.0), ("b", pack, 101.0), ("c", ["train"], 40.0)):
        _write_run(sweep / name, 1, "all", 1e-3, 0, 0.5)
        manifest = json.loads((sweep / name / "manifest.json").read_text())
        (sweep / name / "manifest.json").write_text(json.dumps(manifest | {"argv": argv}))
        summary = json.loads((sweep / name / "summary.json").read_text())
        (sweep / name / "summary.json").write_text(json.dumps(summary | {"wall_s": wall}))
    found, _, _ = runs.load_runs(tmp_path / "study")
    assert runs.process_times(found) == {sweep: 141.0}
    text = report.write_report(tmp_path / "study", tmp_path / "out").read_text()
    assert "| `plateau` | 3 | 2.4 min | 0 | n/a |" in text


def test_a_packed_points_step_is_its_packs_share(tmp_path):
    """The points of a pack share its steps: each records the pack's `time/step_s` and
    `time/eval_s`. The report's step time and the sweep's estimates count a pack of K 1/K a point,
    so a rank-1 point packed two to a process costs 0.5 s a step against FullFT's 2 s alone (the
    recorded 1.0 s is the pack's), and its evaluations 30 s, not 60."""
    sweep = tmp_path / "study" / "rank1"
    pack = ["python", "-m", "grpo_lora", "train", "r.yaml", "--point", "a", "--point", "b"]
    points = []
    for name, rank, argv in (("a", 1, pack), ("b", 1, pack), ("c", "full", ["train"])):
        targets = None if rank == "full" else "all"
        _write_run(sweep / name, rank, targets, 1e-3, 0, 0.5)
        manifest = json.loads((sweep / name / "manifest.json").read_text())
        (sweep / name / "manifest.json").write_text(json.dumps(manifest | {"argv": argv}))
        points.append(sweep_file.Point(name, rank, targets, 1e-3, 0, None, sweep / name, ()))
    text = report.write_report(tmp_path / "study", tmp_path / "out").read_text()
    assert "| LoRA r=1 (all) | 0.500 | 0.25x |" in text
    assert "| FullFT | 2.000 | 1.00x |" in text
    measured = cost.measure(points)
    assert measured.step_s[(1, "all")] == 0.5 and measured.step_s[("full", None)] == 2.0
    assert measured.eval_s == 30.0  # each run's two 30 s evals: LoRA 60 s / 2 (twice), FullFT 60 s
    # the pack's peak (500 MB) less its second adapter's 16 + 8 bytes a parameter
    assert measured.lora_peak_mb == 500.0 - PARAMS[(1, "all")] * 24 / 2**20
