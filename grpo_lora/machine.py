"""What this machine has (a GPU, its cores, native bf16 on the CPU) and the process settings it needs
before torch is imported (OpenMP reads its thread count when torch's library loads) and before vLLM
starts.
Imports nothing heavy, on purpose."""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path


def has_gpu() -> bool:
    """An NVIDIA driver is loaded (checked without importing torch)."""
    return Path("/proc/driver/nvidia").exists() or Path("/dev/nvidiactl").exists()


def cpu_cores(slot: int = 0, slots: int = 1) -> list[int]:
    """Share ``slot`` of ``slots`` equal shares (at least one core each) of the cores this process
    may run on."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cores = cores or list(range(os.cpu_count() or 1))
    n = max(1, len(cores) // slots)
    start = (slot * n) % len(cores)
    return cores[start : start + n]


def thread_env(cores: list[int]) -> dict[str, str]:
    """The environment that gives a process's OpenMP threads (torch's and vLLM's) these cores."""
    return {
        "OMP_NUM_THREADS": str(len(cores)),
        "VLLM_CPU_OMP_THREADS_BIND": ",".join(map(str, cores)),
    }


def configure_cpu_env() -> None:
    """On a machine without a GPU: vLLM's engine core in this process, vLLM's log level, and one
    OpenMP thread per core of this process's share of the cores (the processes of an
    ``accelerate launch`` split them: LOCAL_RANK / LOCAL_WORLD_SIZE), bound for vLLM to the same
    cores (left to itself, vLLM reserves a core for a scheduler process that does not exist here
    and computes on the rest: one of two cores). See docs/vllm-cpu.md. Settings already in the
    environment win."""
    if has_gpu():
        return
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    env = os.environ
    cores = cpu_cores(int(env.get("LOCAL_RANK", 0)), int(env.get("LOCAL_WORLD_SIZE", 1)))
    cores = cores[: int(env.get("OMP_NUM_THREADS") or len(cores))]
    for key, value in thread_env(cores).items():
        env.setdefault(key, value)


def available_memory_mb() -> float:
    """Memory available to new work now (Linux's MemAvailable), in MB; +inf where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("inf")


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, loaded once; None where there is no glibc."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Hand memory that Python has freed back to the OS (glibc's ``malloc_trim``; a no-op
    elsewhere). Large transient buffers freed in an odd order otherwise stay in the heap, and a
    process that makes them every step grows its peak RSS step by step."""
    if (trim := _malloc_trim()) is not None:
        trim(0)


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
