"""`grpo-lora sweep SWEEP.yaml --ray`: each trainer as a Ray task on a local Ray instance (the
issue's CPU test), with the same run directories, failure records and resume as a local sweep, and
the same metrics rows; plus what needs no Ray (the missing extra, the resources a trainer asks for).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from grpo_lora import checkpoint
from grpo_lora.commands import sweep
from grpo_lora.metrics import read_metrics
from grpo_lora.study import ray_launch, runs

REPO = Path(__file__).resolve().parents[1]
FAKE = f"{sys.executable} {REPO / 'tests' / 'fake_train.py'}"
# tests/test_trainer.py's FAST settings, two steps
TINY = {
    "data.prompts_per_step": 4,
    "data.group_size": 4,
    "data.heldout_size": 32,
    "logging.eval_k": 4,
    "logging.progress": False,
    "logging.tensorboard": False,
    "engine.cpu_kv_cache_gb": 0.25,
    "schedule.steps": 2,
}
TIMING = ("time/", "perf/", "memory/")


def _untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith(TIMING)} for r in rows]


@pytest.fixture
def ray_tmp(monkeypatch):
    """Ray's session files in a short private directory (its socket paths have a length limit)."""
    pytest.importorskip("ray")
    tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", tmp)
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def _write(path: Path, **raw) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


# ---------------------------------------------------------------------------------------------
# Without Ray


def test_missing_ray_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    base = _write(
        tmp_path / "base.yaml",
        lora={"rank": 1},
        data={"prompts_per_step": 4, "group_size": 4},
        schedule={"steps": 2},
    )
    sweep_file = _write(
        tmp_path / "sweep.yaml",
        base=str(base),
        out_dir=str(tmp_path / "runs"),
        ranks=[1],
        lrs={"lora": [1e-3]},
    )
    assert sweep.main([str(sweep_file), "--ray", "--train-cmd", FAKE]) == 2
    assert "pip install 'grpo-lora[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nothing ran
    # the Ray options without --ray are a mistake, said as one
    assert sweep.main([str(sweep_file), "--cpus-per-run", "2"]) == 2
    assert "go with --ray" in capsys.readouterr().err


def test_plan_asks_for_a_gpu_or_a_share_of_the_cores():
    cpu_nodes = [{"CPU": 16.0}, {"CPU": 16.0}]
    # the cluster's 32 cores split 4 ways, two trainers a node
    assert ray_launch.plan(cpu_nodes, parallel=4) == (8, 0, 4)
    # at most one node's cores, however few run at once
    assert ray_launch.plan(cpu_nodes, parallel=1) == (16, 0, 2)
    assert ray_launch.plan(cpu_nodes, parallel=64) == (1, 0, 32)
    gpu_nodes = [{"CPU": 32.0, "GPU": 8.0}, {"CPU": 8.0, "GPU": 4.0}, {"CPU": 4.0}]
    # one GPU each, with the cores per GPU of the leanest GPU node; 12 at once
    assert ray_launch.plan(gpu_nodes, parallel=8) == (2, 1, 12)
    assert ray_launch.plan(gpu_nodes, parallel=8, cpus=4, gpus=0) == (4, 0, 11)
    assert ray_launch.plan(gpu_nodes, parallel=8, gpus=0.5) == (1, 0.5, 24)


def test_forwarded_env_keeps_the_trainers_settings_not_the_nodes():
    env = {
        "GRPO_LORA_CACHE": "/c",
        "HF_HOME": "/h",
        "VLLM_LOGGING_LEVEL": "WARNING",
        "VLLM_CPU_OMP_THREADS_BIND": "0,1",  # each task binds its own cores
        "OMP_NUM_THREADS": "2",
        "CUDA_VISIBLE_DEVICES": "0",  # Ray sets the task's GPU
        "PATH": "/usr/bin",
    }
    assert ray_launch.forwarded_env(env) == {
        "GRPO_LORA_CACHE": "/c",
        "HF_HOME": "/h",
        "VLLM_LOGGING_LEVEL": "WARNING",
    }


# ---------------------------------------------------------------------------------------------
# On a local Ray instance


def test_ray_sweep_records_a_failure_and_resumes_it(tmp_path, ray_tmp, monkeypatch, capsys):
    """The fake trainer through Ray: a point that crashes gets failed.json and the sweep exits 1;
    re-launched, it resumes (--resume) and the finished one is skipped, as in a local sweep."""
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_TRAIN_LOG", str(calls))
    monkeypatch.setenv("FAKE_TRAIN_CRASH", "full:3")  # before Ray starts: its workers inherit it
    base = _write(
        tmp_path / "base.yaml",
        seed=0,
        lora={"rank": 1, "targets": "all"},
        optimizer={"lr": 1e-3},
        data={"prompts_per_step": 4, "group_size": 4},
        schedule={"steps": 6},
    )
    out = tmp_path / "runs"
    sweep_file = _write(
        tmp_path / "sweep.yaml",
        base=str(base),
        out_dir=str(out),
        ranks=[1, "full"],
        lrs={"full": [1e-4], "lora": [1e-3]},
    )
    args = [str(sweep_file), "--ray", "--parallel", "2", "--train-cmd", FAKE]
    with ray_launch.session(None) as ray:  # one instance for both launches (main joins it)
        assert sweep.main(args) == 1
        err = capsys.readouterr().err
        assert "each trainer asks for 1 CPU(s), 2 at a time" in err
        assert "FAILED full-lr1e-04-s0 (exit 3: fake crash after step 3)" in err
        record = json.loads((out / "full-lr1e-04-s0" / checkpoint.FAILED).read_text())
        assert record["exit_code"] == 3 and record["steps_done"] == 3
        assert record["log_tail"][-1] == "fake crash after step 3"
        assert runs.status_of(out / "r1-all-lr1e-03-s0") == "finished"

        assert sweep.main(args) == 0  # the crashed point resumes; the finished one is skipped
        assert ray.is_initialized()
    argvs = [json.loads(line)["argv"] for line in calls.read_text().splitlines()]
    assert len(argvs) == 3 and argvs[-1][-1] == "--resume"
    assert "run_dir=" + str(out / "full-lr1e-04-s0") in argvs[-1]
    assert runs.status_of(out / "full-lr1e-04-s0") == "finished"
    assert not (out / "full-lr1e-04-s0" / checkpoint.FAILED).exists()
    log = (out / "logs" / "full-lr1e-04-s0.log").read_text()
    assert log.count("\n$ ") == 1 and "fake crash after step 3" in log  # both attempts, appended
    assert json.loads(log.splitlines()[-1])["steps"] == 6


@pytest.mark.slow
def test_two_tiny_points_through_ray_match_a_local_sweep(tmp_path, tiny_path, ray_tmp, capsys):
    """The issue's test: two tiny points of the real trainer (vLLM engine), once as a local sweep
    and once through `--ray` (a local Ray instance the sweep starts and stops); the same metrics
    rows, timings aside."""
    ray = pytest.importorskip("ray")
    spec = {
        "base": str(REPO / "recipes" / "tiny_lora_r1.yaml"),
        "overrides": TINY,
        "ranks": [1],
        "lrs": {"lora": [1e-3, 3e-3]},
    }
    local = _write(tmp_path / "local.yaml", out_dir=str(tmp_path / "local"), **spec)
    remote = _write(tmp_path / "ray.yaml", out_dir=str(tmp_path / "ray"), **spec)
    # both at once, here on a core each, there on the CPU Ray gives each (one thread either way)
    assert sweep.main([str(local), "--parallel", "2"]) == 0
    assert sweep.main([str(remote), "--ray", "--parallel", "2"]) == 0
    err = capsys.readouterr().err
    assert "ray: a local Ray instance, 1 node(s)" in err
    assert not ray.is_initialized()  # the sweep shut down the instance it started
    names = ["r1-all-lr1e-03-s0", "r1-all-lr3e-03-s0"]
    for name in names:
        here, there = tmp_path / "local" / name, tmp_path / "ray" / name
        assert runs.status_of(there) == "finished"
        rows = _untimed(read_metrics(there))
        assert [r["step"] for r in rows] == [0, 1, 2]
        assert rows == _untimed(read_metrics(here)), name
        log = (tmp_path / "ray" / "logs" / f"{name}.log").read_text()
        assert log.startswith(f"$ {sys.executable} -m grpo_lora train ")
        assert json.loads(log.strip().splitlines()[-1])["steps"] == 2  # the trainer's summary
    times = (tmp_path / "ray" / runs.WALL_TIMES).read_text().splitlines()
    assert json.loads(times[-1])["finished"] == 2
