"""The update on the tiny policy: chunked log-probs equal a full log-softmax, and the gradient of one
update does not depend on how the step is cut into micro-batches or processes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from conftest import TWO_PROCESSES

from grpo_lora.config import OptimizerSection
from grpo_lora.engines import Rollout
from grpo_lora.policy import load_policy
from grpo_lora.rl.batch import make_batch
from grpo_lora.rl.logprobs import token_logprobs
from grpo_lora.rl.losses import LossConfig, gspo, is_pg
from grpo_lora.rl.update import Objective, Optim, update

ROOT = Path(__file__).parent.parent
# completion lengths 10, 1, 10, 1, ...: the case where a per-micro-batch token mean goes wrong
LENGTHS = [10, 1, 10, 1, 10, 1, 10, 1]


def rollouts(vocab: int, lengths=LENGTHS, group: int = 2) -> list[Rollout]:
    """Rows ``group`` at a time share a prompt (of 3 or 4 tokens), as a GRPO group does."""
    g = torch.Generator().manual_seed(0)
    out = []
    for n, k in enumerate(lengths):
        if n % group == 0:
            prompt = torch.randint(3, vocab, (3 + (n // group) % 2,), generator=g).tolist()
        completion = torch.randint(3, vocab, (k,), generator=g).tolist()
        sampler = (-torch.rand(k, generator=g) * 3).tolist()
        out.append(Rollout(prompt, completion, sampler, "stop", ""))
    return out


def advantages(n: int) -> torch.Tensor:
    return torch.linspace(-1.0, 1.0, n)


def reference_logprobs(model, batch, temperature):
    """Every logit of every position, then log-softmax: what the chunked version must equal."""
    logits = model(input_ids=batch.ids_NL, attention_mask=batch.attention_NL).logits
    logp_all = torch.log_softmax(logits / temperature, dim=-1)
    out = torch.zeros(batch.mask_NT.shape, dtype=logits.dtype)
    for n in range(len(batch)):
        p, k = int(batch.prompt_len_N[n]), int(batch.completion_len_N[n])
        targets = batch.ids_NL[n, p : p + k]
        out[n, :k] = logp_all[n, p - 1 : p - 1 + k].gather(1, targets[:, None]).squeeze(1)
    return out


@pytest.mark.parametrize("group", [1, 4], ids=["distinct-prompts", "groups-of-4"])
@pytest.mark.parametrize("rank", [1, None], ids=["lora", "fullft"])
def test_chunked_logprobs_equal_full_log_softmax(tiny_path, rank, group):
    """Chunked head, and each group's prompt run once for its completions: the values and the
    gradient of a plain forward over every full sequence."""
    torch.manual_seed(0)
    policy = load_policy(tiny_path, rank=rank)
    policy.model.double()  # float64: the two ways must agree to rounding, not to fp32 noise
    if rank is not None:  # a non-zero adapter, so that it matters
        for p in policy.trainable_parameters():
            torch.nn.init.normal_(p, std=0.1)
    batch = make_batch(rollouts(len(policy.tokenizer), group=group), advantages(8), pad_id=0)
    weights = torch.randn(batch.mask_NT.shape, dtype=torch.float64)

    ref = reference_logprobs(policy.model, batch, 0.7)
    (ref * weights).sum().backward()
    ref_grads = [p.grad.clone() for p in policy.trainable_parameters()]
    policy.model.zero_grad()

    logp, entropy = token_logprobs(policy.model, batch, 0.7, chunk_tokens=5)  # several chunks
    (logp * weights).sum().backward()
    torch.testing.assert_close(logp, ref, rtol=0, atol=1e-10)
    # a shared prompt sums its completions' gradients before, not after, its backward: the same
    # sum, which torch's CPU attention backward rounds at about float32's precision (its softmax
    # statistics are float32 even in a float64 model): 1e-6 relative, not 1e-15
    rel = 1e-9 if group == 1 else 1e-5
    for a, b in zip(ref_grads, [p.grad for p in policy.trainable_parameters()]):
        assert (a - b).norm() <= rel * a.norm(), ((a - b).norm() / a.norm()).item()
    assert (entropy[batch.mask_NT] > 0).all() and (entropy[~batch.mask_NT] == 0).all()


def one_update_grads(policy, batch, loss_fn, loss_cfg, budget):
    """The gradient an update leaves (lr 0 and no clipping, so the weights stay put)."""
    policy.model.zero_grad()
    settings = OptimizerSection(grad_clip=None, micro_batch_tokens=budget)
    optim = Optim(
        torch.optim.SGD(policy.trainable_parameters(), lr=0.0), settings, Accelerator(cpu=True)
    )
    stats = update(policy.model, batch, Objective(loss_fn, loss_cfg, 1.0), optim)
    return [p.grad.clone() for p in policy.trainable_parameters()], stats


@pytest.mark.parametrize(
    ("loss_fn", "loss_cfg"),
    [
        (is_pg, LossConfig(aggregation="token")),
        (is_pg, LossConfig(aggregation="sequence")),
        (is_pg, LossConfig(aggregation="constant", constant_norm=10)),
        (gspo, LossConfig(kind="gspo")),
    ],
    ids=["token", "sequence", "constant", "gspo"],
)
def test_gradient_is_the_same_for_1_2_4_micro_batches(tiny_path, loss_fn, loss_cfg):
    torch.manual_seed(0)
    policy = load_policy(tiny_path, rank=1)
    batch = make_batch(rollouts(len(policy.tokenizer)), advantages(8), pad_id=0)
    # prompts of 3-4 tokens + completions of 10 or 1: these budgets cut 8 rows into 1, 2 and 4
    budgets = {1: 10_000, 2: 14 * 4, 4: 14 * 2}
    assert {k: len(batch.micro_batches(b)) for k, b in budgets.items()} == {1: 1, 2: 2, 4: 4}
    whole, whole_stats = one_update_grads(policy, batch, loss_fn, loss_cfg, budgets[1])
    assert any(g.abs().sum() > 0 for g in whole)
    for k in (2, 4):
        split, stats = one_update_grads(policy, batch, loss_fn, loss_cfg, budgets[k])
        for a, b in zip(whole, split):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
        # centred advantages make the loss a near-cancelling sum of O(1) terms: its rounding is
        # absolute, at the terms' scale, whatever the (tiny) total
        assert stats["loss/pg"] == pytest.approx(whole_stats["loss/pg"], rel=1e-5, abs=1e-7)


def test_token_mean_weighs_every_token_alike(tiny_path):
    """The case that motivated the global token mean: with 2 micro-batches, a per-chunk mean would
    weigh the 1-token completions 10x more than their 1/44 share."""
    torch.manual_seed(0)
    policy = load_policy(tiny_path, rank=1)
    batch = make_batch(rollouts(len(policy.tokenizer)), advantages(8), pad_id=0)
    assert batch.totals.tokens == sum(LENGTHS) and batch.totals.sequences == 8
    for mb in batch.micro_batches(14 * 4):
        assert mb.totals == batch.totals  # every share divides by the step's counts


@pytest.mark.slow
def test_gradient_is_the_same_for_1_and_2_processes(tmp_path, tiny_path):
    """Two processes (accelerate launch, gloo on the CPU), each with half the rows, end with the
    gradient that one process gets from all of them."""
    out = tmp_path / "grads.pt"
    cmd = [
        *TWO_PROCESSES,
        str(ROOT / "tests" / "dist_update_script.py"),
        str(tiny_path),
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = torch.load(out)
    assert two["world"] == 2

    torch.manual_seed(0)
    policy = load_policy(tiny_path, rank=1)
    batch = make_batch(rollouts(len(policy.tokenizer)), advantages(8), pad_id=0)
    one, _ = one_update_grads(policy, batch, is_pg, LossConfig(), 10_000)
    for a, b in zip(one, two["grads"]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_fullft_weights_for_the_engine_send_tied_embeddings_once(tmp_path):
    """SmolLM2 ties lm_head to embed_tokens: the push must send that storage once (safetensors
    refuses shared tensors), as the embedding, which the engine ties to its head itself."""
    from safetensors.torch import save
    from transformers import LlamaConfig, LlamaForCausalLM

    from grpo_lora.tiny.tokenizer import build_tokenizer

    tok = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    weights = load_policy(tmp_path, rank=None).weights_for_engine()
    assert "model.embed_tokens.weight" in weights and "lm_head.weight" not in weights
    assert len(save(weights)) > 0
