"""What `grpo-lora sweep --dry-run` prints: every point with its status and its cost (completions,
and time where finished points measured it), an example trainer command, what the extension and
confirmation rounds can add, and with `--pack K` the packs it would launch."""

from __future__ import annotations

import shlex

from grpo_lora.config import Config
from grpo_lora.machine import available_memory_mb
from grpo_lora.study.cost import Measured, duration, measure, n_evals, pack_cap
from grpo_lora.study.launch import PLAIN, command_for, packs
from grpo_lora.study.rounds import confirmation_note, extension_note
from grpo_lora.study.runs import status_of
from grpo_lora.study.sweep_file import Point, SweepFile


def dry_run(
    spec: SweepFile,
    points: list[Point],
    configs: dict[str, Config],
    train_cmd,
    parallel,
    console,
    pack: int = 1,
) -> None:
    """Print `points` (their `configs` as the trainer will load them) with their status and
    estimated cost, an example command of `train_cmd`, the rounds that may follow, and with `pack`
    > 1 the packs; `parallel` trainers at once divides the time still to run."""
    from rich.table import Table

    measured = measure(points)
    table = Table(title=f"{len(points)} points -> {spec.out_dir}")
    cols = ("#", "run dir", "status", "steps", "train completions", "eval completions", "est. s")
    for col in cols:
        table.add_column(col, justify="left" if col in ("run dir", "status") else "right")
    totals = {"train": [0, 0], "eval": [0, 0], "s": [0.0, 0.0]}  # [in all, still to run]
    timed = 0
    for i, p in enumerate(points, 1):
        cfg = configs[p.name]
        steps, pps, group = cfg.schedule.steps, cfg.data.prompts_per_step, cfg.data.group_size
        train = steps * pps * group
        evals = n_evals(cfg)
        heldout, k = cfg.data.heldout_size, cfg.logging.eval_k
        evalc = evals * heldout * (k + 1)  # k samples and one greedy completion per problem
        secs = measured.point_s(p, steps)
        st = status_of(p.run_dir)
        for key, v in (("train", train), ("eval", evalc), ("s", secs or 0.0)):
            totals[key][0] += v
            totals[key][1] += v if st != "finished" else 0
        timed += secs is not None
        table.add_row(
            str(i),
            p.name,
            {"finished": "done (skip)", "crashed": "resume", "new": "new"}[st],
            str(steps),
            f"{steps} x {pps} x {group} = {train:,}",
            f"{evals} x {heldout} x ({k}+1) = {evalc:,}",
            "?" if secs is None else f"{secs:,.0f}",
        )
    console.print(table)
    console.print("example command: " + shlex.join(command_for(points[:1], spec, train_cmd, False)))
    console.print(
        f"train completions (steps x prompts_per_step x group_size): {totals['train'][0]:,} in all, "
        f"{totals['train'][1]:,} still to run"
    )
    console.print(
        f"eval completions (evals x heldout_size x (eval_k samples + 1 greedy)): "
        f"{totals['eval'][0]:,} in all, {totals['eval'][1]:,} still to run"
    )
    if timed:
        todo = totals["s"][1]
        console.print(
            f"time from finished points (steps x measured train s/step + measured start-up, evals "
            f"and checkpoints): {duration(totals['s'][0])} in all, {duration(todo)} still to run one after "
            f"another, ~{duration(todo / parallel)} at --parallel {parallel} if the cores allow"
            + (f"; {len(points) - timed} points not estimated" if timed < len(points) else "")
        )
    else:
        console.print("time: unknown until one point has finished (it is measured, not guessed)")
    if spec.lr_grid is not None and spec.lr_grid.extend:
        console.print(extension_note(spec, len(points)), **PLAIN)
    if spec.confirm_seeds:
        console.print(confirmation_note(spec, points), **PLAIN)
    if pack > 1:
        _print_packs(points, configs, measured, pack, console)


def _print_packs(points, configs, measured: Measured, pack: int, console) -> None:
    """The packs `--pack` would launch, each with its predicted wall time, and the memory cap."""
    k, memory = pack_cap(measured, pack, available_memory_mb())
    todo = [p for p in points if status_of(p.run_dir) != "finished"]
    units = packs(todo, configs, k)
    console.print(
        f"--pack {pack}: {len(units)} trainers for {len(todo)} points still to run", **PLAIN
    )
    total = 0.0
    for unit in units:
        secs = measured.pack_s(unit, configs[unit[0].name].schedule.steps)
        total += secs or 0.0
        est = "?" if secs is None else duration(secs)
        console.print(f"  [{est}] " + ", ".join(p.name for p in unit), **PLAIN)
    if measured.eval_s is not None:
        console.print(
            f"packed, one trainer at a time: ~{duration(total)} (steps and evaluations one after "
            "another, one start-up per pack; an upper bound, as a pack also batches sampling)",
            **PLAIN,
        )
    if memory:
        console.print(memory, **PLAIN)
