"""grpo_lora.sweep: grid expansion, validation, skip/resume, --parallel and --dry-run, with a fake
trainer (tests/fake_train.py) in place of `python -m grpo_lora.train`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from grpo_lora import sweep

REPO = Path(__file__).resolve().parents[1]
FAKE = [sys.executable, str(REPO / "tests" / "fake_train.py")]


def _spec(tmp_path: Path, **fields) -> sweep.SweepFile:
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
    return sweep.SweepFile.model_validate(raw)


def _quiet() -> Console:
    return Console(file=open("/dev/null", "w"), width=120)  # noqa: SIM115


def _calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(x)["argv"] for x in log.read_text().splitlines()]


# ---------------------------------------------------------------------------------------------
# Grid expansion


def test_study_tiny_expands_to_36_named_points():
    spec = sweep.load_sweep(REPO / "recipes" / "study_tiny.yaml")
    points = sweep.expand(spec)
    # r1: 3 targets x 3 LRs x 2 seeds = 18; r4, r16: 2 x 3 x 2 = 12; full: 3 x 2 = 6
    assert len(points) == 36
    names = {p.name for p in points}
    assert {"r1-all-lr1e-03-s0", "r1-mlp-lr3e-03-s1", "r1-attn-lr1e-02-s0"} <= names
    assert {"r4-all-lr1e-02-s1", "r16-all-lr1e-03-s0", "full-lr1e-04-s0", "full-lr1e-03-s1"} <= names
    assert not any(n.startswith(("r4-mlp", "r16-attn", "full-all")) for n in names)
    assert sum(p.rank == "full" for p in points) == 6
    assert sum(p.targets == "attn" for p in points) == 6
    # every point of one seed passes the same seed= (hence the same data order)
    seeds = {p.seed: {o for o in p.overrides if o.startswith("seed=")} for p in points}
    assert seeds == {0: {"seed=0"}, 1: {"seed=1"}}
    full = next(p for p in points if p.name == "full-lr1e-04-s0")
    assert "lora.rank=full" in full.overrides
    assert not any(o.startswith("lora.targets") for o in full.overrides)


def test_log_grid_centres_lora_at_10x_fullft(tmp_path):
    grid = {"full_centre": 1e-4, "points_per_decade": 2, "count": 3}
    spec = _spec(tmp_path, ranks=[1, "full"], lr_grid=grid, seeds=[0])
    assert spec.lrs_for("full") == [3.16e-05, 1e-04, 3.16e-04]
    assert spec.lrs_for(1) == [3.16e-04, 1e-03, 3.16e-03]  # lora_lr_multiplier defaults to 10
    names = [p.name for p in sweep.expand(spec)]
    assert names == [
        "r1-all-lr3.16e-04-s0",
        "r1-all-lr1e-03-s0",
        "r1-all-lr3.16e-03-s0",
        "full-lr3.16e-05-s0",
        "full-lr1e-04-s0",
        "full-lr3.16e-04-s0",
    ]
    spec = _spec(tmp_path, ranks=[2], lr_grid=grid | {"lora_lr_multiplier": 15, "count": 1}, seeds=[0])
    assert spec.lrs_for(2) == [1.5e-3]


def test_explicit_lrs_per_rank_and_batch_axis(tmp_path):
    spec = _spec(
        tmp_path,
        ranks=[1, 4],
        lrs={"lora": [1e-3], "r4": [5e-4, 2e-3]},
        targets=["all", "mlp"],
        prompts_per_step=[8, 16],
    )
    points = sweep.expand(spec)
    # r1: 2 targets x 1 LR x 2 batches x 2 seeds = 8; r4: 2 targets x 2 LRs x 2 x 2 = 16
    assert len(points) == 24
    p = next(p for p in points if p.name == "r4-mlp-lr5e-04-p16-s1")
    assert p.overrides[-1] == "data.prompts_per_step=16"
    assert "optimizer.lr=0.0005" in p.overrides


# ---------------------------------------------------------------------------------------------
# Validation: every error names its field

GOOD = {"base": "b.yaml", "out_dir": "runs/x", "ranks": [1, "full"], "lrs": {"full": [1e-4], "lora": [1e-3]}}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rankz": [1]}, "rankz"),  # unknown key
        ({"ranks": [1, "fuul"]}, "ranks"),  # not an int nor "full"
        ({"ranks": [0]}, "ranks"),  # rank < 1
        ({"ranks": [1, 1, "full"]}, "ranks"),  # duplicate
        ({"targets": ["all", "qkv"]}, "targets"),  # unknown target set
        ({"seeds": []}, "seeds"),  # no seeds
        ({"lrs": {"full": [1e-4], "loar": [1e-3]}}, "lrs"),  # bad group key
        ({"lrs": {"full": [1e-4]}}, "lrs"),  # no LR for rank 1
        ({"lrs": {"full": [-1.0], "lora": [1e-3]}}, "lrs"),  # negative LR
        ({"lr_grid": {"full_centre": 1e-4}}, "lr_grid"),  # both lrs and lr_grid
        ({"lrs": None, "lr_grid": {"full_centre": 1e-4, "count": 0}}, "lr_grid.count"),
        ({"lrs": None, "lr_grid": {"full_centre": 1e-4, "centre": 1}}, "lr_grid.centre"),
        ({"targets_at_ranks": [4]}, "targets_at_ranks"),  # 4 is not a LoRA rank here
        ({"overrides": {"optimizer.lr": 1e-3}}, "overrides"),  # an axis key
        ({"kind": "recipe"}, "kind"),
        ({"base": None}, "base"),
    ],
)
def test_sweep_file_errors_name_the_field(tmp_path, change, field):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(GOOD | change))
    with pytest.raises(ValueError) as err:
        sweep.load_sweep(path)
    assert f": {field}" in str(err.value) or f"{field}:" in str(err.value), str(err.value)


def test_good_sweep_file_loads(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    assert len(sweep.expand(sweep.load_sweep(path))) == 2


def test_main_exits_2_on_bad_sweep(tmp_path, capsys):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(GOOD | {"seedz": [0]}))
    assert sweep.main([str(path)]) == 2
    assert "seedz" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Running: skip finished, resume crashed


def test_skip_finished_and_resume_crashed(tmp_path, monkeypatch):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_TRAIN_LOG", str(log))
    monkeypatch.setenv("FAKE_TRAIN_CRASH", "full-lr1e-04-s1:3")  # dies after step 3 (ckpt at 2)
    spec = _spec(tmp_path, ranks=[1, "full"], lrs={"full": [1e-4], "lora": [1e-3]})
    out = sweep.run_sweep(spec, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert [o.status for o in out] == ["finished", "finished", "finished", "failed"]
    crashed = Path(spec.out_dir) / "full-lr1e-04-s1"
    assert sweep.status_of(crashed) == "crashed"
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
    out = sweep.run_sweep(spec, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert [o.status for o in out] == ["skipped", "skipped", "skipped", "finished"]
    assert out[-1].resumed
    calls = _calls(log)[4:]
    assert len(calls) == 1 and calls[0][-1] == "--resume" and f"run_dir={crashed}" in calls[0]
    steps = [json.loads(x)["step"] for x in (crashed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 1, 2, 3, 4, 5, 6]  # resumed from the step-2 checkpoint, no step twice
    assert out[-1].result["steps"] == 6  # the trainer's last stdout line

    # everything finished: a third launch runs nothing
    out = sweep.run_sweep(spec, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert {o.status for o in out} == {"skipped"} and len(_calls(log)) == 5


def test_parallel_runs_every_point(tmp_path, monkeypatch):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_TRAIN_LOG", str(log))
    monkeypatch.delenv("FAKE_TRAIN_CRASH", raising=False)
    spec = _spec(tmp_path, ranks=[1, 4, "full"], lrs={"full": [1e-4], "lora": [1e-3]})
    out = sweep.run_sweep(spec, parallel=3, train_cmd=FAKE, console=_quiet(), poll_s=0.02)
    assert [o.status for o in out] == ["finished"] * 6
    assert len(_calls(log)) == 6
    assert all((p.run_dir / "summary.json").exists() for p in sweep.expand(spec))


def test_cli_run_and_dry_run_cost(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FAKE_TRAIN_CRASH", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    spec_path = tmp_path / "sweep.yaml"
    base = _spec(tmp_path, ranks=[1], lrs={"lora": [1e-3]}).base  # writes base.yaml
    spec_path.write_text(
        yaml.safe_dump(
            {"base": base, "out_dir": str(tmp_path / "runs"), "ranks": [1, "full"],
             "lrs": {"full": [1e-4], "lora": [1e-3, 1e-2]}, "overrides": {"schedule.steps": 10}}
        )
    )
    assert sweep.main([str(spec_path), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "3 points" in text and "r1-all-lr1e-02-s0" in text
    assert "10 x 4 x 4 = 160" in text  # steps x prompts_per_step x group_size
    assert "480 in all" in text and "unknown until one point has finished" in text

    fake = " ".join(FAKE)
    # run only FullFT first: a sweep file whose grid is a subset, same out_dir
    sub = tmp_path / "sub.yaml"
    sub.write_text(spec_path.read_text().replace("- 1\n- full", "- full"))
    assert sweep.main([str(sub), "--train-cmd", fake]) == 0
    assert sweep.main([str(spec_path), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "done (skip)" in text and "320 still to run" in text
    # time/step_s of the fake FullFT is 0.3 s: 10 steps = 3 s per point, 9 s in all
    assert "9 s in all, 6 s still to run" in text
