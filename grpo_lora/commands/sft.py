"""`grpo-lora sft RECIPE [key.sub=value ...] [--resume] [-v] [--dry-run]`, also `python -m grpo_lora sft`:
supervised fine-tuning of the recipe's policy (LoRA or FullFT, as `grpo-lora train` would train it)
on demonstrations (`grpo_lora.rl.supervised`, docs/sft.md). It reads the training recipe format and the
`sft` section; the GRPO-only settings (engine, algorithm, prompts and groups per step) are ignored.
The run ends with one sentence for a person, then one JSON line (the run's summary) as the last line
of stdout. Third-party log lines go to RUN_DIR/train.log unless -v shows them on the terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grpo_lora.commands.train import recipe_parser
from grpo_lora.machine import configure_cpu_env


def main(argv: list[str] | None = None) -> int:
    configure_cpu_env()  # before torch does any work
    args = recipe_parser("grpo-lora sft", __doc__).parse_args(argv)

    from grpo_lora.config import ConfigError, load_config
    from grpo_lora.rl.supervised import check_data, sft
    from grpo_lora.rl.trainer import RunError

    try:
        cfg = load_config(args.recipe, args.overrides)
        check_data(cfg.data)
    except ConfigError as e:
        print(f"grpo-lora sft: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(dry_run(cfg))
        return 0
    log_path = Path(cfg.run_dir) / "train.log"
    if not args.verbose:
        from grpo_lora.console import quiet_terminal

        quiet_terminal(log_path)
    try:
        summary = sft(cfg, resume=args.resume)
    except ConfigError as e:
        print(f"grpo-lora sft: {e}", file=sys.stderr)
        return 2
    except RunError as e:
        print(f"grpo-lora sft: {e} (details: {log_path})", file=sys.stderr)
        return 1
    print(sentence(summary))
    print(json.dumps(summary))
    return 0


def dry_run(cfg) -> str:
    """What an SFT run of this recipe would do, in a few lines."""
    policy = "FullFT" if cfg.lora.full else f"LoRA rank {cfg.lora.rank} ({cfg.lora.targets})"
    size, steps = cfg.sft.batch_size, cfg.schedule.steps
    return "\n".join(
        [
            f"recipe OK: SFT of {policy} on {cfg.model.path} ({cfg.model.dtype}), "
            f"data {cfg.data.name}",
            f"lr {cfg.optimizer.lr:g}, {steps} steps ({cfg.schedule.decay}), "
            f"{size} demonstrations a step, {size * steps:,} in all",
            f"run_dir: {cfg.run_dir}",
        ]
    )


def sentence(summary: dict) -> str:
    """The run in one sentence: held-out log-loss start -> end, wall time, where to look."""
    start, end = summary.get("eval_logloss_start"), summary.get("eval_logloss_end")
    scores = (
        f"held-out log-loss {start:.4f} -> {end:.4f} nats/token"
        if start is not None
        else "no held-out demonstrations"
    )
    run_dir = summary["run_dir"]
    return (
        f"SFT-trained {summary['steps']} steps in {summary['wall_s'] / 60:.1f} min: {scores}. "
        f"Everything is in {run_dir} (log: {run_dir}/train.log); "
        f"curves: tensorboard --logdir {run_dir}/tensorboard"
    )


if __name__ == "__main__":
    sys.exit(main())
