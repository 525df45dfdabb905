"""Build ``processbench_math.jsonl.gz`` (see README.md here) from the two public sources.

    python bench/data/build_processbench_math.py PROCESSBENCH_MATH_JSON MATH_TEST_DIR

``PROCESSBENCH_MATH_JSON``: ProcessBench's ``math.json`` (Qwen/ProcessBench, Apache-2.0: 1000 open-model
solutions to MATH test problems, each with a human ``final_answer_correct`` label).
``MATH_TEST_DIR``: the MATH test set as ``<subject>/<n>.json`` files (hendrycks/math, MIT).

Each solution is joined with the MATH test problem of the same text, whose full solution is the gold;
the solution's paragraphs (ProcessBench's ``steps``) are joined by blank lines, as the model wrote them.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

OUT = Path(__file__).with_name("processbench_math.jsonl.gz")


def _key(problem: str) -> str:
    return " ".join(problem.split())


def main(processbench: str, math_test: str) -> None:
    golds = {}
    for f in sorted(Path(math_test).glob("*/*.json")):
        d = json.loads(f.read_text())
        golds[_key(d["problem"])] = (f"test/{f.parent.name}/{f.name}", d["solution"])
    rows = []
    for case in json.loads(Path(processbench).read_text()):
        unique_id, solution = golds[_key(case["problem"])]  # every problem is a MATH test problem
        rows.append(
            {
                "id": case["id"],
                "generator": case["generator"],
                "unique_id": unique_id,
                "gold": solution,
                "completion": "\n\n".join(case["steps"]),
                "correct": case["final_answer_correct"],
            }
        )
    with gzip.GzipFile(OUT, "wb", mtime=0) as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
    print(f"{len(rows)} cases -> {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
