"""The train phase of one GRPO step alone (`grpo_lora.rl.update.update`), on a recipe-shaped batch,
for each dtype x micro-batch budget, interleaved (A B A B) in one process so that machine noise hits
every variant alike. The batch is what the recipe samples: prompts_per_step groups of group_size
completions, each of `--completion` tokens after a shared `--prompt`-token prompt (random ids and
advantages: the cost of the update does not depend on them). No engine runs.

    python bench/train_step.py                                  # SmolLM2 rank 1, fp32, 512 vs 4096
    python bench/train_step.py --dtype float32 bfloat16 --mbt 4096 --profile
    python bench/train_step.py --recipe recipes/smollm2_fullft.yaml

Prints each variant's median seconds per update (min-max), its ratio to the first variant, the
process's peak RSS, and with `--profile` the top functions by own time of each variant's timed
updates (cProfile). bf16 on a CPU without native bf16 (no avx512_bf16 or amx_bf16) is emulated and
many times slower: the first line says which this CPU is.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import pstats
import resource
import statistics
import time

import torch
from accelerate import Accelerator

from grpo_lora.config import load_config
from grpo_lora.engines.base import Rollout
from grpo_lora.machine import BF16_CPU_FLAGS, configure_cpu_env, cpu_flags
from grpo_lora.models import resolve_model_path
from grpo_lora.optim import make_optimizer
from grpo_lora.policy import load_policy
from grpo_lora.rl import losses
from grpo_lora.rl.batch import make_batch
from grpo_lora.rl.update import Objective, Optim, update


def recipe_batch(cfg, prompt_len: int, completion_len: int):
    """P groups of G random completions of one random prompt each, with random advantages."""
    g = torch.Generator().manual_seed(0)
    P, G = cfg.data.prompts_per_step, cfg.data.group_size
    rollouts = []
    for _ in range(P):
        prompt = torch.randint(100, 40_000, (prompt_len,), generator=g).tolist()
        for _ in range(G):
            completion = torch.randint(100, 40_000, (completion_len,), generator=g).tolist()
            rollouts.append(Rollout(prompt, completion, [-2.0] * completion_len, "length", ""))
    return make_batch(rollouts, torch.randn(P * G, generator=g), pad_id=0)


def trainer(cfg, dtype: torch.dtype):
    """The recipe's policy in `dtype`, its optimizer and objective, as the trainer builds them."""
    rank = None if cfg.lora.full else cfg.lora.rank
    policy = load_policy(
        resolve_model_path(cfg.model.path), rank, cfg.lora.alpha, cfg.lora.targets, dtype=dtype
    )
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    optimizer = make_optimizer(policy.trainable_parameters(), cfg.optimizer)
    model, optimizer = accelerator.prepare(policy.model, optimizer)
    loss_cfg = cfg.algorithm.loss.model_copy(update={"constant_norm": cfg.engine.max_tokens})
    objective = Objective(losses.LOSSES[loss_cfg.kind], loss_cfg, cfg.engine.temperature, dtype)
    return model, objective, Optim(optimizer, cfg.optimizer, accelerator)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", default="recipes/smollm2_lora_r1.yaml")
    ap.add_argument("--dtype", nargs="+", default=["float32"], choices=["float32", "bfloat16"])
    ap.add_argument("--mbt", nargs="+", type=int, default=[512, 4096], help="micro_batch_tokens")
    ap.add_argument("--repeats", type=int, default=4, help="timed updates a variant (1 warm-up)")
    ap.add_argument("--prompt", type=int, default=46, help="prompt tokens (SmolLM2's chat prompt)")
    ap.add_argument("--completion", type=int, default=32, help="completion tokens")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    configure_cpu_env()
    native = sorted(BF16_CPU_FLAGS & cpu_flags())
    print(
        f"CPU bf16: {'native (' + ', '.join(native) + ')' if native else 'emulated'}; "
        f"{torch.get_num_threads()} threads; {args.recipe}"
    )
    cfg = load_config(args.recipe)
    batch = recipe_batch(cfg, args.prompt, args.completion)
    trainers = {d: trainer(cfg, getattr(torch, d)) for d in args.dtype}
    variants = list(itertools.product(args.dtype, args.mbt))
    times = {v: [] for v in variants}
    profiles = {v: cProfile.Profile() for v in variants} if args.profile else {}
    for r in range(args.repeats + 1):
        for dtype, mbt in variants:
            model, objective, optim = trainers[dtype]
            optim.settings = cfg.optimizer.model_copy(update={"micro_batch_tokens": mbt})
            prof = profiles.get((dtype, mbt)) if r else None
            t0 = time.perf_counter()
            if prof:
                prof.enable()
            update(model, batch, objective, optim)
            if prof:
                prof.disable()
            if r:  # the first round warms up
                times[(dtype, mbt)].append(time.perf_counter() - t0)
    base = statistics.median(times[variants[0]])
    print(f"batch: {len(batch)} sequences, {batch.padded_tokens} padded tokens")
    for v in variants:
        ts = times[v]
        med = statistics.median(ts)
        print(
            f"{v[0]:>8} micro_batch_tokens {v[1]:>5} ({len(batch.micro_batches(v[1]))} micro-batches): "
            f"{med:.2f} s/update ({min(ts):.2f}-{max(ts):.2f}), {base / med:.2f}x the first"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    for v, prof in profiles.items():
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
        print(f"--- profile {v[0]} micro_batch_tokens {v[1]} ---")
        print("\n".join(out.getvalue().splitlines()[4:22]))


if __name__ == "__main__":
    main()
