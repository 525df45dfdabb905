"""`grpo-lora sweep SWEEP.yaml --ray [ADDRESS]`: a sweep's trainers as Ray tasks (docs/ray.md).

Each launch unit of the sweep (one point, or a pack) runs the SAME command line as a local sweep
(`python -m grpo_lora train ...`, `grpo_lora.study.launch.command_for`), as a subprocess of a Ray
task that asks for its resources: one GPU (with its node's share of the cores) where the cluster
has GPUs, else a share of the CPU cores. Ray decides the node; the sweep decides how many run at once
(`--parallel`) and keeps all of its bookkeeping (skip finished, resume crashed, `failed.json`,
extension rounds): the task only runs the command, appends its output to the point's
`OUT/logs/NAME.log` and returns its exit code. So the run directories, the logs, the sweep's current
directory and the Python that runs it must be at the same paths on every node (a shared
filesystem, the same image); on a local instance they trivially are.

`ray` is an optional extra (`pip install grpo-lora[ray]`), imported only here and only when used.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import subprocess
import tempfile
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grpo_lora.machine import cpu_cores, thread_env

MISSING = "--ray needs the ray package: pip install 'grpo-lora[ray]'"

# The driver's settings a trainer on another node gets too (a local instance's workers inherit the
# whole environment anyway). Not OMP_NUM_THREADS / VLLM_CPU_OMP_THREADS_BIND: each task sets its
# own, from the cores it claims; not CUDA_VISIBLE_DEVICES: Ray sets it to the task's GPU.
ENV_PREFIXES = (
    "GRPO_LORA_",
    "HF_",
    "HUGGINGFACE_",
    "TRANSFORMERS_",
    "TOKENIZERS_",
    "VLLM_",
    "WANDB_",
    "TORCH_",
    "PYTORCH_",
    "NCCL_",
    "PYTHONPATH",
    "PYTHONHASHSEED",
)
ENV_OWN = ("VLLM_CPU_OMP_THREADS_BIND",)

# The exit code recorded when the Ray task itself failed (its worker or node died, it was
# cancelled): the trainer's own exit code is unknown then; the log's last line says what happened.
TASK_FAILED = 1


def import_ray():
    """`ray`, or ImportError with the one line that names the extra."""
    try:
        import ray
    except ImportError:
        raise ImportError(MISSING) from None
    return ray


def forwarded_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of `environ` (default: this process's) that the trainers get on any node."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if k.startswith(ENV_PREFIXES) and k not in ENV_OWN}


# ---------------------------------------------------------------------------------------------
# On the node


@contextlib.contextmanager
def claim_cores(n: int):
    """Cores of this node for a trainer that asked Ray for `n` CPUs: one of the node's
    len(cores) // n equal shares (`machine.cpu_cores`), held through a lock file while the trainer
    runs, so that the trainers Ray places side by side on a node each get their own cores, as a
    local `--parallel` sweep's do. None when every share is held (other work on the node)."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: leave the threads unbound
        yield None
        return
    cores = cpu_cores()
    shares = max(1, len(cores) // max(1, n))
    lock_dir = Path(tempfile.gettempdir()) / "grpo-lora-cores"
    lock_dir.mkdir(exist_ok=True)
    for i in range(shares):
        fh = (lock_dir / f"{shares}-{i}.lock").open("w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        try:
            yield cpu_cores(i, shares)
        finally:
            fh.close()  # releases the lock
        return
    yield None


def run_trainer(cmd: list[str], cwd: str, log: str, env: dict[str, str], n_cpus: int) -> int:
    """The body of the Ray task: run the trainer's command line in `cwd` on cores of its own,
    its output appended to `log`; its exit code (negative: the signal that killed it). Cancelled
    (`ray.cancel`: KeyboardInterrupt here), it stops the trainer before it returns."""
    with claim_cores(n_cpus) as cores, open(log, "a") as fh:
        threads = thread_env(cores) if cores else {"OMP_NUM_THREADS": str(max(1, n_cpus))}
        full_env = {**os.environ, **env, **threads}
        if not cores:
            full_env.pop("VLLM_CPU_OMP_THREADS_BIND", None)
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=full_env)
        try:
            return proc.wait()
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise


# ---------------------------------------------------------------------------------------------
# On the driver


class RayRun:
    """A trainer running as a Ray task, with the part of `subprocess.Popen` the sweep uses:
    `poll()`, `terminate()`, `wait(timeout)`."""

    def __init__(self, ref, log: Path):
        self.ref = ref
        self.log = log
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        ray = import_ray()
        ready, _ = ray.wait([self.ref], timeout=0)
        if not ready:
            return None
        try:
            self.returncode = int(ray.get(self.ref))
        except Exception as e:  # the task failed: its worker or node died, or it was cancelled
            self.returncode = TASK_FAILED
            with contextlib.suppress(OSError), self.log.open("a") as fh:
                fh.write("".join(traceback.format_exception_only(type(e), e)).rstrip() + "\n")
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                fh.write(f"ray: the task failed ({type(e).__name__}) {first}".rstrip() + "\n")
        return self.returncode

    def terminate(self) -> None:
        with contextlib.suppress(Exception):
            import_ray().cancel(self.ref)  # KeyboardInterrupt in the task: it stops the trainer

    def wait(self, timeout: float | None = None) -> int:
        ready, _ = import_ray().wait([self.ref], timeout=timeout)
        if not ready:
            raise subprocess.TimeoutExpired("ray task", timeout)
        return self.poll()


@functools.cache
def _remote_trainer():
    return import_ray().remote(run_trainer)


@dataclass
class RayRunner:
    """Starts trainers as Ray tasks, each asking for `num_cpus` CPUs and `num_gpus` GPUs."""

    num_cpus: int
    num_gpus: float = 0

    def start(self, cmd: list[str], log: Path) -> RayRun:
        task = _remote_trainer().options(
            num_cpus=self.num_cpus,
            num_gpus=self.num_gpus,
            max_retries=0,  # a retry would restart it without --resume; a re-launch resumes it
            name=f"grpo-lora:{log.stem}",
        )
        ref = task.remote(
            list(cmd), os.getcwd(), str(log.resolve()), forwarded_env(), self.num_cpus
        )
        return RayRun(ref, log)


def nodes() -> list[dict[str, float]]:
    """Each alive node's resources (`CPU`, `GPU`, ...)."""
    return [n["Resources"] for n in import_ray().nodes() if n.get("Alive")]


def plan(
    resources: list[dict[str, float]],
    parallel: int,
    cpus: int | None = None,
    gpus: float | None = None,
) -> tuple[int, float, int]:
    """What each trainer asks for, and how many of them the cluster holds at once:
    (CPUs, GPUs, at once). By default one GPU where the cluster has GPUs, with the cores of the
    GPU node that has the fewest per GPU; else the cluster's cores split `parallel` ways (at most
    a whole node's)."""
    total_gpus = sum(r.get("GPU", 0) for r in resources)
    if gpus is None:
        gpus = 1 if total_gpus else 0
    if cpus is None:
        if gpus:
            per_gpu = [r.get("CPU", 0) / r["GPU"] for r in resources if r.get("GPU")]
            cpus = max(1, int(min(per_gpu, default=1) * gpus))
        else:
            total = sum(r.get("CPU", 0) for r in resources)
            biggest = max((r.get("CPU", 0) for r in resources), default=1)
            cpus = max(1, int(min(total // max(1, parallel), biggest)))

    def fits(r: dict[str, float]) -> int:
        n = int(r.get("CPU", 0) // cpus)
        return min(n, int(r.get("GPU", 0) // gpus)) if gpus else n

    return cpus, gpus, sum(fits(r) for r in resources)


class RayStartError(RuntimeError):
    """Ray could not be started or joined (a bad address, no cluster there, ...)."""


@contextlib.contextmanager
def session(address: str | None):
    """Ray for the sweep: a new local instance on this machine's cores (`address` None), or the
    cluster at `address` (`auto`, `HOST:PORT`, `ray://HOST:PORT` with ray[client]); one that this
    process has already joined is used as it is. Shut down at the end if started here."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address is None:
            ray.init(
                address="local",
                num_cpus=len(cpu_cores()),
                include_dashboard=False,
                object_store_memory=128 * 2**20,  # the tasks pass a few strings and an int
                **quiet,
            )
        else:
            ray.init(address=address, **quiet)
    except Exception as e:
        where = "a local Ray instance" if address is None else f"the Ray cluster at {address}"
        raise RayStartError(f"cannot start or join {where}: {type(e).__name__}: {e}") from e
    try:
        yield ray
    finally:
        ray.shutdown()
