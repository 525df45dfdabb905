"""Packed runs: K LoRA runs trained in one process, on one base model and one vLLM engine.

Every run of a sweep's LoRA points trains an adapter on the same frozen base, so K of them can share
it: the trainer's base model carries K peft adapters (`policy.load_adapters`), the engine serves K
adapters side by side (vLLM's ``max_loras``), and each step samples every run's prompts in one
generate call, each prompt tagged with its run's adapter; then each run goes through the trainer's
phases (`trainer.train_step`, `log_step`, `checkpoint_step`). Everything else is the run's own,
exactly as if it ran alone (`trainer.train`): config, data order (its seed), adapter init (its seed),
optimizer, schedule, torch and Python RNG streams, metrics, checkpoints, run directory. A packed
run therefore writes the metrics rows it would write alone (timings and memory aside) and resumes
from its own checkpoints. A run whose step raises is checkpointed at its last completed step,
recorded in its ``failed.json`` and dropped; the others go on.

What must agree across a pack (`pack_key`): everything but the seed, the run directory, the LoRA
settings and the optimizer's. The engine's LoRA capacity is the largest rank in the pack.
"""

from __future__ import annotations

import contextlib
import random
import time
import traceback
from pathlib import Path

import torch
from accelerate import Accelerator

from grpo_lora.checkpoint import write_failure
from grpo_lora.config import Config, ConfigError, check_pack
from grpo_lora.data import load_problems
from grpo_lora.models import resolve_model_path
from grpo_lora.policy import Adapter, load_adapters
from grpo_lora.rl.state import (
    RunState,
    claim_run_dir,
    config_errors,
    make_run,
)
from grpo_lora.rl.trainer import (
    RunError,
    Sampled,
    checkpoint_due,
    checkpoint_step,
    eval_due,
    evaluate_runs,
    first_eval,
    log_step,
    progress,
    requests,
    stopped,
    summary,
    train_step,
)


def train_pack(cfgs: list[Config], resume: bool = False, log=print) -> list[dict]:
    """Train the runs ``cfgs`` together; returns the summaries of those that finished. With
    ``resume``, a run whose directory already holds a run continues from its last checkpoint, the
    others start. Raises RunError (one line) after the others are done if any run failed."""
    t_start = time.perf_counter()
    check_pack(cfgs)
    runs = _setup(cfgs, resume, log)
    engine = runs[0].engine
    try:
        failed = _loop(runs)
    except BaseException:  # the engine failed (each run checkpointed what it completed), or ^C
        engine.close()
        raise
    wall = time.perf_counter() - t_start
    summaries = [summary(run, wall) for run in runs]
    engine.close()
    if failed:
        raise RunError(f"{len(failed)} of {len(cfgs)} packed runs failed: " + "; ".join(failed))
    return summaries


def _loop(runs: list[RunState]) -> list[str]:
    """The packed runs' steps, in data-flow order per step: one generate call for all, then each
    run's update and sync, then one batched evaluation when due, then each run's row and
    checkpoint. A run that raises leaves ``runs``; returns their one-line errors."""
    try:
        first_eval(runs)
    except Exception as e:
        raise stopped(runs[0], runs[0].start, e) from e
    cfg = runs[0].cfg
    start = min(run.start for run in runs)
    show = progress(cfg.logging.progress, cfg.schedule.steps, start)
    failed: list[str] = []
    for step in range(start, cfg.schedule.steps):
        try:
            stepped, rows = _pack_step(runs, step, failed)
        except Exception as e:  # the shared engine failed: every run stops where it is
            errors = [stopped(run, step, e) for run in runs]
            raise errors[0] from e
        if not runs:
            break
        if stepped:
            show(rows[id(stepped[-1])])
    return failed


def _pack_step(runs: list[RunState], step: int, failed: list[str]):
    """Step ``step`` of every run that has it to do; returns those that stepped and their rows."""
    live = [run for run in runs if run.start <= step]
    t_step = time.perf_counter()
    rows = {}
    for run, own in zip(live, _sample(live, step)):
        with _isolated(run, step, runs, failed):
            run.policy.activate()
            rows[id(run)] = train_step(run, step, own, None)
    stepped = [run for run in live if id(run) in rows]
    due = stepped and eval_due(runs[0].cfg, step + 1)
    scores = evaluate_runs(stepped) if due else [None] * len(stepped)
    for run, own_scores in zip(stepped, scores):
        with _isolated(run, step, runs, failed):
            log_step(run, rows[id(run)], time.perf_counter() - t_step, own_scores)
            if checkpoint_due(run.cfg, step + 1):
                checkpoint_step(run, step + 1)
    return [run for run in stepped if run in runs], rows


def _setup(cfgs: list[Config], resume: bool, log) -> list[RunState]:
    """One accelerator, one base model with an adapter per run, one problem set, one engine
    serving them all; then each run's own optimizer, metrics and checkpoints, and its RNG streams
    as a run alone would have them when its loop starts."""
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    if accelerator.num_processes > 1:
        raise ConfigError("packed runs train in one process (launch them without --num_processes)")
    resumes = [resume and _holds_run(cfg) for cfg in cfgs]  # decided once, before any run writes
    for cfg, own_resume in zip(cfgs, resumes):
        claim_run_dir(cfg, own_resume, accelerator)
    cfg0 = cfgs[0]
    dtype = getattr(torch, cfg0.model.dtype)
    adapters = [
        Adapter(c.lora.rank, c.lora.alpha, c.lora.targets, c.lora.dropout, c.seed, f"run{i}")
        for i, c in enumerate(cfgs)
    ]
    with config_errors():
        model_path = resolve_model_path(cfg0.model.path)
        policies = load_adapters(model_path, adapters, dtype)
        problems = load_problems(cfg0.data, policies[0].tokenizer)
    max_rank = max(c.engine.max_lora_rank or c.lora.rank for c in cfgs)
    engine = cfg0.make_engine(model_path, max_rank, max_loras=len(cfgs))
    log(f"pack of {len(cfgs)} LoRA runs on one base model and one engine")
    runs = []
    for cfg, policy, own_resume in zip(cfgs, policies, resumes):
        policy.activate()
        torch.manual_seed(cfg.seed)  # as a run alone is seeded before make_run (trainer.setup)
        random.seed(cfg.seed)
        say = _prefixed(log, cfg.run_dir)
        run = make_run(cfg, accelerator, policy, problems, engine, model_path, own_resume, say)
        runs.append(run)
    return runs


def _holds_run(cfg: Config) -> bool:
    return (Path(cfg.run_dir) / "metrics.jsonl").exists()


def _prefixed(log, name: str):
    return lambda msg, *a, **k: log(f"{name}: {msg}", *a, **k)


def _sample(runs: list[RunState], step: int) -> list[Sampled]:
    """Every run's share of step ``step``, in one generate call (each prompt with its run's
    adapter and its run's seed)."""
    t0 = time.perf_counter()
    asked = [requests(run, step) for run in runs]
    prompts = [p.prompt for problems, _ in asked for p in problems]
    seeds = [s for _, run_seeds in asked for s in run_seeds]
    adapters = [run.policy.adapter for run, (problems, _) in zip(runs, asked) for _ in problems]
    g = runs[0].cfg.data.group_size
    rollouts = runs[0].engine.generate(prompts, g, runs[0].sampling, seeds, adapters)
    seconds = time.perf_counter() - t0
    out, at = [], 0
    for run, (problems, _) in zip(runs, asked):
        n = len(problems) * g
        out.append(Sampled(problems, rollouts[at : at + n], run.engine_version, seconds))
        at += n
    return out


@contextlib.contextmanager
def _isolated(run: RunState, step: int, runs: list[RunState], failed: list[str]):
    """Run's work for ``step`` (on its own RNG streams, as `trainer` keeps them); if it raises, the
    run alone stops: what completed is checkpointed, the failure recorded in its failed.json, and
    it leaves ``runs``."""
    try:
        yield
    except Exception as error:
        run_error = stopped(run, step, error)
        write_failure(
            run.run_dir,
            {
                "point": run.run_dir.name,
                "exit_code": None,
                "error": str(run_error),
                "steps_done": step,
                "steps": run.cfg.schedule.steps,
                "packed": True,
                "log_tail": traceback.format_exception(error)[-5:],
            },
        )
        if run.metrics is not None:
            run.metrics.close()
        runs.remove(run)
        failed.append(f"{run.run_dir.name}: {run_error}")
