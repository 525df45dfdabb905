"""The hf engine's batched decode against the per-prompt loop it replaced, on the tiny policy.

    python bench/hf_engine.py                      # 16 prompts x 8 completions, 48 tokens, 3 repeats
    python bench/hf_engine.py --prompts 8 --n 4 --repeats 2 --max-tokens 32

Same work on both sides: the same model folder (no adapter), prompts, P x G, temperature 1 and token
budget, one ``generate`` call a step. The loop (`PerPromptEngine`, the engine as it was before the
batched decode, kept here only) runs transformers' ``model.generate`` once per prompt with G return
sequences; the batched engine decodes all P x G rows at once. Calls alternate loop, batched, loop,
batched... after one warm-up call each, so machine noise hits both. Prints seconds per call (median,
min-max), completion tokens a second, the ratio (loop seconds / batched seconds; > 1: batched faster),
the CPU, and a last line of JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grpo_lora.machine import configure_cpu_env

configure_cpu_env()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from grpo_lora.engines.base import Rollout, Sampling  # noqa: E402
from grpo_lora.engines.hf import HFEngine  # noqa: E402


class PerPromptEngine(HFEngine):
    """The hf engine before its batched decode: ``model.generate`` a prompt, G sequences each, raw
    logits scored (for speed only: its log-probs are not those of what it samples, see
    grpo_lora/engines/hf.py)."""

    @torch.no_grad()
    def generate(self, prompts, n, sampling, seeds=None, adapters=None):
        eos = self.tokenizer.eos_token_id
        greedy = sampling.temperature == 0
        out = []
        for i, prompt in enumerate(prompts):
            prompt_ids = self.tokenizer(prompt)["input_ids"]
            torch.manual_seed(0 if seeds is None else seeds[i * n])
            gen = self.model.generate(
                input_ids=torch.tensor([prompt_ids], device=self.device),
                attention_mask=torch.ones(
                    (1, len(prompt_ids)), dtype=torch.long, device=self.device
                ),
                do_sample=not greedy,
                temperature=None if greedy else sampling.temperature,
                top_p=None if greedy else sampling.top_p,
                top_k=None,
                max_new_tokens=sampling.max_tokens,
                min_new_tokens=sampling.max_tokens if sampling.ignore_eos else None,
                num_return_sequences=n,
                eos_token_id=eos,
                pad_token_id=eos,
                output_logits=True,
                return_dict_in_generate=True,
            )
            logits = torch.stack(gen.logits, dim=1).float()
            logp = F.log_softmax(logits if greedy else logits / sampling.temperature, dim=-1)
            for j in range(n):
                ids = gen.sequences[j, len(prompt_ids) :].tolist()
                stop = eos in ids
                ids = ids[: ids.index(eos) + 1] if stop else ids
                lps = logp[j, torch.arange(len(ids)), torch.tensor(ids)].tolist()
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                out.append(Rollout(prompt_ids, ids, lps, "stop" if stop else "length", text))
        return out


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--n", type=int, default=8, help="completions per prompt (G)")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="tiny", help="a named model or a model folder")
    args = parser.parse_args(argv)

    from grpo_lora.models import resolve_model_path
    from grpo_lora.seeds import completion_seeds
    from grpo_lora.tiny.task import heldout

    path = str(resolve_model_path(args.model))
    prompts = [p.prompt for p in heldout(args.prompts)]
    sampling = Sampling(temperature=1.0, max_tokens=args.max_tokens)
    engines = {"loop": PerPromptEngine(path), "batched": HFEngine(path)}
    seconds: dict[str, list[float]] = {k: [] for k in engines}
    tokens: dict[str, list[int]] = {k: [] for k in engines}
    for r in range(args.repeats + 1):  # call 0 of each: warm-up, not counted
        for name, engine in engines.items():
            seeds = completion_seeds("bench", 0, r, list(range(len(prompts))), args.n)
            t0 = time.perf_counter()
            out = engine.generate(prompts, args.n, sampling, seeds=seeds)
            dt = time.perf_counter() - t0
            if r:
                seconds[name].append(dt)
                tokens[name].append(sum(len(o.completion_ids) for o in out))
    print(
        f"hf engine, {args.model}: {args.prompts} prompts x {args.n} completions, "
        f"<= {args.max_tokens} tokens, T=1, {args.repeats} repeats (alternating), "
        f"{torch.get_num_threads()} threads, CPU {cpu_name()}, torch {torch.__version__}"
    )
    print(f"{'engine':<8} {'s/call median':>14} {'min-max':>14} {'tokens/s':>9} {'tokens':>7}")
    for name in engines:
        s = seconds[name]
        rate = sum(tokens[name]) / sum(s)
        print(
            f"{name:<8} {statistics.median(s):>14.2f} {f'{min(s):.2f}-{max(s):.2f}':>14} "
            f"{rate:>9.0f} {statistics.mean(tokens[name]):>7.0f}"
        )
    ratio = statistics.median(seconds["loop"]) / statistics.median(seconds["batched"])
    print(f"batched is {ratio:.2f}x the loop's speed (median seconds per call, loop / batched)")
    print(
        json.dumps(
            {
                "ratio": round(ratio, 3),
                "loop_s": [round(x, 3) for x in seconds["loop"]],
                "batched_s": [round(x, 3) for x in seconds["batched"]],
                "cpu": cpu_name(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
