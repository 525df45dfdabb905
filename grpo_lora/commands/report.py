"""`grpo-lora report RUNS_DIR [--out DIR] [--save-records DIR]`: report.md and PNG figures from a
sweep's run directories (what they hold: `grpo_lora.study.report`). The last stdout line is the
report's path. `--save-records` also copies every finished run's record (no checkpoints) to DIR,
from which the same report can be remade (`grpo_lora.study.runs.save_records`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from grpo_lora.study.report import render
from grpo_lora.study.runs import Found, save_records


def _closing_sentence(found: Found, path: Path, wall_s: float) -> str:
    """What the report read, what it left out, how long it took and where it is."""
    counts = {
        "unfinished": len(found.unfinished),
        "with an invalid config.yaml": len(found.unreadable),
        "failed": len(found.failed),
    }
    left = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    return (
        f"Report on {len(found.finished)} finished runs of {found.runs_dir} written in "
        f"{wall_s:.1f} s to {path} (figures beside it)" + (f"; left out: {left}." if left else ".")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="grpo-lora report",
        description="Write report.md and PNG figures from a sweep's run directories.",
    )
    parser.add_argument(
        "runs_dir", type=Path, help="directory holding the runs (e.g. runs/study_tiny)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default: RUNS_DIR)"
    )
    parser.add_argument(
        "--save-records",
        type=Path,
        default=None,
        metavar="DIR",
        help="also copy each finished run's record (config, manifest, summary, gzipped metrics) to DIR",
    )
    args = parser.parse_args(argv)
    if not args.runs_dir.is_dir():
        print(f"error: {args.runs_dir} is not a directory", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    found = Found.scan(args.runs_dir)
    try:
        path = render(found, args.out or args.runs_dir)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.save_records is not None:
        n = save_records(args.runs_dir, args.save_records)
        print(f"Records of {n} finished runs copied to {args.save_records}.", file=sys.stderr)
    # the sentence is for a person (stderr); the path stays the last stdout line, for scripts
    print(_closing_sentence(found, path, time.monotonic() - t0), file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
