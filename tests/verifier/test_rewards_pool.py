"""grade_many: worker processes, hard per-item limits, any thread, 2-process launches."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rewards_cases import CASES

import rewards
from rewards import Grade, grade, grade_many
from rewards.pool import Pool, _timeout_grade, get_pool

TINY = " 6-2=4. 4+8=12. 12+7=19.\n#### 19"
ITEMS = [(c.completion, c.gold, c.dataset) for c in CASES]


def test_same_grades_as_in_process_and_in_order():
    assert grade_many(ITEMS) == [grade(*item) for item in ITEMS]
    assert grade_many([]) == []


def test_strict_in_workers():
    items = [
        ("\\boxed{\\frac{6}{8}}", "\\boxed{\\frac34}", "math"),
        ("\\boxed{2:3}", "2:3", "deepmath"),
    ]
    assert [g.reason for g in grade_many(items, strict=True)] == ["form", "match"]
    assert [g.reason for g in grade_many(items)] == ["match", "match"]


def test_from_a_worker_thread():
    """Regression (math-verify/TRL): time limits must work outside the main thread."""
    box = {}

    def run():
        box["grades"] = grade_many(ITEMS[:60], timeout=1.0)
        box["stuck"] = get_pool().map([("inf", 0, 0)], timeout=0.3, task="sleep")

    t = threading.Thread(target=run)
    t.start()
    t.join(120)
    assert box["grades"] == [grade(*item) for item in ITEMS[:60]]
    assert box["stuck"] == [Grade(False, None, "timeout")]


def test_from_several_threads_at_once():
    chunks = [ITEMS[i::3] for i in range(3)]
    out: dict[int, list] = {}
    threads = [
        threading.Thread(target=lambda k=k: out.__setitem__(k, grade_many(chunks[k])))
        for k in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for k in range(3):
        assert out[k] == [grade(*item) for item in chunks[k]]


def test_a_stuck_item_times_out_and_its_worker_is_replaced():
    pool = Pool(2)
    try:
        items = [("inf", 0, 0), (0.05, 0, 0), ("inf", 0, 0), (0, 0, 0), (0.05, 0, 0)]
        t = time.perf_counter()
        out = pool.map(items, timeout=0.5, task="sleep")
        elapsed = time.perf_counter() - t
        assert [g.reason for g in out] == ["timeout", "slept", "timeout", "slept", "slept"]
        assert pool.kills == 2
        assert elapsed < 20
        # the replacements work
        assert pool.map([(TINY, TINY, "gsm8k")], timeout=5) == [Grade(True, "19", "match")]
    finally:
        pool.close()


def test_timeout_grade_keeps_the_extracted_answer():
    assert _timeout_grade("... #### 19", TINY, "gsm8k") == Grade(False, "19", "timeout")


def test_a_dead_worker_is_replaced():
    pool = Pool(1)
    try:
        assert pool.map([(TINY, TINY, "gsm8k")], timeout=5)[0].correct
        pid = int(pool.map([(0, 0, 0)], timeout=5, task="info")[0].reason.split("=")[1])
        os.kill(pid, 9)
        time.sleep(0.2)
        assert pool.map([(TINY, TINY, "gsm8k")] * 3, timeout=5) == [Grade(True, "19", "match")] * 3
    finally:
        pool.close()


def test_workers_stay_light_when_the_parent_has_torch():
    import torch  # noqa: F401 - the parent has torch loaded, like a trainer

    info = get_pool().map([(0, 0, 0)], timeout=10, task="info")[0]
    assert info.extracted == ""  # no torch, vllm, numpy or transformers in the worker


def test_pool_is_shared_and_restartable():
    assert get_pool() is get_pool()
    rewards.shutdown()
    assert grade_many([(TINY, TINY, "gsm8k")]) == [Grade(True, "19", "match")]


_ORPHAN_SCRIPT = """
import os, sys
import rewards
from rewards.pool import get_pool
assert rewards.grade_many([("#### 1", "#### 1", "gsm8k")])[0].correct
pids = [w.proc.pid for w in get_pool()._workers]
child = os.fork()
if child == 0:  # a forked child gets its own pool, not the parent's workers
    ok = rewards.grade_many([("#### 2", "#### 2", "gsm8k")])[0].correct
    os._exit(0 if ok else 1)
_, status = os.waitpid(child, 0)
assert status == 0, status
assert rewards.grade_many([("#### 3", "#### 3", "gsm8k")])[0].correct  # the parent's still work
print(" ".join(map(str, pids)), flush=True)
os._exit(0)  # die without atexit: the workers must notice and exit on their own
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(
    not hasattr(os, "fork") or not os.path.isdir("/proc"), reason="needs fork, /proc"
)
def test_forked_child_gets_its_own_pool_and_orphaned_workers_exit():
    root = Path(rewards.__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", _ORPHAN_SCRIPT],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) >= 2
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)


def _launcher(n: int, script: Path, out: Path) -> list[str]:
    bindir = Path(sys.executable).parent
    accelerate = bindir / "accelerate"
    if accelerate.exists():
        # --multi_gpu on a GPU-less machine starts n processes on gloo (--cpu would start one)
        return [
            str(accelerate),
            "launch",
            "--multi_gpu",
            "--num_processes",
            str(n),
            str(script),
            str(out),
        ]
    torchrun = shutil.which("torchrun", path=str(bindir)) or "torchrun"
    return [torchrun, "--nproc_per_node", str(n), str(script), str(out)]


def test_under_a_two_process_launch(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("accelerate")
    script = Path(__file__).with_name("rewards_launch_script.py")
    root = Path(rewards.__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_PORT": str(29500 + os.getpid() % 1000)}
    proc = subprocess.run(
        _launcher(2, script, tmp_path),
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for r in results:
        assert r["world"] == 2
        assert r["main"] == r["thread"] == [True, False, True] * 10
        assert r["stuck"] == ["timeout", "slept"]
        assert r["all_reduced_correct"] == 2 * 20
