"""Checkpoints lose nothing: an exact round trip (LoRA and FullFT), a resume that falls back past a
damaged newest checkpoint in one logged line, and a failed write that leaves the previous one and
`latest` as they were."""

from __future__ import annotations

import copy
import errno
import os
import random
import shutil
from pathlib import Path

import pytest
import torch

from grpo_lora import checkpoint, rng
from grpo_lora.checkpoint import CheckpointError, resume, save_checkpoint
from grpo_lora.policy import Policy, load_policy

ADAPTER = "adapter/adapter_model.safetensors"


def _objects(tiny_path, rank):
    """A fresh policy with the optimizer and scheduler the trainer would give it."""
    policy = load_policy(tiny_path, rank=rank)
    optimizer = torch.optim.AdamW(policy.trainable_parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 / (s + 1))
    return policy, optimizer, scheduler


def _train_step(policy, optimizer, scheduler):
    """An optimizer step on random gradients: moves the weights and fills Adam's state."""
    for p in policy.trainable_parameters():
        p.grad = torch.randn_like(p)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()


def _snapshot(policy, optimizer, scheduler) -> dict:
    return {
        "weights": {k: v.clone() for k, v in policy.weights_for_engine().items()},
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "scheduler": copy.deepcopy(scheduler.state_dict()),
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
    }


def _same(a, b) -> bool:
    """Exact equality through nested dicts, lists and tensors."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _resume(run_dir, objects) -> tuple[int, list[str]]:
    lines = []
    step = resume(run_dir, *objects, log=lines.append)
    return step, lines


def _files(folder: Path) -> dict[str, bytes]:
    return {
        f.relative_to(folder).as_posix(): f.read_bytes() for f in folder.rglob("*") if f.is_file()
    }


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.fixture(scope="module")
def saved(tiny_path, tmp_path_factory):
    """A LoRA run checkpointed after steps 2 and 4 (keep 2), and what the objects held at each."""
    torch.manual_seed(0)
    random.seed(0)
    run_dir = tmp_path_factory.mktemp("saved") / "run"
    objects = _objects(tiny_path, 1)
    snaps = {}
    for step in range(1, 5):
        _train_step(*objects)
        if step % 2 == 0:
            save_checkpoint(run_dir, step, *objects, keep=2)
            snaps[step] = _snapshot(*objects)
            torch.rand(1), random.random()  # the run goes on drawing after a checkpoint
    return run_dir, snaps


@pytest.fixture
def run(saved, tmp_path) -> Path:
    """A private copy of the saved run, free to damage."""
    copy_dir = tmp_path / "run"
    shutil.copytree(saved[0], copy_dir)
    return copy_dir


def test_layout_and_latest(run):
    root = run / "checkpoints"
    assert (root / "latest").read_text() == "step_000004"
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step_000002", "step_000004"]
    for step in ("step_000002", "step_000004"):
        assert (root / step / "complete.json").exists() and (root / step / ADAPTER).exists()


def test_round_trip_is_exact(run, saved, tiny_path):
    objects = _objects(tiny_path, 1)
    torch.manual_seed(123)  # anything but the saved RNG state
    step, lines = _resume(run, objects)
    assert step == 4
    assert lines == [f"resuming from {run / 'checkpoints' / 'step_000004'} (step 4)"]
    assert _same(_snapshot(*objects), saved[1][4])


def test_full_finetune_round_trip(tiny_path, tmp_path):
    torch.manual_seed(0)
    objects = _objects(tiny_path, None)
    _train_step(*objects)
    save_checkpoint(tmp_path, 1, *objects, keep=2)
    want = _snapshot(*objects)
    want["all"] = {k: v.clone() for k, v in objects[0].model.state_dict().items()}

    fresh = _objects(tiny_path, None)
    torch.manual_seed(123)
    assert _resume(tmp_path, fresh)[0] == 1
    got = _snapshot(*fresh)
    got["all"] = fresh[0].model.state_dict()
    assert _same(got, want)


def _break_adapter_tail(folder: Path) -> None:
    _truncate(folder / ADAPTER)


def _flip_adapter_byte(folder: Path) -> None:
    data = bytearray((folder / ADAPTER).read_bytes())
    data[-1] ^= 0xFF
    (folder / ADAPTER).write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_break_adapter_tail, f"{ADAPTER} is truncated, "),
        (_flip_adapter_byte, f"{ADAPTER} does not match its sha256"),
        (lambda f: _truncate(f / "trainer_state.pt"), "trainer_state.pt is truncated, "),
        (lambda f: (f / "trainer_state.pt").unlink(), "trainer_state.pt is missing"),
        (shutil.rmtree, "the folder is missing"),  # `latest` names a folder that is gone
    ],
    ids=["adapter-truncated", "adapter-bitflip", "state-truncated", "state-missing", "no-folder"],
)
def test_damaged_latest_falls_back_in_one_line(run, saved, tiny_path, damage, reason):
    root = run / "checkpoints"
    damage(root / "step_000004")
    objects = _objects(tiny_path, 1)
    step, lines = _resume(run, objects)
    assert step == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"checkpoint step_000004 is unreadable ({reason}")
    assert lines[0].endswith(f"); resuming from {root / 'step_000002'} (step 2)")
    assert _same(_snapshot(*objects), saved[1][2])


def test_unsealed_truncation_is_still_caught_by_the_loaders(run, saved, tiny_path):
    """A folder without complete.json (written before seals existed) is checked by loading it."""
    folder = run / "checkpoints" / "step_000004"
    (folder / "complete.json").unlink()
    _truncate(folder / "trainer_state.pt")
    objects = _objects(tiny_path, 1)
    step, lines = _resume(run, objects)
    assert step == 2 and len(lines) == 1
    assert lines[0].startswith("checkpoint step_000004 is unreadable (")
    assert _same(_snapshot(*objects), saved[1][2])


def test_all_damaged_starts_from_zero_and_changes_nothing(run, tiny_path):
    root = run / "checkpoints"
    _truncate(
        root / "step_000004" / "trainer_state.pt"
    )  # its adapter reads fine: must not be applied
    _truncate(root / "step_000002" / ADAPTER)
    objects = _objects(tiny_path, 1)
    before = _snapshot(*objects)
    step, lines = _resume(run, objects)
    assert step == 0
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "checkpoint step_000004 is unreadable (trainer_state.pt is truncated"
    )
    assert (
        "; checkpoint step_000002 is unreadable (adapter/adapter_model.safetensors is truncated"
        in lines[0]
    )
    assert lines[0].endswith("; no usable checkpoint left: starting from step 0")
    assert _same(_snapshot(*objects), before)


def test_no_checkpoint_starts_from_zero(tmp_path, tiny_path):
    step, lines = _resume(tmp_path, _objects(tiny_path, 1))
    assert (step, lines) == (0, [f"no checkpoint in {tmp_path}: starting from step 0"])


def _no_space(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _half_then_no_space(target: Path) -> None:
    """Leave a half-written file where the writer was, as a full disk would."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"\0" * 1000)
    _no_space()


def _fail_torch_save(monkeypatch):
    monkeypatch.setattr(torch, "save", lambda obj, path: _half_then_no_space(Path(path)))


def _fail_policy_save(monkeypatch):
    monkeypatch.setattr(Policy, "save", lambda self, path: _half_then_no_space(path / "x.bin"))


@pytest.mark.parametrize("fail", [_fail_torch_save, _fail_policy_save], ids=["torch", "policy"])
def test_failed_write_keeps_the_previous_checkpoint(run, tiny_path, monkeypatch, fail):
    root = run / "checkpoints"
    before = {name: _files(root / name) for name in ("step_000002", "step_000004")}
    objects = _objects(tiny_path, 1)
    fail(monkeypatch)
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(run, 6, *objects, keep=2)
    assert isinstance(caught.value, RuntimeError)
    assert str(caught.value) == (
        f"could not write checkpoint step_000006 to {root}: No space left on device; "
        "the previous checkpoint step_000004 is intact"
    )
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step_000002", "step_000004"]
    assert (root / "latest").read_text() == "step_000004"
    assert {name: _files(root / name) for name in before} == before
    monkeypatch.undo()
    assert _resume(run, objects)[0] == 4


def test_saving_after_a_fallback_drops_the_abandoned_checkpoint(run, tiny_path):
    """After resuming from step 2 past a damaged step 4, the next save (step 3) must leave no way
    back to the abandoned step 4, and keep the `keep` newest."""
    root = run / "checkpoints"
    _truncate(root / "step_000004" / ADAPTER)
    objects = _objects(tiny_path, 1)
    assert _resume(run, objects)[0] == 2
    _train_step(*objects)
    save_checkpoint(run, 3, *objects, keep=2)
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step_000002", "step_000003"]
    assert (root / "latest").read_text() == "step_000003"


def test_load_checkpoint_raises_one_line_on_damage(run, tiny_path):
    folder = run / "checkpoints" / "step_000004"
    _truncate(folder / ADAPTER)
    with pytest.raises(
        CheckpointError, match=r"^checkpoint .*step_000004 is unreadable \("
    ) as caught:
        checkpoint.load_checkpoint(folder, *_objects(tiny_path, 1))
    assert "\n" not in str(caught.value)


def test_each_process_resumes_its_own_random_streams(tiny_path, tmp_path):
    """Every process saves its streams; a resume on process r gets process r's, not process 0's."""
    objects = _objects(tiny_path, 1)
    streams = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        random.seed(seed)
        streams.append(rng.capture())
    save_checkpoint(tmp_path, 1, *objects, keep=2, rngs=streams)
    for r, want in enumerate(streams):
        torch.manual_seed(99)
        assert resume(tmp_path, *_objects(tiny_path, 1), log=lambda _: None, rank=r) == 1
        assert torch.equal(torch.get_rng_state(), want["torch"])
        assert random.getstate() == want["python"]
