"""Process settings that must be in place before torch is imported (OpenMP reads its thread count
when torch's library loads) and before vLLM starts. Imports nothing heavy, on purpose."""

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
