"""Held-out evaluation: greedy accuracy and unbiased pass@k at the sampling temperature."""

from __future__ import annotations

from math import comb
from pathlib import Path

from transformers import AutoTokenizer

from grpo_lora.checkpoint import read_adapter
from grpo_lora.config import Config
from grpo_lora.data import load_problems
from grpo_lora.data.problems import Problem, grade
from grpo_lora.engines.base import RolloutEngine, Sampling
from grpo_lora.models import resolve_model_path
from grpo_lora.seeds import completion_seeds


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
    adapter: str | None = None,
) -> dict[str, float]:
    """``pass1`` and ``passk`` from ``k`` samples per problem at ``temperature`` (a seed per sample,
    from ``seed``, problem and sample: the same streams at every evaluation of a run), and ``greedy_acc`` from one greedy completion per problem, sampled by the engine's
    ``adapter`` (None: its default)."""
    (scores,) = evaluate_adapters(
        engine, problems, [adapter], k, temperature, max_tokens, seeds=[seed], greedy=greedy
    )
    return scores


def evaluate_adapters(
    engine,
    problems: list[Problem],
    adapters: list[str | None],
    k: int = 8,
    temperature: float = 1.0,
    max_tokens: int = 64,
    seeds: list[int] | None = None,
    greedy: bool = True,
) -> list[dict[str, float]]:
    """`evaluate` for each of the engine's ``adapters`` (with ``seeds[i]`` for adapter i, default
    0), sampled in one generate call: each gets what it would get alone."""
    if not problems:
        raise ValueError("evaluation needs at least one held-out problem")
    n = len(problems)
    prompts = [p.prompt for p in problems] * len(adapters)
    seeds = [
        x
        for s in seeds or [0] * len(adapters)
        for x in completion_seeds("eval", s, 0, list(range(n)), k)
    ]
    tags = None if adapters == [None] else [a for a in adapters for _ in range(n)]
    sampled = engine.generate(
        prompts, k, Sampling(temperature, 1.0, max_tokens), seeds=seeds, adapters=tags
    )
    correct = grade(
        [r.text for r in sampled],
        [p for p in problems for _ in range(k)] * len(adapters),
        [r.finish_reason == "length" for r in sampled],
    )
    if greedy:
        greedy_out = engine.generate(prompts, 1, Sampling(0.0, 1.0, max_tokens), adapters=tags)
        right = grade(
            [r.text for r in greedy_out],
            problems * len(adapters),
            [r.finish_reason == "length" for r in greedy_out],
        )
    out = []
    for a in range(len(adapters)):
        counts = [sum(correct[(a * n + i) * k : (a * n + i + 1) * k]) for i in range(n)]
        scores = {
            "pass1": sum(pass_at_k(k, c, 1) for c in counts) / n,
            "passk": sum(pass_at_k(k, c, k) for c in counts) / n,
        }
        if greedy:
            scores["greedy_acc"] = sum(right[a * n : (a + 1) * n]) / n
        out.append(scores)
    return out


def eval_target(
    cfg: Config, checkpoint: Path | None = None
) -> tuple[RolloutEngine, Path, list[Problem]]:
    """What `grpo-lora eval` scores: an engine serving the recipe's model, or a checkpoint's full
    model (its ``model/``), or the recipe's model with the checkpoint's adapter (its ``adapter/``)
    loaded; the path of the model it serves; and the recipe's held-out problems."""
    model_path = resolve_model_path(cfg.model.path)
    adapter = full = None
    if checkpoint is not None:
        adapter, full = checkpoint / "adapter", checkpoint / "model"
    serve = full if full is not None and full.exists() else model_path
    lora = read_adapter(adapter) if adapter is not None and adapter.exists() else None
    engine = cfg.make_engine(serve, lora[1]["r"] if lora else None)
    if lora:
        engine.load_adapter(lora[0], version=0, lora_config=lora[1])
    problems = load_problems(cfg.data, AutoTokenizer.from_pretrained(str(model_path)))
    return engine, serve, problems.heldout[: cfg.data.heldout_size]
