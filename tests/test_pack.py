"""Packed runs (`grpo_lora.rl.pack`, `grpo-lora sweep --pack K`) on the tiny policy with the real vLLM
engine: two LoRA runs of different ranks, learning rates and seeds, packed in one process, write
the metrics rows each writes alone; a packed run killed with SIGKILL resumes to the same rows; one
packed run that fails leaves the other to finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from test_trainer import FAST, ROOT, untimed

from grpo_lora.config import load_config
from grpo_lora.metrics import read_metrics

pytestmark = pytest.mark.slow

RECIPE = str(ROOT / "recipes" / "tiny_lora_r1.yaml")
SHARED = [*FAST, "schedule.steps=3", "checkpoint.every=1", "logging.eval_every=0"]
# two points that differ in everything a pack allows: rank, alpha, LR, seed (so the data order);
# with dropout, so that each run's own random streams show in its rows
POINTS = [
    "lora.rank=1 lora.dropout=0.1 optimizer.lr=3e-3 seed=0",
    "lora.rank=2 lora.alpha=16 lora.dropout=0.1 optimizer.lr=1e-3 seed=1",
]


def _cmd(run_dirs, resume=False):
    points = [a for d, p in zip(run_dirs, POINTS) for a in ("--point", f"{p} run_dir={d}")]
    return [sys.executable, "-m", "grpo_lora", "train", RECIPE, *SHARED, *points] + (
        ["--resume"] if resume else []
    )


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """Each point trained by itself: its metrics rows."""
    rows = []
    for i, point in enumerate(POINTS):
        run_dir = tmp_path_factory.mktemp("alone") / f"p{i}"
        cmd = [sys.executable, "-m", "grpo_lora", "train", RECIPE, *SHARED, *point.split()]
        proc = subprocess.run(
            [*cmd, f"run_dir={run_dir}"], capture_output=True, text=True, cwd=ROOT, timeout=600
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows.append(read_metrics(run_dir))
    return rows


# The engine-vs-trainer log-prob gap is rounding noise whose size depends on what else shares the
# engine's batch (in a pack: the other points' sequences), so it is held to rounding level, not
# equality; with dropout the gap is the dropout masks' (the same in a pack, as the streams are),
# rounding noise on top.
ROUNDING_GAUGES = {"engine/logp_diff_mean", "engine/logp_diff_max"}


def _same_rows(got, want):
    assert [r["step"] for r in got] == [r["step"] for r in want] == [0, 1, 2, 3]
    for g, w in zip(untimed(got), untimed(want)):
        assert g.keys() == w.keys()
        for k in w:
            if k in ROUNDING_GAUGES:
                assert g[k] == pytest.approx(w[k], rel=1e-3, abs=1e-4), (g["step"], k, g[k], w[k])
            else:
                assert g[k] == pytest.approx(w[k], rel=1e-4, abs=1e-6), (g["step"], k)


def test_packed_runs_write_the_rows_they_write_alone(tmp_path, tiny_path, alone):
    dirs = [tmp_path / "p0", tmp_path / "p1"]
    proc = subprocess.run(_cmd(dirs), capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [s["run_dir"] for s in summaries] == [str(d) for d in dirs]
    for d, want in zip(dirs, alone):
        _same_rows(read_metrics(d), want)
        assert (d / "summary.json").exists() and (d / "checkpoints").is_dir()
    # the rank-2 point's adapter is its own: rank 2, in peft's format
    latest = dirs[1] / "checkpoints" / (dirs[1] / "checkpoints" / "latest").read_text()
    cfg = json.loads((latest / "adapter" / "adapter_config.json").read_text())
    assert cfg["r"] == 2 and cfg["lora_alpha"] == 16


def test_packed_run_killed_resumes_to_the_same_rows(tmp_path, tiny_path, alone):
    dirs = [tmp_path / "p0", tmp_path / "p1"]
    proc = subprocess.Popen(_cmd(dirs), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    # wait until both have checkpointed step 2, then kill mid step 3
    while not all((d / "checkpoints" / "step_000002").exists() for d in dirs):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-3000:]
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    again = subprocess.run(
        _cmd(dirs, resume=True), capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert again.returncode == 0, again.stderr[-3000:]
    for d, want in zip(dirs, alone):
        _same_rows(read_metrics(d), want)


def test_one_failing_run_leaves_the_other_to_finish(tmp_path, tiny_path, monkeypatch):
    from grpo_lora.rl import pack
    from grpo_lora.rl.trainer import RunError

    cfgs = [
        load_config(RECIPE, [*SHARED, *p.split(), f"run_dir={tmp_path / f'p{i}'}"])
        for i, p in enumerate(POINTS)
    ]
    real_step = pack.train_step

    def failing_step(run, step, sampled, ahead):
        if run.policy.adapter == "run1" and step == 1:  # the second run's second step
            raise FloatingPointError("injected fault")
        return real_step(run, step, sampled, ahead)

    monkeypatch.setattr(pack, "train_step", failing_step)
    with pytest.raises(RunError, match="1 of 2 packed runs failed: p1: step 2 failed"):
        pack.train_pack(cfgs)
    ok, bad = tmp_path / "p0", tmp_path / "p1"
    assert [r["step"] for r in read_metrics(ok)] == [0, 1, 2, 3] and (ok / "summary.json").exists()
    assert [r["step"] for r in read_metrics(bad)] == [0, 1] and not (bad / "summary.json").exists()
    record = json.loads((bad / "failed.json").read_text())
    assert "injected fault" in record["error"] and record["steps_done"] == 1
    assert (bad / "checkpoints" / "step_000001").is_dir()  # what completed is kept


@pytest.mark.parametrize(
    ("shared", "second", "says"),
    [
        ([], "engine.temperature=0.5", "engine.temperature differs"),
        # packed runs sample in step: one-step-ahead sampling is refused, not ignored
        (["algorithm.async_rollouts=1"], "", "algorithm.async_rollouts is 1"),
    ],
)
def test_pack_refuses_runs_that_cannot_share(tmp_path, shared, second, says):
    cmd = [sys.executable, "-m", "grpo_lora", "train", RECIPE, *SHARED, *shared, "--dry-run"]
    points = [
        "--point",
        f"run_dir={tmp_path / 'a'}",
        "--point",
        f"run_dir={tmp_path / 'b'} {second}",
    ]
    proc = subprocess.run([*cmd, *points], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert says in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_point_values_may_hold_spaces(tmp_path):
    """`sweep --pack` quotes each point's overrides; `train --point` splits them as a shell does."""
    from grpo_lora.study.launch import command_for

    spaced = [tmp_path / "run a", tmp_path / "run b"]
    points = [SimpleNamespace(overrides=(f"run_dir={d}", "seed=1")) for d in spaced]
    spec = SimpleNamespace(base=RECIPE, overrides=dict(o.split("=", 1) for o in SHARED))
    cmd = command_for(points, spec, [sys.executable, "-m", "grpo_lora", "train"], resume=False)
    proc = subprocess.run(
        [*cmd, "--dry-run"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert f"pack of 2 runs OK: {spaced[0]}, {spaced[1]}" in proc.stdout
