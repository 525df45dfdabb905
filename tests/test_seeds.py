"""Sampling streams: every completion of a step or an evaluation has its own seed, and identical
prompts in one step get different completions from the real vLLM engine."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from grpo_lora.config import Config
from grpo_lora.data.problems import Problem
from grpo_lora.engines import Sampling, make_engine
from grpo_lora.evaluate import evaluate
from grpo_lora.rl.trainer import requests
from grpo_lora.seeds import completion_seeds
from grpo_lora.tiny.task import heldout


def fake_run(problems: list[Problem], p: int = 8, g: int = 8, seed: int = 0, world=(0, 1)):
    """What `trainer.requests` reads of a run: its config, process and problem set."""
    cfg = Config(seed=seed, data={"prompts_per_step": p, "group_size": g})
    accelerator = SimpleNamespace(process_index=world[0], num_processes=world[1])
    return SimpleNamespace(
        cfg=cfg, accelerator=accelerator, problems=SimpleNamespace(batch=lambda s, t, n: problems)
    )


def test_a_step_draws_one_stream_per_completion():
    problems = [Problem(f"p{i}", f"Q: {i}+1=?\nA:", f"#### {i + 1}", "gsm8k") for i in range(8)]
    _, seeds = requests(fake_run(problems), step=3)
    assert len(seeds) == 64 and len(set(seeds)) == 64  # P=8 x G=8, no stream shared
    # vLLM seeds an n > 1 request's child j with seed + j: not one of them may land on another's
    assert not {s + j for s in seeds for j in range(1, 8)} & set(seeds)
    _, next_step = requests(fake_run(problems), step=4)
    _, other_run = requests(fake_run(problems, seed=1), step=3)
    assert not set(seeds) & set(next_step) and not set(seeds) & set(other_run)
    assert requests(fake_run(problems), step=3)[1] == seeds  # a resume replays them


def test_processes_draw_their_own_streams():
    problems = [Problem(f"p{i}", "Q", "#### 1", "gsm8k") for i in range(8)]
    _, first = requests(fake_run(problems, world=(0, 2)), step=0)
    _, second = requests(fake_run(problems, world=(1, 2)), step=0)
    assert len(set(first) | set(second)) == 64


@pytest.fixture(scope="module")
def vllm(tiny_path):
    engine = make_engine("vllm", str(tiny_path))
    yield engine
    engine.close()


@pytest.mark.engine
def test_identical_prompts_in_one_step_get_their_own_completions(vllm):
    twin = heldout(1)[0]
    problem = Problem("twin", twin.prompt, twin.gold, "gsm8k")
    prompts, seeds = requests(fake_run([problem, problem], p=2, g=8), step=0)
    out = vllm.generate([p.prompt for p in prompts], 8, Sampling(1.0, 1.0, 40), seeds=seeds)
    first, second = [[r.completion_ids for r in out[i * 8 : (i + 1) * 8]] for i in range(2)]
    assert first != second
    # the old per-prompt seeds made the second prompt's j-th completion the first's (j+1)-th
    assert first[1:] != second[:-1]
    again = vllm.generate([p.prompt for p in prompts], 8, Sampling(1.0, 1.0, 40), seeds=seeds)
    assert [r.completion_ids for r in again] == [r.completion_ids for r in out]


@pytest.mark.engine
def test_an_evaluation_draws_one_stream_per_sample(vllm, monkeypatch):
    asked = []
    real = vllm.generate

    def recording(prompts, n, sampling, seeds=None, adapters=None):
        if sampling.temperature > 0:
            asked.append(seeds)
        return real(prompts, n, sampling, seeds=seeds, adapters=adapters)

    monkeypatch.setattr(vllm, "generate", recording)
    problems = [Problem(f"h{i}", p.prompt, p.gold, "gsm8k") for i, p in enumerate(heldout(4))]
    evaluate(vllm, problems + problems, k=8, max_tokens=40, seed=3)
    (seeds,) = asked
    assert len(seeds) == 64 and len(set(seeds)) == 64
    assert seeds == completion_seeds("eval", 3, 0, list(range(8)), 8)
