"""What is read from one finished run as its score, and how an arm's learning rate is chosen from
those scores; the sweep (extension and confirmation rounds) and the report choose alike."""

from __future__ import annotations

import math
import statistics

from grpo_lora.study.runs import Run, is_number

FINAL_FRAC = 0.10  # final reward averages the last 10% of steps


def final_reward(run: Run) -> float | None:
    """Mean of `reward/mean` over the last ceil(10% of N) training steps (N = last step)."""
    steps = run.train_steps
    if not steps:
        return None
    n = steps[-1]
    k = max(1, math.ceil(FINAL_FRAC * n))
    vals = [v for s, v in run.series("reward/mean").items() if s > n - k]
    return statistics.fmean(vals) if vals else None


def last_eval(run: Run, key: str, summary_key: str) -> float | None:
    """`key` at the run's last evaluation after step 0, else summary.json's `summary_key`."""
    evals = {s: r[key] for s, r in run.rows.items() if s >= 1 and is_number(r.get(key))}
    if evals:
        return float(evals[max(evals)])
    v = run.summary.get(summary_key)
    return float(v) if is_number(v) else None


def final_logloss(run: Run) -> float | None:
    """An SFT run's held-out log-loss (nats/token) at its last evaluation."""
    return last_eval(run, "eval/logloss", "eval_logloss_end")


def final_score(run: Run) -> float | None:
    """What a run's best LR maximises: a GRPO run's final reward; an SFT run's -(final held-out
    log-loss), so the lowest loss is the best."""
    if run.command == "sft":
        loss = final_logloss(run)
        return None if loss is None else -loss
    return final_reward(run)


def final_pass1(run: Run) -> float | None:
    return last_eval(run, "eval/pass1", "eval_pass1_end")


def heldout_score(run: Run) -> float | None:
    """What a run's best LR maximises and its verdicts compare: a GRPO run's final held-out pass@1;
    an SFT run's -(final held-out log-loss), so the lowest loss is the best."""
    if run.command == "sft":
        loss = final_logloss(run)
        return None if loss is None else -loss
    return final_pass1(run)


def selection_score(run: Run) -> float | None:
    """What a run's LR is chosen on: its `heldout_score`, but an SFT run's -(final validation
    log-loss), on demonstrations split from its training set, so that SFT never chooses on the
    held-out set it reports (runs that logged no validation loss: their held-out score)."""
    if run.command == "sft":
        val = last_eval(run, "eval/val_logloss", "eval_val_logloss_end")
        if val is not None:
            return -val
    return heldout_score(run)


def choice_scores(
    held: dict[float, list[float]], rewards: dict[float, list[float]]
) -> dict[float, list[float]]:
    """What an arm's LR is chosen on, LR -> each seed's score: its held-out scores, or its final
    scores when none of its runs has a held-out score. (The sweep chooses with it too.)"""
    return held if any(held.values()) else rewards


def best_lr(rewards: dict[float, list[float]]) -> float | None:
    """The best LR of an arm, given LR -> each seed's score (held-out: `heldout_score`): argmax
    over LRs of the seed-averaged score (ties: the smaller LR); None when no LR has a score."""
    means = {lr: statistics.fmean(v) for lr, v in rewards.items() if v}
    return max(sorted(means), key=means.__getitem__, default=None)


def grid_edge(lrs: list[float], best: float | None) -> str | None:
    """Which edge of two or more `lrs` the best LR is on, "low" or "high" (the optimum may lie
    beyond it); None when it is inside, or there is one LR or no best."""
    lrs = sorted(lrs)
    if len(lrs) < 2 or best is None:
        return None
    return {lrs[0]: "low", lrs[-1]: "high"}.get(best)
