"""The rollout-engine seam: what the trainer needs from whatever samples completions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch


@dataclass(frozen=True)
class Sampling:
    temperature: float = 1.0  # 0 = greedy
    top_p: float = 1.0
    max_tokens: int = 64  # completion budget; a completion that hits it ends with "length"
    ignore_eos: bool = False  # sample on past EOS to max_tokens (fixed-length benchmark work)


@dataclass
class Rollout:
    prompt_ids: list[int]
    completion_ids: list[int]
    sampler_logprobs: list[
        float
    ]  # each completion token's log-prob under the sampling distribution
    finish_reason: str  # "stop" (EOS or a stop string) | "length"
    text: str  # the decoded completion


@dataclass
class SyncTimes:
    """Seconds spent in each weight sync, newest last (the trainer logs them)."""

    adapter_s: list[float] = field(default_factory=list)
    weights_s: list[float] = field(default_factory=list)


class RolloutEngine(Protocol):
    times: SyncTimes

    def generate(
        self,
        prompts: list[str],
        n: int,
        sampling: Sampling,
        seeds: list[int] | None = None,
        adapters: list[str] | None = None,
    ) -> list[Rollout]:
        """``n`` completions per prompt, prompt-major (rollout ``i * n + j`` is prompt ``i``'s j-th).
        ``seeds[i * n + j]`` seeds that rollout's own sampling stream (None: unseeded), so that no two
        completions share a stream (`grpo_lora.seeds`); ``adapters[i]`` names the adapter that
        samples prompt ``i``'s (None: the one loaded under "default", if any)."""
        ...

    def load_adapter(
        self,
        tensors: dict[str, torch.Tensor],
        version: int,
        lora_config: dict,
        name: str = "default",
    ) -> None:
        """Serve a LoRA adapter (peft state-dict names, peft config keys ``r``, ``lora_alpha``,
        ``target_modules``) under ``name`` from now on, as a new ``version``; no files, no merge."""
        ...

    def load_weights(self, named_tensors: dict[str, torch.Tensor]) -> None:
        """Replace (some of) the base model's weights, by their transformers names."""
        ...

    def close(self) -> None: ...


def check_requests(
    prompts: list[str], n: int, seeds: list[int] | None, adapters: list[str] | None
) -> None:
    """One seed a rollout and one adapter name a prompt, or an EngineError that says which is off."""
    if seeds is not None and len(seeds) != len(prompts) * n:
        raise EngineError(
            f"got {len(seeds)} seeds for {len(prompts)} prompts x {n} completions (one a completion)"
        )
    if adapters is not None and len(adapters) != len(prompts):
        raise EngineError(f"got {len(adapters)} adapter names for {len(prompts)} prompts")


class EngineError(RuntimeError):
    """A problem with the engine's input, with a one-line message that names it."""


def check_model_path(model_path: str | Path) -> None:
    """A local model directory must exist and hold a config.json; a hub id ("org/name") passes."""
    path = Path(model_path).expanduser()
    looks_local = path.exists() or path.is_absolute() or str(model_path).startswith((".", "~"))
    if looks_local and not (path / "config.json").exists():
        raise EngineError(f"model directory {path} does not exist or has no config.json")


def check_adapter(max_lora_rank: int | None, lora_config: dict) -> int:
    """The adapter's rank, if this engine can serve it."""
    if max_lora_rank is None:
        raise EngineError("this engine was started without LoRA (max_lora_rank=None)")
    rank = int(lora_config["r"])
    if rank > max_lora_rank:
        raise EngineError(f"adapter rank {rank} exceeds the engine's max_lora_rank {max_lora_rank}")
    return rank
