"""`grpo-lora eval RECIPE [key.sub=value ...] [--checkpoint DIR]`: held-out greedy accuracy and pass@k
of a recipe's model, or of a checkpoint a run saved (a peft adapter or a full model). The last stdout
line is one JSON object."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grpo_lora.machine import configure_cpu_env


def main(argv: list[str] | None = None) -> int:
    configure_cpu_env()
    parser = argparse.ArgumentParser(prog="grpo-lora eval", description=__doc__)
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--checkpoint", type=Path, help="a run's checkpoints/step_N folder")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show third-party log lines on the terminal"
    )
    args = parser.parse_args(argv)
    if not args.verbose:
        from grpo_lora.cache import cache_root
        from grpo_lora.console import quiet_terminal

        quiet_terminal(cache_root() / "eval.log")

    from grpo_lora.config import ConfigError, load_config
    from grpo_lora.engines import EngineError
    from grpo_lora.evaluate import eval_target, evaluate

    try:
        cfg = load_config(args.recipe, args.overrides)
        if args.checkpoint is not None and not any(
            (args.checkpoint / name).exists() for name in ("adapter", "model")
        ):
            raise ConfigError(f"--checkpoint: {args.checkpoint} holds neither adapter/ nor model/")
        engine, served, heldout = eval_target(cfg, args.checkpoint)
    except (ConfigError, EngineError, FileNotFoundError, ValueError) as e:
        print(f"grpo-lora eval: {e}", file=sys.stderr)
        return 2
    scores = evaluate(
        engine,
        heldout,
        k=cfg.logging.eval_k,
        temperature=cfg.eval_temperature(),
        max_tokens=cfg.engine.max_tokens,
        seed=cfg.seed,
    )
    engine.close()
    print(
        f"held-out ({len(heldout)} problems, T={cfg.eval_temperature()}): "
        f"pass@1 {scores['pass1']:.3f}  pass@{cfg.logging.eval_k} {scores['passk']:.3f}  "
        f"greedy {scores['greedy_acc']:.3f}"
    )
    print(json.dumps({"model": str(served), "checkpoint": str(args.checkpoint or ""), **scores}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
