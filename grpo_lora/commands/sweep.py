"""`grpo-lora sweep SWEEP.yaml [--parallel N] [--pack K] [--dry-run] [--ray [ADDRESS]]`: run a rank x
learning-rate x targets grid against FullFT. The sweep file and what a run does are documented in
`grpo_lora.study.sweep_file`."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import time
from pathlib import Path

from grpo_lora.machine import available_memory_mb
from grpo_lora.study import ray_launch
from grpo_lora.study.cost import measure, pack_cap
from grpo_lora.study.dry_run import dry_run
from grpo_lora.study.launch import (
    PLAIN,
    check_unchanged,
    closing_lines,
    default_train_cmd,
    record_wall_time,
    run_sweep,
)
from grpo_lora.study.runs import restore_records, save_sweep_records
from grpo_lora.study.sweep_file import expand, load_sweep, point_configs

LOCAL_RAY = "local"  # `--ray` without an address: a new Ray instance on this machine


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grpo-lora sweep",
        description="Run a rank x learning-rate x targets grid against FullFT (see grpo_lora/study/sweep_file.py).",
    )
    parser.add_argument("sweep", help="sweep file (YAML), e.g. recipes/study_tiny.yaml")
    parser.add_argument("--parallel", type=int, default=1, help="trainers run at once (default 1)")
    parser.add_argument(
        "--pack",
        type=int,
        default=1,
        metavar="K",
        help="train up to K LoRA points in one process, on one base model and one engine "
        "(default 1: each alone); capped by the memory estimate --dry-run prints",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the points and their estimated cost"
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL_RAY,
        default=None,
        metavar="ADDRESS",
        help="run each trainer as a Ray task, on a new local Ray instance or (ADDRESS: auto, "
        "HOST:PORT, ray://HOST:PORT) an existing cluster; needs grpo-lora[ray] and run "
        "directories that every node sees (docs/ray.md)",
    )
    parser.add_argument(
        "--cpus-per-run",
        type=int,
        default=None,
        metavar="N",
        help="with --ray: CPUs each trainer asks for (default: one GPU node's cores per GPU, "
        "or the cluster's cores split --parallel ways)",
    )
    parser.add_argument(
        "--gpus-per-run",
        type=float,
        default=None,
        metavar="G",
        help="with --ray: GPUs each trainer asks for (default: 1 where the cluster has GPUs, "
        "else 0)",
    )
    # Hidden: the trainer command, for tests (a fake trainer) and wrappers (e.g. accelerate launch).
    parser.add_argument("--train-cmd", default=None, help=argparse.SUPPRESS)
    return parser


def _flag_error(args) -> str | None:
    """What is wrong with the flags themselves, before the sweep file is read (None: nothing)."""
    if args.parallel < 1 or args.pack < 1:
        return "--parallel and --pack must be >= 1"
    if args.ray is None and (args.cpus_per_run is not None or args.gpus_per_run is not None):
        return "--cpus-per-run and --gpus-per-run go with --ray"
    if (args.cpus_per_run is not None and args.cpus_per_run < 1) or (args.gpus_per_run or 0) < 0:
        return "--cpus-per-run must be >= 1 and --gpus-per-run >= 0"
    if args.ray is not None and not args.dry_run:
        try:
            ray_launch.import_ray()
        except ImportError as e:
            return str(e)
    return None


@contextlib.contextmanager
def _runner(args, console):
    """None (trainers run here), or with `--ray` a `ray_launch.RayRunner` on the Ray instance it
    starts or joins for the sweep (and shuts down after, if it started it)."""
    if args.ray is None:
        yield None
        return
    address = None if args.ray == LOCAL_RAY else args.ray
    with ray_launch.session(address):
        nodes = ray_launch.nodes()
        cpus, gpus, at_once = ray_launch.plan(
            nodes, args.parallel, args.cpus_per_run, args.gpus_per_run
        )
        has = {k: sum(n.get(k, 0) for n in nodes) for k in ("CPU", "GPU")}
        where = "a local Ray instance" if address is None else f"the Ray cluster at {address}"
        console.print(
            f"ray: {where}, {len(nodes)} node(s) with {has['CPU']:g} CPUs and {has['GPU']:g} GPUs;"
            f" each trainer asks for {cpus} CPU(s)"
            + (f" and {gpus:g} GPU(s)" if gpus else "")
            + f", {args.parallel} at a time (--parallel)",
            **PLAIN,
        )
        if at_once < args.parallel:
            console.print(
                f"[yellow]ray: the cluster holds {at_once} such trainer(s) at once now; the others "
                "wait in Ray's queue (for more nodes, or lower --cpus-per-run)[/yellow]"
            )
        yield ray_launch.RayRunner(cpus, gpus)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    from rich.console import Console

    console = Console(stderr=True)
    if error := _flag_error(args):
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        spec = load_sweep(args.sweep)
        points = expand(spec)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if spec.command == "sft" and args.pack > 1:
        print(
            "error: --pack packs GRPO points; an sft sweep runs its points alone", file=sys.stderr
        )
        return 2
    if spec.records and (restored := restore_records(Path(spec.records), Path(spec.out_dir))):
        console.print(
            f"{len(restored)} finished points restored from their records in {spec.records}",
            **PLAIN,
        )
    train_cmd = shlex.split(args.train_cmd) if args.train_cmd else default_train_cmd(spec)
    if args.dry_run:
        configs = point_configs(spec, points)
        try:
            check_unchanged(points, configs)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        dry_run(spec, points, configs, train_cmd, args.parallel, Console(), args.pack)
        return 0
    pack, memory = pack_cap(measure(points), args.pack, available_memory_mb())
    if memory:
        console.print(memory, **PLAIN)
    if args.ray is None and args.parallel > (os.cpu_count() or 1):
        console.print(f"[yellow]--parallel {args.parallel} exceeds {os.cpu_count()} CPUs[/yellow]")
    t0 = time.monotonic()
    try:
        with _runner(args, console) as runner:
            outcomes = run_sweep(spec, args.parallel, train_cmd, console, pack=pack, runner=runner)
    except KeyboardInterrupt:
        console.print("interrupted: re-launch the same command to resume")
        return 130
    except (ray_launch.RayStartError, ValueError) as e:  # no Ray cluster there; a changed point
        print(f"error: {e}", file=sys.stderr)
        return 2
    wall_s = time.monotonic() - t0
    record_wall_time(spec.out_dir, outcomes, wall_s, pack, args.parallel)
    if spec.records:  # the points saved theirs as they finished; now the sweep's own
        save_sweep_records(Path(spec.out_dir), Path(spec.records))
    lines = closing_lines(outcomes, spec.out_dir, wall_s)
    for line in lines:
        console.print(line, **PLAIN)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
