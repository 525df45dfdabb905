"""One metrics row per step, to `metrics.jsonl`, TensorBoard and (optionally) W&B.

Keys are namespaced; each is defined in docs/metrics.md. Rows are appended and flushed at once, so a
crash loses at most the step in flight; on resume the rows after the checkpoint are dropped.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path


class MetricsLog:
    def __init__(
        self, run_dir: Path, tensorboard: bool = True, wandb_project: str | None = None, config=None
    ):
        self.path = run_dir / "metrics.jsonl"
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tensorboard"))
        self.wandb = None
        if wandb_project:
            import wandb

            self.wandb = wandb.init(
                project=wandb_project, dir=str(run_dir), config=config, resume="allow"
            )

    def truncate_after(self, step: int) -> None:
        """Drop rows newer than ``step`` (written after the checkpoint a resume starts from)."""
        if not self.path.exists():
            return
        kept = [
            json.dumps(r)
            for r in read_metrics(self.path.parent, tolerant=True)
            if r["step"] <= step
        ]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(r + "\n" for r in kept))
        tmp.replace(self.path)

    def write(self, row: dict) -> None:
        clean = {k: _jsonable(v) for k, v in row.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps(clean) + "\n")
        if self.tb is not None:
            for key, value in clean.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, row["step"])
            self.tb.flush()
        if self.wandb is not None:
            self.wandb.log(clean, step=row["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def _jsonable(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN; a missing value reads as absent
    return v


def read_metrics(run_dir: str | Path, tolerant: bool = False) -> list[dict]:
    """The rows of a run's metrics.jsonl (or of metrics.jsonl.gz, a finished run's record as the
    repository keeps it: `grpo_lora.study.runs.save_records`). ``tolerant`` drops a half-written
    last line (a run killed mid-write) instead of raising; a bad line anywhere else always raises."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists() and path.with_suffix(".jsonl.gz").exists():
        text = gzip.decompress(path.with_suffix(".jsonl.gz").read_bytes()).decode()
    else:
        text = path.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if not (tolerant and i == len(lines) - 1):
                raise
    return rows
