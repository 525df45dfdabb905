"""Packed against one-after-another: the same sweep's LoRA points run by `grpo-lora sweep` with
`--pack 1` (each point its own process and engine) and with `--pack K`, alternately (A B A B with
`--repeats 2`), each into a fresh directory; prints the wall times, their ratio, and the largest
difference between the two ways' metrics rows (timings aside), which should be float noise.

    python bench/pack.py                          # bench/pack_sweep.yaml, --pack 6, one repeat
    python bench/pack.py --sweep recipes/study_tiny.yaml --pack 6   # the whole study (FullFT too)

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

from grpo_lora.runs import is_number, read_rows  # noqa: E402

TIMING = ("time/", "perf/", "memory/")


def run_sweep(spec: dict, out: Path, pack: int) -> float:
    """One sweep into ``out`` with ``--pack pack``; its wall time in seconds."""
    path = out / "sweep.yaml"
    path.write_text(yaml.safe_dump({**spec, "out_dir": str(out / "runs")}))
    cmd = [sys.executable, "-m", "grpo_lora.sweep", str(path), "--pack", str(pack)]
    t0 = time.perf_counter()
    with open(out / "sweep.log", "w") as log:
        rc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - t0
    if rc != 0:
        sys.exit(f"sweep --pack {pack} failed (exit {rc}); see {out / 'sweep.log'}")
    return wall


def largest_difference(a: Path, b: Path) -> float:
    """The largest |difference| between two sweeps' untimed metrics values, point by point."""
    worst = 0.0
    for run in sorted((a / "runs").iterdir()):
        other = b / "runs" / run.name
        if not (run / "metrics.jsonl").exists():
            continue
        for x, y in zip(read_rows(run), read_rows(other), strict=True):
            for k, v in x.items():
                if not k.startswith(TIMING) and is_number(v):
                    worst = max(worst, abs(v - y[k]))
    return worst


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
    diff = largest_difference(dirs[1], dirs[args.pack])
    print(
        f"one after another: {alone:.0f} s; --pack {args.pack}: {packed:.0f} s; "
        f"speed-up {alone / packed:.2f}x; largest metrics difference {diff:.2g} ({out})"
    )
    print(
        json.dumps(
            {
                "alone_s": walls[1],
                "packed_s": walls[args.pack],
                "speedup": alone / packed,
                "max_metric_diff": diff,
                "pack": args.pack,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
