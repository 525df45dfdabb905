"""The report's figures (matplotlib, Agg, PNG): one function per figure, each given the numbers it
draws; the sections (`grpo_lora.study.sections`) choose them and link them in report.md."""

from __future__ import annotations

from pathlib import Path

from grpo_lora.study.arms import Arm, gap
from grpo_lora.study.curves import eval_curve, mean_curve, pointwise_best, sd_curve
from grpo_lora.study.runs import lr_tag
from grpo_lora.study.studies import Study, common_margin
from grpo_lora.study.tables import fmt_int


def pyplot():
    """matplotlib.pyplot on the Agg backend: figures are written to files, never shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def arm_colors(arms: list[Arm]) -> dict[tuple, object]:
    """A colour per arm: LoRA arms along viridis, FullFT black."""
    cmap = pyplot().get_cmap("viridis")
    lora = [a for a in arms if a.rank != "full"]
    out: dict[tuple, object] = {
        (a.rank, a.targets): cmap(0.85 * i / max(1, len(lora) - 1)) for i, a in enumerate(lora)
    }
    out[("full", None)] = "black"
    return out


def save(fig, path: Path, title: str) -> None:
    plt = pyplot()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _lr_axis(ax) -> None:
    """A log LR axis labelled at its decades only: a grid under two decades wide would print
    2e-5 ... 9e-5 on top of each other."""
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("learning rate (log scale)")


def _lr_panel(ax, arms: list[Arm], colors: dict, which: str, ylabel: str) -> None:
    """One quantity (`reward` or `p1` of each LR cell) vs LR, a line per arm, its best LR starred."""
    for a in arms:
        points = [(c.lr, *getattr(c, which)) for c in a.cells.values()]
        points = [(lr, m, sd or 0.0) for lr, m, sd in points if m is not None]
        if not points:
            continue
        xs, ys, es = zip(*points)
        style = dict(color=colors[(a.rank, a.targets)], lw=2.2 if a.rank == "full" else 1.6)
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=a.label, **style)
        best = getattr(a.best, which)[0] if a.best is not None else None
        if best is not None:
            ax.plot(a.best.lr, best, marker="*", ms=15, color=style["color"], mec="white", zorder=5)
    _lr_axis(ax)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


def fig_lr(arms: list[Arm], colors: dict, path: Path, title: str) -> None:
    """(a) final reward and final held-out pass@1 vs LR, a line per arm."""
    fig, axes = pyplot().subplots(1, 2, figsize=(12, 4.8))
    _lr_panel(
        axes[0], arms, colors, "reward", "final reward\n(mean reward/mean, last 10% of steps)"
    )
    _lr_panel(axes[1], arms, colors, "p1", "final held-out pass@1\n(eval/pass1 at the last eval)")
    axes[0].set_title("final reward vs LR (star = best LR, by held-out pass@1)")
    axes[1].set_title("held-out pass@1 vs LR (star = best LR)")
    axes[0].legend(fontsize=9)
    save(fig, path, title + "  (error bars: sd over seeds)")


def _step_axis(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")


def fig_curves(arms: list[Arm], colors: dict, window: int, path: Path, title: str) -> None:
    """(b) reward vs step at each arm's best LR, and the pointwise best over its LRs."""
    fig, axes = pyplot().subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for a in arms:
        if a.best is None:
            continue
        style = dict(color=colors[(a.rank, a.targets)], lw=2.2 if a.rank == "full" else 1.6)
        cur = mean_curve(a.best.runs, "reward/mean", window)
        label = f"{a.label}, lr {lr_tag(a.best.lr)}"
        axes[0].plot(list(cur), list(cur.values()), label=label, **style)
        pb = pointwise_best(a, window)
        xs, ms, sds = list(pb), [m for m, _ in pb.values()], [sd for _, sd in pb.values()]
        axes[1].plot(xs, ms, label=a.label, **style)
        lo, hi = [m - d for m, d in zip(ms, sds)], [m + d for m, d in zip(ms, sds)]
        axes[1].fill_between(xs, lo, hi, color=style["color"], alpha=0.15, lw=0)
    axes[0].set_title("reward at each rank's best LR")
    axes[1].set_title("pointwise best over learning rates (band: sd over seeds)")
    for ax in axes:
        _step_axis(ax)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=9)
    axes[0].set_ylabel(f"reward/mean (seed mean, moving avg {window} steps)")
    save(fig, path, title)


TARGET_COLORS = {"all": "tab:blue", "mlp": "tab:green", "attn": "tab:red"}


def _targets_row(ax_lr, ax_curve, rank, group: list[Arm], window: int) -> None:
    """One rank of (c): final reward vs LR per targets, and reward at each targets' best LR."""
    for a in group:
        c = TARGET_COLORS.get(a.targets or "")
        cells = [x for x in a.cells.values() if x.reward[0] is not None]
        ax_lr.errorbar(
            [x.lr for x in cells],
            [x.reward[0] for x in cells],
            yerr=[x.reward[1] or 0.0 for x in cells],
            marker="o",
            capsize=3,
            color=c,
            label=f"{a.targets} ({fmt_int(a.params)} params)",
        )
        if a.best is not None:
            cur = mean_curve(a.best.runs, "reward/mean", window)
            label = f"{a.targets}, lr {lr_tag(a.best.lr)}"
            ax_curve.plot(list(cur), list(cur.values()), color=c, label=label)
    _lr_axis(ax_lr)
    ax_lr.set_ylabel("final reward (last 10% of steps)")
    ax_lr.set_title(f"rank {rank}: final reward vs LR by targets")
    _step_axis(ax_curve)
    ax_curve.set_ylabel(f"reward/mean (seed mean, moving avg {window})")
    ax_curve.set_title(f"rank {rank}: reward at each target's best LR")
    for ax in (ax_lr, ax_curve):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=9)


def fig_targets(by_rank: dict[int, list[Arm]], window: int, path: Path, title: str) -> None:
    """(c) targets compared at equal rank, a row of two panels per rank."""
    n = len(by_rank)
    fig, axes = pyplot().subplots(n, 2, figsize=(12, 4.5 * n), squeeze=False)
    for (ax_lr, ax_curve), (rank, group) in zip(axes, by_rank.items()):
        _targets_row(ax_lr, ax_curve, rank, group, window)
    save(fig, path, title)


def fig_capacity(gaps: dict[str, tuple], path: Path, title: str, tol: float) -> None:
    """(e) reward gap to FullFT vs bits/params; gaps: label -> (xs, gaps, color, linestyle)."""
    fig, ax = pyplot().subplots(figsize=(8.5, 5))
    for label, (xs, ys, c, ls) in gaps.items():
        ax.plot(xs, ys, color=c, ls=ls, lw=1.8, label=label)
    ax.axhline(0, color="black", lw=1)
    ax.axhspan(-tol, tol, color="grey", alpha=0.15, label=f"±{tol:.3f} (the equivalence margin)")
    ax.axvline(1, color="tab:red", ls=":", lw=1.5, label="bits bound = trainable params")
    ax.set_xscale("log")
    ax.set_xlabel("bits of reward signal (upper bound: episodes x 1 bit) / trainable params  (log)")
    ax.set_ylabel("reward gap to FullFT\n(LoRA - FullFT, both at best LR, smoothed)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)


def fig_cost(
    rows: list[tuple[str, float | None, float | None, object]], path: Path, title: str
) -> None:
    """(f) step time and peak memory per arm; rows: (label, step s, peak MB, color)."""
    fig, axes = pyplot().subplots(1, 2, figsize=(12, 4.5))
    for ax, idx, ylabel in (
        (axes[0], 1, "median train step time (s)\n(time/step_s - time/eval_s)"),
        (axes[1], 2, "peak memory/peak_mb (MB)"),
    ):
        bars = ax.bar(range(len(rows)), [r[idx] or 0.0 for r in rows], color=[r[3] for r in rows])
        for b, r in zip(bars, rows):
            txt = "n/a" if r[idx] is None else f"{r[idx]:.3g}"
            xy = (b.get_x() + b.get_width() / 2, b.get_height())
            ax.annotate(txt, xy, ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(rows)), [r[0] for r in rows], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_title("step time per rank vs FullFT")
    axes[1].set_title("peak memory per rank vs FullFT")
    save(fig, path, title)


def fig_setting(
    studies: dict[int, Study], ranks: list, path: Path, xlabel: str, title: str
) -> None:
    """Across one setting (width, batch size): each arm's held-out pass@1 at its best LR, and each
    LoRA rank's gap to FullFT with its 90 % interval (`gap`), every arm at its own best LR."""
    margin = common_margin(studies.values())
    fig, axes = pyplot().subplots(1, 2, figsize=(11, 4.5))
    palette = iter(("tab:blue", "tab:orange", "tab:green", "tab:purple"))
    for rank in ranks:
        color = "black" if rank == "full" else next(palette)
        label = "FullFT" if rank == "full" else f"LoRA rank {rank}"
        best = [
            (k, m, [[sd or 0.0], [sd or 0.0]])
            for k, s in studies.items()
            if (a := s.arm(rank)) and (m := a.judged.score[0]) is not None
            for sd in [a.judged.score[1]]
        ]
        gaps = [
            (k, e.estimate, [[e.estimate - e.low], [e.high - e.estimate]])
            if e.low is not None
            else (k, e.estimate, [[0.0], [0.0]])
            for k, s in studies.items()
            if rank != "full"
            and (a := s.arm(rank))
            and (f := s.arm("full"))
            and (e := gap(a, f, margin)) is not None
        ]
        for ax, pts in ((axes[0], best), (axes[1], gaps)):
            if pts:
                xs, ys, errs = zip(*pts)
                err = [[e[0][0] for e in errs], [e[1][0] for e in errs]]
                ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, color=color, label=label)
    axes[1].axhline(0, color="black", lw=1)
    for y in (-margin, margin):
        axes[1].axhline(y, color="grey", ls=":", lw=1)
    axes[0].set_ylabel("held-out pass@1 at the best LR (error bar: sd over seeds)")
    axes[1].set_ylabel(
        "LoRA - FullFT held-out pass@1\n(error bar: 90 % interval; dotted: the margin)"
    )
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(studies), [str(k) for k in studies])
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=9)
    save(fig, path, title)


def _sl_panel(ax, arms: list[Arm], colors: dict) -> None:
    """SL: held-out log-loss vs step at each arm's best LR, with its spread over seeds."""
    for a in arms:
        steps, m, sd = eval_curve(a.best.runs, "eval/logloss")
        c = colors[(a.rank, a.targets)]
        ax.plot(steps, m, marker=".", color=c, label=f"{a.label}, lr {lr_tag(a.best.lr)}")
        ax.fill_between(
            steps,
            [x - d for x, d in zip(m, sd)],
            [x + d for x, d in zip(m, sd)],
            color=c,
            alpha=0.15,
            lw=0,
        )
    ax.set_title("SL: held-out log-loss at each rank's best LR")
    ax.set_ylabel("held-out log-loss (nats/token; band: sd over seeds)")
    ax.set_xlabel("step")


def _rl_panel(ax, arms: list[Arm], colors: dict, window: int) -> None:
    """RL: reward vs step at each arm's best LR, with its spread over seeds."""
    for a in arms:
        m = mean_curve(a.best.runs, "reward/mean", window)
        sd = sd_curve(a.best.runs, "reward/mean", window)
        c = colors[(a.rank, a.targets)]
        xs = list(m)
        ax.plot(xs, list(m.values()), color=c, label=f"{a.label}, lr {lr_tag(a.best.lr)}")
        ax.fill_between(
            xs, [m[s] - sd[s] for s in xs], [m[s] + sd[s] for s in xs], color=c, alpha=0.15, lw=0
        )
    ax.set_title("RL: reward at each rank's best LR")
    ax.set_ylabel(f"reward/mean (moving avg {window}; band: sd over seeds)")
    ax.set_xlabel("step")


def fig_sl_rl(
    sl: list[Arm],
    rl: list[Arm],
    shares: list[tuple[str, Arm, float, float]],
    window: int,
    path: Path,
) -> None:
    """SL held-out log-loss and RL reward vs step per rank (best LR, seed band), and each rank's
    share of FullFT's gain against its bits of signal per parameter; shares: (kind "SL" or "RL",
    arm, bits/params, share), as `curves.signal_share` gives them."""
    fig, axes = pyplot().subplots(1, 3, figsize=(17, 4.8))
    colors = arm_colors(
        sl + [a for a in rl if (a.rank, a.targets) not in {(x.rank, x.targets) for x in sl}]
    )
    _sl_panel(axes[0], sl, colors)
    _rl_panel(axes[1], rl, colors, window)
    for kind, a, x, y in shares:
        marker = "s" if kind == "SL" else "o"
        c = colors[(a.rank, a.targets)]
        axes[2].scatter([x], [y], marker=marker, s=70, color=c, label=f"{kind}: {a.label}")
    axes[2].axhline(1, color="black", lw=1)
    axes[2].axvline(1, color="tab:red", ls=":", lw=1.5)
    axes[2].set_xscale("log")
    axes[2].set_title("share of FullFT's held-out gain vs signal per parameter")
    axes[2].set_xlabel("bits of signal / trainable params (log; see the report)")
    axes[2].set_ylabel("held-out gain / FullFT's (1 = level)")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    save(fig, path, "Supervised learning vs RL from the same starting policy")
