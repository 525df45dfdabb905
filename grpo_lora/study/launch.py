"""Running a sweep: each point's (or pack's) trainer command line, launched as a process on its share
of the cores or as a Ray task (`grpo_lora.study.ray_launch`), `--parallel` at a time; each point's
outcome, with a failure recorded in its run directory; then the extension and confirmation rounds
(`grpo_lora.study.rounds`), and the lines a person reads last. The sweep file's documentation
(`grpo_lora.study.sweep_file`) says what a run does with finished, crashed and failed points."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from grpo_lora.checkpoint import FAILED, clear_failure, write_failure
from grpo_lora.config import Config, pack_key
from grpo_lora.machine import cpu_cores, thread_env
from grpo_lora.study.cost import duration
from grpo_lora.study.rounds import edges_left, next_round, write_sweep_record
from grpo_lora.study.runs import (
    WALL_TIMES,
    config_changes,
    is_number,
    read_json,
    read_rows,
    save_record,
    status_of,
)
from grpo_lora.study.sweep_file import (
    Point,
    SweepFile,
    expand,
    fixed_overrides,
    point_configs,
    point_overrides,
)

TAIL_LINES = 20  # log lines kept in a failed point's failed.json
# Lines printed as they are (names and paths are not rich markup), each on one line however narrow
# the terminal, so that a person can grep them.
PLAIN = dict(markup=False, highlight=False, soft_wrap=True)


def default_train_cmd(spec: SweepFile) -> list[str]:
    """How a point runs: `python -m grpo_lora train` (GRPO) or `python -m grpo_lora sft`."""
    return [sys.executable, "-m", "grpo_lora", spec.command]


def command_for(
    points: list[Point], spec: SweepFile, train_cmd: list[str], resume: bool
) -> list[str]:
    """The trainer's command line for one point, or for a pack of points (`--point` each)."""
    tail = ["--resume"] if resume else []
    if len(points) == 1:
        return [*train_cmd, spec.base, *point_overrides(spec, points[0]), *tail]
    # quoted, so that a value with spaces stays one override (`train` splits with shlex)
    own = [arg for p in points for arg in ("--point", shlex.join(p.overrides))]
    return [*train_cmd, spec.base, *fixed_overrides(spec), *own, *tail]


def packs(points: list[Point], configs: dict[str, Config], k: int) -> list[list[Point]]:
    """The launch units, in grid order: LoRA points that can share a pack (`config.pack_key`), at
    most `k` to a pack; FullFT points alone."""
    groups: dict[str, list[Point]] = {}
    for p in points:
        groups.setdefault(pack_key(configs[p.name]), []).append(p)
    units = [g[i : i + k] for g in groups.values() for i in range(0, len(g), k)]
    order = {p.name: i for i, p in enumerate(points)}
    return sorted(units, key=lambda u: order[u[0].name])


@dataclass
class Outcome:
    """What became of one point in this sweep."""

    point: Point
    status: str  # "skipped" | "finished" | "failed"
    resumed: bool = False
    wall_s: float = 0.0
    result: dict = field(default_factory=dict)  # the run's summary.json, once it finished
    log: Path | None = None
    exit_code: int | None = None
    error: str = ""  # why it failed: the last line of its output, usually the exception


@dataclass
class Launched:
    """A trainer process that is running: one point, or a pack of LoRA points."""

    points: list[Point]
    resumes: list[bool]  # per point: it continues a crashed run
    command: list[str]
    proc: subprocess.Popen  # or a Ray task with the same poll/terminate/wait (ray_launch.RayRun)
    slot: int  # its share of the cores (grpo_lora.machine.cpu_cores)
    log: Path  # the points' log, appended to by every attempt
    log_start: int  # where the trainer's output of this attempt starts in it (bytes)
    steps: int  # the runs' length, for their progress bars and failure records
    tasks: list  # a progress bar per point
    t0: float = field(default_factory=time.monotonic)

    def output(self) -> list[str]:
        """The lines the trainer wrote in this attempt (stdout and stderr)."""
        with contextlib.suppress(OSError), self.log.open("rb") as fh:
            fh.seek(self.log_start)
            return fh.read().decode(errors="replace").splitlines()
        return []


def _steps_done(run_dir: Path) -> int:
    return max((int(r.get("step", 0)) for r in read_rows(run_dir)), default=0)


def _last_line(lines: list[str]) -> str:
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


def _exit_text(rc: int) -> str:
    return f"killed by signal {-rc}" if rc < 0 else f"exit {rc}"


def _launch(
    points: list[Point],
    resumes: list[bool],
    spec: SweepFile,
    train_cmd: list[str],
    log_dir: Path,
    progress,
    steps: int,
    slot: tuple[int, int] = (0, 1),
    runner=None,
) -> Launched:
    """Start the trainer of one point (or of a pack of points) on share `slot` = (i, n) of the
    cores, its output appended to `log_dir/NAME.log` (the first point's name), with a progress bar
    of `steps` per point; clears the record of an earlier failure of each (the log keeps it).
    With a `runner` (`ray_launch.RayRunner`), the same command runs as a Ray task instead, on the
    node and cores Ray gives it."""
    cmd = command_for(points, spec, train_cmd, any(resumes))
    for p in points:
        clear_failure(p.run_dir)
    log = log_dir / f"{points[0].name}{'-pack' if len(points) > 1 else ''}.log"
    with log.open("a") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n")
        fh.flush()
        start = log.stat().st_size
        if runner is None:
            env = {**os.environ, **thread_env(cpu_cores(*slot))}
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    if runner is not None:
        proc = runner.start(cmd, log)
    tasks = [
        progress.add_task(f"  {p.name}{' (resume)' if r else ''}", total=steps)
        for p, r in zip(points, resumes)
    ]
    return Launched(points, resumes, cmd, proc, slot[0], log, start, steps, tasks)


def _finish(run: Launched, rc: int) -> list[Outcome]:
    """The outcome of each point of a trainer that exited with `rc`; a failure is also recorded in
    its run directory (`failed.json`, unless the pack's trainer recorded it itself), so that the
    report lists it and nothing about it is lost."""
    lines = run.output()
    outcomes = []
    for p, resumed in zip(run.points, run.resumes):
        finished = status_of(p.run_dir) == "finished"
        ok = finished and (rc == 0 or len(run.points) > 1)  # one packed run's failure sets rc
        out = Outcome(
            p,
            "finished" if ok else "failed",
            resumed=resumed,
            wall_s=time.monotonic() - run.t0,
            result=read_json(p.run_dir / "summary.json") if finished else {},
            log=run.log,
            exit_code=rc,
        )
        outcomes.append(out)
        if ok:
            continue
        own = read_json(p.run_dir / FAILED)  # the pack's trainer records its runs' failures
        out.error = own.get("error") or (
            "exited 0 but wrote no summary.json" if rc == 0 else (_last_line(lines) or "no output")
        )
        record = {
            "point": p.name,
            "exit_code": rc,
            "error": out.error,
            "steps_done": _steps_done(p.run_dir),
            "steps": run.steps,
            "resumed": resumed,
            "wall_s": round(out.wall_s, 1),
            "command": shlex.join(run.command),
            "log": str(run.log),
            "log_tail": lines[-TAIL_LINES:],
        }
        write_failure(p.run_dir, record)
    return outcomes


def _say(console, out: Outcome) -> None:
    """One line per point as it ends."""
    name, r = out.point.name, out.result
    if out.status == "failed":
        why = _exit_text(out.exit_code) + f": {out.error}"
        console.print(f"FAILED {name} ({why}); log: {out.log}", style="red", **PLAIN)
        return
    extra = ""
    if is_number(r.get("eval_pass1_start")) and is_number(r.get("eval_pass1_end")):
        extra = f", pass@1 {r['eval_pass1_start']:.3f} -> {r['eval_pass1_end']:.3f}"
    console.print(f"done   {name} in {out.wall_s:.0f} s{extra}", **PLAIN)


def _stop(running: list[Launched]) -> None:
    for run in running:
        run.proc.terminate()
    for run in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            run.proc.wait(timeout=10)


def _progress(console):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    return Progress(*columns, TimeElapsedColumn(), console=console, transient=False)


def run_sweep(
    spec: SweepFile,
    parallel: int = 1,
    train_cmd: list[str] | None = None,
    console=None,
    poll_s: float = 0.5,
    pack: int = 1,
    runner=None,
) -> list[Outcome]:
    """Run every unfinished point, `parallel` trainers at a time, each trainer running one point or
    (`pack` > 1) a pack of up to `pack` LoRA points, here or (`runner`: `ray_launch.RayRunner`)
    as Ray tasks; then, with `lr_grid.extend`, the extension rounds (`rounds.extension_points`)
    the same way, until none is left; then, with `confirm_seeds`, the confirmation round
    (`rounds.confirmation_points`). Writes OUT/sweep.json first (`rounds.write_sweep_record`).
    Returns one Outcome per point, in grid order, then each round's. A point that fails is
    recorded and the others go on. Every point's config is validated first (`ValueError`), so a
    bad one stops the sweep before any run starts (an extension round's, before that round
    starts)."""
    from rich.console import Console

    train_cmd = list(train_cmd or default_train_cmd(spec))
    console = console or Console(stderr=True)
    points = expand(spec)
    configs = point_configs(spec, points)
    log_dir = Path(spec.out_dir) / "logs"  # trainer output; the report skips dirs w/o config.yaml
    log_dir.mkdir(parents=True, exist_ok=True)
    write_sweep_record(spec)
    outcomes: dict[str, Outcome] = {}
    with _progress(console) as progress:
        done = sum(status_of(p.run_dir) == "finished" for p in points)
        grid = progress.add_task(f"grid ({done} already finished)", total=len(points))
        todo, round_ = points, 0
        while todo:
            outcomes |= _run_round(
                todo,
                spec,
                configs,
                train_cmd,
                log_dir,
                parallel,
                pack,
                poll_s,
                progress,
                grid,
                runner,
            )
            kind, todo = next_round(spec, points)
            if todo:
                configs |= point_configs(spec, todo)
                points = points + todo
                progress.update(grid, total=len(points))
                names = ", ".join(p.name for p in todo)
                if kind == "confirmation":
                    console.print(
                        f"Confirmation round (each arm's best LR, seeds {spec.confirm_seeds}): "
                        + names,
                        **PLAIN,
                    )
                    continue
                round_ += 1
                console.print(f"LR extension round {round_} (best LR on an edge): {names}", **PLAIN)
    if (spec.lr_grid is not None and spec.lr_grid.extend) or spec.confirm_seeds:
        for line in edges_left(spec, points):
            console.print(line, **PLAIN)
    return [outcomes[p.name] for p in points if p.name in outcomes]


def _run_round(
    points: list[Point],
    spec: SweepFile,
    configs: dict[str, Config],
    train_cmd: list[str],
    log_dir: Path,
    parallel: int,
    pack: int,
    poll_s: float,
    progress,
    grid,
    runner=None,
) -> dict[str, Outcome]:
    """Run the unfinished `points` (the base grid, or one extension round) to their end, advancing
    the `grid` progress bar; name -> Outcome for each, finished ones "skipped"."""
    check_unchanged(points, configs)
    status = {p.name: status_of(p.run_dir) for p in points}
    outcomes = {p.name: Outcome(p, "skipped") for p in points if status[p.name] == "finished"}
    progress.advance(grid, len(outcomes))
    queue = packs([p for p in points if p.name not in outcomes], configs, pack)
    running: list[Launched] = []
    console = progress.console
    try:
        while queue or running:
            while queue and len(running) < parallel:
                unit = queue.pop(0)
                resumes = [status[p.name] == "crashed" for p in unit]
                steps = configs[unit[0].name].schedule.steps
                free = min(set(range(parallel)) - {r.slot for r in running})
                slot = (free, parallel)
                running.append(
                    _launch(unit, resumes, spec, train_cmd, log_dir, progress, steps, slot, runner)
                )
            time.sleep(poll_s)
            for run in list(running):
                for p, task in zip(run.points, run.tasks):
                    progress.update(task, completed=_steps_done(p.run_dir))
                if (rc := run.proc.poll()) is None:
                    continue
                running.remove(run)
                for task in run.tasks:
                    progress.remove_task(task)
                for out in _finish(run, rc):
                    if spec.records and out.status == "finished":
                        save_record(out.point.run_dir, Path(spec.records) / out.point.name)
                    progress.advance(grid)
                    outcomes[out.point.name] = out
                    _say(console, out)
    except KeyboardInterrupt:
        _stop(running)
        raise
    return outcomes


def check_unchanged(points: list[Point], configs: dict[str, Config]) -> None:
    """Raise `ValueError` if a finished point ran under other settings than the sweep file gives
    it now (an edited file, or a machine whose `model.dtype: auto` resolves otherwise): skipping it
    would mix two experiments in one study."""
    changed = {
        p.name: lines
        for p in points
        if status_of(p.run_dir) == "finished"
        and (lines := config_changes(p.run_dir, configs[p.name]))
    }
    if changed:
        detail = "; ".join(f"{name}: {', '.join(lines)}" for name, lines in changed.items())
        raise ValueError(
            f"{len(changed)} finished point(s) ran under other settings than the sweep file gives "
            f"them now ({detail}). Restore the file, or move those run directories (and their "
            "records) away to run them again."
        )


def closing_lines(outcomes: list[Outcome], out_dir: str, wall_s: float) -> list[str]:
    """What a person reads last: the failed points on one line (if any), then one sentence on what
    ran, how long it took and where the runs are."""
    count = {s: sum(o.status == s for o in outcomes) for s in ("skipped", "finished", "failed")}
    resumed = sum(o.resumed and o.status == "finished" for o in outcomes)
    lines = []
    if failed := [o for o in outcomes if o.status == "failed"]:
        names = ", ".join(f"{o.point.name} ({_exit_text(o.exit_code)})" for o in failed)
        lines.append(
            f"{len(failed)} of {len(outcomes)} points failed: {names}; each one's failed.json "
            "holds its error, and re-launching the same command retries them."
        )
    lines.append(
        f"Sweep of {len(outcomes)} points done in {duration(wall_s)}: {count['finished']} ran "
        f"({resumed} resumed), {count['skipped']} were already finished and {count['failed']} "
        f"failed; the runs are in {out_dir} (next: grpo-lora report {out_dir})."
    )
    return lines


def record_wall_time(out_dir: str, outcomes: list[Outcome], wall_s: float, pack, parallel) -> None:
    """Append this invocation's wall time to OUT/sweep_times.jsonl: the report states each sweep's
    time as the sum over its invocations (a re-launch adds what it ran)."""
    count = {s: sum(o.status == s for o in outcomes) for s in ("skipped", "finished", "failed")}
    row = {"ended": time.strftime("%Y-%m-%dT%H:%M:%S"), "wall_s": round(wall_s, 1), **count}
    with open(Path(out_dir) / WALL_TIMES, "a") as f:
        f.write(json.dumps(row | {"pack": pack, "parallel": parallel}) + "\n")
