"""The tiny policies shipped with the package: one set of bits on every machine.

The SFT build (`grpo_lora/tiny/build.py`) is deterministic on one CPU, but CPUs with other vector units
round differently, so each machine used to build its own, different policy (start pass@1 0.315, 0.367
and 0.440 on three machines). The policies the study uses (``tiny`` and the widths of
``recipes/study/``) therefore ship in ``grpo_lora/tiny/weights/<tag>/`` as the ``save_pretrained``
folder of one build, with a ``build_info.json`` that holds its recipe, the sha256 of its weights and
the CPU and date it was built on. Resolving such a model copies that folder into the cache and checks
the sha256; nothing is built. ``grpo-lora tiny --rebuild`` still builds, into ``<tag>-rebuilt``, and
says whether this CPU gave the shipped bits (`compare_with_shipped`).

To ship a new build (after a recipe change): build it (``grpo-lora tiny --width N``) and copy the
cache folder's files to ``weights/<tag>/`` (docs/tiny-policy.md).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from grpo_lora.cache import cache_root, cached_build

WEIGHTS = "model.safetensors"
SHIPPED_ROOT = Path(__file__).parent / "weights"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shipped_folder(tag: str) -> Path | None:
    """The shipped folder of the tiny policy ``tag``, or None where none is shipped."""
    folder = SHIPPED_ROOT / tag
    return (
        folder if (folder / "build_info.json").is_file() and (folder / WEIGHTS).is_file() else None
    )


def shipped_tags() -> list[str]:
    """The tags of every shipped tiny policy."""
    if not SHIPPED_ROOT.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_ROOT.iterdir() if shipped_folder(p.name))


def read_info(folder: Path) -> dict:
    return json.loads((folder / "build_info.json").read_text())


def install_shipped(tag: str, log=print) -> Path:
    """The cache folder ``tag`` holding the shipped weights: copied on first use and checked against
    the shipped sha256; a cached folder with other weights (a local build from before the weights
    shipped) is replaced."""
    shipped = shipped_folder(tag)
    if shipped is None:
        raise FileNotFoundError(f"no shipped tiny policy {tag!r} in {SHIPPED_ROOT}")
    info = read_info(shipped)
    want = info["weights_sha256"]
    path = cache_root() / tag

    def same_bits(folder: Path) -> bool:
        return (folder / WEIGHTS).is_file() and sha256_file(folder / WEIGHTS) == want

    if (path / "build_info.json").exists() and not same_bits(path):
        old = read_info(path).get("weights_sha256", "?")
        log(
            f"{path} holds other weights (sha256 {old[:16]}); replacing them with the shipped "
            f"ones (sha256 {want[:16]})"
        )

    def copy(out: Path) -> dict:
        shutil.copytree(shipped, out, copy_function=shutil.copyfile)
        got = sha256_file(out / WEIGHTS)
        if got != want:
            raise RuntimeError(
                f"{shipped / WEIGHTS} has sha256 {got}, not the {want} of its build_info.json: "
                "a damaged install of grpo-lora; reinstall it"
            )
        return {**info, "source": f"shipped with grpo-lora (grpo_lora/tiny/weights/{tag})"}

    return cached_build(tag, copy, keep=same_bits)


def compare_with_shipped(built: Path, shipped: Path) -> str:
    """One line: whether the build in ``built`` has the shipped folder's weights, bit for bit."""
    got = sha256_file(built / WEIGHTS)
    info = read_info(shipped)
    want = info["weights_sha256"]
    if got == want:
        return f"rebuilt: sha256 {got}, equal to the shipped bits"
    cpu = info.get("built_on", {}).get("cpu", "another CPU")
    return (
        f"rebuilt: sha256 {got}; the shipped weights are {want} (built on {cpu}): this CPU rounds "
        f"differently. Named models keep the shipped weights; this build is {built}"
    )


def ship(built: Path, built_on: dict | None = None) -> Path:
    """Copy a finished build (a cache folder) into ``weights/<its tag>/`` to ship it: the maintainer's
    step after a recipe change (docs/tiny-policy.md). ``built_on`` fills in the CPU and date for a
    build made before build_info.json recorded them."""
    info = read_info(built)
    if sha256_file(built / WEIGHTS) != info["weights_sha256"]:
        raise ValueError(f"{built / WEIGHTS} does not have the sha256 of its build_info.json")
    info.pop("source", None)
    if "built_on" not in info:
        if built_on is None:
            raise ValueError(f"{built}/build_info.json does not say what it was built on")
        info["built_on"] = built_on
    out = SHIPPED_ROOT / built.name.removesuffix("-rebuilt")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for f in sorted(built.iterdir()):
        if f.is_file() and f.name != "build_info.json":
            shutil.copyfile(f, out / f.name)
    (out / "build_info.json").write_text(json.dumps(info, indent=2) + "\n")
    return out
