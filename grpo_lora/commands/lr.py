"""`grpo-lora lr --model PATH_OR_NAME [--lora] [--steps N]`: suggest a learning rate from the published
rule (`grpo_lora.study.lr_rule` holds the rule, its sources and caveats)."""

from __future__ import annotations

import argparse
import sys

from grpo_lora.study.lr_rule import model_info, suggest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="grpo-lora lr",
        description="Suggest a learning rate (LoRA Without Regret's 10x rule, tinker-cookbook's width law).",
    )
    parser.add_argument("--model", required=True, help="`tiny`, a local model dir, or a hub name")
    parser.add_argument("--lora", action="store_true", help="LoRA (default: full fine-tuning)")
    parser.add_argument(
        "--steps", type=int, default=None, help="run length; < 100 uses 15x for LoRA"
    )
    args = parser.parse_args(argv)
    try:
        info = model_info(args.model)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    s = suggest(info, args.lora, args.steps)
    what = "LoRA" if args.lora else "full fine-tuning"
    print(f"suggested learning rate for {what} of {info.name}: {s.lr:.3g}")
    print(
        f"  model: hidden_size {info.hidden_size}, model_type {info.model_type or '?'} (from {info.source})"
    )
    if s.exponent is not None:
        print(
            f"  FullFT LR = 5e-5 x (2000 / {info.hidden_size}) ^ {s.exponent} [{s.family} family] "
            f"= {s.lr_fullft:.3g}   (tinker-cookbook hyperparam_utils.get_lr, formula version)"
        )
    else:
        print("  FullFT LR = 5e-5 (no calibrated width exponent for this family)")
    if args.lora:
        print(
            f"  LoRA LR = {s.multiplier:g} x FullFT LR   (LoRA Without Regret, Schulman et al. 2025: "
            "~10x, 9.8x fitted; ~15x under ~100 steps; alpha 32 with 1/r scaling)"
        )
    for n in s.notes:
        print(f"  note: {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
