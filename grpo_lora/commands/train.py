"""`grpo-lora train RECIPE [key.sub=value ...] [--resume] [-v]`, also `python -m grpo_lora train` and
`accelerate launch -m grpo_lora train`. The run ends with one sentence for a person, then one JSON line
(the run's summary) as the last line of stdout. Third-party log lines go to RUN_DIR/train.log (one
file per process) unless -v shows them on the terminal.

`--point "key=value ..."`, given K times, trains K LoRA runs packed in one process (`grpo_lora.rl.pack`),
each with the shared overrides then its own: `grpo-lora sweep --pack K` launches this."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from grpo_lora.machine import configure_cpu_env


def main(argv: list[str] | None = None) -> int:
    configure_cpu_env()  # before torch or vLLM do any work
    parser = recipe_parser("grpo-lora train", __doc__)
    parser.add_argument(
        "--point",
        action="append",
        default=[],
        metavar="OVERRIDES",
        help="one packed run's own overrides (space-separated); give it once per run of the pack",
    )
    args = parser.parse_args(argv)

    from grpo_lora.config import ConfigError, load_config
    from grpo_lora.engines.base import EngineError

    world = int(os.environ.get("WORLD_SIZE", "1"))
    try:
        cfg = load_config(args.recipe, args.overrides)
        derived = cfg.derived(world)
        packed = [load_config(args.recipe, [*args.overrides, *shlex.split(p)]) for p in args.point]
        if packed:
            from grpo_lora.config import check_pack

            check_pack(packed)
    except ConfigError as e:
        print(f"grpo-lora train: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        runs = ", ".join(c.run_dir for c in packed)
        print(f"pack of {len(packed)} runs OK: {runs}" if packed else dry_run(cfg, derived, world))
        return 0
    rank = int(os.environ.get("RANK", "0"))
    # a pack's one process logs in its first run's directory
    log_path = Path((packed or [cfg])[0].run_dir) / (
        "train.log" if rank == 0 else f"train.rank{rank}.log"
    )
    if not args.verbose:
        from grpo_lora.console import quiet_terminal

        quiet_terminal(log_path)
    from grpo_lora.rl.pack import train_pack
    from grpo_lora.rl.trainer import RunError, train

    try:
        if packed:
            summaries = train_pack(packed, resume=args.resume)
        else:
            summaries = [train(cfg, resume=args.resume)]
    except (ConfigError, EngineError) as e:
        print(f"grpo-lora train: {e}", file=sys.stderr)
        return 2
    except RunError as e:
        print(f"grpo-lora train: {e} (details: {log_path})", file=sys.stderr)
        return 1
    if summaries != [None]:  # the main process speaks for the run(s)
        for summary in summaries:
            print(sentence(summary))
        print(json.dumps(summaries if packed else summaries[0]))
    return 0


def recipe_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The arguments every recipe command takes (`train`, `sft`): the recipe, its overrides,
    --resume, -v and --dry-run."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("recipe", help="YAML recipe (see recipes/)")
    parser.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. lora.rank=4")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in run_dir from its last checkpoint"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show third-party log lines on the terminal"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the recipe and print what it derives, without loading a model or data",
    )
    return parser


def dry_run(cfg, derived: dict, world: int) -> str:
    """What a run of this recipe would do, in a few lines."""
    policy = "FullFT" if cfg.lora.full else f"LoRA rank {cfg.lora.rank} ({cfg.lora.targets})"
    lines = [
        f"recipe OK: {policy} on {cfg.model.path} ({cfg.model.dtype}), {cfg.engine.kind} engine, "
        f"data {cfg.data.name}, {world} process(es)",
        f"loss {cfg.algorithm.loss.kind} ({cfg.algorithm.loss.aggregation} aggregation), "
        f"advantage {cfg.algorithm.advantage}, lr {cfg.optimizer.lr:g}, "
        f"{cfg.schedule.steps} steps ({cfg.schedule.decay})",
        *(f"{k}: {v:,}" for k, v in derived.items()),
        f"run_dir: {cfg.run_dir}",
    ]
    return "\n".join(lines)


def sentence(summary: dict) -> str:
    """The run in one sentence: held-out pass@1 start -> end, wall time, where to look."""
    start, end = summary.get("eval_pass1_start"), summary.get("eval_pass1_end")
    scores = f"held-out pass@1 {start:.3f} -> {end:.3f}" if start is not None else "no evaluation"
    run_dir = summary["run_dir"]
    return (
        f"Trained {summary['steps']} steps in {summary['wall_s'] / 60:.1f} min: {scores}. "
        f"Everything is in {run_dir} (log: {run_dir}/train.log); "
        f"curves: tensorboard --logdir {run_dir}/tensorboard"
    )


if __name__ == "__main__":
    sys.exit(main())
