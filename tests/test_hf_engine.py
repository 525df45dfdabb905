"""The hf engine's own guarantees, beyond the contract tests it shares with vLLM (test_engines.py):
it samples from, and records the log-probs of, softmax(logits / T) alone (whatever the model's
generation_config.json says), one stream a rollout (its seed alone decides it, whatever else is in
the call), no global RNG touched, and ``ignore_eos`` samples EOS like any other token."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter

import pytest
import torch

from grpo_lora.engines import Sampling
from grpo_lora.engines.hf import HFEngine
from grpo_lora.policy import load_policy
from grpo_lora.rl.batch import make_batch
from grpo_lora.rl.logprobs import token_logprobs
from grpo_lora.seeds import completion_seeds
from grpo_lora.tiny.task import heldout

PROMPTS = [p.prompt for p in heldout(16)]
SAMPLED = Sampling(temperature=1.0, max_tokens=40)
GAP = 1e-4  # fp32 engine against trainer log-probs of the same tokens: rounding only


@pytest.fixture(scope="module")
def hf(tiny_path):
    eng = HFEngine(str(tiny_path), max_lora_rank=8)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def base_policy(tiny_path):
    policy = load_policy(tiny_path, rank=None)
    policy.model.eval()
    return policy


def trainer_gap(policy, rollouts, temperature: float) -> float:
    """max |sampler - trainer| log-prob over the rollouts' completion tokens."""
    batch = make_batch(rollouts, torch.zeros(len(rollouts)), pad_id=policy.tokenizer.eos_token_id)
    with torch.no_grad():
        logp, _ = token_logprobs(policy.model, batch, temperature)
    return (logp - batch.sampler_NT).abs()[batch.mask_NT].max().item()


def ids(rollouts):
    return [r.completion_ids for r in rollouts]


@pytest.mark.engine
def test_a_rollout_depends_on_its_seed_not_on_the_call(hf):
    seeds = completion_seeds("train", 0, 3, list(range(6)), 4)
    whole = hf.generate(PROMPTS[:6], 4, SAMPLED, seeds=seeds)
    part = hf.generate(PROMPTS[2:4], 4, SAMPLED, seeds=seeds[8:16])
    alone = hf.generate([PROMPTS[3]], 1, SAMPLED, seeds=seeds[13:14])
    assert ids(whole[8:16]) == ids(part)
    assert ids(whole[13:14]) == ids(alone)
    for a, b in zip(whole[8:16], part):
        assert max(abs(x - y) for x, y in zip(a.sampler_logprobs, b.sampler_logprobs)) < 1e-5
    # the same seed at another position of another call: the same rollout
    moved = hf.generate([PROMPTS[3], PROMPTS[0]], 2, SAMPLED, seeds=[7, seeds[13], seeds[0], 9])
    assert moved[1].completion_ids == whole[13].completion_ids
    assert moved[2].completion_ids == whole[0].completion_ids
    # each completion its own stream: a group's completions are not copies of each other's
    distinct = hf.generate([PROMPTS[0]] * 1, 24, Sampling(2.0, 1.0, 20), seeds=list(range(24)))
    assert len({tuple(r.completion_ids) for r in distinct}) > 12


@pytest.mark.engine
def test_no_global_rng_is_touched(hf):
    state = torch.get_rng_state()
    hf.generate(PROMPTS[:2], 3, SAMPLED, seeds=list(range(6)))
    hf.generate(PROMPTS[:2], 3, SAMPLED)  # unseeded: the engine's own stream
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.engine
def test_unseeded_calls_replay_for_the_same_engine_seed(tiny_path):
    a, b = (HFEngine(str(tiny_path), seed=5) for _ in range(2))
    first = [ids(e.generate(PROMPTS[:3], 2, SAMPLED)) for e in (a, b)]
    assert first[0] == first[1]


@pytest.mark.engine
def test_ignore_eos_samples_eos_like_any_token(hf, base_policy):
    """vLLM's ignore_eos: sample on to max_tokens, EOS a token like any other (not masked, which
    ``min_new_tokens`` did: a distribution the log-probs did not record)."""
    sampling = Sampling(temperature=1.0, max_tokens=40, ignore_eos=True)
    out = hf.generate(PROMPTS[:8], 4, sampling, seeds=list(range(32)))
    eos = hf.tokenizer.eos_token_id
    assert all(len(r.completion_ids) == 40 and r.finish_reason == "length" for r in out)
    assert any(eos in r.completion_ids[:-1] for r in out), "EOS must stay sampleable"
    assert trainer_gap(base_policy, out, 1.0) < GAP


@pytest.mark.engine
def test_top_p_keeps_the_smallest_set_that_reaches_it(hf):
    greedy = hf.generate(PROMPTS[:4], 1, Sampling(temperature=0.0, max_tokens=20))
    top1 = hf.generate(PROMPTS[:4], 2, Sampling(1.0, 1e-9, 20), seeds=list(range(8)))
    assert ids(top1) == [g.completion_ids for g in greedy for _ in range(2)]
    assert all(lp == 0.0 for r in top1 for lp in r.sampler_logprobs)  # one token, renormalised


def with_generation_config(tiny_path, tmp_path, **settings):
    """A copy of the tiny policy's folder whose generation_config.json sets ``settings`` (as
    Qwen2.5-Instruct's set a repetition penalty above 1, top_k 20, top_p 0.8, temperature 0.7)."""
    folder = tmp_path / "model"
    shutil.copytree(tiny_path, folder)
    path = folder / "generation_config.json"
    config = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**config, "do_sample": True, **settings}))
    return folder


@pytest.mark.engine
def test_generation_config_changes_neither_sampling_nor_scoring(tiny_path, tmp_path):
    """With a model folder whose generation config sets a repetition penalty (and top-k), what the
    engine samples is what it scores: (1) the recorded log-probs are the trainer's, to rounding;
    (2) the first completion token, sampled 4000 times for one prompt, has the frequencies the
    recorded log-probs say (transformers' generate would sample from the penalised distribution
    and so fail (2): the importance ratio of every penalised token biased)."""
    folder = with_generation_config(tiny_path, tmp_path, repetition_penalty=1.3, top_k=3)
    engine = HFEngine(str(folder))
    policy = load_policy(folder, rank=None)
    policy.model.eval()
    sampling = Sampling(temperature=1.5, max_tokens=40)
    out = engine.generate(PROMPTS[:8], 4, sampling, seeds=list(range(32)))
    assert trainer_gap(policy, out, sampling.temperature) < GAP

    # a prompt whose next token is uncertain, and likely one of the prompt's (which are penalised):
    # "8" (p 0.17) of 28; generate's samples had total variation 0.125 from the recorded log-probs
    prompt, draws = "Q: 9+9+9=?\nA: 9+9=18. 18+9=2", 4000
    first = engine.generate([prompt], draws, Sampling(1.5, 1.0, 1), seeds=list(range(draws)))
    counts = Counter(r.completion_ids[0] for r in first)
    recorded = {r.completion_ids[0]: math.exp(r.sampler_logprobs[0]) for r in first}
    assert trainer_gap(policy, first, 1.5) < GAP
    assert max(recorded.values()) < 0.9, "the test needs an uncertain token"
    tv = 0.5 * (
        sum(abs(counts[t] / draws - p) for t, p in recorded.items()) + (1 - sum(recorded.values()))
    )
    assert tv < 0.04, (
        f"sampled frequencies are {tv:.3f} (total variation) off the recorded log-probs"
    )
