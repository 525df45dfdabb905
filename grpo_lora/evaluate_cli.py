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
    from grpo_lora.data import load_problems
    from grpo_lora.engines import EngineError, make_engine
    from grpo_lora.evaluate import evaluate
    from grpo_lora.models import resolve_model_path

    try:
        cfg = load_config(args.recipe, args.overrides)
        model_path = resolve_model_path(cfg.model.path)
        adapter = full = None
        if args.checkpoint is not None:
            adapter, full = args.checkpoint / "adapter", args.checkpoint / "model"
            if not adapter.exists() and not full.exists():
                raise ConfigError(
                    f"--checkpoint: {args.checkpoint} holds neither adapter/ nor model/"
                )
        serve = full if full is not None and full.exists() else model_path
        lora = _read_adapter(adapter) if adapter is not None and adapter.exists() else None
        engine = make_engine(
            cfg.engine.kind,
            str(serve),
            dtype=cfg.model.dtype,
            max_lora_rank=lora[1]["r"] if lora else None,
            seed=cfg.seed,
            cpu_kv_cache_bytes=int(cfg.engine.cpu_kv_cache_gb * 2**30),
            gpu_memory_utilization=cfg.engine.gpu_memory_utilization,
        )
        if lora:
            engine.load_adapter(lora[0], version=0, lora_config=lora[1])
        from transformers import AutoTokenizer

        problems = load_problems(cfg.data, AutoTokenizer.from_pretrained(str(model_path)))
    except (ConfigError, EngineError, FileNotFoundError, ValueError) as e:
        print(f"grpo-lora eval: {e}", file=sys.stderr)
        return 2
    scores = evaluate(
        engine,
        problems.heldout[: cfg.data.heldout_size],
        k=cfg.logging.eval_k,
        temperature=cfg.eval_temperature(),
        max_tokens=cfg.engine.max_tokens,
        seed=cfg.seed,
    )
    engine.close()
    print(
        f"held-out ({len(problems.heldout[: cfg.data.heldout_size])} problems, "
        f"T={cfg.eval_temperature()}): pass@1 {scores['pass1']:.3f}  "
        f"pass@{cfg.logging.eval_k} {scores['passk']:.3f}  greedy {scores['greedy_acc']:.3f}"
    )
    print(json.dumps({"model": str(serve), "checkpoint": str(args.checkpoint or ""), **scores}))
    return 0


def _read_adapter(folder: Path):
    """A peft adapter folder -> (tensors, the config keys the engine needs)."""
    from safetensors.torch import load_file

    config = json.loads((folder / "adapter_config.json").read_text())
    tensors = load_file(folder / "adapter_model.safetensors")
    targets = config["target_modules"]
    engine_config = {
        "r": config["r"],
        "lora_alpha": config["lora_alpha"],
        "target_modules": sorted(targets) if isinstance(targets, list) else targets,
    }
    return tensors, engine_config


if __name__ == "__main__":
    sys.exit(main())
