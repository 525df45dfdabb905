"""`grpo-lora VERB ...` (also `python -m grpo_lora VERB ...`): one entry, dispatching each verb to its
module in `grpo_lora/commands/`, imported only when called (a verb's imports are heavy: torch, vLLM)."""

from __future__ import annotations

import importlib
import sys

# verb -> what it does (the first line of `grpo-lora --help`); its module is grpo_lora.commands.<verb>
VERBS = {
    "train": "GRPO on a recipe: LoRA at any rank or FullFT, vLLM sampling (accelerate launch for more)",
    "sft": "supervised fine-tuning on demonstrations, from the same recipes",
    "eval": "held-out pass@1, pass@k and greedy accuracy of a recipe's model or a checkpoint",
    "sweep": "a rank x LR x targets grid against FullFT: skip, resume, pack, extend, confirm",
    "report": "report.md, claims with intervals, and figures from a sweep's run directories",
    "lr": "suggest a learning rate for a model (the 10x rule and the width law)",
    "tiny": "the embedded tiny policy: where it is, its sha256, and its held-out score",
}


def usage() -> str:
    width = max(map(len, VERBS))
    lines = [f"  {verb:<{width}}  {what}" for verb, what in VERBS.items()]
    return "\n".join(
        [
            "usage: grpo-lora VERB [args ...]   (grpo-lora VERB --help for its own)",
            "",
            "verbs:",
            *lines,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] not in VERBS:
        print(usage(), file=sys.stderr)
        print(f"grpo-lora: unknown verb {argv[0]!r}", file=sys.stderr)
        return 2
    return importlib.import_module(f"grpo_lora.commands.{argv[0]}").main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
