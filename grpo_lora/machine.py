"""What this machine has (a GPU, native bf16 on the CPU) and the process settings it needs before
torch is imported (OpenMP reads its thread count when torch's library loads) and before vLLM starts.
Imports nothing heavy, on purpose."""

from __future__ import annotations

import os
from pathlib import Path


def has_gpu() -> bool:
    """An NVIDIA driver is loaded (checked without importing torch)."""
    return Path("/proc/driver/nvidia").exists() or Path("/dev/nvidiactl").exists()


def configure_cpu_env() -> None:
    """On a machine without a GPU: vLLM's engine core in this process, one OpenMP thread (a
    process that used several before the engine started saw generate calls stall for tens of
    seconds), vLLM's log level. See docs/vllm-cpu.md. Explicit settings in the environment win."""
    if not has_gpu():
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


BF16_CPU_FLAGS = {"amx_bf16", "avx512_bf16"}  # CPUs with native bf16 matmuls


def cpu_flags() -> set[str]:
    """The CPU feature flags in /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def resolve_dtype(name: str) -> str:
    """``auto``: bfloat16 on a GPU or a CPU with native bf16 matmuls, else float32; other names
    pass through."""
    if name != "auto":
        return name
    return "bfloat16" if has_gpu() or BF16_CPU_FLAGS & cpu_flags() else "float32"
