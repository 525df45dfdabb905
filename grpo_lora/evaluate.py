"""Held-out evaluation: greedy accuracy and unbiased pass@k at the sampling temperature."""

from __future__ import annotations

from math import comb

from grpo_lora.data.problems import Problem, grade
from grpo_lora.engines.base import Sampling


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct (Chen et al. 2021, eq. 1):
    1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    return 1.0 - comb(n - c, k) / comb(n, k)


def evaluate(
    engine,
    problems: list[Problem],
    k: int = 8,
    temperature: float = 1.0,
    max_tokens: int = 64,
    seed: int = 0,
    greedy: bool = True,
) -> dict[str, float]:
    """``pass1`` and ``passk`` from ``k`` samples per problem at ``temperature`` (per-problem seeds from
    ``seed``), and ``greedy_acc`` from one greedy completion per problem."""
    if not problems:
        raise ValueError("evaluation needs at least one held-out problem")
    prompts = [p.prompt for p in problems]
    seeds = [seed * 1_000_003 + i for i in range(len(problems))]
    rollouts = engine.generate(prompts, k, Sampling(temperature, 1.0, max_tokens), seeds=seeds)
    correct = grade([r.text for r in rollouts], [p for p in problems for _ in range(k)])
    counts = [sum(correct[i * k : (i + 1) * k]) for i in range(len(problems))]
    out = {
        "pass1": sum(pass_at_k(k, c, 1) for c in counts) / len(problems),
        "passk": sum(pass_at_k(k, c, k) for c in counts) / len(problems),
    }
    if greedy:
        texts = [r.text for r in engine.generate(prompts, 1, Sampling(0.0, 1.0, max_tokens))]
        out["greedy_acc"] = sum(grade(texts, problems)) / len(problems)
    return out
