"""Checkpoints that a crash cannot corrupt, and exact resume.

A checkpoint is written to a temporary folder and renamed into place, then `checkpoints/latest` is
replaced atomically; a run killed at any instant leaves the previous checkpoint intact. It holds the
adapter in peft's format (loadable by peft and by vLLM as is) or the full model, the optimizer and
scheduler states, every RNG state, and the step, from which the data position follows.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import torch

from grpo_lora.policy import Policy


def save_checkpoint(
    run_dir: Path, step: int, policy: Policy, optimizer, scheduler, keep: int
) -> Path:
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:06d}"
    tmp = root / f".step_{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    policy.save(tmp / ("adapter" if policy.is_lora else "model"))
    torch.save(
        {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
        },
        tmp / "trainer_state.pt",
    )
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    latest_tmp = root / ".latest.tmp"
    latest_tmp.write_text(final.name)
    latest_tmp.replace(root / "latest")
    for old in sorted(root.glob("step_*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    pointer = run_dir / "checkpoints" / "latest"
    if not pointer.exists():
        return None
    path = pointer.parent / pointer.read_text().strip()
    return path if path.exists() else None


def load_checkpoint(path: Path, policy: Policy, optimizer, scheduler) -> int:
    """Restore everything into the live objects; returns the step the checkpoint was taken after."""
    from safetensors.torch import load_file

    if policy.is_lora:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(
            policy.model, load_file(path / "adapter" / "adapter_model.safetensors")
        )
    else:
        state = {}
        for f in sorted((path / "model").glob("*.safetensors")):
            state.update(load_file(f))
        policy.model.load_state_dict(state, strict=False)
    trainer = torch.load(path / "trainer_state.pt", weights_only=False)
    optimizer.load_state_dict(trainer["optimizer"])
    scheduler.load_state_dict(trainer["scheduler"])
    torch.set_rng_state(trainer["rng"]["torch"])
    random.setstate(trainer["rng"]["python"])
    return int(trainer["step"])
