"""Sampling streams: one seed per completion, derived by a hash, so no two completions share a stream.

vLLM seeds completion j of a request with ``seed + j``: consecutive per-prompt seeds made prompt i's
completion j+1 replay prompt i+1's completion j. Each completion is now its own request with a seed
that is a hash of everything that names it (run seed, step or evaluation, prompt, sample): distinct
for all practical purposes (63 bits), and the same on a resume, so rollouts replay exactly.
"""

from __future__ import annotations

import hashlib


def stream_seed(*key: int | str) -> int:
    """A 63-bit seed from ``key``: blake2b of its parts, so neighbouring keys give unrelated seeds."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def completion_seeds(
    scope: str, seed: int, step: int, prompt_indices: list[int], n: int
) -> list[int]:
    """Seeds of the ``n`` completions of each prompt, prompt-major (the engines' order): completion
    j of prompt ``prompt_indices[i]`` at ``step`` of run ``seed``, in ``scope`` ("train", "eval")."""
    return [stream_seed(scope, seed, step, i, j) for i in prompt_indices for j in range(n)]
