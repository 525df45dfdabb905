"""What a sweep costs, as far as it can be known before it runs: the completions a point's config
implies (`n_evals`), and the time and memory its finished points measured (`measure`), from which
`--dry-run` estimates the rest and `--pack` caps its pack size (`pack_cap`)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from grpo_lora.config import Config
from grpo_lora.study.runs import (
    is_number,
    pack_size,
    read_json,
    read_rows,
    status_of,
    train_step_s,
)
from grpo_lora.study.sweep_file import Point


def n_evals(cfg: Config) -> int:
    """Held-out evaluations a fresh run makes: at step 0, every `eval_every` steps and at the end."""
    steps, every = cfg.schedule.steps, cfg.logging.eval_every
    return 1 + sum(1 for s in range(1, steps + 1) if s == steps or (every and s % every == 0))


@dataclass
class Measured:
    """From finished points: train seconds per step (median, per arm and overall), a point's held-out
    evaluations (median total seconds), the rest of its wall time (start-up, checkpoints: median),
    and, from finished LoRA points, peak memory (MB) and trainable parameters (median)."""

    step_s: dict[tuple, float]
    eval_s: float | None
    fixed_s: float | None
    lora_peak_mb: float | None = None
    lora_params: float | None = None

    def point_s(self, point: Point, steps: int) -> float | None:
        return self.pack_s([point], steps)

    def pack_s(self, points: list[Point], steps: int) -> float | None:
        """Points run in one process: their steps and evaluations one after another, one start-up
        (an upper bound: a pack also batches their sampling)."""
        per_step = [self.step_s.get((p.rank, p.targets), self.step_s.get(())) for p in points]
        if None in per_step or self.eval_s is None or self.fixed_s is None:
            return None
        return steps * sum(per_step) + len(points) * self.eval_s + self.fixed_s


def measure(points: list[Point]) -> Measured:
    """What the finished points among `points` measured (the rest have nothing to tell), per point:
    a packed point's step and evaluation times are its pack's, shared by its k points, so they count
    1/k each (and its peak memory, less k - 1 adapters, as a run alone)."""
    per: dict[tuple, list[float]] = {}
    evals, fixed, peaks, params = [], [], [], []
    for p in points:
        if status_of(p.run_dir) != "finished":
            continue
        rows = [r for r in read_rows(p.run_dir) if r.get("step", 0) >= 1]
        times = [t for r in rows if (t := train_step_s(r)) is not None]
        if not times:
            continue
        manifest = read_json(p.run_dir / "manifest.json")
        k = pack_size(manifest)
        med = statistics.median(times) / k
        per.setdefault((p.rank, p.targets), []).append(med)
        per.setdefault((), []).append(med)
        all_rows = read_rows(p.run_dir)
        eval_s = sum(r["time/eval_s"] for r in all_rows if is_number(r.get("time/eval_s")))
        wall = read_json(p.run_dir / "summary.json").get("wall_s")
        if is_number(wall):
            evals.append(eval_s / k)
            fixed.append(max(0.0, wall - sum(times) - eval_s))  # the process's: once a pack
        peak = max(
            (r["memory/peak_mb"] for r in rows if is_number(r.get("memory/peak_mb"))), default=None
        )
        trainable = manifest.get("trainable_params")
        if p.rank != "full" and peak is not None and is_number(trainable):
            peaks.append(peak - (k - 1) * trainable * PACK_BYTES_PER_PARAM / 2**20)
            params.append(trainable)
    med = lambda v: statistics.median(v) if v else None  # noqa: E731
    return Measured(
        {k: statistics.median(v) for k, v in per.items()},
        med(evals),
        med(fixed),
        med(peaks),
        med(params),
    )


# Per extra adapter in a pack: its fp32 weights, gradient and two Adam moments in the trainer (16
# bytes a parameter), and the engine's copies of it (old and new version while swapping).
PACK_BYTES_PER_PARAM = 16 + 2 * 4


def pack_cap(measured: Measured, requested: int, available_mb: float) -> tuple[int, str]:
    """The pack size to use: `requested`, capped so that the estimated peak memory of a pack (one
    LoRA run alone's measured peak, plus each further adapter's bytes) stays within 90 % of the
    memory available now; with the estimate, in words."""
    if requested == 1:
        return 1, ""
    if measured.lora_peak_mb is None:
        return requested, "pack memory: unknown until one LoRA point has finished (not capped)"
    per_mb = measured.lora_params * PACK_BYTES_PER_PARAM / 2**20
    fit = 1 + int(max(0.0, 0.9 * available_mb - measured.lora_peak_mb) / max(per_mb, 1e-9))
    k = max(1, min(requested, fit))
    estimate = measured.lora_peak_mb + (k - 1) * per_mb
    text = (
        f"pack memory: ~{estimate:,.0f} MB for a pack of {k} (a LoRA run alone peaked at "
        f"{measured.lora_peak_mb:,.0f} MB, + {per_mb:,.1f} MB per further adapter); "
        f"{available_mb:,.0f} MB available"
        + (f"; --pack {requested} capped to {k}" if k < requested else "")
    )
    return k, text


def duration(s: float) -> str:
    """A time in words: seconds under two minutes, else minutes."""
    return f"{s:.0f} s" if s < 120 else f"{s / 60:,.1f} min"
