"""Rollout engines: vLLM (the real one) and transformers `generate` (for what vLLM can't serve)."""

from grpo_lora.engines.base import EngineError, Rollout, RolloutEngine, Sampling, SyncTimes

__all__ = ["EngineError", "Rollout", "RolloutEngine", "Sampling", "SyncTimes", "make_engine"]


def make_engine(kind: str, model_path: str, **kwargs) -> RolloutEngine:
    if kind == "vllm":
        from grpo_lora.engines.vllm import VLLMEngine

        return VLLMEngine(model_path, **kwargs)
    if kind == "hf":
        from grpo_lora.engines.hf import HFEngine

        return HFEngine(model_path, **kwargs)
    raise ValueError(f"engine.kind: unknown engine {kind!r} (known: vllm, hf)")
