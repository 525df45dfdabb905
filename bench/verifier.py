"""Verifier benchmark: grpo-lora's ``rewards`` against math-verify on labelled cases, same run.

    python bench/verifier.py [--repeat 3] [--show]
    python bench/verifier.py --real [--strict] [--baseline DIR] [--show]

The default cases are the labelled table (``tests/verifier/rewards_cases.py``). With ``--real`` they are
real model output labelled by others: ``bench/data/processbench_math.jsonl.gz``, 1000 open-model
solutions to MATH test problems with ProcessBench's human final-answer labels (see
``bench/data/README.md``); ``--data`` reads another file of that form. ``--baseline DIR`` also runs the
``rewards`` package found in ``DIR`` (an older copy, to measure a change in the same run);
``--strict`` adds ours with ``strict=True``.

The graders see the same cases, in-process, one after the other,
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
import gzip
import importlib.util
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "bench" / "data" / "processbench_math.jsonl.gz"


@dataclass(frozen=True)
class RealCase:
    """One real solution: the MATH gold solution, the model's text, and the label others gave it."""

    gold: str
    completion: str
    correct: bool
    generator: str
    dataset: str = "math"


def load_cases():
    path = ROOT / "tests" / "verifier" / "rewards_cases.py"
    spec = importlib.util.spec_from_file_location("rewards_cases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


def load_real(path: Path) -> list[RealCase]:
    if not path.exists():
        sys.exit(
            f"bench/verifier.py: {path} does not exist; the repo does not ship it: build it with "
            "bench/data/build_processbench_math.py (bench/data/README.md)"
        )
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [RealCase(r["gold"], r["completion"], r["correct"], r["generator"]) for r in rows]


def ours(strict: bool = False) -> tuple[Callable, Callable]:
    import rewards
    from rewards.grader import gold_answer

    def grade(case) -> bool:
        return rewards.grade(case.completion, case.gold, case.dataset, strict=strict).correct

    return grade, gold_answer.cache_clear


def baseline(directory: Path) -> tuple[Callable, Callable]:
    """The ``rewards`` package in ``directory``, imported beside the current one: its modules are
    loaded, kept by the returned functions, then dropped from ``sys.modules``."""
    saved = {k: v for k, v in sys.modules.items() if k == "rewards" or k.startswith("rewards.")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(directory))
    try:
        import rewards
        from rewards.grader import gold_answer

        old_grade = rewards.grade
    finally:
        sys.path.remove(str(directory))
        for k in [k for k in sys.modules if k == "rewards" or k.startswith("rewards.")]:
            del sys.modules[k]
        sys.modules.update(saved)

    def grade(case) -> bool:
        return old_grade(case.completion, case.gold, case.dataset).correct

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
    ap.add_argument("--real", action="store_true", help="real model solutions labelled by others")
    ap.add_argument("--data", type=Path, default=REAL, help="the --real cases (JSONL, may be .gz)")
    ap.add_argument("--baseline", type=Path, help="a folder holding an older rewards/ to compare")
    ap.add_argument("--strict", action="store_true", help="also run ours with strict=True")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    cases = load_real(args.data) if args.real else load_cases()
    graders = {}
    if args.baseline:
        graders["baseline"] = baseline(args.baseline)
    graders["grpo-lora"] = ours()
    if args.strict:
        graders["strict"] = ours(strict=True)
    graders["math-verify"] = math_verify()
    runs: dict[str, list[dict]] = {k: [] for k in graders}
    for _ in range(args.repeat):
        for name, (grade, clear) in graders.items():
            runs[name].append(run(name, grade, clear, cases))

    n = len(cases)
    negatives = sum(not c.correct for c in cases)
    source = args.data.name if args.real else "the labelled table"
    print(
        f"{n} labelled cases from {source} ({negatives} negatives, {negatives / n:.0%}); "
        f"median of {args.repeat} runs"
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
                        f"{name} {kind.upper()}: [{c.dataset}] gold={c.gold[-50:]!r} "
                        f"completion={c.completion[-70:] if args.real else c.completion[:70]!r}"
                    )


if __name__ == "__main__":
    main()
