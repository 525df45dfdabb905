"""Build the embedded default policy: a ~0.5M-parameter Qwen2 that has been taught tiny-arith by SFT.

One knob, ``width``, scales it (heads of 32 dims, a 4x MLP) with the depth and SFT recipe unchanged, for
studies across model sizes; the default, width 128, is the ``tiny`` named model (docs/models.md).

The demonstrations are deliberately imperfect (``SLIP_RATE`` of them carry one +-1 or +-10 slip through to
a wrong final answer), so that the policy starts with pass@1 well below 1 and pass@8 well above it:
room and signal for RL. Clean demonstrations saturate within seconds (docs/tiny-policy.md).

The result is an ordinary `save_pretrained` folder (config, safetensors, tokenizer) that transformers,
peft and vLLM load like any hub model. It is cached under ``$GRPO_LORA_CACHE`` (default
``~/.cache/grpo-lora``) and rebuilt only on request or when the recipe below changes. The recipes the
study uses ship as weights (grpo_lora/tiny/shipped.py) and are copied, not built: other CPUs round
differently, and one policy on every machine is what makes numbers comparable across machines.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from grpo_lora.cache import cached_build
from grpo_lora.tiny.shipped import compare_with_shipped, install_shipped, shipped_folder
from grpo_lora.tiny.task import train_stream
from grpo_lora.tiny.tokenizer import build_tokenizer

SLIP_RATE = 0.5
SLIPS = (-10, -1, 1, 10)
HEAD_DIM = 32


@dataclass(frozen=True)
class TinyRecipe:
    """Everything that determines the built model; its hash names the cache folder."""

    width: int = 128  # the hidden size; heads and MLP follow from it
    layers: int = 2
    max_positions: int = 256
    steps: int = 800
    batch: int = 64
    lr: float = 2e-3
    warmup: int = 30
    seed: int = 0
    version: int = 2  # bump when the task or tokenizer changes

    def __post_init__(self):
        if self.width <= 0 or self.width % HEAD_DIM:
            raise ValueError(
                f"the tiny width must be a positive multiple of {HEAD_DIM} (heads of {HEAD_DIM} dims), "
                "e.g. 64 or 256"
            )

    @property
    def heads(self) -> int:
        return self.width // HEAD_DIM

    @property
    def mlp(self) -> int:
        return 4 * self.width

    @property
    def tag(self) -> str:
        # width 128 keeps the tag it had when the fields were hidden=128, heads=4, mlp=512
        return f"tiny-v{self.version}-h{self.width}-l{self.layers}-s{self.steps}-seed{self.seed}"


def ensure_tiny(rebuild: bool = False, recipe: TinyRecipe | None = None, log=print) -> Path:
    """Return the folder of the embedded policy at ``recipe``.

    A recipe whose weights ship with the package (grpo_lora/tiny/shipped.py: ``tiny`` and the study's
    widths) gets the shipped bits, copied into the cache; any other is built on first use. With
    ``rebuild``, a shipped recipe is built anyway, into ``<tag>-rebuilt`` (the named model keeps the
    shipped bits), and ``log`` says whether this CPU gave the shipped bits; another is rebuilt in place.
    Safe to call from several processes at once (a file lock makes one build and the others wait).
    """
    recipe = recipe or TinyRecipe()
    shipped = shipped_folder(recipe.tag)
    if shipped is None:
        return cached_build(recipe.tag, lambda out: build(out, recipe, log=log), rebuild)
    if not rebuild:
        return install_shipped(recipe.tag, log=log)
    path = cached_build(f"{recipe.tag}-rebuilt", lambda out: build(out, recipe, log=log), True)
    log(compare_with_shipped(path, shipped))
    return path


def build(out: Path, recipe: TinyRecipe, log=print) -> dict:
    """SFT the tiny policy into ``out`` on one thread (the same bits on every build here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _build(out, recipe, log)
    finally:
        torch.set_num_threads(threads)


def _build(out: Path, recipe: TinyRecipe, log=print) -> dict:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    t0 = time.perf_counter()
    torch.manual_seed(recipe.seed)
    tok = build_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=recipe.width,
        intermediate_size=recipe.mlp,
        num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads,
        num_key_value_heads=recipe.heads,
        max_position_embeddings=recipe.max_positions,
        tie_word_embeddings=False,  # untied: vLLM's CPU full-weight reload keeps a stale tied lm_head
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.eos_token_id,
        torch_dtype="float32",
    )
    model = Qwen2ForCausalLM(config)
    n_params = sum(p.numel() for p in model.parameters())
    log(
        f"building the tiny policy (width {recipe.width}, {n_params / 1e6:.2f}M params, "
        f"{recipe.steps} SFT steps) -> {out}"
    )
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / recipe.warmup))
    stream, rng = train_stream(recipe.seed), random.Random(recipe.seed)
    model.train()
    with Progress(
        TextColumn("SFT"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} loss {task.fields[loss]}"),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("sft", total=recipe.steps, loss="-")
        for _ in range(recipe.steps):
            ids, labels = _sft_batch(stream, rng, tok, recipe.batch)
            loss = model(input_ids=ids, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            bar.update(task, advance=1, loss=f"{loss.item():.3f}")
    model.eval()
    out.mkdir(parents=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    reloaded = type(tok).from_pretrained(out)
    probe = "Q: 6-2+8=?\nA: 6-2=4. 4+8=12.\n#### 12"
    if reloaded(probe)["input_ids"] != tok(probe)["input_ids"]:
        raise RuntimeError(f"tokenizer in {out} does not round-trip; see docs/tiny-policy.md")
    return {
        "build_s": round(time.perf_counter() - t0, 1),
        "params": n_params,
        # one thread, fixed seeds: the same hash on every build on one machine; CPUs with other
        # vector units round differently, so other machines may get other (equally good) weights
        "weights_sha256": hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest(),
        "final_loss": round(loss.item(), 4),
        "recipe": asdict(recipe),
        "built_on": built_on(),
    }


def built_on() -> dict:
    """What the bits of a build depend on besides its recipe: the CPU (its vector units round
    differently), torch and transformers, and the date."""
    import datetime
    import platform

    import transformers

    from grpo_lora.machine import cpu_flags

    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())  # the first CPU's
    except OSError:
        pass
    model = fields.get("model name") or platform.processor() or platform.machine()
    where = platform.machine()
    if "cpu family" in fields:
        where += f", family {fields['cpu family']} model {fields.get('model', '?')}"
    vector = sorted(
        f for f in cpu_flags() if f.startswith(("avx", "amx", "fma", "f16c", "neon", "sve"))
    )
    return {
        "cpu": f"{model} ({where}; {' '.join(vector) or 'no AVX'})",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "date": datetime.date.today().isoformat(),
    }


def _sft_batch(stream, rng: random.Random, tok, batch: int):
    """Prompt + (possibly slipped) solution + EOS; the loss covers only the completion tokens."""
    rows = []
    for _ in range(batch):
        p = next(stream)
        slip = rng.random() < SLIP_RATE
        sol = p.solution(rng.randrange(len(p.ops)), rng.choice(SLIPS)) if slip else p.solution()
        prompt_ids = tok(p.prompt)["input_ids"]
        completion_ids = tok(sol)["input_ids"] + [tok.eos_token_id]
        rows.append((prompt_ids, completion_ids))
    return sft_tensors(rows, tok.eos_token_id)


def sft_tensors(rows: list[tuple[list[int], list[int]]], pad_id: int):
    """``(prompt ids, completion ids)`` rows -> ``(ids, labels)``, both (N, L), right-padded with
    ``pad_id``: labels hold the completion's ids where they lie and -100 (what the loss ignores)
    on the prompt and the padding, so the loss covers only the completion tokens. Also
    `grpo-lora sft`'s batches."""
    width = max(len(a) + len(b) for a, b in rows)
    ids = torch.full((len(rows), width), pad_id)
    labels = torch.full((len(rows), width), -100)
    for i, (a, b) in enumerate(rows):
        ids[i, : len(a) + len(b)] = torch.tensor(a + b)
        labels[i, len(a) : len(a) + len(b)] = torch.tensor(b)
    return ids, labels
