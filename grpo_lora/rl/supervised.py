"""Supervised fine-tuning (`grpo-lora sft`) of the policies GRPO trains, from the same recipe.

The same starting policy (LoRA rank r on all/mlp/attn layers, or FullFT,
`grpo_lora.rl.state.load_run_policy`), optimizer, schedule, run directory, metrics log and
checkpoints as a GRPO run, so that SFT and GRPO can be compared point for point. One step:

    batch k of the demonstrations (``sft.batch_size`` of them, in the seed's order)
    -> tokens: prompt, then completion + EOS -> mean NLL of the completion tokens -> AdamW step

Demonstrations: tiny-arith's training problems with their correct worked answers (no slip), drawn
in the order GRPO draws its prompts for the seed; or a jsonl file of ``{"prompt", "completion"}``
rows. The held-out log-loss is the per-token NLL of the held-out demonstrations (docs/sft.md).
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import Tensor, nn

from grpo_lora.checkpoint import latest_checkpoint, one_line, save_checkpoint
from grpo_lora.checkpoint import resume as resume_from_checkpoint
from grpo_lora.config import Config, ConfigError, DataSection, OptimizerSection
from grpo_lora.data import load_problems
from grpo_lora.data.jsonl import jsonl_rows
from grpo_lora.data.problems import seeded_batch
from grpo_lora.metrics import read_metrics
from grpo_lora.optim import make_optimizer, make_scheduler
from grpo_lora.rl.state import claim_run_dir, config_errors, load_run_policy, open_metrics
from grpo_lora.rl.trainer import RunError, checkpoint_due, eval_due, progress
from grpo_lora.tiny.build import sft_tensors

IGNORE = -100  # the label of a token the loss skips (prompt, padding), as in transformers
DATA = ("tiny-arith", "jsonl")  # the data sets sft reads


@dataclass(frozen=True)
class Demonstration:
    prompt: str  # exactly what the engine would be given
    completion: str  # the answer to imitate; EOS is appended when it is tokenised


@dataclass
class Demonstrations:
    train: list[Demonstration]
    heldout: list[Demonstration]  # the held-out log-loss a run reports
    val: list[Demonstration]  # split from the training set: what a sweep chooses an LR on


def check_data(data: DataSection) -> None:
    """A ConfigError naming the field unless ``data`` is something sft can read."""
    if data.name not in DATA:
        raise ConfigError(f"data.name: sft supports {' and '.join(DATA)}, not {data.name}")
    if data.name == "jsonl" and not data.source:
        raise ConfigError("data.source: sft on jsonl needs the path of its demonstrations file")


def load_demonstrations(data: DataSection, tokenizer) -> Demonstrations:
    """tiny-arith: GRPO's problem set (`grpo_lora.data.load_problems`: the same training order
    and held-out split), each problem's prompt with its gold, the correct worked answer
    (``ArithProblem.solution()``, no slip); its validation split is the training stream's next
    problems. jsonl: the rows of ``data.source``, and of ``data.heldout_source`` (if given) for the
    held-out log-loss; the last ``heldout_size`` rows (at most a tenth) validate and are never
    trained on. A sweep chooses SFT's LR on the validation split, never on the held-out set."""
    check_data(data)
    if data.name == "tiny-arith":
        problems = load_problems(data, tokenizer)
        demo = lambda ps: [Demonstration(p.prompt, p.gold) for p in ps]  # noqa: E731
        return Demonstrations(demo(problems.train), demo(problems.heldout), demo(problems.val))
    train = read_demonstrations(data.source, "train")
    heldout = read_demonstrations(data.heldout_source, "heldout") if data.heldout_source else []
    if not train:
        raise ValueError(f"data: {data.source} holds no demonstrations")
    val = train[len(train) - min(data.heldout_size, len(train) // 10) :]
    seen = {d.prompt for d in val}  # a file may repeat a prompt: none of val's is trained on
    train = [d for d in train[: len(train) - len(val)] if d.prompt not in seen]
    return Demonstrations(train, heldout[: data.heldout_size], val)


def read_demonstrations(path: str | Path, split: str) -> list[Demonstration]:
    """Rows ``{"prompt": ..., "completion": ...}``; a row without either as a string is a one-line
    error naming the file, the line and the field."""
    rows = jsonl_rows(path, split, ("prompt", "completion"))
    return [Demonstration(row["prompt"], row["completion"]) for _, row in rows]


def demonstration_tensors(demos: list[Demonstration], tokenizer) -> tuple[Tensor, Tensor]:
    """``(ids, labels)``, (N, L), right-padded (`grpo_lora.tiny.build.sft_tensors`): labels are
    the completion's tokens and its EOS, -100 elsewhere. Tokens as the engine sees them: the prompt
    tokenised as it tokenises a prompt, then the completion's own tokens (tokenised apart, without
    special tokens: it continues the prompt)."""
    prompts = tokenizer([d.prompt for d in demos])["input_ids"]
    completions = tokenizer([d.completion for d in demos], add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    return sft_tensors([(p, [*c, eos]) for p, c in zip(prompts, completions)], pad)


def completion_nll(logits_NLV: Tensor, labels_NL: Tensor) -> tuple[Tensor, Tensor]:
    r"""The summed negative log-likelihood of the labelled tokens, and their count: ``(S, M)``.

    Position t predicts token t + 1; with logits z, labels y and -100 for a token not scored,

        S = \sum_{(n,t): y[n,t+1] \ne -100} -\log \mathrm{softmax}(z[n,t])[y[n,t+1]]   (nats)
        M = |\{(n,t): y[n,t+1] \ne -100\}|

    S / M is the mean NLL per completion token (transformers' causal-LM loss on the same labels);
    over several batches it is \sum S / \sum M. The log-softmax runs in at least fp32."""
    target_NT = labels_NL[:, 1:]
    scored_NT = target_NT != IGNORE
    logits_MV = logits_NLV[:, :-1][scored_NT]
    if logits_MV.dtype in (torch.bfloat16, torch.float16):
        logits_MV = logits_MV.float()
    return F.cross_entropy(logits_MV, target_NT[scored_NT], reduction="sum"), scored_NT.sum()


def micro_batches(
    ids_NL: Tensor, labels_NL: Tensor, max_tokens: int
) -> list[tuple[Tensor, Tensor]]:
    """Consecutive rows of at most ``max_tokens`` padded tokens (at least one row each)."""
    rows = max(1, max_tokens // ids_NL.shape[1])
    return [(ids_NL[i : i + rows], labels_NL[i : i + rows]) for i in range(0, len(ids_NL), rows)]


def batch_nll(model: nn.Module, ids_NL: Tensor, labels_NL: Tensor, dtype: torch.dtype):
    """`completion_nll` of one micro-batch, the forward in ``dtype`` (autocast unless fp32). No
    attention mask: the padding comes after every real token, which causal attention never sees."""
    device = next(model.parameters()).device
    with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        logits_NLV = model(input_ids=ids_NL.to(device)).logits
    return completion_nll(logits_NLV, labels_NL.to(device))


def train_step(
    model: nn.Module,
    ids_NL: Tensor,
    labels_NL: Tensor,
    optim: torch.optim.Optimizer,
    settings: OptimizerSection,
    dtype: torch.dtype = torch.float32,
) -> tuple[float, int]:
    """One optimizer step on a batch: the gradient of S / M over the whole batch, accumulated over
    micro-batches of at most ``micro_batch_tokens`` padded tokens (each adds S_c / M), clipped to
    ``grad_clip``. Returns (S / M in nats per token, M)."""
    tokens = int((labels_NL[:, 1:] != IGNORE).sum())
    optim.zero_grad(set_to_none=True)
    nll = 0.0
    for ids, labels in micro_batches(ids_NL, labels_NL, settings.micro_batch_tokens):
        s, _ = batch_nll(model, ids, labels, dtype)
        (s / tokens).backward()
        nll += s.item()
    params = [p for p in model.parameters() if p.requires_grad]
    torch.nn.utils.clip_grad_norm_(params, settings.grad_clip or float("inf"))
    optim.step()
    return nll / tokens, tokens


def heldout_logloss(
    model: nn.Module, ids_NL: Tensor, labels_NL: Tensor, max_tokens: int, dtype: torch.dtype
) -> float:
    r"""\sum S / \sum M over the held-out demonstrations (nats per completion token), with the
    policy in eval mode (no dropout) and no gradient."""
    model.eval()
    try:
        with torch.no_grad():
            chunks = micro_batches(ids_NL, labels_NL, max_tokens)
            parts = [batch_nll(model, ids, labels, dtype) for ids, labels in chunks]
    finally:
        model.train()
    return float(sum(s for s, _ in parts) / sum(m for _, m in parts))


def sft(cfg: Config, resume: bool = False, log=print) -> dict:
    """Run (or with ``resume`` continue, from the last checkpoint or else step 0) an SFT run;
    returns its summary, also written to summary.json."""
    t_start = time.perf_counter()
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    if accelerator.num_processes > 1:
        raise ConfigError("sft trains in one process (launch it without --num_processes)")
    claim_run_dir(cfg, resume, accelerator)
    with config_errors():
        model_path, policy = load_run_policy(cfg)
        demos = load_demonstrations(cfg.data, policy.tokenizer)
    torch.manual_seed(cfg.seed)  # dropout's stream (a resume restores it)
    random.seed(cfg.seed)
    optimizer = make_optimizer(policy.trainable_parameters(), cfg.optimizer)
    scheduler = make_scheduler(optimizer, cfg.schedule)
    model, optimizer = accelerator.prepare(policy.model, optimizer)
    run_dir, dtype, size = Path(cfg.run_dir), getattr(torch, cfg.model.dtype), cfg.sft.batch_size
    start = resume_from_checkpoint(run_dir, policy, optimizer, scheduler, log) if resume else 0
    metrics = open_metrics(cfg, policy, start, 1, model_path)
    heldout = demonstration_tensors(demos.heldout, policy.tokenizer) if demos.heldout else None
    val = demonstration_tensors(demos.val, policy.tokenizer) if demos.val else None
    kind = "FullFT" if cfg.lora.full else f"LoRA rank {cfg.lora.rank} ({cfg.lora.targets})"
    log(
        f"SFT | {kind} | {policy.num_trainable():,} trainable params | {cfg.model.dtype} | "
        f"{size} demonstrations a step | {len(demos.train):,} train, {len(demos.heldout)} held-out"
    )

    def evaluate() -> dict:
        t0, budget, out = time.perf_counter(), cfg.optimizer.micro_batch_tokens, {}
        for key, split in (("eval/logloss", heldout), ("eval/val_logloss", val)):
            if split is not None:
                out[key] = heldout_logloss(model, *split, budget, dtype)
        return {**out, "time/eval_s": time.perf_counter() - t0} if out else {}

    show = progress(cfg.logging.progress, cfg.schedule.steps, start, _describe)
    done = start  # the last step whose update is complete and logged
    try:
        if start == 0:
            metrics.write({"step": 0, **evaluate()})
        for step in range(start, cfg.schedule.steps):
            t0 = time.perf_counter()
            batch = seeded_batch(demos.train, cfg.seed, step, size)
            ids, labels = demonstration_tensors(batch, policy.tokenizer)
            lr = scheduler.get_last_lr()[0]  # the LR this update used, before the schedule moves on
            loss, tokens = train_step(model, ids, labels, optimizer, cfg.optimizer, dtype)
            scheduler.step()
            row = {
                "step": step + 1,
                "sft/loss": loss,
                "sft/tokens": tokens,
                "sft/episodes": (step + 1) * size,
                "lr": lr,
                "time/step_s": time.perf_counter() - t0,
            }
            if eval_due(cfg, step + 1):
                row.update(evaluate())
            metrics.write(row)
            if checkpoint_due(cfg, step + 1):
                save_checkpoint(
                    run_dir, step + 1, policy, optimizer, scheduler, cfg.checkpoint.keep
                )
            done = step + 1
            show(row)
    except Exception as e:
        metrics.close()
        raise _stopped(run_dir, done, e) from e
    metrics.close()
    return _summary(cfg, run_dir, policy.num_trainable(), time.perf_counter() - t_start)


def _describe(row: dict) -> str:
    """An SFT step beside its progress bar."""
    info = f"loss {row['sft/loss']:.3f}"
    if row.get("eval/logloss") is not None:
        info += f" | eval log-loss {row['eval/logloss']:.3f}"
    return info


def _stopped(run_dir: Path, done: int, error: Exception) -> RunError:
    """After a failure mid-run: the traceback to the log, and one line saying where ``--resume``
    continues (the last checkpoint; steps after it run again, the same way)."""
    logging.getLogger("grpo_lora").error("the sft run stopped after step %d", done, exc_info=error)
    latest = latest_checkpoint(run_dir)
    where = f"from {latest.name}" if latest else "from step 0 (no checkpoint yet)"
    return RunError(f"step {done + 1} failed: {one_line(error)}; --resume continues {where}")


def _summary(cfg: Config, run_dir: Path, trainable: int, wall_s: float) -> dict:
    """The run's summary, written to summary.json (which marks the run finished)."""
    evals = [r["eval/logloss"] for r in read_metrics(run_dir) if r.get("eval/logloss") is not None]
    summary = {
        "command": "sft",
        "run_dir": str(run_dir),
        "steps": cfg.schedule.steps,
        "eval_logloss_start": evals[0] if evals else None,
        "eval_logloss_end": evals[-1] if evals else None,
        "wall_s": round(wall_s, 1),
        "trainable_params": trainable,
        "episodes": cfg.schedule.steps * cfg.sft.batch_size,
        "world_size": 1,
    }
    tmp = run_dir / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(run_dir / "summary.json")
    return summary
