"""The GRPO loop: `train` sets a run up (`setup`), then runs each step's phases in order:

    sample P prompts x G completions with the engine (current weights)     `sample`
    -> grade them                                                          `grade_rollouts`
    -> group advantages, padded once into the step's batch                 `advantage_batch`
    -> trainer log-probs -> loss -> backward -> optimizer step             `update_policy`
    -> sync the new weights to the engine (LoRA: adapter tensors;
       FullFT: all weights)                                                `sync_engine`
    -> log the metrics row (held-out scores when due)                      `step_metrics`, `log_step`
    -> checkpoint when due                                                 `checkpoint_step`

`train_step` is grade to sync, returning the row. Packed runs (`grpo_lora.rl.pack`) call the same
phases, with one sampling call for all runs.

Under ``accelerate launch --num_processes N`` every process samples its own shard of the step's prompts
with its own engine, and gradients are all-reduced by DDP. Departures from the GRPO paper, by default
(the "LoRA Without Regret" setting): advantages are mean-centred (no std), the loss is the unclipped
importance-sampled policy gradient against the sampler's log-probs, there is no KL term, one optimizer
step per batch, constant learning rate.
"""

from __future__ import annotations

import json
import logging
import random
import resource
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from torch import Tensor

from grpo_lora import rng
from grpo_lora.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    pending_rollouts,
    save_checkpoint,
)
from grpo_lora.config import Config
from grpo_lora.data import load_problems
from grpo_lora.data.problems import Problem, grade
from grpo_lora.engines import Rollout
from grpo_lora.evaluate import evaluate_adapters
from grpo_lora.machine import release_free_memory
from grpo_lora.metrics import read_metrics
from grpo_lora.rl import advantages
from grpo_lora.rl.batch import Batch, make_batch
from grpo_lora.rl.state import (
    RunState,
    claim_run_dir,
    config_errors,
    load_run_policy,
    make_run,
)
from grpo_lora.rl.update import global_totals, update
from grpo_lora.seeds import completion_seeds

MAX_KEYS = (
    "is/ratio_max",
    "engine/logp_diff_max",
    "loss/nonfinite",
)  # reduced by max over processes


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


def train(cfg: Config, resume: bool = False, log=print) -> dict | None:
    """Run (or with ``resume`` continue) a training run; the main process returns its summary."""
    t_start = time.perf_counter()
    run = setup(cfg, resume, log)
    main = run.accelerator.is_main_process
    show = progress(cfg.logging.progress and main, cfg.schedule.steps, run.start)
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
            sampled = sampled or sample(run, step)
            ahead = None
            if ahead_pool is not None and step + 1 < cfg.schedule.steps:
                ahead = ahead_pool.submit(sample, run, step + 1)
            row = train_step(run, step, sampled, ahead)
            sampled = ahead.result() if ahead is not None else None
            # wall time of the step as a whole (with async rollouts, its sampling overlapped
            # the step before)
            log_step(run, row, time.perf_counter() - t_step)
            if checkpoint_due(cfg, step + 1):
                checkpoint_step(run, step + 1, pending=sampled)
            done = step + 1
            show(row)
    except Exception as e:
        if ahead_pool is not None:
            ahead_pool.shutdown(wait=True)  # the engine may still be sampling the next step
        error = stopped(run, done, e, pending=sampled if done == step else None)
        run.engine.close()
        if run.metrics is not None:
            run.metrics.close()
        raise error from e
    finally:
        if ahead_pool is not None:
            ahead_pool.shutdown(wait=True)
    result = summary(run, time.perf_counter() - t_start)
    run.accelerator.wait_for_everyone()
    run.engine.close()  # last: vLLM's shutdown tears down the default process group it shares
    return result


def setup(cfg: Config, resume: bool, log) -> RunState:
    """Policy, data, optimizer, loss, engine and metrics log, resumed from the last checkpoint."""
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    say = log if accelerator.is_main_process else (lambda *a, **k: None)
    claim_run_dir(cfg, resume, accelerator)
    with config_errors():
        model_path, policy = load_run_policy(cfg)
        problems = load_problems(cfg.data, policy.tokenizer)
    max_rank = None if cfg.lora.full else (cfg.engine.max_lora_rank or cfg.lora.rank)
    engine = cfg.make_engine(model_path, max_rank)
    torch.manual_seed(cfg.seed)  # the loop's RNG streams (a resume restores them)
    random.seed(cfg.seed)
    return make_run(cfg, accelerator, policy, problems, engine, model_path, resume, say)


def first_eval(runs: list[RunState]) -> None:
    """The step-0 row of each fresh run: the held-out scores of its starting policy."""
    fresh = [run for run in runs if run.start == 0]
    for run, scores in zip(fresh, evaluate_runs(fresh) if fresh else []):
        if run.accelerator.is_main_process:
            run.metrics.write({"step": 0, **scores})


# --- the phases of a step, in order ---


def sample(run: RunState, step: int) -> Sampled:
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


def requests(run: RunState, step: int) -> tuple[list[Problem], list[int]]:
    """This process's share of step ``step``'s prompts, and the seeds of their completions."""
    cfg, accelerator = run.cfg, run.accelerator
    rank, world = accelerator.process_index, accelerator.num_processes
    p_local = cfg.data.prompts_per_step // world
    prompts = run.problems.batch(cfg.seed, step, cfg.data.prompts_per_step)[
        rank * p_local : (rank + 1) * p_local
    ]
    indices = [rank * p_local + i for i in range(p_local)]
    return prompts, completion_seeds("train", cfg.seed, step, indices, cfg.data.group_size)


def train_step(run: RunState, step: int, sampled: Sampled, ahead: Future | None) -> dict:
    """Step ``step`` on rollouts already sampled: grade -> advantages -> update -> sync. ``ahead``,
    when given, is the next step's sampling, running while this step trains: the new weights
    reach the engine only once it is done. Returns the step's metrics row (reduced over
    processes)."""
    t_grade = time.perf_counter()
    rewards_PG = grade_rollouts(run, step, sampled)
    batch = advantage_batch(run, sampled.rollouts, rewards_PG)
    t_train = time.perf_counter()
    stats, lr = update_policy(run, batch)
    t_wait = time.perf_counter()
    if ahead is not None:
        wait([ahead])  # the engine is busy sampling the next step until then
    t_sync = time.perf_counter()
    sync_engine(run, step + 1)
    times = {
        "time/generate_s": sampled.seconds,
        "time/grade_s": t_train - t_grade,
        "time/train_s": t_wait - t_train,
        "time/wait_s": t_sync - t_wait,
        "time/sync_s": time.perf_counter() - t_sync,
    }
    return step_metrics(run, step, sampled, rewards_PG, batch, stats, times, lr)


def grade_rollouts(run: RunState, step: int, sampled: Sampled) -> Tensor:
    """The rewards of this process's rollouts, (P, G): 1 for a correct answer, else 0
    (`grpo_lora.data.problems.grade`); each prompt's rewards and first completion are recorded in
    samples/rank{r}.jsonl."""
    g = run.cfg.data.group_size
    prompts, rollouts = sampled.prompts, sampled.rollouts
    correct = grade(
        [r.text for r in rollouts],
        [p for p in prompts for _ in range(g)],
        [r.finish_reason == "length" for r in rollouts],
    )
    rewards_PG = torch.tensor(correct, dtype=torch.float32).view(len(prompts), g)
    _write_samples(
        run.run_dir, run.accelerator.process_index, step + 1, prompts, rollouts, rewards_PG
    )
    return rewards_PG


def advantage_batch(run: RunState, rollouts: list[Rollout], rewards_PG: Tensor) -> Batch:
    """The rollouts with their group advantages, padded once into the step's batch, which carries
    the step's sequence and token counts over every process (what the loss divides by)."""
    adv_PG = run.adv_fn(rewards_PG)
    totals = global_totals(rollouts, run.accelerator)
    return make_batch(rollouts, adv_PG.reshape(-1), run.pad_id, totals)


def update_policy(run: RunState, batch: Batch) -> tuple[dict, float]:
    """The step's optimizer update(s) on ``batch`` (`grpo_lora.rl.update`), then the schedule's
    step; returns the update's statistics and the learning rate it used."""
    lr = run.scheduler.get_last_lr()[0]  # the LR this update uses, before the schedule moves on
    with rng.own(run.rng):  # dropout draws from the run's streams alone, never the engine's
        stats = update(run.model, batch, run.objective, run.optim)
    run.scheduler.step()
    return stats, lr


def sync_engine(run: RunState, version: int) -> None:
    """Push the updated weights to the engine, which serves weight version ``version`` from now."""
    run.policy.sync(run.engine, version=version)
    run.engine_version = version
    # a step frees buffers of every size (activations, a FullFT push's per-layer copies); left in
    # glibc's heap they made peak RSS creep (docs/vllm-cpu.md)
    release_free_memory()


def step_metrics(
    run: RunState,
    step: int,
    sampled: Sampled,
    rewards_PG: Tensor,
    batch: Batch,
    stats: dict,
    times: dict,
    lr: float,
) -> dict:
    """Step ``step``'s metrics row: rewards, completions, the update's statistics, the engine's
    lag and the phases' times, reduced over processes; the LR and peak memory."""
    world = run.accelerator.num_processes
    rollouts, g = sampled.rollouts, run.cfg.data.group_size
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
        **times,
    }
    if world > 1:  # DDP must keep the processes' weights identical: max and min must agree
        checksum = sum(p.detach().double().sum() for p in run.policy.trainable_parameters())
        local["dist/param_sum_max"] = local["dist/param_sum_min"] = checksum.item()
    return {
        "step": step + 1,
        "episodes": (step + 1) * run.cfg.data.prompts_per_step * g,
        **_reduce(local, run.accelerator),
        "optim/lr": lr,
        "memory/peak_mb": _peak_memory_mb(),
    }


def log_step(run: RunState, row: dict, wall_s: float, scores: dict | None = None) -> None:
    """Complete a step's metrics row (its wall time; the held-out scores when due, evaluated here
    unless given) and write it."""
    row["time/step_s"] = wall_s
    row["perf/tokens_per_s"] = row["completion/tokens"] / wall_s
    if eval_due(run.cfg, row["step"]):
        row.update(evaluate_runs([run])[0] if scores is None else scores)
    if run.accelerator.is_main_process:
        run.metrics.write(row)


def eval_due(cfg: Config, done: int) -> bool:
    """A held-out evaluation after step ``done``: every ``eval_every`` steps and at the end."""
    every = cfg.logging.eval_every
    return done == cfg.schedule.steps or bool(every and done % every == 0)


def evaluate_runs(runs: list[RunState]) -> list[dict]:
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


def checkpoint_due(cfg: Config, done: int) -> bool:
    """A checkpoint after step ``done``: every ``checkpoint.every`` steps and at the end."""
    every = cfg.checkpoint.every
    return done == cfg.schedule.steps or bool(every and done % every == 0)


def checkpoint_step(run: RunState, step: int, pending: Sampled | None = None) -> None:
    """Checkpoint step ``step`` (main process) with every process's random streams and
    ``pending``, the next step's rollouts when they are already drawn (async rollouts); a failed
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


# --- the end of a run ---


def stopped(run: RunState, done: int, error: Exception, pending: Sampled | None = None) -> RunError:
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
            checkpoint_step(run, done, pending)
        saved = f"; step {done} is checkpointed, --resume continues from it"
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return RunError(f"step {done + 1} failed: {type(error).__name__}: {reason}{saved}")


def summary(run: RunState, wall_s: float) -> dict | None:
    """The run's summary (written to summary.json); None on the other processes."""
    if not run.accelerator.is_main_process:
        return None
    cfg = run.cfg
    evals = [r for r in read_metrics(run.run_dir) if r.get("eval/pass1") is not None]
    result = {
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
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(run.run_dir / "summary.json")
    run.metrics.close()
    return result


def progress(
    enabled: bool, total: int, start: int, describe: Callable[[dict], str] | None = None
) -> Callable[[dict], None]:
    """A rich progress bar over the steps; returns a callback fed each metrics row, which
    ``describe`` (by default a GRPO step's reward and held-out pass@1) sums up beside the bar."""
    if not enabled:
        return lambda row: None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    describe = describe or _describe_rl
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


# --- helpers ---


def _describe_rl(row: dict) -> str:
    """A GRPO step beside its progress bar: the reward, and held-out pass@1 when evaluated."""
    info = f"reward {row['reward/mean']:.3f}"
    if row.get("eval/pass1") is not None:
        info += f" | eval pass@1 {row['eval/pass1']:.3f}"
    return info


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


def _any_process(accelerator, flag: bool) -> bool:
    """True on every process when ``flag`` is true on any (so that they stop together)."""
    if accelerator.num_processes == 1:
        return flag
    t = torch.tensor([float(flag)], device=accelerator.device)
    return bool(accelerator.reduce(t, reduction="sum").item() > 0)


def _peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
