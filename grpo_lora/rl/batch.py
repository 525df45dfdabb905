"""One step's graded rollouts as padded tensors, built once after grading; micro-batches cut from it
by a token budget, so that memory stays bounded whatever the model and the completion lengths.

Shapes: N sequences, L = prompt + completion tokens (right-padded), T = completion tokens
(right-padded). Sequence n is prompt n // G's (n % G)-th completion.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from grpo_lora.engines.base import Rollout
from grpo_lora.rl.losses import Totals


@dataclass
class Batch:
    ids_NL: Tensor  # (N, L) prompt then completion token ids, right-padded with pad_id
    prompt_len_N: Tensor  # (N,) prompt tokens of each sequence
    completion_len_N: Tensor  # (N,) completion tokens of each sequence
    sampler_NT: Tensor  # (N, T) the sampler's log-prob of each completion token, 0 on padding
    adv_N: Tensor  # (N,) advantage of each sequence
    totals: Totals  # the step's counts over all processes (what the loss normalisers divide by)

    def __len__(self) -> int:
        return self.ids_NL.shape[0]

    @property
    def mask_NT(self) -> Tensor:
        """(N, T) True on real completion tokens."""
        T = self.sampler_NT.shape[1]
        return torch.arange(T)[None, :] < self.completion_len_N[:, None]

    @property
    def attention_NL(self) -> Tensor:
        """(N, L) 1 on real (prompt or completion) tokens."""
        L = self.ids_NL.shape[1]
        lengths_N = self.prompt_len_N + self.completion_len_N
        return (torch.arange(L)[None, :] < lengths_N[:, None]).long()

    @property
    def padded_tokens(self) -> int:
        return self.ids_NL.numel()

    def rows(self, start: int, stop: int) -> Batch:
        """Sequences start..stop-1, trimmed to their own widths; totals stay the step's."""
        L = int((self.prompt_len_N + self.completion_len_N)[start:stop].max())
        T = max(int(self.completion_len_N[start:stop].max()), 1)
        return replace(
            self,
            ids_NL=self.ids_NL[start:stop, :L],
            prompt_len_N=self.prompt_len_N[start:stop],
            completion_len_N=self.completion_len_N[start:stop],
            sampler_NT=self.sampler_NT[start:stop, :T],
            adv_N=self.adv_N[start:stop],
        )

    def micro_batches(self, max_tokens: int) -> list[Batch]:
        """Consecutive runs of sequences whose padded size (rows x longest row) fits ``max_tokens``;
        a sequence longer than the budget goes alone."""
        lengths = (self.prompt_len_N + self.completion_len_N).tolist()
        out, start, width = [], 0, 0
        for i, n in enumerate(lengths):
            width = max(width, n)
            if i > start and width * (i - start + 1) > max_tokens:
                out.append(self.rows(start, i))
                start, width = i, n
        out.append(self.rows(start, len(lengths)))
        return out


def make_batch(
    rollouts: list[Rollout], adv_N: Tensor, pad_id: int, totals: Totals | None = None
) -> Batch:
    """Pad the rollouts once. ``totals`` defaults to this batch's own counts (one process)."""
    if len(rollouts) != adv_N.shape[0]:
        raise ValueError(f"{len(rollouts)} rollouts but {adv_N.shape[0]} advantages")
    prompt_len_N = torch.tensor([len(r.prompt_ids) for r in rollouts])
    completion_len_N = torch.tensor([len(r.completion_ids) for r in rollouts])
    L = int((prompt_len_N + completion_len_N).max())
    T = max(int(completion_len_N.max()), 1)
    ids_NL = torch.full((len(rollouts), L), pad_id, dtype=torch.long)
    sampler_NT = torch.zeros((len(rollouts), T), dtype=torch.float32)
    for n, r in enumerate(rollouts):
        if len(r.sampler_logprobs) != len(r.completion_ids):
            raise ValueError(
                f"rollout {n}: {len(r.sampler_logprobs)} sampler log-probs for "
                f"{len(r.completion_ids)} completion tokens"
            )
        ids = r.prompt_ids + r.completion_ids
        ids_NL[n, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        sampler_NT[n, : len(r.sampler_logprobs)] = torch.tensor(r.sampler_logprobs)
    batch = Batch(ids_NL, prompt_len_N, completion_len_N, sampler_NT, adv_N.float(), Totals(0, 0))
    batch.totals = totals or Totals.of(batch.mask_NT)
    return batch
