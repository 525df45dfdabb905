"""`grpo-lora tiny [--rebuild] [--eval] [--width N]`: the embedded tiny policy (shipped weights,
copied into the cache on first use; `--rebuild` builds it here and says whether it matches the
shipped bits), optionally evaluated on held-out problems. The last stdout line is one JSON object."""

from __future__ import annotations

import argparse
import json
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="grpo-lora tiny",
        description="The embedded tiny policy (shipped weights, copied into the cache on first use; --rebuild builds it here and compares), optionally evaluated.",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="rebuild even if a cached build exists"
    )
    parser.add_argument(
        "--eval", action="store_true", help="print held-out pass@1 and pass@8 at T=1.0"
    )
    parser.add_argument(
        "--width", type=int, default=128, help="hidden size (the model.path tiny-w<N>; tiny is 128)"
    )
    parser.add_argument("--engine", default="vllm", choices=["vllm", "hf"])
    parser.add_argument("--heldout", type=int, default=256, help="held-out problems to evaluate on")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show third-party log lines on the terminal"
    )
    args = parser.parse_args(argv)

    from grpo_lora.machine import configure_cpu_env

    configure_cpu_env()
    if not args.verbose:
        from grpo_lora.cache import cache_root
        from grpo_lora.console import quiet_terminal

        quiet_terminal(cache_root() / "tiny.log")
    from grpo_lora.data.tiny_arith import tiny_arith
    from grpo_lora.tiny import TinyRecipe, ensure_tiny

    try:
        recipe = TinyRecipe(width=args.width)
    except ValueError as e:
        parser.error(str(e))
    path = ensure_tiny(rebuild=args.rebuild, recipe=recipe)
    info = json.loads((path / "build_info.json").read_text())
    print(
        f"tiny policy: {path} ({info['params']:,} params, built in {info['build_s']} s, "
        f"weights sha256 {info.get('weights_sha256', '?')[:16]})"
    )
    result: dict = {
        "build_s": info["build_s"],
        "weights_sha256": info.get("weights_sha256"),
        "path": str(path),
    }
    if args.eval:
        from grpo_lora.engines import make_engine
        from grpo_lora.evaluate import evaluate

        t0 = time.perf_counter()
        engine = make_engine(args.engine, str(path))
        scores = evaluate(engine, tiny_arith(n_heldout=args.heldout).heldout, k=8, temperature=1.0)
        engine.close()
        print(
            f"held-out ({args.heldout} problems, T=1.0): pass@1 {scores['pass1']:.3f}  "
            f"pass@8 {scores['passk']:.3f}  greedy {scores['greedy_acc']:.3f}  "
            f"({time.perf_counter() - t0:.1f} s)"
        )
        result = {"pass1": round(scores["pass1"], 4), "pass8": round(scores["passk"], 4), **result}
    print(json.dumps(result))
    return 0
