"""A fake `python -m grpo_lora train` for the sweep and report tests: no model, no torch.

    python tests/fake_train.py RECIPE.yaml [key.sub=value ...] [--resume]

It honours the trainer's contract (see grpo_lora/study/sweep_file.py): it writes `config.yaml`,
`manifest.json`, `metrics.jsonl` (a step-0 eval row, then one row per step), `checkpoints/` every
2 steps and `summary.json` at the end, and prints one JSON object as its last stdout line.
Its config.yaml is the base recipe with the overrides set by `_set`, not the full dump the real
trainer writes (grpo_lora.config imports torch, which a fake run should not pay for); the sweep has
validated every point's overrides with the real config before it calls the fake.

Its reward curves are deterministic and known in advance (`final_level`):
    level = peak(rank, targets) - 0.1 * log10(lr / lr_opt)**2,  lr_opt = 1e-4 (FullFT), 1e-3 (LoRA)
    reward/mean(step) = 0.2 + (level - 0.2) * (1 - exp(-step / (0.3 * steps))) + seed jitter (+-0.005)
so the best LR of every rank group is 1e-3 for LoRA and 1e-4 for FullFT when those are on the grid.

Environment knobs:
    FAKE_TRAIN_LOG=FILE       append one JSON line {"argv": [...]} per invocation
    FAKE_TRAIN_CRASH=SUB:K    a run whose run_dir name contains SUB dies (exit 3) right after step K
                              (K=0: at start, before it writes anything), unless launched with --resume
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from pathlib import Path

import yaml

PEAK = {"full": 0.80, 16: 0.80, 4: 0.79, 1: 0.76}
TARGET_PENALTY = {"all": 0.0, "mlp": 0.01, "attn": 0.08}
PARAMS_PER_RANK = {"all": 5900, "mlp": 3700, "attn": 2200}
FULL_PARAMS = 500_000
START_S = 2.0  # summary.json's wall_s = START_S + steps x step_s(rank)


def final_level(rank, targets: str, lr: float) -> float:
    opt = 1e-4 if rank == "full" else 1e-3
    peak = PEAK.get(rank, 0.8) - (0.0 if rank == "full" else TARGET_PENALTY[targets])
    return peak - 0.1 * math.log10(lr / opt) ** 2


def step_s(rank) -> float:
    """Train seconds per step the fake reports (evals excluded)."""
    return 0.3 if rank == "full" else 0.2 + 0.001 * int(rank)


def _jitter(*key) -> float:
    h = hashlib.sha256(repr(key).encode()).digest()
    return (h[0] / 255 - 0.5) * 0.01


def _set(d: dict, key: str, value: str) -> None:
    *parents, leaf = key.split(".")
    for p in parents:
        d = d.setdefault(p, {})
    d[leaf] = yaml.safe_load(value)


def _begin(cfg: dict, run_dir: Path, resume: bool, params: int) -> int:
    """The step the run starts after: resumed like the trainer (from the last checkpoint, or from
    step 0 when none was saved, dropping later metric rows), else a fresh run directory."""
    ckpt = run_dir / "checkpoints"
    metrics = run_dir / "metrics.jsonl"
    start = 0
    if resume:
        if (ckpt / "state.json").exists():
            start = json.loads((ckpt / "state.json").read_text())["step"]
        rows = [json.loads(x) for x in metrics.read_text().splitlines()]
        metrics.write_text("".join(json.dumps(r) + "\n" for r in rows if r["step"] <= start))
        return start
    rank = cfg["lora"]["rank"]
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    manifest = {"seed": int(cfg.get("seed", 0)), "world_size": 1, "trainable_params": params}
    manifest |= {"total_params": FULL_PARAMS + (0 if rank == "full" else params)}
    manifest["versions"] = {"fake_train": "1"}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    metrics.write_text(json.dumps({"step": 0, "eval/pass1": 0.2, "eval/greedy_acc": 0.25}) + "\n")
    return start


def main(argv: list[str]) -> int:
    resume = "--resume" in argv
    args = [a for a in argv if a != "--resume"]
    if log := os.environ.get("FAKE_TRAIN_LOG"):
        with open(log, "a") as f:
            f.write(json.dumps({"argv": argv}) + "\n")
    cfg = yaml.safe_load(Path(args[0]).read_text()) or {}
    for ov in args[1:]:
        key, _, value = ov.partition("=")
        _set(cfg, key, value)
    run_dir = Path(cfg["run_dir"])
    rank = cfg["lora"]["rank"]
    targets = cfg["lora"].get("targets", "all")
    lr = float(cfg["optimizer"]["lr"])
    seed = int(cfg.get("seed", 0))
    steps = int(cfg["schedule"]["steps"])
    per_step = int(cfg["data"]["prompts_per_step"]) * int(cfg["data"]["group_size"])
    params = FULL_PARAMS if rank == "full" else PARAMS_PER_RANK[targets] * int(rank)

    crash_sub, crash_at = None, None
    if (spec := os.environ.get("FAKE_TRAIN_CRASH")) and not resume:
        crash_sub, _, k = spec.partition(":")
        crash_at = int(k) if crash_sub in run_dir.name else None

    if crash_at == 0:
        print("fake crash at start", file=sys.stderr)
        return 3

    ckpt = run_dir / "checkpoints"
    metrics = run_dir / "metrics.jsonl"
    start = _begin(cfg, run_dir, resume, params)
    level = final_level(rank, targets, lr)
    pass1 = 0.2
    for step in range(start + 1, steps + 1):
        reward = 0.2 + (level - 0.2) * (1 - math.exp(-step / (0.3 * steps)))
        reward += _jitter(seed, rank, targets, lr, step)
        row = {
            "step": step,
            "episodes": step * per_step,
            "reward/mean": round(reward, 6),
            "reward/std": 0.4,
            "reward/zero_signal_frac": 0.25,
            "time/step_s": step_s(rank),
            "memory/peak_mb": 900.0 if rank == "full" else 400.0 + int(rank),
        }
        if step % 5 == 0 or step == steps:
            pass1 = round(reward - 0.05, 6)
            row |= {"eval/pass1": pass1, "eval/greedy_acc": pass1 + 0.05, "time/eval_s": 0.5}
            row["time/step_s"] += 0.5  # like the trainer's: the eval is inside time/step_s
        with metrics.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if step % 2 == 0:
            ckpt.mkdir(exist_ok=True)
            (ckpt / "state.json").write_text(json.dumps({"step": step}))
        if step == crash_at:
            print(f"fake crash after step {step}", file=sys.stderr)
            return 3

    summary = {
        "run_dir": str(run_dir),
        "steps": steps,
        "eval_pass1_start": 0.2,
        "eval_pass1_end": pass1,
        "wall_s": START_S + steps * step_s(rank),  # evals count as start-up here
        "trainable_params": params,
        "episodes": steps * per_step,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
