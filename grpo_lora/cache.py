"""The project cache: built models (the tiny policy, converted SmolLM2) in ordinary folders under
``$GRPO_LORA_CACHE`` (default ``~/.cache/grpo-lora``), each built (or, for the shipped tiny policies,
copied from the package) once, safely from several processes."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def cache_root() -> Path:
    # an empty GRPO_LORA_CACHE counts as unset (not as the current directory)
    return Path(os.environ.get("GRPO_LORA_CACHE") or Path.home() / ".cache" / "grpo-lora")


def cached_build(
    tag: str,
    build: Callable[[Path], dict],
    rebuild: bool = False,
    keep: Callable[[Path], bool] | None = None,
) -> Path:
    """Return the cache folder ``tag``, first running ``build(folder)`` if it is missing.

    ``build`` creates the folder it is given and returns a JSON-able summary, kept as
    ``build_info.json`` (whose presence marks a finished build). ``keep``, if given, judges a
    finished folder: one it rejects (say, weights other than the shipped ones) is built again, as
    with ``rebuild``. Safe to call from several processes at once: a file lock makes one build and
    the others wait.
    """
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    path = root / tag
    with open(root / f"{tag}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = (path / "build_info.json").exists()
        if path.exists() and (rebuild or (done and keep is not None and not keep(path))):
            shutil.rmtree(path)
        if not (path / "build_info.json").exists():
            tmp = root / f"{tag}.partial-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            info = build(tmp)
            (tmp / "build_info.json").write_text(json.dumps(info, indent=2))
            tmp.rename(path)  # atomic: a crash mid-build never leaves a half model at `path`
    return path
