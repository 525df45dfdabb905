"""The embedded default: the tiny-arith task and a small Qwen2 policy built and SFT-warmed locally."""

from grpo_lora.cache import cache_root
from grpo_lora.tiny.build import TinyRecipe, ensure_tiny

__all__ = ["TinyRecipe", "cache_root", "ensure_tiny"]
