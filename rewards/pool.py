"""Grading in worker processes with a hard per-item time limit, callable from any thread.

Why not ``signal.alarm`` (math-verify) or a thread: an alarm only works in the main thread (TRL
switches it off elsewhere, and the item silently scores 0), and a thread stuck in sympy cannot be
killed. Here each worker is a separate ``python -c`` process (an exec'd interpreter, as the "spawn"
start method would give, but without re-importing the caller's ``__main__``: under ``accelerate
launch`` that would be the training script, with torch and vLLM). A worker imports only ``rewards``
and sympy, talks to the parent over two pipes, and is SIGKILLed and replaced when an item runs past
its limit; that item comes back as ``Grade(False, extracted, "timeout")``.

The pool is created lazily at the first call, reused, shut down at exit, and re-created in a forked
child. Calls from several threads are serialised on one lock (the workers are the parallelism).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait

from rewards.extract import completion_answer
from rewards.grader import MAX_EXTRACTED_CHARS, GoldError, Grade, check_dataset

STARTUP_TIMEOUT_S = 120.0  # a worker that has not said "ready" by then is a broken environment
MAX_CHUNK = 32  # items sent to a worker at once (each still has its own deadline)
# Address-space limit of a worker: a runaway item fails with MemoryError, not the host.
WORKER_MEMORY_BYTES = 4 << 30

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_BOOT = "import sys; from rewards.pool import worker_main; worker_main(int(sys.argv[1]), int(sys.argv[2]))"


def default_workers() -> int:
    return min(4, max(2, (os.cpu_count() or 2) // 2))


# ---------------------------------------------------------------------------------------------------
# Worker side.


def _task_grade(completion, gold, dataset, strict=False):
    from rewards.grader import grade

    g = grade(completion, gold, dataset, strict=strict)
    return g.correct, g.extracted, g.reason


def _task_grade_strict(completion, gold, dataset):
    return _task_grade(completion, gold, dataset, strict=True)


def _task_sleep(seconds, *_):
    """For tests of the time limit: a worker stuck for ``seconds`` (``inf``: forever)."""
    end = time.monotonic() + float(seconds)
    while time.monotonic() < end:
        time.sleep(0.01)
    return True, str(seconds), "slept"


def _task_info(*_):
    """For tests: what a worker has imported (it must stay light: no torch, no vLLM)."""
    heavy = sorted(m for m in ("torch", "vllm", "numpy", "transformers") if m in sys.modules)
    return True, ",".join(heavy), f"pid={os.getpid()}"


_TASKS = {
    "grade": _task_grade,
    "grade_strict": _task_grade_strict,
    "sleep": _task_sleep,
    "info": _task_info,
}


def worker_main(rfd: int, wfd: int) -> None:
    """Loop of a worker process: receive a list of items, send one result per item."""
    try:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = (
            WORKER_MEMORY_BYTES
            if hard == resource.RLIM_INFINITY
            else min(hard, WORKER_MEMORY_BYTES)
        )
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):
        pass
    rx = Connection(rfd, writable=False)
    tx = Connection(wfd, readable=False)
    import rewards.grader  # noqa: F401 - the import that matters (sympy), before saying ready

    parent = os.getppid()

    def watchdog() -> None:  # exit if the parent dies, even while an item is running
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    tx.send(("ready", os.getpid()))
    while True:
        try:
            batch = rx.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        for idx, task, *args in batch:
            try:
                out = (idx, "ok", *_TASKS[task](*args))
            except GoldError as e:
                out = (idx, "gold", str(e))
            except BaseException as e:
                out = (idx, "error", f"{type(e).__name__}: {e}"[:300])
            tx.send(out)


# ---------------------------------------------------------------------------------------------------
# Parent side.


class _Worker:
    def __init__(self) -> None:
        task_r, task_w = os.pipe()
        res_r, res_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONSAFEPATH"] = "1"  # the cwd does not shadow modules (Python >= 3.11)
        env["PYTHONPATH"] = _PACKAGE_ROOT + (
            os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
        )
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(task_r), str(res_w)],
                pass_fds=(task_r, res_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a Ctrl-C on the terminal goes to the parent only
            )
        finally:
            os.close(task_r)
            os.close(res_w)
        self.tx = Connection(task_w, readable=False)
        self.rx = Connection(res_r, writable=False)
        self.ready = False
        self.queue: deque[int] = deque()  # indices sent, not yet answered
        self.item_start = 0.0  # when the item at queue[0] started

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        for c in (self.tx, self.rx):
            with contextlib.suppress(OSError):
                c.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


class Pool:
    """A fixed number of grading workers; :meth:`map` grades a batch with per-item deadlines."""

    def __init__(self, workers: int):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.size = workers
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self.kills = 0  # workers killed for a timeout (a statistic)
        self._startup_failures = 0

    def _fill(self) -> None:
        while len(self._workers) < self.size:
            self._workers.append(_Worker())

    def _replace(self, w: _Worker) -> None:
        w.kill()
        if w in self._workers:
            self._workers.remove(w)
        self._fill()

    def close(self) -> None:
        """Ask the workers to exit, then kill what is left. Never blocks for long (it runs at exit,
        possibly while a daemon thread is inside :meth:`map`)."""
        locked = self._lock.acquire(timeout=1.0)
        try:
            workers, self._workers = self._workers, []
            for w in workers:
                with contextlib.suppress(OSError):
                    w.tx.send(None)
            deadline = time.monotonic() + 1.0
            for w in workers:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    w.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                w.kill()
        finally:
            if locked:
                self._lock.release()

    def map(
        self, items: Sequence[tuple[str, str, str]], timeout: float, task: str = "grade"
    ) -> list[Grade]:
        """Run ``task`` (``grade``, ``grade_strict``; ``sleep`` and ``info`` are for tests) on each item."""
        if task not in _TASKS:
            raise ValueError(f"unknown task {task!r}")
        n = len(items)
        results: list[Grade | None] = [None] * n
        gold_errors: dict[int, str] = {}
        if n == 0:
            return []
        with self._lock:
            self._fill()
            pending: deque[int] = deque(range(n))
            chunk = max(1, min(MAX_CHUNK, n // (4 * self.size) or 1))
            left = n
            t_start = time.monotonic()
            while left:
                now = time.monotonic()
                for w in list(self._workers):  # dispatch to idle, ready workers
                    if w.ready and not w.queue and pending:
                        batch = [pending.popleft() for _ in range(min(chunk, len(pending)))]
                        try:
                            w.tx.send([(i, task, *items[i]) for i in batch])
                        except OSError:  # died while idle: retry the batch elsewhere
                            pending.extendleft(reversed(batch))
                            self._replace(w)
                            continue
                        w.queue.extend(batch)
                        w.item_start = time.monotonic()
                busy = [w for w in self._workers if w.queue]
                wait_s = 0.5
                if busy:
                    wait_s = min(wait_s, min(w.item_start + timeout for w in busy) - now)
                ready = wait([w.rx for w in self._workers], timeout=max(0.0, wait_s))
                for w in list(self._workers):
                    if w.rx in ready:
                        left -= self._drain(w, items, results, gold_errors, pending)
                now = time.monotonic()
                for w in list(self._workers):
                    if w.queue and now > w.item_start + timeout:
                        left -= self._drain(w, items, results, gold_errors, pending)
                        if w in self._workers and w.queue and now > w.item_start + timeout:
                            idx = w.queue.popleft()
                            results[idx] = (
                                _timeout_grade(*items[idx])
                                if task.startswith("grade")
                                else Grade(False, None, "timeout")
                            )
                            left -= 1
                            pending.extendleft(reversed(w.queue))
                            w.queue.clear()
                            self.kills += 1
                            self._replace(w)
                if not any(w.ready for w in self._workers) and now - t_start > STARTUP_TIMEOUT_S:
                    raise RuntimeError(
                        f"rewards worker processes did not start in {STARTUP_TIMEOUT_S:.0f} s "
                        f"({sys.executable} -c 'import rewards.pool'); see their stderr"
                    )
        if gold_errors:
            first = min(gold_errors)
            raise GoldError(gold_errors[first])
        return results  # type: ignore[return-value]

    def _drain(self, w: _Worker, items, results, gold_errors, pending) -> int:
        """Read everything ``w`` has sent; returns the number of items finished."""
        done = 0
        try:
            while w.rx.poll(0):
                msg = w.rx.recv()
                if msg[0] == "ready":
                    w.ready = True
                    self._startup_failures = 0
                    continue
                idx, kind = msg[0], msg[1]
                if w.queue and w.queue[0] == idx:
                    w.queue.popleft()
                if kind == "ok":
                    results[idx] = Grade(msg[2], msg[3], msg[4])
                elif kind == "gold":
                    gold_errors[idx] = msg[2]
                    results[idx] = Grade(False, None, "error")
                else:
                    results[idx] = Grade(False, None, "error")
                done += 1
                w.item_start = time.monotonic()
        except (EOFError, OSError):  # the worker died (crash, OOM kill): its item is an error
            if w.queue:
                idx = w.queue.popleft()
                results[idx] = Grade(False, None, "error")
                done += 1
                pending.extendleft(reversed(w.queue))
                w.queue.clear()
            if not w.ready:
                self._startup_failures += 1
                if self._startup_failures >= 3 * self.size:
                    for other in self._workers:
                        other.kill()
                    self._workers = []
                    raise RuntimeError(
                        "rewards worker processes exit at startup; run "
                        f"`{sys.executable} -c 'import rewards.grader'` to see why"
                    ) from None
            self._replace(w)
        return done


def _timeout_grade(completion: str, gold: str, dataset: str) -> Grade:
    try:
        found = completion_answer(completion, dataset) if isinstance(completion, str) else None
    except Exception:
        found = None
    return Grade(False, found[0][:MAX_EXTRACTED_CHARS] if found else None, "timeout")


# ---------------------------------------------------------------------------------------------------
# The module-level pool.

_POOL: Pool | None = None
_POOL_LOCK = threading.Lock()


def get_pool(workers: int | None = None) -> Pool:
    """The shared pool (created on first use; re-created after a fork or for another size)."""
    global _POOL
    size = workers or default_workers()
    with _POOL_LOCK:
        if _POOL is not None and _POOL.pid != os.getpid():
            _POOL = None  # inherited through fork: its workers belong to the parent
        if _POOL is not None and _POOL.size != size and workers is not None:
            _POOL.close()
            _POOL = None
        if _POOL is None:
            _POOL = Pool(size)
        return _POOL


def warm(workers: int | None = None) -> None:
    """Start the shared pool's workers now (e.g. while a model loads); returns at once."""
    pool = get_pool(workers)
    with pool._lock:
        pool._fill()


def shutdown() -> None:
    """Stop the shared pool's workers (also runs at exit)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None and _POOL.pid == os.getpid():
            _POOL.close()
        _POOL = None


atexit.register(shutdown)


def grade_many(
    items: Sequence[tuple[str, str, str]],
    timeout: float = 1.0,
    workers: int | None = None,
    *,
    strict: bool = False,
) -> list[Grade]:
    """Grade ``(completion, gold, dataset)`` items in worker processes, in order (``strict``: as
    :func:`rewards.grade` with ``strict=True``).

    Each item has ``timeout`` seconds of wall time in its worker; past it the worker is killed and
    replaced and the item is ``Grade(False, extracted, "timeout")``. Unknown datasets raise
    ``ValueError`` before any work; an unreadable gold raises :class:`rewards.GoldError` after the
    batch (the first one, in item order).
    """
    items = list(items)
    for item in items:
        if len(item) != 3:
            raise ValueError(f"items are (completion, gold, dataset) triples, got {item!r:.100}")
        check_dataset(item[2])
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0, got {timeout}")
    if not items:
        return []
    return get_pool(workers).map(items, timeout, "grade_strict" if strict else "grade")
