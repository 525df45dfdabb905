"""Shared fixtures: the embedded tiny policy (built once per cache) and helpers."""

from __future__ import annotations

import os
import sys

import pytest

from grpo_lora.machine import configure_cpu_env

configure_cpu_env()  # before anything imports vLLM


@pytest.fixture(scope="session")
def tiny_path():
    from grpo_lora.tiny import ensure_tiny

    return ensure_tiny()


@pytest.fixture(scope="session", autouse=True)
def _quiet_vllm():
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


# two processes through torchrun, on the CPU with gloo (docs/accelerate-cpu.md: not `--cpu`)
TWO_PROCESSES = [
    sys.executable,
    "-m",
    "accelerate.commands.launch",
    "--multi_gpu",
    "--num_processes",
    "2",
    "--num_machines",
    "1",
    "--mixed_precision",
    "no",
    "--dynamo_backend",
    "no",
]


def random_adapter(model_path, rank, seed, scale=0.05):
    """A peft LoRA on every linear layer with random, non-zero A and B (peft's B = 0 would make
    any engine pass for serving the adapter)."""
    import torch

    from grpo_lora.policy import load_policy

    policy = load_policy(model_path, rank=rank)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
    policy.model.eval()
    return policy
