"""End-to-end training on the tiny policy with the real vLLM engine: smoke runs of every tiny recipe,
exact resume, resume after SIGKILL, a two-process launch, and NaN safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TWO_PROCESSES

from grpo_lora.metrics import read_metrics

ROOT = Path(__file__).parent.parent
# small and quick: 4 prompts x 4 completions, a 32-problem held-out set, a small KV cache
FAST = [
    "data.prompts_per_step=4",
    "data.group_size=4",
    "data.heldout_size=32",
    "logging.eval_k=4",
    "logging.progress=false",
    "logging.tensorboard=false",
    "engine.cpu_kv_cache_gb=0.25",
]
TIMING = ("time/", "perf/", "memory/")

pytestmark = pytest.mark.slow


def train_args(recipe, run_dir, *overrides, resume=False):
    return [
        sys.executable,
        "-m",
        "grpo_lora",
        "train",
        str(ROOT / "recipes" / recipe),
        f"run_dir={run_dir}",
        *FAST,
        *overrides,
    ] + (["--resume"] if resume else [])


def run_train(recipe, run_dir, *overrides, resume=False, check=True):
    cmd = train_args(recipe, run_dir, *overrides, resume=resume)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def untimed(rows):
    return [{k: v for k, v in r.items() if not k.startswith(TIMING)} for r in rows]


@pytest.mark.parametrize(
    ("recipe", "extra"),
    [
        ("tiny_lora_r1.yaml", []),
        ("tiny_fullft.yaml", []),
        # vLLM accepts only some max_lora_rank values (1, 8, 16, ...): rank 4 is served in 8
        ("tiny_lora_r1.yaml", ["lora.rank=4"]),
    ],
)
def test_recipe_smoke_two_steps(tmp_path, tiny_path, recipe, extra):
    proc = run_train(recipe, tmp_path / "run", "schedule.steps=2", *extra)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"run_dir", "steps", "eval_pass1_start", "eval_pass1_end", "wall_s"} <= set(summary)
    assert summary["steps"] == 2
    rows = read_metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == [0, 1, 2]
    for row in rows[1:]:
        # the engine samples with the weights the trainer has (fp32)
        assert row["engine/logp_diff_max"] < 1e-3, row
        assert 0.0 <= row["reward/mean"] <= 1.0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert (
        manifest["world_size"] == 1 and manifest["trainable_params"] == summary["trainable_params"]
    )
    assert (tmp_path / "run" / "checkpoints" / "step_000002").exists()


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, tiny_path):
    """Four uninterrupted steps, the reference for both resume tests."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    run_train(
        "tiny_lora_r1.yaml",
        run_dir,
        "schedule.steps=4",
        "checkpoint.every=2",
        "logging.eval_every=2",
    )
    return untimed(read_metrics(run_dir))


def test_resume_is_exact(tmp_path, straight_run):
    run_dir = tmp_path / "run"
    common = ("checkpoint.every=2", "logging.eval_every=2")
    run_train("tiny_lora_r1.yaml", run_dir, "schedule.steps=2", *common)
    proc = run_train("tiny_lora_r1.yaml", run_dir, "schedule.steps=4", *common, resume=True)
    assert "resuming from" in proc.stdout
    assert untimed(read_metrics(run_dir)) == straight_run


def test_sigkill_mid_step_then_resume(tmp_path, straight_run):
    run_dir = tmp_path / "run"
    common = ("schedule.steps=4", "checkpoint.every=2", "logging.eval_every=2")
    args = train_args("tiny_lora_r1.yaml", run_dir, *common)
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = run_dir / "checkpoints" / "latest"
    deadline = time.time() + 300
    while not (latest.exists() and latest.read_text() == "step_000002") and time.time() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # during step 3
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "summary.json").exists()
    run_train("tiny_lora_r1.yaml", run_dir, *common, resume=True)
    assert untimed(read_metrics(run_dir)) == straight_run


def test_two_processes_each_sample_their_own_shard(tmp_path, tiny_path):
    """Under `accelerate launch`, each process's own vLLM engine (in-process, external_launcher: the
    arrangement of a GPU run) serves the adapter its trainer has just pushed, and the two sample
    different prompts and completions."""
    run_dir = tmp_path / "run"
    cmd = [
        *TWO_PROCESSES,
        "-m",
        "grpo_lora",
        "train",
        str(ROOT / "recipes" / "tiny_lora_r1.yaml"),
        f"run_dir={run_dir}",
        *FAST,
        "schedule.steps=3",
        "optimizer.lr=1e-2",  # a large step: an engine one adapter behind would show a wide gap
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1, "only the main process prints the summary"
    assert json.loads(summaries[0])["world_size"] == 2
    assert json.loads((run_dir / "manifest.json").read_text())["world_size"] == 2
    shards = [
        [
            json.loads(line)
            for line in (run_dir / "samples" / f"rank{r}.jsonl").read_text().splitlines()
        ]
        for r in (0, 1)
    ]
    for step in (1, 2, 3):
        ids = [{row["problem"] for row in shard if row["step"] == step} for shard in shards]
        assert len(ids[0]) == len(ids[1]) == 2  # 4 prompts per step split over 2 processes
        assert not ids[0] & ids[1], "the two processes must sample different prompts"
        texts = [[row["completion"] for row in shard if row["step"] == step] for shard in shards]
        assert texts[0] != texts[1], "the two processes must sample different completions"
    rows = read_metrics(run_dir)
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    for row in rows[1:]:  # gradients were all-reduced: both processes hold the same weights
        assert row["dist/param_sum_max"] == row["dist/param_sum_min"]
        # the largest gap over both processes: each engine serves its trainer's latest adapter
        assert row["engine/logp_diff_max"] < 1e-3, row


def test_existing_run_dir_needs_resume(tmp_path, tiny_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text('{"step": 0}\n')
    proc = run_train("tiny_lora_r1.yaml", run_dir, "schedule.steps=1", check=False)
    assert proc.returncode == 2 and "already holds a run" in proc.stderr


def test_a_nonfinite_loss_skips_the_update(tiny_path):
    """A NaN loss never reaches the weights, and the step says so (``loss/nonfinite``)."""
    import torch
    from accelerate import Accelerator

    from grpo_lora.config import load_config
    from grpo_lora.engines import Rollout
    from grpo_lora.policy import load_policy
    from grpo_lora.rl.batch import make_batch
    from grpo_lora.rl.losses import LossConfig, is_pg
    from grpo_lora.rl.update import Objective, Optim, update

    cfg = load_config(None, ["optimizer.updates_per_batch=2", "optimizer.micro_batch_tokens=10"])
    policy = load_policy(tiny_path, rank=1)
    optim = Optim(
        torch.optim.AdamW(policy.trainable_parameters(), lr=1e-2),
        cfg.optimizer,
        Accelerator(cpu=True),
    )
    rollouts = [Rollout([5, 6, 7], [8, 9], [-1.0, -1.0], "stop", "") for _ in range(4)]
    batch = make_batch(rollouts, torch.tensor([1.0, -1.0, 0.5, -0.5]), pad_id=0)
    assert len(batch.micro_batches(10)) == 2
    before = [p.detach().clone() for p in policy.trainable_parameters()]

    def nan_loss(*args):
        loss, stats = is_pg(*args)
        return loss * float("nan"), stats

    stats = update(policy.model, batch, Objective(nan_loss, LossConfig(), 1.0), optim)
    assert stats["loss/nonfinite"] == 2  # both updates skipped
    assert all(torch.equal(a, b) for a, b in zip(before, policy.trainable_parameters()))

    stats = update(policy.model, batch, Objective(is_pg, LossConfig(), 1.0), optim)
    assert stats["loss/nonfinite"] == 0
    assert not all(torch.equal(a, b) for a, b in zip(before, policy.trainable_parameters()))


def test_every_algorithm_option_runs_one_step(tmp_path, tiny_path):
    """The non-default paths of the step: PPO clip with KL to the initial policy, GRPO advantages,
    gradient accumulation, several updates per batch, warmup + cosine."""
    run_train(
        "tiny_lora_r1.yaml",
        tmp_path / "run",
        "schedule.steps=3",
        "algorithm.loss.kind=ppo",
        "algorithm.loss.kl_beta=0.05",
        "algorithm.advantage=grpo",
        "optimizer.micro_batch_tokens=512",
        "optimizer.updates_per_batch=2",
        "schedule.warmup_steps=1",
        "schedule.decay=cosine",
    )
    rows = read_metrics(tmp_path / "run")
    assert rows[-1]["loss/kl"] is not None and rows[-1]["loss/nonfinite"] == 0
    # the LR each update used (`optim.lr_factor`): warmup (0 + 1) / 1, then cosine over steps 1-2
    # from its start (progress 0: 1.0) to half way (progress 1/2: 0.5)
    assert [r["optim/lr"] for r in rows[1:]] == pytest.approx([1e-3, 1e-3, 5e-4])


# every documented loss kind, from the recipe with only the kind (and its own knob) overridden
LOSS_KINDS = {
    "is_pg": ["algorithm.loss.kind=is_pg"],
    "ppo": ["algorithm.loss.kind=ppo"],
    "dapo_clip_higher": ["algorithm.loss.kind=ppo", "algorithm.loss.clip_high=0.28"],
    "gspo": ["algorithm.loss.kind=gspo"],
    "cispo": ["algorithm.loss.kind=cispo"],
    "truncated_is": ["algorithm.loss.kind=is_pg", "algorithm.loss.is_cap=2.0"],
    "kl": ["algorithm.loss.kind=is_pg", "algorithm.loss.kl_beta=0.05"],
}


@pytest.mark.parametrize("kind", sorted(LOSS_KINDS))
def test_every_loss_kind_trains_one_step(tmp_path, tiny_path, kind):
    run_train("tiny_lora_r1.yaml", tmp_path / "run", "schedule.steps=1", *LOSS_KINDS[kind])
    row = read_metrics(tmp_path / "run")[-1]
    assert row["step"] == 1 and row["loss/nonfinite"] == 0
    assert row["engine/logp_diff_max"] < 1e-3
    assert row["optim/grad_norm"] > 0 or row["reward/zero_signal_frac"] == 1.0
    if kind == "kl":
        assert row["loss/kl"] is not None


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("engine.top_p=0.9", "engine.top_p"),
        ("engine.temperature=0.000001", "engine.temperature"),
        ("lora.targets=[q_proj,no_such_proj]", "lora.targets"),
    ],
)
def test_bad_settings_stop_with_one_line(tmp_path, tiny_path, override, field):
    proc = run_train("tiny_lora_r1.yaml", tmp_path / "run", override, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("grpo-lora train:")]
    assert len(lines) == 1 and field in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_async_rollouts_sample_with_the_previous_weights(tmp_path, tiny_path):
    """With async_rollouts=1, step t+1's rollouts are sampled while step t trains, so with the
    weights after t - 1 updates: the lag is 1 from the second step on, and it shows in the
    engine/trainer log-prob gap (the trainer already has the newer weights)."""
    run_train(
        "tiny_lora_r1.yaml",
        tmp_path / "run",
        "schedule.steps=3",
        "algorithm.async_rollouts=1",
        "optimizer.lr=1e-2",  # a visible update
    )
    rows = read_metrics(tmp_path / "run")[1:]
    assert [r["engine/sampled_version"] for r in rows] == [0, 0, 1]
    assert [r["engine/lag"] for r in rows] == [0, 1, 1]
    assert rows[0]["engine/logp_diff_max"] < 1e-3  # the first step is on-policy
    if rows[0]["optim/grad_norm"] > 0:  # step 1 changed the weights: step 2's samples are stale
        assert rows[1]["engine/logp_diff_max"] > 10 * rows[0]["engine/logp_diff_max"]
    assert all(r["loss/nonfinite"] == 0 for r in rows)


def test_async_resume_is_exact(tmp_path, tiny_path):
    """With async_rollouts=1 a checkpoint holds the rollouts already drawn for its next step (one
    version behind): a run killed after it and resumed writes the uninterrupted run's rows, lag
    included. With warmup, each row's optim/lr is the LR its update used."""
    common = (
        "schedule.steps=4",
        "checkpoint.every=2",
        "logging.eval_every=2",
        "algorithm.async_rollouts=1",
        "optimizer.lr=1e-2",  # a visible update, so a lag-0 resample would show
        "schedule.warmup_steps=8",
    )
    run_train("tiny_lora_r1.yaml", tmp_path / "straight", *common)
    straight = untimed(read_metrics(tmp_path / "straight"))
    assert [r["engine/lag"] for r in straight[1:]] == [0, 1, 1, 1]
    assert [r["optim/lr"] for r in straight[1:]] == pytest.approx(
        [1e-2 * k / 8 for k in (1, 2, 3, 4)]
    )

    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        train_args("tiny_lora_r1.yaml", run_dir, *common),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latest = run_dir / "checkpoints" / "latest"
    deadline = time.time() + 300
    while not (latest.exists() and latest.read_text() == "step_000002") and time.time() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run_train("tiny_lora_r1.yaml", run_dir, *common, resume=True)
    assert untimed(read_metrics(run_dir)) == straight


def test_eval_of_a_checkpoint_reproduces_the_runs_heldout_scores(tmp_path, tiny_path):
    """`grpo-lora eval` samples at logging.eval_temperature with the run's seeds, as the run's own
    evaluation does: a checkpoint's scores are the run's eval row at that step."""
    run_dir = tmp_path / "run"
    common = ("logging.eval_temperature=0.5", "logging.eval_k=8")
    run_train("tiny_lora_r1.yaml", run_dir, "schedule.steps=1", *common)
    last = read_metrics(run_dir)[-1]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpo_lora",
            "eval",
            str(ROOT / "recipes" / "tiny_lora_r1.yaml"),
            *FAST,
            *common,
            "--checkpoint",
            str(run_dir / "checkpoints" / "step_000001"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "T=0.5)" in proc.stdout
    scores = json.loads(proc.stdout.strip().splitlines()[-1])
    assert scores["pass1"] == last["eval/pass1"] and scores["passk"] == last["eval/passk"]
    assert scores["greedy_acc"] == last["eval/greedy_acc"]
