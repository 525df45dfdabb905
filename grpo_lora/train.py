"""`grpo-lora train RECIPE [key.sub=value ...] [--resume]`, also `python -m grpo_lora.train` and
`accelerate launch -m grpo_lora.train`. The last stdout line is one JSON object (the run's summary)."""

from __future__ import annotations

import argparse
import json
import sys

from grpo_lora.engines.vllm import configure_cpu_env


def main(argv: list[str] | None = None) -> int:
    configure_cpu_env()  # before torch or vLLM do any work
    parser = argparse.ArgumentParser(prog="grpo-lora train", description=__doc__)
    parser.add_argument("recipe", help="YAML recipe (see recipes/)")
    parser.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. lora.rank=4")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in run_dir from its last checkpoint"
    )
    args = parser.parse_args(argv)

    from grpo_lora.config import ConfigError, load_config
    from grpo_lora.engines.base import EngineError

    try:
        cfg = load_config(args.recipe, args.overrides)
        from grpo_lora.trainer import train

        summary = train(cfg, resume=args.resume)
    except (ConfigError, EngineError) as e:
        print(f"grpo-lora train: {e}", file=sys.stderr)
        return 2
    if summary is not None:  # the main process speaks for the run
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
