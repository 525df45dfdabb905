"""A rollout engine on transformers ``generate``: slower than vLLM, but it serves any causal LM that
transformers loads, on any device. Same contract as the vLLM engine."""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F

from grpo_lora.engines.base import (
    EngineError,
    Rollout,
    Sampling,
    SyncTimes,
    check_adapter,
    check_model_path,
)

ONE_ADAPTER = "the hf engine serves one adapter; several side by side need engine.kind vllm"


class HFEngine:
    def __init__(
        self,
        model_path: str | Path,
        *,
        dtype: str = "float32",
        max_lora_rank: int | None = None,
        seed: int = 0,
        device: str | None = None,
        **_ignored,  # vLLM-only settings (KV cache size, memory share)
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        check_model_path(model_path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.base = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
        self.base.to(self.device).eval()
        self.model = self.base
        self.max_lora_rank = max_lora_rank
        self.seed = seed
        self.times = SyncTimes()

    @torch.no_grad()
    def generate(
        self,
        prompts: list[str],
        n: int,
        sampling: Sampling,
        seeds: list[int] | None = None,
        adapters: list[str] | None = None,
    ) -> list[Rollout]:
        if seeds is not None and len(seeds) != len(prompts):
            raise EngineError(f"got {len(seeds)} seeds for {len(prompts)} prompts")
        if adapters is not None and set(adapters) != {"default"}:
            raise EngineError(ONE_ADAPTER)
        eos = self.tokenizer.eos_token_id
        greedy = sampling.temperature == 0
        out = []
        for i, prompt in enumerate(prompts):
            prompt_ids = self.tokenizer(prompt)["input_ids"]
            torch.manual_seed(self.seed if seeds is None else seeds[i])
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
            logits = torch.stack(gen.logits, dim=1).float()  # (n, T, V)
            logp = F.log_softmax(logits if greedy else logits / sampling.temperature, dim=-1)
            for j in range(n):
                ids = gen.sequences[j, len(prompt_ids) :].tolist()
                stop = eos in ids
                ids = ids[: ids.index(eos) + 1] if stop else ids
                lps = logp[j, torch.arange(len(ids)), torch.tensor(ids)].tolist()
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                out.append(Rollout(prompt_ids, ids, lps, "stop" if stop else "length", text))
        return out

    def load_adapter(
        self,
        tensors: dict[str, torch.Tensor],
        version: int,
        lora_config: dict,
        name: str = "default",
    ) -> None:
        from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

        if name != "default":
            raise EngineError(ONE_ADAPTER)

        rank = check_adapter(self.max_lora_rank, lora_config)
        t0 = time.perf_counter()
        config = LoraConfig(
            r=rank,
            lora_alpha=lora_config["lora_alpha"],
            target_modules=lora_config["target_modules"],
        )
        if self.model is not self.base and self.model.peft_config["default"].r != rank:
            self.base = self.model.unload()  # strip the old rank's layers before wrapping again
            self.model = self.base
        if self.model is self.base:
            self.model = get_peft_model(self.base, config).eval()
        result = set_peft_model_state_dict(
            self.model, {k: v.to(self.device) for k, v in tensors.items()}
        )
        if result.unexpected_keys:
            raise EngineError(
                f"adapter v{version} rejected: tensor {result.unexpected_keys[0]!r} fits no module of the model"
            )
        self.times.adapter_s.append(time.perf_counter() - t0)

    def load_weights(self, named_tensors: dict[str, torch.Tensor]) -> None:
        t0 = time.perf_counter()
        missing = set(named_tensors) - set(self.base.state_dict())
        if missing:
            raise EngineError(f"weight {sorted(missing)[0]!r} is not a parameter of the model")
        self.base.load_state_dict(named_tensors, strict=False)
        self.times.weights_s.append(time.perf_counter() - t0)

    def close(self) -> None:
        self.model = self.base = None
