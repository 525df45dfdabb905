"""Run by test_rewards_pool.py under ``accelerate launch --multi_gpu --num_processes 2`` (or torchrun).

Each rank: checks it is one of 2 processes with torch.distributed up (gloo on a GPU-less machine),
grades a batch with ``rewards.grade_many`` from the main thread and from a worker thread, has a stuck
worker killed, all-reduces the number correct, and writes ``rank<k>.json`` into ``argv[1]``.
Not a test file (pytest does not collect it).
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import torch
import torch.distributed as dist
from accelerate import Accelerator

import rewards
from rewards.pool import get_pool

TINY = " 6-2=4. 4+8=12. 12+7=19.\n#### 19"


def main() -> None:
    out = Path(sys.argv[1])
    acc = Accelerator(cpu=not torch.cuda.is_available())  # as grpo_lora.rl.trainer does
    assert acc.num_processes == 2, acc.num_processes
    assert dist.is_initialized() and dist.get_world_size() == 2
    rank = dist.get_rank()
    items = [
        (TINY, TINY, "gsm8k"),
        ("#### 18", TINY, "gsm8k"),
        ("\\boxed{0.5}", "\\boxed{\\frac12}", "math"),
    ]
    items = items * 10
    main_grades = rewards.grade_many(items, timeout=2.0)
    box: dict = {}
    t = threading.Thread(target=lambda: box.update(g=rewards.grade_many(items, timeout=2.0)))
    t.start()
    t.join(120)
    thread_grades = box["g"]
    stuck = get_pool().map([("inf", None, None), (0, None, None)], timeout=0.5, task="sleep")
    n_correct = torch.tensor([sum(g.correct for g in main_grades)], dtype=torch.int64)
    dist.all_reduce(n_correct)
    result = {
        "rank": rank,
        "world": dist.get_world_size(),
        "main": [g.correct for g in main_grades],
        "thread": [g.correct for g in thread_grades],
        "stuck": [g.reason for g in stuck],
        "all_reduced_correct": int(n_correct.item()),
    }
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    acc.wait_for_everyone()
    rewards.shutdown()


if __name__ == "__main__":
    main()
