"""Verifier benchmark: grpo-lora's ``rewards`` against math-verify on the labelled table, same run.

    python bench/verifier.py [--repeat 3] [--show]

Both graders see the same cases (``tests/verifier/rewards_cases.py``), in-process, one after the other,
with caches cleared before each (ours: the gold cache; math-verify: its parse caches). Prints
accuracy, false positives/negatives, cases per second, the slowest case, and the speed ratio; with
``--repeat N`` the figures are the median of N runs. A benchmark, not a test.

math-verify is given each gold in the form it reads best: GSM8K the number after ``####`` (it does
not know that format), MATH the full solution (it finds the box), DeepMath the bare answer wrapped in
``$...$``. Completions are passed unchanged to both. math-verify runs with its default
``signal.alarm`` timeouts (main thread).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_cases():
    path = ROOT / "tests" / "verifier" / "rewards_cases.py"
    spec = importlib.util.spec_from_file_location("rewards_cases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


def ours() -> tuple[Callable, Callable]:
    import rewards
    from rewards.grader import gold_answer

    def grade(case) -> bool:
        return rewards.grade(case.completion, case.gold, case.dataset).correct

    return grade, gold_answer.cache_clear


def math_verify() -> tuple[Callable, Callable]:
    import math_verify
    from math_verify import parser as mv_parser

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)

    def gold_for(case) -> str:
        if case.dataset == "gsm8k":
            return case.gold.rsplit("####", 1)[-1].strip() if "####" in case.gold else case.gold
        if case.dataset == "deepmath":
            return f"${case.gold}$"
        return case.gold

    def grade(case) -> bool:
        try:
            gold = math_verify.parse(gold_for(case))
            answer = math_verify.parse(case.completion)
            return bool(math_verify.verify(gold, answer))
        except Exception:
            return False

    def clear() -> None:
        for name in ("parse_latex_cached", "parse_expr_cached"):
            f = getattr(mv_parser, name, None)
            if f is not None and hasattr(f, "cache_clear"):
                f.cache_clear()

    return grade, clear


def run(name: str, grade: Callable, clear: Callable, cases) -> dict:
    clear()
    fp, fn, slowest = [], [], (0.0, None)
    t0 = time.perf_counter()
    for case in cases:
        t = time.perf_counter()
        got = grade(case)
        dt = time.perf_counter() - t
        if dt > slowest[0]:
            slowest = (dt, case)
        if got and not case.correct:
            fp.append(case)
        elif case.correct and not got:
            fn.append(case)
    total = time.perf_counter() - t0
    n = len(cases)
    return {
        "name": name,
        "accuracy": 1 - (len(fp) + len(fn)) / n,
        "fp": fp,
        "fn": fn,
        "seconds": total,
        "cases_per_s": n / total,
        "slowest_s": slowest[0],
        "slowest_case": slowest[1],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per grader; the median is shown")
    ap.add_argument("--show", action="store_true", help="list each grader's wrong cases")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    cases = load_cases()
    graders = {"grpo-lora": ours(), "math-verify": math_verify()}
    runs: dict[str, list[dict]] = {k: [] for k in graders}
    for _ in range(args.repeat):
        for name, (grade, clear) in graders.items():
            runs[name].append(run(name, grade, clear, cases))

    n = len(cases)
    negatives = sum(not c.correct for c in cases)
    print(
        f"{n} labelled cases ({negatives} negatives, {negatives / n:.0%}); median of {args.repeat} runs"
    )
    print(f"{'grader':<12} {'accuracy':>9} {'FP':>4} {'FN':>4} {'cases/s':>9} {'slowest':>9}")
    summary = {}
    for name, rs in runs.items():
        r = rs[0]
        cps = statistics.median(x["cases_per_s"] for x in rs)
        slowest = max(x["slowest_s"] for x in rs)
        summary[name] = cps
        print(
            f"{name:<12} {r['accuracy']:>9.2%} {len(r['fp']):>4} {len(r['fn']):>4} "
            f"{cps:>9.0f} {slowest * 1000:>7.1f}ms"
        )
    print(
        f"speed ratio (grpo-lora / math-verify): {summary['grpo-lora'] / summary['math-verify']:.1f}x"
    )
    if args.show:
        for name, rs in runs.items():
            for kind in ("fp", "fn"):
                for c in rs[0][kind]:
                    print(
                        f"{name} {kind.upper()}: [{c.dataset}] gold={c.gold[-50:]!r} completion={c.completion[:70]!r}"
                    )


if __name__ == "__main__":
    main()
