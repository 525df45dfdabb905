"""A rollout engine on transformers models: slower than vLLM, but it serves any causal LM that
transformers loads, on any device. Same contract as the vLLM engine.

One batched decode a ``generate`` call: every completion of every prompt is a row of one left-padded
batch (each distinct prompt's prefill runs once, its keys and values repeated for its ``n`` rows), then
one forward a token over the rows still running, with a KV cache. Rows that stop leave the batch.

Sampling is this module's own, not ``model.generate``'s, for two reasons:

- **What is sampled is what is scored.** A row samples from softmax(logits / temperature) (top-p
  truncated and renormalised when top_p < 1) and records the log-prob of the sampled token under that
  same distribution: the one the trainer's `token_logprobs` computes. Nothing of the model's own
  ``generation_config.json`` applies (Qwen2.5-Instruct ships a repetition penalty, top-k and top-p
  there, which ``generate`` would apply to the sampled distribution but not to its raw ``logits``), and
  no logits processor masks EOS (``ignore_eos`` samples on past EOS, EOS being a token like any other,
  as vLLM's ``ignore_eos`` does).
- **One stream a rollout.** Rollout ``k`` draws its uniforms from its own generator, seeded with
  ``seeds[k]`` (on the CPU, so a seed means the same draws on any device), and picks its token by
  inverse CDF: its sample depends on its seed and the weights alone, not on the other rows of the
  call (up to the float rounding of a different batch shape), so a resumed run replays its rollouts.
  No global RNG is touched (no ``torch.manual_seed``).
"""

from __future__ import annotations

import time
from inspect import signature
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
    check_requests,
)

ONE_ADAPTER = "the hf engine serves one adapter; several side by side need engine.kind vllm"
GREEDY_BELOW = 1e-5  # temperatures below this are greedy (vLLM's _SAMPLING_EPS)


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
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.base = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
        self.base.to(self.device).eval()
        self.model = self.base
        self.max_lora_rank = max_lora_rank
        self.times = SyncTimes()
        # the streams of unseeded requests: reproducible for an engine built with the same seed
        self._unseeded = torch.Generator().manual_seed(seed)
        # stop tokens: the tokenizer's EOS and the model's (a list in generation_config.json, e.g.
        # Qwen2.5-Instruct's <|im_end|> and <|endoftext|>), as vLLM stops on both
        stop = {self.tokenizer.eos_token_id}
        gen_eos = getattr(getattr(self.base, "generation_config", None), "eos_token_id", None)
        stop |= set(gen_eos) if isinstance(gen_eos, (list, tuple)) else {gen_eos}
        self.stop_ids = torch.tensor(sorted(s for s in stop if s is not None), dtype=torch.long)
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else int(self.stop_ids[0]) if len(self.stop_ids) else 0
        forward = signature(self.base.forward).parameters
        self._keep_one = {"logits_to_keep": 1} if "logits_to_keep" in forward else {}

    @torch.no_grad()
    def generate(
        self,
        prompts: list[str],
        n: int,
        sampling: Sampling,
        seeds: list[int] | None = None,
        adapters: list[str] | None = None,
    ) -> list[Rollout]:
        check_requests(prompts, n, seeds, adapters)
        if adapters is not None and set(adapters) - {"default"}:
            raise EngineError(ONE_ADAPTER)
        if not prompts or n < 1:
            return []
        prompt_ids = [self.tokenizer(p)["input_ids"] for p in prompts]
        rows = len(prompts) * n
        greedy = sampling.temperature < GREEDY_BELOW
        uniform_BT = None
        if not greedy:
            if seeds is None:
                seeds = torch.randint(2**63 - 1, (rows,), generator=self._unseeded).tolist()
            uniform_BT = row_uniforms(seeds, sampling.max_tokens)
        tokens_BT, logp_BT, length_B, stopped_B = self._decode(prompt_ids, n, sampling, uniform_BT)
        completions = [tokens_BT[b, : length_B[b]].tolist() for b in range(rows)]
        texts = self.tokenizer.batch_decode(completions, skip_special_tokens=True)
        return [
            Rollout(
                prompt_ids=prompt_ids[b // n],
                completion_ids=completions[b],
                sampler_logprobs=logp_BT[b, : length_B[b]].tolist(),
                finish_reason="stop" if stopped_B[b] else "length",
                text=texts[b],
            )
            for b in range(rows)
        ]

    def _decode(self, prompt_ids: list[list[int]], n: int, sampling: Sampling, uniform_BT):
        """Every row's tokens (B, T), their log-probs (B, T), lengths (B,) and whether each ended
        on a stop token (B,), on the CPU. Row b = prompt b // n's (b % n)-th completion."""
        dev, T = self.device, sampling.max_tokens
        U, P = len(prompt_ids), max(len(ids) for ids in prompt_ids)
        B = U * n
        ids_UP = torch.full((U, P), self.pad_id, dtype=torch.long)
        mask_UP = torch.zeros((U, P), dtype=torch.long)
        for u, ids in enumerate(prompt_ids):  # left-padded: every prompt ends at the last column
            ids_UP[u, P - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask_UP[u, P - len(ids) :] = 1
        ids_UP, mask_UP = ids_UP.to(dev), mask_UP.to(dev)
        out = self.model(
            input_ids=ids_UP,
            attention_mask=mask_UP,
            position_ids=(mask_UP.cumsum(1) - 1).clamp(min=0),
            use_cache=True,
            **self._keep_one,
        )
        cache = out.past_key_values
        logits_AV = out.logits[:, -1].float().repeat_interleave(n, dim=0)
        if n > 1:
            cache.batch_repeat_interleave(n)  # each completion its copy of its prompt's cache
        mask_AL = mask_UP.repeat_interleave(n, dim=0)
        next_pos_A = mask_AL.sum(1)  # the position of each row's next token (prompt length + t)

        tokens_BT = torch.full((B, T), self.pad_id, dtype=torch.long, device=dev)
        logp_BT = torch.zeros((B, T), dtype=torch.float32, device=dev)
        length_B = torch.full((B,), T, dtype=torch.long, device=dev)
        stopped_B = torch.zeros(B, dtype=torch.bool, device=dev)
        uniform_BT = None if uniform_BT is None else uniform_BT.to(dev)
        stop_ids = None if sampling.ignore_eos else self.stop_ids.to(dev)
        row_A = torch.arange(B, device=dev)  # the rows still running, by their index in the call
        for t in range(T):
            u_A = None if uniform_BT is None else uniform_BT[row_A, t]
            tok_A, logp_A = pick(logits_AV, sampling, u_A)
            tokens_BT[row_A, t], logp_BT[row_A, t] = tok_A, logp_A
            if t + 1 == T:
                break
            if stop_ids is not None:
                ended_A = torch.isin(tok_A, stop_ids)
                if bool(ended_A.any()):
                    length_B[row_A[ended_A]], stopped_B[row_A[ended_A]] = t + 1, True
                    live_A = (~ended_A).nonzero().squeeze(1)
                    if live_A.numel() == 0:
                        break
                    cache.batch_select_indices(live_A)
                    row_A, tok_A = row_A[live_A], tok_A[live_A]
                    mask_AL, next_pos_A = mask_AL[live_A], next_pos_A[live_A]
            mask_AL = torch.cat([mask_AL, mask_AL.new_ones((len(row_A), 1))], dim=1)
            out = self.model(
                input_ids=tok_A[:, None],
                attention_mask=mask_AL,
                position_ids=next_pos_A[:, None],
                past_key_values=cache,
                use_cache=True,
            )
            cache = out.past_key_values
            logits_AV = out.logits[:, -1].float()
            next_pos_A = next_pos_A + 1
        return tokens_BT.cpu(), logp_BT.cpu(), length_B.cpu(), stopped_B.cpu()

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


def row_uniforms(seeds: list[int], steps: int) -> torch.Tensor:
    """(rows, steps) float64 uniforms in [0, 1): row k's from its own CPU generator seeded with
    ``seeds[k]``, so a seed gives the same draws whatever else is in the call, on any device."""
    out = torch.empty((len(seeds), steps), dtype=torch.float64)
    gen = torch.Generator()
    for k, seed in enumerate(seeds):
        gen.manual_seed(int(seed))
        torch.rand(steps, generator=gen, dtype=torch.float64, out=out[k])
    return out


def pick(logits_AV: torch.Tensor, sampling: Sampling, u_A: torch.Tensor | None):
    """Each row's token and its log-prob under the distribution it is drawn from: greedy (argmax,
    log_softmax(logits)) when ``u_A`` is None, else softmax(logits / temperature), top-p truncated
    and renormalised when top_p < 1, sampled by inverse CDF at the row's uniform ``u_A``."""
    if u_A is None:
        tok_A = logits_AV.argmax(-1)
        return tok_A, F.log_softmax(logits_AV, -1).gather(1, tok_A[:, None]).squeeze(1)
    logp_AV = F.log_softmax(logits_AV / sampling.temperature, -1)
    order_AV = None
    if sampling.top_p < 1.0:
        # the smallest set of most likely tokens whose mass reaches top_p (the first always in)
        logp_AV, order_AV = logp_AV.sort(-1, descending=True)
        p_AV = logp_AV.exp()
        cut_AV = (p_AV.cumsum(-1) - p_AV) >= sampling.top_p
        logp_AV = logp_AV.masked_fill(cut_AV, float("-inf"))
        logp_AV = logp_AV - logp_AV.logsumexp(-1, keepdim=True)
    cdf_AV = logp_AV.exp().double().cumsum(-1)
    # the first token whose CDF exceeds u (scaled by the total, which rounding leaves off 1): never
    # one of probability 0, nor past the last that has any (the first at the CDF's maximum)
    idx_A = torch.searchsorted(cdf_AV, (u_A * cdf_AV[:, -1])[:, None], right=True).squeeze(1)
    idx_A = torch.minimum(idx_A, cdf_AV.argmax(-1))
    logp_A = logp_AV.gather(1, idx_A[:, None]).squeeze(1)
    tok_A = idx_A if order_AV is None else order_AV.gather(1, idx_A[:, None]).squeeze(1)
    return tok_A, logp_A
