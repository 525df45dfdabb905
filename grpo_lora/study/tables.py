"""Markdown tables: how numbers are written, a table from its rows, and the report's sections that
are tables alone (the per-rank table, the failed points, the SL log-loss per LR, wall times)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from grpo_lora.study.arms import Arm, LrCell
from grpo_lora.study.curves import BITS_PER_EPISODE, bits_excluding_zero_signal
from grpo_lora.study.runs import Found, Run, is_number, lr_tag, process_times, wall_times
from grpo_lora.study.scores import final_reward
from grpo_lora.study.studies import Study

# ---------------------------------------------------------------------------------------------
# Numbers and tables


def fmt_num(x: float | None, nd: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def fmt_pm(ms: tuple[float | None, float | None], nd: int = 3) -> str:
    """`0.690 ± 0.014`: a mean and its sd (the mean alone without an sd)."""
    m, sd = ms
    if m is None:
        return "n/a"
    return f"{m:.{nd}f}" if sd is None else f"{m:.{nd}f} ± {sd:.{nd}f}"


def fmt_int(x) -> str:
    return "n/a" if x is None else f"{round(x):,}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.3g}" if x < 100 else f"{x:,.0f}"


def fmt_times(x: float | None, ref: float | None) -> str:
    """`0.50x`: x as a multiple of ref."""
    return "n/a" if not (x and ref) else f"{x / ref:.2f}x"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def table_cell(text: str) -> str:
    """Free text (an error message) made safe for one markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def per_lr_table(arms: list[Arm], text: Callable[[LrCell], str]) -> str:
    """A row per arm, a column per LR any arm ran; `text(cell)` fills the cells an arm has."""
    lrs = sorted({lr for a in arms for lr in a.cells})
    rows = [[a.label] + [text(a.cells[lr]) if lr in a.cells else "" for lr in lrs] for a in arms]
    return table(["arm"] + [lr_tag(x) for x in lrs], rows)


BEST_HEADER = [
    "rank",
    "targets",
    "trainable params",
    "best LR",
    "final reward at best LR (± sd)",
    "held-out pass@1 at best LR (± sd)",
]


def best_cols(a: Arm) -> list[str]:
    """An arm's row at its best LR, under BEST_HEADER; the best LR is flagged when it is the only LR
    run or at the edge of the grid (then the optimum may lie outside it)."""
    assert a.best is not None
    flag = " (only LR)" if len(a.cells) == 1 else (" (grid edge)" if a.best_at_edge else "")
    return [
        "full" if a.rank == "full" else str(a.rank),
        a.targets or "-",
        fmt_int(a.params),
        lr_tag(a.best.lr) + flag,
        fmt_pm(a.best.reward),
        fmt_pm(a.best.p1),
    ]


CAPACITY_RUN_HEADER = [
    "run",
    "rank",
    "targets",
    "LR",
    "seed",
    "steps",
    "episodes",
    "bits bound",
    "bits excl. zero-signal",
    "trainable params",
    "bits/params",
    "final reward",
]


def _capacity_run_row(a: Arm, r: Run) -> list[str]:
    """One run's signal budget: episodes, the bits bound, the tighter bound, and per parameter."""
    last = r.train_steps[-1] if r.train_steps else None
    eps = r.summary.get("episodes")
    if not is_number(eps):
        eps = r.episodes_at(last) if last else None
    bits = None if eps is None else eps * BITS_PER_EPISODE
    p = r.trainable_params
    return [
        r.path.name,
        "full" if a.rank == "full" else str(a.rank),
        a.targets or "-",
        lr_tag(r.lr),
        str(r.seed),
        fmt_int(last),
        fmt_int(eps),
        fmt_int(bits),
        fmt_int(bits_excluding_zero_signal(r)),
        fmt_int(p),
        fmt_ratio(bits / p) if bits is not None and p else "n/a",
        fmt_num(final_reward(r)),
    ]


def capacity_run_table(study: Study) -> str:
    """(e) per run: the signal each run got against the parameters it trains."""
    rows = [
        _capacity_run_row(a, r)
        for a in study.arms.values()
        for c in [*a.cells.values(), *a.confirm.values()]
        for r in sorted(c.runs, key=lambda r: r.seed)
    ]
    return table(CAPACITY_RUN_HEADER, rows)


# ---------------------------------------------------------------------------------------------
# Sections that are tables


def section_failed(found: Found) -> list[str]:
    """The points the sweep saw fail, each with its exit code and error (from failed.json)."""
    if not found.failed:
        return []
    rows = []
    for d, rec in found.failed:
        done = f"{rec.get('steps_done', '?')} of {rec.get('steps', '?')}"
        log = f"`{rec['log']}`" if rec.get("log") else "n/a"
        error = table_cell(rec.get("error", "no record of the error"))
        rows.append(
            [f"`{d.relative_to(found.runs_dir)}`", str(rec.get("exit_code", "?")), done, error, log]
        )
    return [
        "## Failed points\n",
        "These points failed and are left out of every table and figure below; re-launching "
        "the sweep retries them (from their last checkpoint, if any). Each run directory's "
        "`failed.json` holds the exit code and the last lines of its log.\n",
        table(["point", "exit code", "steps done", "error", "log"], rows),
    ]


def section_table(study: Study) -> list[str]:
    """(d) a row per arm at its best LR, with its LR ratio to FullFT's best and its seeds."""
    full = study.full
    rows = []
    for a in study.arms.values():
        if a.best is None:
            continue
        if a.rank == "full":
            ratio = "1 (reference)"
        else:
            ratio = f"{a.best.lr / full.best.lr:.3g}" if full else "n/a"
        seeds = sorted({r.seed for r in a.best.runs})
        confirmed = "n/a"
        if a.confirmed:
            conf = ",".join(str(s) for s in sorted(a.judged.held_seeds))
            confirmed = f"{fmt_pm(a.judged.p1)} (seeds {conf})"
        rows.append([*best_cols(a), ratio, ",".join(map(str, seeds)), confirmed])
    header = [
        *BEST_HEADER,
        "best LR / best FullFT LR",
        "seeds",
        "held-out pass@1 on confirmation seeds (± sd)",
    ]
    return [f"\n## (d) Per-rank table{study.heading}\n", table(header, rows)]


def section_walls(root: Path, runs: list[Run]) -> list[str]:
    """Each sweep's machine time: its finished runs' trainer processes (`runs.process_times`, which
    a killed launch does not erase) and its launches' wall time (`runs.wall_times`), where recorded."""
    procs, walls = process_times(runs), wall_times(root)
    rows = [
        [
            f"`{d.relative_to(root)}`",
            str(sum(r.path.parent == d for r in runs)),
            f"{procs[d] / 60:.1f} min" if d in procs else "n/a",
            str(len(walls.get(d, []))),
            f"{sum(r['wall_s'] for r in walls[d]) / 60:.1f} min" if d in walls else "n/a",
        ]
        for d in sorted(set(procs) | set(walls))
    ]
    if not rows:
        return []
    return [
        "Machine time of each sweep: its finished runs' trainer processes (a pack's once), and the "
        "wall time of the launches that ended (a killed launch records none):\n",
        table(
            ["sweep", "finished runs", "trainer processes", "launches", "launch wall time"], rows
        ),
    ]


def section_sl_table(sl: dict[tuple, Arm]) -> list[str]:
    """The SL arms' final held-out log-loss per LR (mean ± sd over seeds)."""
    arms = [a for a in sl.values() if a.cells]

    def text(c: LrCell) -> str:
        m, sd = c.reward
        return "" if m is None else fmt_pm((-m, sd), 4) + f" (n={len(c.rewards)})"

    return ["\nSL final held-out log-loss (nats/token) per LR:\n", per_lr_table(arms, text)]
