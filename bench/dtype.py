"""fp32 against bf16 on one recipe, whole runs: `grpo-lora train RECIPE model.dtype=D seed=S` for each
seed, the two dtypes alternating (fp32 s0, bf16 s0, fp32 s1, bf16 s1, ...) so machine noise hits
both, each into a fresh directory. Per dtype: the median step and its generate / train parts (the
post-warm-up steps of every seed pooled; evaluations are not in a step), held-out pass@1 at the
start and the end, the largest importance ratio and engine/trainer log-prob gap. Then the step
ratio fp32 / bf16 (> 1: bf16 is faster) and the end pass@1 difference bf16 - fp32 with its 90 %
interval over the paired seeds and the study's verdict rule (grpo_lora.study.stats.difference).

    python bench/dtype.py                                    # recipes/smollm2_lora_r1.yaml, seeds 0 1
    python bench/dtype.py --recipe recipes/smollm2_fullft.yaml --seeds 0 1 2 3
    python bench/dtype.py --seeds 0 --set schedule.steps=6   # the step time alone, a short run

On a CPU without native bf16 (avx512_bf16 or amx_bf16) it stops and says so; --force runs it anyway
(emulated bf16 is many times slower than fp32). A benchmark, not a test: it asserts nothing. The
last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from vs_trl import ROOT, run_subprocess, side_env  # bench/ is on sys.path: this script's folder

sys.path.insert(0, str(ROOT))

from grpo_lora.machine import resolve_dtype
from grpo_lora.study.runs import read_rows, train_step_s
from grpo_lora.study.stats import difference

DTYPES = ("float32", "bfloat16")


def run(recipe: str, dtype: str, seed: int, sets: list[str], out: Path, timeout: float) -> dict:
    """One whole run; its per-step times and the figures the table shows."""
    run_dir = out / f"{dtype}-s{seed}"
    cmd = [sys.executable, "-m", "grpo_lora", "train", recipe, f"model.dtype={dtype}"]
    cmd += [f"seed={seed}", f"run_dir={run_dir}", "logging.progress=false", *sets]
    out.mkdir(parents=True, exist_ok=True)
    run_subprocess(cmd, out / f"{dtype}-s{seed}.log", timeout, side_env(0))
    rows = read_rows(run_dir)
    steps = [r for r in rows if "time/step_s" in r]
    evals = [r["eval/pass1"] for r in rows if "eval/pass1" in r]
    return {
        "step_s": [train_step_s(r) for r in steps],
        "generate_s": [r["time/generate_s"] for r in steps],
        "train_s": [r["time/train_s"] for r in steps],
        "pass1_start": evals[0] if evals else None,
        "pass1_end": evals[-1] if evals else None,
        "is_ratio_max": max(r["is/ratio_max"] for r in steps),
        "logp_gap_max": max(r["engine/logp_diff_max"] for r in steps),
    }


def summarise(runs: list[dict], warmup: int) -> dict:
    pooled = {
        k: [x for r in runs for x in r[k][warmup:]] for k in ("step_s", "generate_s", "train_s")
    }
    return {
        **{k: statistics.median(v) for k, v in pooled.items()},
        "steps": len(pooled["step_s"]),
        "pass1_start": [r["pass1_start"] for r in runs],
        "pass1_end": [r["pass1_end"] for r in runs],
        "is_ratio_max": max(r["is_ratio_max"] for r in runs),
        "logp_gap_max": max(r["logp_gap_max"] for r in runs),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="recipes/smollm2_lora_r1.yaml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--warmup", type=int, default=1, help="first steps of each run left out")
    ap.add_argument("--set", dest="sets", nargs="*", default=[], help="more key=value overrides")
    ap.add_argument("--margin", type=float, default=0.05, help="end pass@1, as the study's")
    ap.add_argument("--timeout", type=float, default=4 * 3600, help="seconds a run")
    ap.add_argument("--force", action="store_true", help="run bf16 where it is emulated")
    ap.add_argument("--out", type=Path, default=None, help="default: a temporary directory")
    args = ap.parse_args(argv)
    if resolve_dtype("auto") != "bfloat16" and not args.force:
        print(
            "dtype: this machine has no native bf16 (a GPU, or a CPU with avx512_bf16 or amx_bf16);"
        )
        print("emulated bf16 runs many times slower than fp32. --force runs it anyway.")
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_dtype_"))
    runs: dict[str, list[dict]] = {d: [] for d in DTYPES}
    for seed in args.seeds:
        for dtype in DTYPES:
            runs[dtype].append(run(args.recipe, dtype, seed, args.sets, out, args.timeout))
            print(f"{dtype} seed {seed}: done ({out / f'{dtype}-s{seed}.log'})", flush=True)
    summary = {d: summarise(runs[d], args.warmup) for d in DTYPES}
    print(f"\n{args.recipe}, seeds {args.seeds}, runs under {out}")
    print(
        "| dtype | median step (s) | generate | train | steps | pass@1 start -> end (per seed) "
        "| max IS ratio | max log-prob gap |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for d, s in summary.items():
        curve = ", ".join(f"{a:.3f} -> {b:.3f}" for a, b in zip(s["pass1_start"], s["pass1_end"]))
        print(
            f"| {d} | {s['step_s']:.2f} | {s['generate_s']:.2f} | {s['train_s']:.2f} "
            f"| {s['steps']} | {curve} | {s['is_ratio_max']:.3f} | {s['logp_gap_max']:.2e} |"
        )
    speedup = summary["float32"]["step_s"] / summary["bfloat16"]["step_s"]
    ends = [summary[d]["pass1_end"] for d in ("bfloat16", "float32")]
    effect = (
        difference(*ends, margin=args.margin, paired=True)
        if None not in ends[0] + ends[1]
        else None
    )
    print(f"step ratio fp32 / bf16: {speedup:.2f}x")
    print(
        f"end pass@1, bf16 - fp32: {effect.text('level') if effect else 'no held-out evaluation'}"
    )
    print(
        json.dumps(
            {
                "recipe": args.recipe,
                "seeds": args.seeds,
                "speedup": round(speedup, 3),
                "pass1_end_effect": effect.text("level") if effect else None,
                "dtypes": summary,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
