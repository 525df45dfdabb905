"""Shared fixtures: the embedded tiny policy (built once per cache) and helpers."""

from __future__ import annotations

import os

import pytest

from grpo_lora.engines.vllm import configure_cpu_env

configure_cpu_env()  # before anything imports vLLM


@pytest.fixture(scope="session")
def tiny_path():
    from grpo_lora.tiny import ensure_tiny

    return ensure_tiny()


@pytest.fixture(scope="session", autouse=True)
def _quiet_vllm():
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
