"""Faults lose nothing: an engine error mid-run, a checkpoint write that fails, a process of two that
dies. Each runs the real trainer and the real vLLM engine on the tiny policy; the fault is injected
by wrapping one real call."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import TWO_PROCESSES
from test_trainer import untimed

from grpo_lora.config import load_config
from grpo_lora.metrics import read_metrics

ROOT = Path(__file__).parent.parent
FAST = [
    "data.prompts_per_step=4",
    "data.group_size=4",
    "data.heldout_size=16",
    "logging.eval_k=2",
    "logging.eval_every=0",
    "logging.progress=false",
    "logging.tensorboard=false",
    "engine.cpu_kv_cache_gb=0.25",
]

pytestmark = pytest.mark.slow


def config(run_dir, *overrides):
    return load_config(
        ROOT / "recipes" / "tiny_lora_r1.yaml", [f"run_dir={run_dir}", *FAST, *overrides]
    )


def test_engine_error_mid_run_checkpoints_the_last_step(tmp_path, tiny_path, monkeypatch):
    from grpo_lora.engines.vllm import VLLMEngine
    from grpo_lora.rl import trainer

    real_generate, calls = VLLMEngine.generate, []

    def failing_generate(self, prompts, n, sampling, seeds=None, adapters=None):
        calls.append(n)
        # the start's evaluation makes 2 calls, steps 1 and 2 one each: step 3's sampling fails
        if len(calls) == 5:
            raise RuntimeError("engine core died\nsecond line of the engine's message")
        return real_generate(self, prompts, n, sampling, seeds, adapters)

    monkeypatch.setattr(VLLMEngine, "generate", failing_generate)
    run_dir = tmp_path / "run"
    with pytest.raises(trainer.RunError) as info:
        trainer.train(config(run_dir, "schedule.steps=5", "checkpoint.every=0"))
    message = str(info.value)
    assert "\n" not in message
    assert "step 3 failed: RuntimeError: engine core died" in message
    assert "step 2 is checkpointed" in message
    assert (run_dir / "checkpoints" / "latest").read_text() == "step_000002"
    assert [r["step"] for r in read_metrics(run_dir)] == [0, 1, 2]

    monkeypatch.setattr(VLLMEngine, "generate", real_generate)
    summary = trainer.train(config(run_dir, "schedule.steps=3", "checkpoint.every=0"), resume=True)
    assert summary["steps"] == 3
    assert [r["step"] for r in read_metrics(run_dir)] == [0, 1, 2, 3]


def test_failed_checkpoint_write_keeps_the_previous_one(tmp_path, tiny_path, monkeypatch):
    import torch

    from grpo_lora import checkpoint
    from grpo_lora.rl import trainer

    real_save, saves = torch.save, []

    def full_disk(obj, f, *args, **kwargs):
        saves.append(f)
        if len(saves) == 2:  # the second checkpoint's trainer state
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    run_dir = tmp_path / "run"
    with pytest.raises(trainer.RunError) as info:
        trainer.train(config(run_dir, "schedule.steps=4", "checkpoint.every=1"))
    message = str(info.value)
    assert "\n" not in message and "No space left on device" in message
    assert "step_000001 is intact" in message
    assert (run_dir / "checkpoints" / "latest").read_text() == "step_000001"
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "latest",
        "step_000001",
    ]


def _rank_of(pid: int) -> str | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    ranks = [e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"RANK=")]
    return ranks[0] if ranks else None


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_one_of_two_processes_killed_the_other_exits(tmp_path, tiny_path):
    """SIGKILL rank 1 mid-run: the launcher and rank 0 are gone within 60 s, with a non-zero exit,
    rather than rank 0 hanging in a collective."""
    run_dir = tmp_path / "run"
    cmd = [
        *TWO_PROCESSES,
        "-m",
        "grpo_lora",
        "train",
        str(ROOT / "recipes" / "tiny_lora_r1.yaml"),
        f"run_dir={run_dir}",
        *FAST,
        "schedule.steps=200",
    ]
    launcher = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 400
    metrics = run_dir / "metrics.jsonl"
    while time.time() < deadline and not (
        metrics.exists() and len(read_metrics(run_dir, True)) >= 2
    ):
        assert launcher.poll() is None, launcher.stderr.read().decode()[-3000:]
        time.sleep(1)
    victims = [p for p in _descendants(launcher.pid) if _rank_of(p) == "1"]
    assert victims, "no rank-1 process found"
    os.kill(victims[0], signal.SIGKILL)
    t0 = time.time()
    try:
        launcher.wait(timeout=60)
    finally:
        if launcher.poll() is None:
            for p in _descendants(launcher.pid):
                os.kill(p, signal.SIGKILL)
            launcher.kill()
    assert launcher.returncode != 0
    assert time.time() - t0 < 60
    assert not [p for p in _descendants(launcher.pid) if _rank_of(p) == "0"]


@pytest.mark.parametrize(
    "mode",
    [
        # the engine samples step 4 ahead: the run waits for it before closing the engine, and the
        # checkpoint holds step 3's rollouts, drawn one version behind
        ("algorithm.async_rollouts=1",),
        # step 3's dropout masks were drawn: the checkpoint holds the streams as step 3 found them
        ("lora.dropout=0.1",),
    ],
    ids=["async", "dropout"],
)
def test_a_step_failing_mid_update_resumes_to_the_uninterrupted_rows(
    tmp_path, tiny_path, monkeypatch, mode
):
    """Step 3 fails inside its update, after its forward pass. The run checkpoints step 2 with
    what step 3 needs to run again as it first did, and a resume writes the rows of the run that
    never failed."""
    from grpo_lora.engines.vllm import VLLMEngine
    from grpo_lora.rl import trainer, update

    common = ("schedule.steps=4", "checkpoint.every=0", "optimizer.lr=1e-2", *mode)
    trainer.train(config(tmp_path / "straight", *common))
    straight = untimed(read_metrics(tmp_path / "straight"))

    events = []
    real_generate, real_close = VLLMEngine.generate, VLLMEngine.close
    real_loss, real_step, at = update.micro_loss, trainer.train_step, {}

    def tracked_step(run, step, sampled, ahead):
        at["step"] = step
        return real_step(run, step, sampled, ahead)

    def slow_generate(self, *args, **kwargs):
        out = real_generate(self, *args, **kwargs)
        time.sleep(1.0)  # with async rollouts: still sampling when the update fails
        events.append("generated")
        return out

    def close(self):
        events.append("closed")
        real_close(self)

    def failing_loss(model, mb, objective):
        out = real_loss(model, mb, objective)  # the forward pass draws the dropout masks
        if at["step"] == 2:  # 0-based: step 3
            raise RuntimeError("injected fault in step 3's update")
        return out

    monkeypatch.setattr(VLLMEngine, "generate", slow_generate)
    monkeypatch.setattr(VLLMEngine, "close", close)
    monkeypatch.setattr(update, "micro_loss", failing_loss)
    monkeypatch.setattr(trainer, "train_step", tracked_step)
    run_dir = tmp_path / "run"
    with pytest.raises(trainer.RunError, match="step 3 failed: RuntimeError: injected fault"):
        trainer.train(config(run_dir, *common))
    assert events[-2:] == ["generated", "closed"]  # no sampling outlived the engine
    assert (run_dir / "checkpoints" / "latest").read_text() == "step_000002"

    monkeypatch.undo()
    trainer.train(config(run_dir, *common), resume=True)
    assert untimed(read_metrics(run_dir)) == straight
