"""The sweep (grpo_lora.study's sweep_file, rounds, cost, launch; `grpo-lora sweep`): grid
expansion, validation, skip/resume, --parallel, --dry-run and the LR grid's extension
(lr_grid.extend), with a fake trainer (tests/fake_train.py) in place of `python -m grpo_lora train`."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from grpo_lora.commands import sweep
from grpo_lora.study import cost, launch, report, rounds, runs, scores, sweep_file
from grpo_lora.study.arms import group_arms

REPO = Path(__file__).resolve().parents[1]
FAKE = [sys.executable, str(REPO / "tests" / "fake_train.py")]


def _spec(tmp_path: Path, **fields) -> sweep_file.SweepFile:
    base = tmp_path / "base.yaml"
    base.write_text(
        yaml.safe_dump(
            {
                "seed": 0,
                "lora": {"rank": 1, "targets": "all"},
                "optimizer": {"lr": 1e-3},
                "data": {"prompts_per_step": 4, "group_size": 4},
                "schedule": {"steps": 6},
            }
        )
    )
    raw = {"base": str(base), "out_dir": str(tmp_path / "runs"), "seeds": [0, 1]} | fields
    return sweep_file.SweepFile.model_validate(raw)


def _quiet() -> Console:
    return Console(quiet=True)


def _calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(x)["argv"] for x in log.read_text().splitlines()]


# ---------------------------------------------------------------------------------------------
# Grid expansion


def test_study_tiny_expands_to_36_named_points(monkeypatch):
    monkeypatch.chdir(REPO)  # its base recipe is a path from the repository root
    spec = sweep_file.load_sweep(
        REPO / "recipes" / "study_tiny.yaml"
    )  # every point's config validated
    points = sweep_file.expand(spec)
    # r1: 3 targets x 3 LRs x 2 seeds = 18; r4, r16: 2 x 3 x 2 = 12; full: 3 x 2 = 6
    assert len(points) == 36
    assert spec.lrs_for("full") == [6.32e-05, 2e-04, 6.32e-04]
    assert spec.lrs_for(4) == [6.32e-04, 2e-03, 6.32e-03]  # 10x FullFT's
    names = {p.name for p in points}
    assert {"r1-all-lr2e-03-s0", "r1-mlp-lr6.32e-03-s1", "r1-attn-lr6.32e-04-s0"} <= names
    assert {"r4-all-lr2e-03-s1", "r16-all-lr6.32e-03-s0", "full-lr6.32e-05-s0"} <= names
    assert not any(n.startswith(("r4-mlp", "r16-attn", "full-all")) for n in names)
    assert sum(p.rank == "full" for p in points) == 6
    assert sum(p.targets == "attn" for p in points) == 6
    # every point of one seed passes the same seed= (hence the same data order)
    seeds = {p.seed: {o for o in p.overrides if o.startswith("seed=")} for p in points}
    assert seeds == {0: {"seed=0"}, 1: {"seed=1"}}
    full = next(p for p in points if p.name == "full-lr2e-04-s0")
    assert "lora.rank=full" in full.overrides
    assert not any(o.startswith("lora.targets") for o in full.overrides)
    # the budget in the file header: 60 steps, evals at start and end, 128 problems x 4 samples
    cfg = sweep_file.point_configs(spec, [full])[full.name]
    assert (cfg.schedule.steps, cfg.data.prompts_per_step, cfg.data.group_size) == (60, 16, 8)
    assert cost.n_evals(cfg) == 2 and (cfg.data.heldout_size, cfg.logging.eval_k) == (128, 4)
    header = (REPO / "recipes" / "study_tiny.yaml").read_text()
    assert "grpo-lora sweep recipes/study_tiny.yaml " in header


def test_study_files_load_with_their_stated_budgets(monkeypatch):
    monkeypatch.chdir(REPO)
    specs = {
        f.stem: sweep_file.load_sweep(f)
        for f in sorted((REPO / "recipes" / "study").glob("*.yaml"))
    }
    files = [
        *("plateau", "plateau_targets", "plateau_r16", "rl", "rl_targets"),
        *("sft", "width_256", "batch_32", "width_64", "batch_4"),
    ]
    assert set(specs) == set(files)
    # `make study`: claims 1-3 at 240 steps (the v3 files); the others are added by hand
    assert "STUDY ?= plateau plateau_targets plateau_r16\n" in (REPO / "Makefile").read_text()
    steps = {}
    for name, spec in specs.items():
        assert spec.seeds == [0, 1, 2] and spec.lr_grid.extend >= 2  # >= 3 seeds, bracketed
        assert spec.out_dir == f"runs/study/{name}"
        cfgs = sweep_file.point_configs(spec, sweep_file.expand(spec)).values()
        (steps[name],) = {(c.data.prompts_per_step, c.schedule.steps, c.model.path) for c in cfgs}
        # every GRPO file spends rl.yaml's 5,120 episodes a run (the plateau files 3x that);
        # sft the same 80 x 64 demonstrations
        total = {c.derived()["episodes_total"] for c in cfgs} if name != "sft" else {80 * 64}
        assert total == {15360 if name.startswith("plateau") else 5120}, name
    assert specs["sft"].command == "sft" and "full" in specs["sft"].ranks
    assert steps["batch_4"][:2] == (4, 160) and steps["batch_32"][:2] == (32, 20)
    assert steps["width_64"] == (8, 80, "tiny-w64") and steps["rl"] == (8, 80, "tiny")
    assert steps["rl_targets"] == steps["rl"] and steps["plateau"] == (8, 240, "tiny")
    assert steps["plateau_targets"] == steps["plateau_r16"] == steps["plateau"]
    # the targets files run rank 1's mlp and attn arms
    for name in ("rl_targets", "plateau_targets"):
        arms = {(p.rank, p.targets) for p in sweep_file.expand(specs[name])}
        assert arms == {(1, "mlp"), (1, "attn")}
    assert {(p.rank, p.targets) for p in sweep_file.expand(specs["plateau"])} == {
        (1, "all"),
        ("full", None),
    }
    # one absolute grid, 4 LRs a decade, the same for every arm of every file: the LR ratio that
    # the report fits is measured, not placed by lora_lr_multiplier
    shared = [1e-4, 1.78e-4, 3.16e-4, 5.62e-4, 1e-3]
    for name, spec in specs.items():
        assert spec.lr_grid.points_per_decade == 4, name
        assert all(spec.lrs_for(r) == shared for r in spec.ranks), name


def test_smollm2_study_files_keep_their_records_and_pin_fp32(monkeypatch):
    monkeypatch.chdir(REPO)
    files = sorted((REPO / "recipes" / "study_smollm2").glob("*.yaml"))
    assert [f.stem for f in files] == ["rank1", "rank16", "targets"]
    arms = set()
    for f in files:
        spec = sweep_file.load_sweep(f)
        assert spec.out_dir == f"runs/study_smollm2/{f.stem}"
        assert spec.records == f"docs/study_smollm2/runs/{f.stem}"
        # committed as points finish: git must not ignore them (it ignores `runs/` elsewhere)
        check = subprocess.run(["git", "check-ignore", "-q", f"{spec.records}/p/summary.json"])
        assert check.returncode in (1, 128), f"{spec.records} is git-ignored"  # 128: no git repo
        assert spec.seeds == [0, 1] and spec.confirm_seeds == [2, 3, 4, 5]
        points = sweep_file.expand(spec)
        arms |= {(p.rank, p.targets) for p in points}
        for cfg in sweep_file.point_configs(spec, points).values():
            # fp32 whatever the CPU, so that points run on different machines pool
            assert cfg.model.dtype == "float32" and cfg.model.path == "smollm2-135m"
            assert (cfg.schedule.steps, cfg.data.prompts_per_step, cfg.data.heldout_size) == (
                40,
                3,
                128,
            )
    assert arms == {(1, "all"), ("full", None), (16, "all"), (1, "mlp"), (1, "attn")}


def test_log_grid_centres_lora_at_10x_fullft(tmp_path):
    grid = {"full_centre": 1e-4, "points_per_decade": 2, "count": 3}
    spec = _spec(tmp_path, ranks=[1, "full"], lr_grid=grid, seeds=[0])
    assert spec.lrs_for("full") == [3.16e-05, 1e-04, 3.16e-04]
    assert spec.lrs_for(1) == [3.16e-04, 1e-03, 3.16e-03]  # lora_lr_multiplier defaults to 10
    names = [p.name for p in sweep_file.expand(spec)]
    assert names == [
        "r1-all-lr3.16e-04-s0",
        "r1-all-lr1e-03-s0",
        "r1-all-lr3.16e-03-s0",
        "full-lr3.16e-05-s0",
        "full-lr1e-04-s0",
        "full-lr3.16e-04-s0",
    ]
    spec = _spec(
        tmp_path, ranks=[2], lr_grid=grid | {"lora_lr_multiplier": 15, "count": 1}, seeds=[0]
    )
    assert spec.lrs_for(2) == [1.5e-3]


def test_explicit_lrs_per_rank_and_batch_axis(tmp_path):
    spec = _spec(
        tmp_path,
        ranks=[1, 4],
        lrs={"lora": [1e-3], "r4": [5e-4, 2e-3]},
        targets=["all", "mlp"],
        prompts_per_step=[8, 16],
    )
    points = sweep_file.expand(spec)
    # r1: 2 targets x 1 LR x 2 batches x 2 seeds = 8; r4: 2 targets x 2 LRs x 2 x 2 = 16
    assert len(points) == 24
    p = next(p for p in points if p.name == "r4-mlp-lr5e-04-p16-s1")
    assert p.overrides[-1] == "data.prompts_per_step=16"
    assert "optimizer.lr=0.0005" in p.overrides


def test_episodes_fix_the_total_at_every_batch_size(tmp_path):
    # group_size 4 (base recipe): 96 episodes = 12 steps of 2 x 4, 6 of 4 x 4, 3 of 8 x 4
    spec = _spec(tmp_path, ranks=[1], lrs={"lora": [1e-3]}, prompts_per_step=[2, 4, 8], episodes=96)
    configs = sweep_file.point_configs(spec, sweep_file.expand(spec))
    steps = {c.data.prompts_per_step: c.schedule.steps for c in configs.values()}
    assert steps == {2: 12, 4: 6, 8: 3}
    assert all(c.derived()["episodes_total"] == 96 for c in configs.values())


def test_episodes_that_do_not_divide_name_the_field(tmp_path):
    path = _write_sweep(tmp_path, GOOD | {"prompts_per_step": [4, 8], "episodes": 48})
    with pytest.raises(ValueError, match=r"episodes: 48 is not a whole number of steps of 8 x 4"):
        sweep_file.load_sweep(path)


def test_sft_sweep_runs_grpo_lora_sft(tmp_path):
    spec = _spec(tmp_path, ranks=[1], lrs={"lora": [1e-3]}, command="sft")
    assert launch.default_train_cmd(spec)[1:] == ["-m", "grpo_lora", "sft"]
    assert launch.default_train_cmd(_spec(tmp_path, ranks=[1], lrs={"lora": [1e-3]}))[-1] == "train"
    path = _write_sweep(tmp_path, GOOD | {"command": "sft"})
    assert sweep.main([str(path), "--pack", "2"]) == 2  # sft points are never packed


# ---------------------------------------------------------------------------------------------
# Validation: every error names its field

GOOD = {
    "base": "{base}",  # replaced by a real base recipe in tmp_path
    "out_dir": "runs/x",
    "ranks": [1, "full"],
    "lrs": {"full": [1e-4], "lora": [1e-3]},
}


def _write_sweep(tmp_path: Path, fields: dict) -> Path:
    base = _spec(tmp_path, ranks=[1], lrs={"lora": [1e-3]}).base  # writes base.yaml
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({k: base if v == "{base}" else v for k, v in fields.items()}))
    return path


@pytest.mark.parametrize(
    ("change", "field"),
    [
        # the sweep file's own fields
        ({"rankz": [1]}, "rankz"),  # unknown key
        ({"ranks": [1, "fuul"]}, "ranks"),  # not an int nor "full"
        ({"ranks": [1, 1, "full"]}, "ranks"),  # duplicate
        ({"targets": ["all", "qkv"]}, "targets"),  # unknown target set
        ({"seeds": []}, "seeds"),  # no seeds
        ({"lrs": {"full": [1e-4], "loar": [1e-3]}}, "lrs"),  # bad group key
        ({"lrs": {"full": [1e-4]}}, "lrs"),  # no LR for rank 1
        ({"lr_grid": {"full_centre": 1e-4}}, "lr_grid"),  # both lrs and lr_grid
        ({"lrs": None, "lr_grid": {"full_centre": 1e-4, "count": 0}}, "lr_grid.count"),
        ({"lrs": None, "lr_grid": {"full_centre": 1e-4, "centre": 1}}, "lr_grid.centre"),
        ({"targets_at_ranks": [4]}, "targets_at_ranks"),  # 4 is not a LoRA rank here
        ({"overrides": {"optimizer.lr": 1e-3}}, "overrides"),  # an axis key
        ({"kind": "recipe"}, "kind"),
        ({"base": None}, "base"),
        # every point's trainer config (grpo_lora.config), checked before anything runs
        ({"ranks": [0]}, "lora.rank"),  # rank < 1
        ({"lrs": {"full": [-1.0], "lora": [1e-3]}}, "optimizer.lr"),  # negative LR
        ({"prompts_per_step": [8, 0]}, "data.prompts_per_step"),  # a bad batch-size axis value
        ({"overrides": {"schedule.stepz": 3}}, "schedule.stepz"),  # unknown recipe key
        ({"overrides": {"schedule.steps": "many"}}, "schedule.steps"),  # wrong type
        ({"ranks": [4], "overrides": {"engine.max_lora_rank": 2}}, "engine.max_lora_rank"),
        ({"overrides": {"optimizer.micro_batches": 3}}, "optimizer.micro_batches"),  # 16 % 3
        ({"base": "no/such/recipe.yaml"}, "recipe no/such/recipe.yaml does not exist"),
        # lr_grid.extend
        ({"lrs": None, "lr_grid": {"full_centre": 1e-4, "extend": -1}}, "lr_grid.extend"),
        ({"lrs": None, "lr_grid": {"full_centre": 1e-4, "count": 1, "extend": 1}}, "lr_grid"),
        ({"lrs": {"full": [1e-4], "lora": [1e-3], "extend": 1}}, "extend: needs lr_grid"),
        ({"extend": 1}, "extend: needs lr_grid"),  # at the top level: it belongs in lr_grid
        ({"episodes": 64}, "episodes: needs the prompts_per_step axis"),
        (
            {"prompts_per_step": [4], "episodes": 64, "overrides": {"schedule.steps": 3}},
            "overrides",
        ),
        ({"command": "rl"}, "command"),
    ],
)
def test_sweep_file_errors_name_the_field(tmp_path, change, field):
    path = _write_sweep(tmp_path, GOOD | change)
    with pytest.raises(ValueError) as err:
        sweep_file.load_sweep(path)
    assert f": {field}" in str(err.value) or f"{field}:" in str(err.value), str(err.value)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        # GOOD runs seed 0
        ({"confirm_seeds": [0, 5, 6, 7]}, "confirm_seeds: [0] also in seeds; the seeds that judge"),
        ({"confirm_seeds": [5, 6, 7]}, "confirm_seeds: give at least 4 seeds (or none), got 3"),
        ({"confirm_seeds": [5, 5, 6, 7]}, "confirm_seeds: duplicate seeds in [5, 5, 6, 7]"),
        ({"margin": 0}, "margin: Input should be greater than 0"),
        ({"margin": -0.05}, "margin: Input should be greater than 0"),
    ],
)
def test_confirm_seeds_and_margin_errors(tmp_path, change, error):
    path = _write_sweep(tmp_path, GOOD | change)
    with pytest.raises(ValueError) as err:
        sweep_file.load_sweep(path)
    assert str(err.value) == f"{path}: {error}" or str(err.value).startswith(f"{path}: {error}")
    # a good one: 4 fresh seeds and a margin, recorded for the report
    spec = sweep_file.load_sweep(_write_sweep(tmp_path, GOOD | {"confirm_seeds": [5, 6, 7, 8]}))
    assert spec.confirm_seeds == [5, 6, 7, 8] and spec.margin == 0.05


def test_config_errors_name_the_point_once_per_error(tmp_path):
    path = _write_sweep(tmp_path, GOOD | {"ranks": [0, 1, "full"], "seeds": [0, 1]})
    with pytest.raises(ValueError) as err:
        sweep_file.load_sweep(path)
    # two points have rank 0 (seeds 0 and 1): one line, naming the first
    assert str(err.value) == (
        f"{path}: point r0-all-lr1e-03-s0: lora.rank: must be >= 1 or 'full' (got 0)"
    )


def test_good_sweep_file_loads(tmp_path):
    path = _write_sweep(tmp_path, GOOD)
    spec = sweep_file.load_sweep(path)
    points = sweep_file.expand(spec)
    assert len(points) == 2
    configs = sweep_file.point_configs(spec, points)
    full = configs["full-lr1e-04-s0"]
    assert full.lora.rank == "full" and full.optimizer.lr == 1e-4
    assert full.run_dir == str(Path("runs/x") / "full-lr1e-04-s0")
    assert full.schedule.steps == 6 and full.data.prompts_per_step == 4  # from the base recipe


def test_main_exits_2_on_bad_sweep(tmp_path, capsys):
    path = _write_sweep(tmp_path, GOOD | {"seedz": [0]})
    assert sweep.main([str(path)]) == 2
    assert "seedz" in capsys.readouterr().err


def test_bad_axis_value_launches_nothing(tmp_path, monkeypatch):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_TRAIN_LOG", str(log))
    # the first point is fine; the last one's batch size is not: nothing may start
    spec = _spec(tmp_path, ranks=[1], lrs={"lora": [1e-3]}, prompts_per_step=[4, 0])
    with pytest.raises(ValueError, match=r"point r1-all-lr1e-03-p0-s0: data.prompts_per_step"):
        launch.run_sweep(spec, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert _calls(log) == [] and not Path(spec.out_dir).exists()


# ---------------------------------------------------------------------------------------------
# Reading a run in flight


def test_read_rows_tolerates_a_run_in_flight(tmp_path):
    assert runs.read_rows(tmp_path) == []  # no metrics.jsonl yet
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 0}\n{"step": 1, "reward/mean": 0.5}\n{"step": 2, "rew')
    assert runs.read_rows(tmp_path) == [{"step": 0}, {"step": 1, "reward/mean": 0.5}]
    path.write_text('{"step": 0}\n{"step": 1, "rew\n{"step": 2}\n')  # not the last line
    with pytest.raises(json.JSONDecodeError):
        runs.read_rows(tmp_path)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"time/step_s": 1.5}, 1.5),  # no eval this step
        ({"time/step_s": 21.5, "time/eval_s": 20.0}, 1.5),  # the eval is not training time
        ({"time/step_s": 1.5, "time/eval_s": None}, 1.5),  # null: a non-finite value
        ({"step": 0, "time/eval_s": 20.0}, None),  # step 0: eval only
        ({"time/step_s": None}, None),
    ],
)
def test_train_step_s(row, expected):
    assert runs.train_step_s(row) == expected


# ---------------------------------------------------------------------------------------------
# Running: skip finished, resume crashed


def test_skip_finished_and_resume_crashed(tmp_path, monkeypatch):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_TRAIN_LOG", str(log))
    monkeypatch.setenv("FAKE_TRAIN_CRASH", "full-lr1e-04-s1:3")  # dies after step 3 (ckpt at 2)
    spec = _spec(tmp_path, ranks=[1, "full"], lrs={"full": [1e-4], "lora": [1e-3]})
    out = launch.run_sweep(spec, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert [o.status for o in out] == ["finished", "finished", "finished", "failed"]
    crashed = Path(spec.out_dir) / "full-lr1e-04-s1"
    assert runs.status_of(crashed) == "crashed"
    assert len(_calls(log)) == 4 and not any("--resume" in c for c in _calls(log))
    # the command line is the trainer's contract
    first = _calls(log)[0]
    assert first[0] == spec.base
    assert first[1:] == [
        f"run_dir={Path(spec.out_dir) / 'r1-all-lr1e-03-s0'}",
        "seed=0",
        "lora.rank=1",
        "lora.targets=all",
        "optimizer.lr=0.001",
    ]

    # re-launch: the 3 finished points are skipped, the crashed one is resumed
    out = launch.run_sweep(spec, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert [o.status for o in out] == ["skipped", "skipped", "skipped", "finished"]
    assert out[-1].resumed
    calls = _calls(log)[4:]
    assert len(calls) == 1 and calls[0][-1] == "--resume" and f"run_dir={crashed}" in calls[0]
    steps = [json.loads(x)["step"] for x in (crashed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 1, 2, 3, 4, 5, 6]  # resumed from the step-2 checkpoint, no step twice
    assert out[-1].result["steps"] == 6  # the trainer's last stdout line

    # everything finished: a third launch runs nothing
    out = launch.run_sweep(spec, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert {o.status for o in out} == {"skipped"} and len(_calls(log)) == 5


def test_records_are_kept_as_points_finish_and_a_new_machine_skips_them(
    tmp_path, monkeypatch, capsys
):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_TRAIN_LOG", str(log))
    monkeypatch.setenv("FAKE_TRAIN_CRASH", "full-lr1e-04-s1:3")  # dies after step 3
    records = tmp_path / "docs" / "records"
    spec = _spec(tmp_path, ranks=[1, "full"], lrs={"full": [1e-4], "lora": [1e-3]})
    spec_path = tmp_path / "sweep.yaml"
    spec_path.write_text(yaml.safe_dump(spec.model_dump() | {"records": str(records)}))
    fake = " ".join(FAKE)
    assert sweep.main([str(spec_path), "--train-cmd", fake]) == 1  # one point failed
    # each finished point's record, written as it finished; nothing of the failed one
    kept = sorted(d.name for d in records.iterdir() if d.is_dir())
    assert kept == ["full-lr1e-04-s0", "r1-all-lr1e-03-s0", "r1-all-lr1e-03-s1"]
    for name in kept:
        got = sorted(f.name for f in (records / name).iterdir())
        assert got == ["config.yaml", "manifest.json", "metrics.jsonl.gz", "summary.json"]
    assert (records / runs.SWEEP_RECORD).exists() and (records / runs.WALL_TIMES).exists()

    # a new machine: no run directories at all. The recorded points are restored and skipped;
    # only the one that never finished runs (from step 0: its checkpoints were not recorded)
    shutil.rmtree(spec.out_dir)
    monkeypatch.delenv("FAKE_TRAIN_CRASH")
    assert sweep.main([str(spec_path), "--train-cmd", fake]) == 0
    assert "3 finished points restored" in capsys.readouterr().err
    calls = _calls(log)[4:]
    assert len(calls) == 1 and "--resume" not in calls[0]
    assert any(a.endswith("full-lr1e-04-s1") for a in calls[0])
    assert len([d for d in records.iterdir() if d.is_dir()]) == 4
    # the report of the records is the report of the runs
    found = runs.load_runs(Path(spec.out_dir))[0]
    assert len(found) == len(runs.load_runs(records)[0]) == 4


def test_a_finished_point_under_other_settings_stops_the_sweep(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FAKE_TRAIN_CRASH", raising=False)
    spec = _spec(tmp_path, ranks=[1], lrs={"lora": [1e-3]}, seeds=[0])
    spec_path = tmp_path / "sweep.yaml"
    spec_path.write_text(yaml.safe_dump(spec.model_dump()))
    fake = " ".join(FAKE)
    assert sweep.main([str(spec_path), "--train-cmd", fake]) == 0
    # the file is edited afterwards: skipping the finished point would pool two experiments
    spec_path.write_text(yaml.safe_dump(spec.model_dump() | {"overrides": {"schedule.steps": 7}}))
    for extra in (["--dry-run"], ["--train-cmd", fake]):
        assert sweep.main([str(spec_path), *extra]) == 2
        err = capsys.readouterr().err
        assert "r1-all-lr1e-03-s0: schedule.steps: 6 -> 7" in err and "other settings" in err
    # nothing ran: only the first launch recorded a wall time
    assert len((tmp_path / "runs" / runs.WALL_TIMES).read_text().splitlines()) == 1
    spec_path.write_text(yaml.safe_dump(spec.model_dump()))  # restored: skipped again
    assert sweep.main([str(spec_path), "--train-cmd", fake]) == 0


def test_failed_point_is_recorded_and_the_others_go_on(tmp_path, monkeypatch, capsys):
    """A point dies mid-run: the others finish, its failure is in its run dir's failed.json, the
    sweep exits 1 naming it on one line; the re-launch resumes it and clears the record."""
    monkeypatch.setenv("COLUMNS", "80")  # the summary stays one line in a narrow terminal
    monkeypatch.setenv("FAKE_TRAIN_CRASH", "full-lr1e-04-s1:3")
    spec = _spec(tmp_path, ranks=[1, "full"], lrs={"full": [1e-4], "lora": [1e-3]})
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(exclude_none=True)))
    assert sweep.main([str(path), "--train-cmd", " ".join(FAKE)]) == 1
    lines = capsys.readouterr().err.splitlines()
    out = Path(spec.out_dir)
    log = out / "logs" / "full-lr1e-04-s1.log"
    assert f"FAILED full-lr1e-04-s1 (exit 3: fake crash after step 3); log: {log}" in lines
    assert lines[-2].startswith("1 of 4 points failed: full-lr1e-04-s1 (exit 3); each one's")
    assert lines[-1].startswith("Sweep of 4 points done in ")
    assert "3 ran (0 resumed), 0 were already finished and 1 failed" in lines[-1]
    assert lines[-1].endswith(f"the runs are in {out} (next: grpo-lora report {out}).")
    rec = json.loads((out / "full-lr1e-04-s1" / "failed.json").read_text())
    assert (rec["exit_code"], rec["error"]) == (3, "fake crash after step 3")
    assert (rec["steps_done"], rec["steps"], rec["resumed"], rec["log"]) == (3, 6, False, str(log))
    assert rec["log_tail"][-1] == "fake crash after step 3"
    assert rec["command"].endswith("optimizer.lr=0.0001") and "seed=1" in rec["command"]
    assert not (out / "full-lr1e-04-s0" / "failed.json").exists()

    monkeypatch.delenv("FAKE_TRAIN_CRASH")
    assert sweep.main([str(path), "--train-cmd", " ".join(FAKE)]) == 0
    assert "1 ran (1 resumed), 3 were already finished and 0 failed" in capsys.readouterr().err
    assert not (out / "full-lr1e-04-s1" / "failed.json").exists()
    text = log.read_text()  # the failed attempt's output is kept
    assert "fake crash after step 3" in text and text.count("$ ") == 2


def test_point_failing_at_start_is_recorded(tmp_path, monkeypatch):
    """A trainer that dies before writing anything: its run dir is made to hold failed.json (only
    this attempt's output in it), and the re-launch starts the point fresh."""
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_TRAIN_LOG", str(log))
    monkeypatch.setenv("FAKE_TRAIN_CRASH", "r1-all-lr1e-03-s1:0")
    spec = _spec(tmp_path, ranks=[1], lrs={"lora": [1e-3]})
    out = launch.run_sweep(spec, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert [(o.status, o.exit_code) for o in out] == [("finished", 0), ("failed", 3)]
    assert out[1].error == "fake crash at start"
    run_dir = out[1].point.run_dir
    assert [p.name for p in run_dir.iterdir()] == ["failed.json"]
    rec = json.loads((run_dir / "failed.json").read_text())
    assert (rec["steps_done"], rec["log_tail"]) == (0, ["fake crash at start"])
    assert runs.status_of(run_dir) == "new"

    monkeypatch.delenv("FAKE_TRAIN_CRASH")
    out = launch.run_sweep(spec, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert [o.status for o in out] == ["skipped", "finished"] and not out[1].resumed
    assert "--resume" not in _calls(log)[-1] and not (run_dir / "failed.json").exists()


def test_parallel_runs_every_point(tmp_path, monkeypatch):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_TRAIN_LOG", str(log))
    monkeypatch.delenv("FAKE_TRAIN_CRASH", raising=False)
    spec = _spec(tmp_path, ranks=[1, 4, "full"], lrs={"full": [1e-4], "lora": [1e-3]})
    out = launch.run_sweep(spec, parallel=3, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert [o.status for o in out] == ["finished"] * 6
    assert len(_calls(log)) == 6
    assert all((p.run_dir / "summary.json").exists() for p in sweep_file.expand(spec))


def test_cli_run_and_dry_run_cost(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FAKE_TRAIN_CRASH", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    spec_path = tmp_path / "sweep.yaml"
    base = _spec(tmp_path, ranks=[1], lrs={"lora": [1e-3]}).base  # writes base.yaml
    spec_path.write_text(
        yaml.safe_dump(
            {
                "base": base,
                "out_dir": str(tmp_path / "runs"),
                "ranks": [1, "full"],
                "lrs": {"full": [1e-4], "lora": [1e-3, 1e-2]},
                "overrides": {"schedule.steps": 10},
            }
        )
    )
    assert sweep.main([str(spec_path), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "3 points" in text and "r1-all-lr1e-02-s0" in text
    assert "10 x 4 x 4 = 160" in text  # steps x prompts_per_step x group_size
    assert "480 in all" in text and "unknown until one point has finished" in text
    # the config's defaults: evals at steps 0 and 10 (eval_every 25), 256 problems x (8 + 1 greedy)
    assert "2 x 256 x (8+1) = 4,608" in text and "13,824 in all" in text

    fake = " ".join(FAKE)
    # run only FullFT first: a sweep file whose grid is a subset, same out_dir
    sub = tmp_path / "sub.yaml"
    sub.write_text(spec_path.read_text().replace("- 1\n- full", "- full"))
    assert sweep.main([str(sub), "--train-cmd", fake]) == 0
    (timed,) = [
        json.loads(x) for x in (tmp_path / "runs" / runs.WALL_TIMES).read_text().splitlines()
    ]
    assert timed["finished"] == 1 and timed["skipped"] == 0 and timed["wall_s"] > 0
    assert sweep.main([str(spec_path), "--dry-run", "--parallel", "2"]) == 0
    text = capsys.readouterr().out
    assert "done (skip)" in text and "320 still to run" in text
    # the fake FullFT: 0.3 s per train step (its eval rows' time/eval_s taken off) and wall_s =
    # 2 s + 10 x 0.3 s, so 5 s a point; the LoRA points use the overall median: 15 s in all
    assert "15 s in all, 10 s still to run one after another, ~5 s at --parallel 2" in text


@pytest.mark.parametrize(
    ("steps", "every", "expected"),
    [
        (100, 25, 5),  # 0, 25, 50, 75, 100
        (80, 25, 5),  # 0, 25, 50, 75 and the end, 80
        (80, 0, 2),  # start and end only
        (1, 0, 2),
    ],
)
def test_n_evals_counts_the_trainers_evals(steps, every, expected):
    from grpo_lora.config import load_config

    cfg = load_config(None, [f"schedule.steps={steps}", f"logging.eval_every={every}"])
    assert cost.n_evals(cfg) == expected


# ---------------------------------------------------------------------------------------------
# The real trainer


@pytest.mark.slow
def test_real_sweep_then_report(tiny_path, tmp_path, monkeypatch):
    """Rank-1 LoRA and FullFT, 2 steps each, through `python -m grpo_lora train` at --parallel 2,
    then the report on the real run directories (about 30 s on 2 CPU cores)."""
    from grpo_lora.study import report

    monkeypatch.setenv("GRPO_LORA_CACHE", str(tiny_path.parent))  # the trainers find the same build
    small = {
        "schedule.steps": 2,
        "data.prompts_per_step": 4,
        "data.group_size": 4,
        "data.heldout_size": 32,
        "logging.eval_k": 4,
        "logging.tensorboard": False,
        "engine.cpu_kv_cache_gb": 0.25,
    }
    spec = sweep_file.SweepFile.model_validate(
        {
            "base": str(REPO / "recipes" / "tiny_lora_r1.yaml"),
            "out_dir": str(tmp_path / "runs"),
            "overrides": small,
            "ranks": [1, "full"],
            "lrs": {"full": [2e-4], "lora": [1e-3]},
        }
    )
    out = launch.run_sweep(spec, parallel=2, console=_quiet(), poll_s=0.2)
    assert [o.status for o in out] == ["finished", "finished"], [str(o.log) for o in out]
    params = {}
    for o in out:
        d = o.point.run_dir
        cfg = yaml.safe_load((d / "config.yaml").read_text())
        assert cfg["lora"]["rank"] == o.point.rank and cfg["optimizer"]["lr"] == o.point.lr
        params[o.point.rank] = json.loads((d / "manifest.json").read_text())["trainable_params"]
        rows = runs.read_rows(d)
        assert [r["step"] for r in rows] == [0, 1, 2]
        assert rows[-1]["episodes"] == 2 * 4 * 4 and "eval/pass1" in rows[-1]
        assert o.result["steps"] == 2  # the trainer's summary line
    assert 0 < params[1] < params["full"]

    md = report.write_report(Path(spec.out_dir)).read_text()
    assert f"| 1 | all | {params[1]:,} | 1e-03 (only LR) |" in md
    assert f"| full | - | {params['full']:,} | 2e-04 (only LR) |" in md
    assert "2 finished runs" in md and "fewer than 3 LRs" in md
    assert "**Best LR ratio, LoRA r=1 (all) (claim 2: ~10x)**: **cannot tell**" in md
    for fig in ("fig_lr.png", "fig_curves.png", "fig_capacity.png", "fig_cost.png"):
        assert (Path(spec.out_dir) / fig).stat().st_size > 10_000

    measured = cost.measure(sweep_file.expand(spec))  # what --dry-run estimates from
    assert set(measured.step_s) == {(1, "all"), ("full", None), ()}
    assert measured.eval_s > 0 and measured.fixed_s > 0 and measured.lora_peak_mb > 0
    again = launch.run_sweep(spec, parallel=2, console=_quiet(), poll_s=0.2)
    assert [o.status for o in again] == ["skipped", "skipped"]


def test_pack_groups_lora_points_and_caps_by_memory(tmp_path):
    spec = _spec(tmp_path, ranks=[1, 4, "full"], lrs={"full": [1e-4], "lora": [1e-3, 3e-3]})
    points = sweep_file.expand(spec)
    units = launch.packs(points, sweep_file.point_configs(spec, points), 3)
    # 8 LoRA points (2 ranks x 2 LRs x 2 seeds) in packs of 3, 3 and 2; each FullFT point alone
    assert sorted(len(u) for u in units) == [1, 1, 2, 3, 3]
    assert all(p.rank != "full" for u in units if len(u) > 1 for p in u)
    assert sorted(p.name for u in units for p in u) == sorted(p.name for p in points)
    cmd = launch.command_for(units[0], spec, ["train"], resume=True)
    assert cmd.count("--point") == len(units[0]) and cmd[-1] == "--resume"
    assert f"run_dir={units[0][1].run_dir}" in cmd[cmd.index("--point") + 3]
    m = cost.Measured({}, None, None, lora_peak_mb=1000.0, lora_params=1_000_000)
    assert cost.pack_cap(m, 8, available_mb=10_000)[0] == 8
    k, text = cost.pack_cap(m, 8, available_mb=1_100)  # room for one point only
    assert k == 1 and "capped to 1" in text


# ---------------------------------------------------------------------------------------------
# Bracketed optima: lr_grid.extend


def test_extension_lrs_by_hand(tmp_path):
    """The bracketing decision on hand-made final rewards (arm -> LR -> one per seed). Grids:
    FullFT 3.16e-5, 1e-4, 3.16e-4; LoRA 3.16e-4, 1e-3, 3.16e-3; a step is x10**0.5, extend 2."""
    grid = {"full_centre": 1e-4, "points_per_decade": 2, "count": 3, "extend": 2}
    spec = _spec(tmp_path, ranks=[1, 4, "full"], targets=["all", "mlp", "attn"], lr_grid=grid)
    rewards = {
        # seed means 0.55, 0.50, 0.30: best 3.16e-5, the low edge, never passed -> 1e-4 / 10
        ("full", None, None): {3.16e-5: [0.5, 0.6], 1e-4: [0.5, 0.5], 3.16e-4: [0.3, 0.3]},
        # the best single seed (0.9) is on the edge, but the seed means put 1e-3 inside: none
        (1, "all", None): {3.16e-4: [0.9, 0.1], 1e-3: [0.6, 0.6], 3.16e-3: [0.2, 0.2]},
        # high edge 1e-2, passed once (1e-2 > 3.16e-3) -> 1e-3 x 10**1.5 = 3.16e-2
        (4, "all", None): {3.16e-4: [0.1], 1e-3: [0.2], 3.16e-3: [0.3], 1e-2: [0.4]},
        # low edge passed twice already (1e-4, 3.16e-5): at the limit, none
        (1, "mlp", None): {3.16e-5: [0.9], 1e-4: [0.8], 3.16e-4: [0.7], 1e-3: [0.6], 3.16e-3: [0]},
        # a tie goes to the smaller LR, as in the report: 3.16e-4, the low edge -> 1e-4
        (1, "attn", None): {3.16e-4: [0.5], 1e-3: [0.5], 3.16e-3: [0.4]},
        # no rewards yet: no best, none
        (4, "mlp", None): {3.16e-4: [], 1e-3: [], 3.16e-3: []},
    }
    assert rounds.extension_lrs(spec, rewards) == {
        ("full", None, None): 1e-5,
        (4, "all", None): 3.16e-2,
        (1, "attn", None): 1e-4,
    }
    # the report's best LR and edge, which the sweep reuses
    assert scores.best_lr(rewards[(1, "all", None)]) == 1e-3
    assert scores.grid_edge([1e-3, 3.16e-3], 1e-3) == "low"
    assert scores.grid_edge([1e-3], 1e-3) is None  # one LR: no edge, never extended
    # extend 0 (the default): nothing, and no run directory is read
    spec = _spec(tmp_path, ranks=[1], lr_grid=grid | {"extend": 0})
    assert rounds.extension_lrs(spec, {(1, "all", None): rewards[(1, "attn", None)]}) == {}
    assert rounds.extension_points(spec, sweep_file.expand(spec)) == []


# The fake trainer's optimum is 1e-4 for FullFT, 1e-3 for LoRA (tests/fake_train.py). With the grid
# centred at 1e-3 for both, FullFT runs 3.16e-4, 1e-3, 3.16e-3 (best at the low edge; the next LRs
# below are 1e-4, the optimum, then 3.16e-5) and rank 1 runs the same LRs, its best inside.
EXTEND_GRID = {"full_centre": 1e-3, "points_per_decade": 2, "count": 3, "lora_lr_multiplier": 1}


def _lr_of(call: list[str]) -> tuple[str, str]:
    """(run dir name, optimizer.lr) of one fake trainer call."""
    ov = dict(a.split("=", 1) for a in call[1:] if "=" in a)
    return Path(ov["run_dir"]).name, ov["optimizer.lr"]


def _console() -> Console:
    return Console(file=io.StringIO(), width=300)


def test_sft_extension_follows_the_lowest_held_out_loss(tmp_path):
    lrs = [3.16e-5, 1e-4, 3.16e-4]  # FullFT grid around 1e-4; its loss falls to the top edge
    spec = _spec(
        tmp_path,
        ranks=["full"],
        command="sft",
        lr_grid={"full_centre": 1e-4, "count": 3, "extend": 1},
        seeds=[0],
    )
    points = sweep_file.expand(spec)
    assert [p.lr for p in points] == lrs
    for p, loss in zip(points, (0.03, 0.02, 0.01)):
        p.run_dir.mkdir(parents=True)
        cfg = sweep_file.point_configs(spec, [p])[p.name]
        (p.run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
        rows = [{"step": 0, "eval/logloss": 0.05}, {"step": 6, "eval/logloss": loss}]
        (p.run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (p.run_dir / "summary.json").write_text(json.dumps({"command": "sft", "steps": 6}))
    (new,) = rounds.extension_points(spec, points)  # the lowest loss is at the highest LR
    assert new.lr == 1e-3 and new.rank == "full"


def test_extension_stops_at_the_limit_and_the_report_flags_the_edge(tmp_path, monkeypatch):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_TRAIN_LOG", str(log))
    monkeypatch.delenv("FAKE_TRAIN_CRASH", raising=False)
    spec = _spec(tmp_path, ranks=[1, "full"], lr_grid=EXTEND_GRID | {"extend": 1})
    console = _console()
    out = launch.run_sweep(spec, train_cmd=FAKE, console=console, poll_s=0.02)
    base = [p.name for p in sweep_file.expand(spec)]
    assert [o.point.name for o in out] == [*base, "full-lr1e-04-s0", "full-lr1e-04-s1"]
    assert {o.status for o in out} == {"finished"}
    assert [_lr_of(c) for c in _calls(log)[12:]] == [
        ("full-lr1e-04-s0", "0.0001"),
        ("full-lr1e-04-s1", "0.0001"),
    ]
    text = console.file.getvalue()
    lines = text.splitlines()
    assert "LR extension round 1 (best LR on an edge): full-lr1e-04-s0, full-lr1e-04-s1" in lines
    assert "LR extension round 2" not in text
    # 1e-4 is the best and the lowest LR run: the limit (1) is reached, so it is said; r1 is inside
    assert [line for line in lines if "still the" in line] == [
        "full: best LR 1e-04 is still the lowest it ran, after lr_grid.extend = 1 extension(s); "
        "its optimum may lie beyond (raise lr_grid.extend to look further)"
    ]

    # the report reads the extension as part of FullFT's grid, and flags its best on the edge
    arms = group_arms(runs.load_runs(Path(spec.out_dir))[0])
    assert list(arms[("full", None)].cells) == [1e-4, 3.16e-4, 1e-3, 3.16e-3]
    assert arms[("full", None)].best.lr == 1e-4 and arms[("full", None)].best_at_edge
    assert arms[(1, "all")].best.lr == 1e-3 and not arms[(1, "all")].best_at_edge
    md = report.write_report(Path(spec.out_dir)).read_text()
    assert "| full | - | 500,000 | 1e-04 (grid edge) |" in md

    # re-launching the same sweep runs nothing: the same extension is derived, and finished
    out = launch.run_sweep(spec, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert len(out) == 14 and {o.status for o in out} == {"skipped"}
    assert len(_calls(log)) == 14


def test_extension_resumes_after_a_crash_and_stops_inside(tmp_path, monkeypatch):
    """A point of the first extension round dies: that launch extends FullFT no further; the
    re-launch re-derives the round, resumes the point, then runs the second round, after which
    FullFT's best (1e-4) is inside its LRs and the sweep stops short of extend = 3."""
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_TRAIN_LOG", str(log))
    monkeypatch.setenv("FAKE_TRAIN_CRASH", "full-lr1e-04-s1:3")
    spec = _spec(tmp_path, ranks=[1, "full"], lr_grid=EXTEND_GRID | {"extend": 3})
    out = launch.run_sweep(spec, parallel=2, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert [(o.point.name, o.status) for o in out[12:]] == [
        ("full-lr1e-04-s0", "finished"),
        ("full-lr1e-04-s1", "failed"),
    ]
    assert len(out) == 14 and len(_calls(log)) == 14

    monkeypatch.delenv("FAKE_TRAIN_CRASH")
    console = _console()
    out = launch.run_sweep(spec, parallel=2, train_cmd=FAKE, console=console, poll_s=0.02)
    calls = _calls(log)[14:]
    assert calls[0][-1] == "--resume" and _lr_of(calls[0]) == ("full-lr1e-04-s1", "0.0001")
    assert sorted(_lr_of(c) for c in calls[1:]) == [
        ("full-lr3.16e-05-s0", "3.16e-05"),
        ("full-lr3.16e-05-s1", "3.16e-05"),
    ]
    assert [(o.point.name, o.status) for o in out[12:]] == [
        ("full-lr1e-04-s0", "skipped"),
        ("full-lr1e-04-s1", "finished"),
        ("full-lr3.16e-05-s0", "finished"),
        ("full-lr3.16e-05-s1", "finished"),
    ]
    assert out[13].resumed and "still the" not in console.file.getvalue()
    arms = group_arms(runs.load_runs(Path(spec.out_dir))[0])
    assert arms[("full", None)].best.lr == 1e-4 and not arms[("full", None)].best_at_edge

    out = launch.run_sweep(spec, parallel=2, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert len(out) == 16 and {o.status for o in out} == {"skipped"} and len(_calls(log)) == 17


def test_dry_run_states_the_most_the_extension_can_add(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")  # the note stays one line in a narrow terminal
    spec = _spec(tmp_path, ranks=[1, "full"], lr_grid=EXTEND_GRID | {"extend": 2})
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(exclude_none=True)))
    assert sweep.main([str(path), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    note = next(line for line in lines if line.startswith("lr_grid.extend = 2"))
    # 2 arms x 2 seeds, one more LR a round, at most 2 rounds
    assert "up to 2 more round(s), at most 8 more points" in note


# ---------------------------------------------------------------------------------------------
# Choose on one set of seeds, judge on another: confirm_seeds


def _grpo_run(spec: sweep_file.SweepFile, p: sweep_file.Point, reward: float, pass1: float) -> None:
    """A finished GRPO run of point `p` whose final reward and held-out pass@1 are given."""
    p.run_dir.mkdir(parents=True)
    cfg = sweep_file.point_configs(spec, [p])[p.name]
    (p.run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    rows = [{"step": 0, "eval/pass1": 0.2}, {"step": 6, "reward/mean": reward, "eval/pass1": pass1}]
    (p.run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (p.run_dir / "summary.json").write_text(json.dumps({"steps": 6}))


def test_extension_and_confirmation_follow_held_out_pass1(tmp_path):
    """FullFT's training reward rises to its top LR, its held-out pass@1 peaks inside (1e-4): it is
    not extended, and its confirmation points run 1e-4. Rank 1's pass@1 is best at its lowest LR:
    it is extended (with extend 1) and, its optimum not found, gets no confirmation points."""
    grid = {"full_centre": 1e-4, "count": 3, "lora_lr_multiplier": 10}
    fields = {"ranks": [1, "full"], "confirm_seeds": [10, 11, 12, 13]}
    spec = _spec(tmp_path, lr_grid=grid, **fields)
    points = sweep_file.expand(spec)
    scores = {  # (rank, LR index) -> (final reward, held-out pass@1)
        ("full", 0): (0.3, 0.3),
        ("full", 1): (0.5, 0.6),
        ("full", 2): (0.7, 0.4),
        (1, 0): (0.3, 0.6),
        (1, 1): (0.6, 0.5),
        (1, 2): (0.5, 0.4),
    }
    lrs = {r: spec.lrs_for(r) for r in (1, "full")}
    for p in points:
        _grpo_run(spec, p, *scores[(p.rank, lrs[p.rank].index(p.lr))])
    extended = rounds.extension_points(
        _spec(tmp_path, lr_grid=grid | {"extend": 1}, **fields), points
    )
    assert sorted(p.name for p in extended) == ["r1-all-lr1e-04-s0", "r1-all-lr1e-04-s1"]
    confirm = rounds.confirmation_points(spec, points)
    assert [p.name for p in confirm] == [f"full-lr1e-04-s{s}" for s in (10, 11, 12, 13)]
    assert all(p.lr == 1e-4 and p.rank == "full" for p in confirm)
    assert rounds.next_round(spec, points) == ("confirmation", confirm)
    # the confirmation runs' own scores choose nothing: the same round, then nothing left
    for p in confirm:
        _grpo_run(spec, p, 0.9, 0.0)
    assert rounds.confirmation_points(spec, points + confirm) == confirm
    assert rounds.next_round(spec, points + confirm) == ("", [])
    # without confirm_seeds: no round (today's behaviour)
    assert (
        rounds.confirmation_points(_spec(tmp_path, lr_grid=grid, ranks=[1, "full"]), points) == []
    )


def test_sweep_confirms_each_arms_best_lr_on_fresh_seeds(tmp_path, monkeypatch, capsys):
    """With the fake trainer (optimum 1e-3 for LoRA, 1e-4 for FullFT) on EXTEND_GRID: rank 1's best
    (1e-3) is inside its LRs and is confirmed on seeds 10-13; FullFT's best (3.16e-4) is its lowest
    LR, so it gets none. The report judges rank 1 on its confirmation seeds alone."""
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_TRAIN_LOG", str(log))
    monkeypatch.delenv("FAKE_TRAIN_CRASH", raising=False)
    confirm = [10, 11, 12, 13]
    spec = _spec(
        tmp_path, ranks=[1, "full"], lr_grid=EXTEND_GRID, confirm_seeds=confirm, margin=0.04
    )
    out_dir = Path(spec.out_dir)
    console = _console()
    out = launch.run_sweep(spec, parallel=2, train_cmd=FAKE, console=console, poll_s=0.02)
    names = [f"r1-all-lr1e-03-s{s}" for s in confirm]
    assert [o.point.name for o in out[12:]] == names and len(out) == 16
    assert {o.status for o in out} == {"finished"}
    assert sorted(_lr_of(c) for c in _calls(log)[12:]) == [(n, "0.001") for n in names]
    lines = console.file.getvalue().splitlines()
    assert f"Confirmation round (each arm's best LR, seeds {confirm}): " + ", ".join(names) in lines
    assert any(
        line.startswith("full: best LR 3.16e-04 is still the lowest it ran")
        and line.endswith("; no confirmation points for it")
        for line in lines
    )
    assert json.loads((out_dir / "sweep.json").read_text()) == {
        "margin": 0.04,
        "selection_seeds": [0, 1],
        "confirm_seeds": confirm,
    }
    # a re-launch derives the same round from the finished runs, and runs nothing
    out = launch.run_sweep(spec, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert len(out) == 16 and {o.status for o in out} == {"skipped"} and len(_calls(log)) == 16

    # the report: rank 1 chosen on seeds 0, 1 and judged on 10-13; FullFT on its own seeds
    arms = group_arms(runs.load_runs(out_dir)[0])
    r1 = arms[(1, "all")]
    assert r1.best.lr == 1e-3 and sorted(r1.best.held_seeds) == [0, 1]
    assert r1.confirmed and sorted(r1.judged.held_seeds) == confirm
    assert not arms[("full", None)].confirmed
    md = report.write_report(out_dir).read_text()
    assert (
        "LoRA r=1 (all) (LR 1e-03) - FullFT (LR 3.16e-04), unpaired (Welch) (FullFT: LR chosen "
        "on the same seeds: winner's curse)"
    ) in md
    assert "margin ±0.040" in md and "margin ±0.050" not in md
    assert "(seeds 10,11,12,13) |" in md  # (d): rank 1's pass@1 on its confirmation seeds

    # --dry-run says how many points the round can add: 2 arms x 4 seeds
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(exclude_none=True)))
    monkeypatch.setenv("COLUMNS", "80")
    assert sweep.main([str(path), "--dry-run"]) == 0
    note = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("confirm_seeds"))
    assert "2 arms x 4 seeds = at most 8 more points" in note
