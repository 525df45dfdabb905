"""Packed against one-after-another: the same sweep's LoRA points run by `grpo-lora sweep` with
`--pack K` and with `--pack 1` (each point its own process and engine), alternately (A B A B with
`--repeats 2`), each into a fresh directory; prints the wall times, their ratio, and per point the
largest difference between the two ways' metrics rows (timings aside), which is float noise unless
the run diverges (a collapse amplifies rounding differences into different samples).

    python bench/pack.py                          # bench/pack_sweep.yaml, --pack 6, one repeat
    python bench/pack.py --sweep bench/study_lora.yaml   # the study's 30 LoRA points

A benchmark, not a test: it asserts nothing. The last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grpo_lora.study.runs import is_number, read_rows  # noqa: E402

TIMING = ("time/", "perf/", "memory/")


def run_sweep(spec: dict, out: Path, pack: int) -> float:
    """One sweep into ``out`` with ``--pack pack``; its wall time in seconds."""
    path = out / "sweep.yaml"
    path.write_text(yaml.safe_dump({**spec, "out_dir": str(out / "runs")}))
    cmd = [sys.executable, "-m", "grpo_lora", "sweep", str(path), "--pack", str(pack)]
    t0 = time.perf_counter()
    with open(out / "sweep.log", "w") as log:
        rc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - t0
    if rc != 0:
        sys.exit(f"sweep --pack {pack} failed (exit {rc}); see {out / 'sweep.log'}")
    return wall


def differences(a: Path, b: Path) -> dict[str, tuple[float, int | None]]:
    """Point -> (the largest |difference| between two sweeps' untimed metrics values, the first
    step where one exceeds 1e-3, or None). A run that diverges (a collapse at a high LR) turns
    float-rounding differences into different samples, so those show per point."""
    out = {}
    for run in sorted((a / "runs").iterdir()):
        if not (run / "metrics.jsonl").exists():
            continue
        worst, first = 0.0, None
        for x, y in zip(read_rows(run), read_rows(b / "runs" / run.name), strict=True):
            for k, v in x.items():
                if not k.startswith(TIMING) and is_number(v):
                    d = abs(v - y[k])
                    worst = max(worst, d)
                    if d > 1e-3 and first is None:
                        first = x["step"]
        out[run.name] = (worst, first)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default=str(ROOT / "bench" / "pack_sweep.yaml"))
    ap.add_argument("--pack", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="default: a temporary directory")
    args = ap.parse_args(argv)
    spec = yaml.safe_load(Path(args.sweep).read_text())
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_pack_"))
    walls: dict[int, list[float]] = {1: [], args.pack: []}
    dirs: dict[int, Path] = {}
    for repeat in range(args.repeats):
        for pack in (args.pack, 1):
            d = out / f"pack{pack}-r{repeat}"
            d.mkdir(parents=True)
            walls[pack].append(run_sweep(spec, d, pack))
            dirs[pack] = d
            print(f"repeat {repeat + 1}: --pack {pack}: {walls[pack][-1]:.0f} s", flush=True)
    alone, packed = min(walls[1]), min(walls[args.pack])
    diffs = differences(dirs[1], dirs[args.pack])
    for name, (worst, first) in diffs.items():
        where = f"; above 1e-3 from step {first}" if first is not None else ""
        print(f"  {name}: largest metrics difference {worst:.2g}{where}")
    print(
        f"one after another: {alone:.0f} s; --pack {args.pack}: {packed:.0f} s; "
        f"speed-up {alone / packed:.2f}x ({out})"
    )
    print(
        json.dumps(
            {
                "alone_s": walls[1],
                "packed_s": walls[args.pack],
                "speedup": alone / packed,
                "max_metric_diff": {name: worst for name, (worst, _) in diffs.items()},
                "pack": args.pack,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
