"""Checkpoints that a crash cannot corrupt, and exact resume that survives a damaged checkpoint.

A checkpoint is written to a temporary folder, sealed with ``complete.json`` (the size and sha256 of
every file, written last), renamed into place, then ``checkpoints/latest`` is replaced atomically; a
run killed at any instant leaves the previous checkpoint intact, and a write that fails (a full disk)
removes its temporary folder and raises :class:`CheckpointError` with the previous one untouched.

A checkpoint holds the adapter in peft's format (loadable by peft and by vLLM as is) or the full
model, the optimizer and scheduler states, the RNG states, and the step, from which the data position
follows. :func:`resume` loads the newest checkpoint that reads back whole, and says in one line which
ones it skipped and why; a checkpoint is read and checked completely before anything is applied, so
one that fails leaves the policy, optimizer and scheduler as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from grpo_lora import rng
from grpo_lora.policy import Policy

SEAL = "complete.json"  # written last: its presence and contents say the folder is whole
STATE = "trainer_state.pt"
PENDING = "pending_rollouts.pt"
ADAPTER = "adapter/adapter_model.safetensors"
STEP_NAME = re.compile(r"step_(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint could not be written, or one being loaded is damaged. The message is one line."""


# --- writing ---


def save_checkpoint(
    run_dir: Path,
    step: int,
    policy: Policy,
    optimizer,
    scheduler,
    keep: int,
    rngs: list[dict] | None = None,
    pending: list | None = None,
) -> Path:
    """Write ``checkpoints/step_{step:06d}``, point ``checkpoints/latest`` at it, and keep the
    ``keep`` newest. ``rngs[r]`` is process r's random streams (default: this process's global
    ones); ``pending[r]``, process r's rollouts already drawn for the next step (async rollouts),
    which a resume must train on rather than sample again. On any failure the temporary folder is
    removed, ``latest`` and the previous checkpoints are untouched, and :class:`CheckpointError`
    says what happened in one line."""
    root = run_dir / "checkpoints"
    final = root / f"step_{step:06d}"
    tmp = root / f".{final.name}.tmp"
    renamed = False
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        _write_folder(tmp, step, policy, optimizer, scheduler, rngs or [rng.capture()], pending)
        # re-saving a step (after resuming from an older one) replaces that folder
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        renamed = True
        _fsync_dir(root)
        _point_latest(root, final.name)
    except Exception as e:  # a full disk, a failing device, a serialiser error: all the same here
        shutil.rmtree(tmp, ignore_errors=True)
        (root / ".latest.tmp").unlink(missing_ok=True)
        if renamed:  # `latest` was not moved: the new folder would only be a stray
            shutil.rmtree(final, ignore_errors=True)
        raise CheckpointError(_save_failure(root, step, e)) from e
    _prune(root, step, keep)
    return final


def _write_folder(
    folder: Path, step: int, policy: Policy, optimizer, scheduler, rngs: list[dict], pending
) -> None:
    """Everything a resume needs, then the seal (sizes and sha256 of every file), all fsynced."""
    folder.mkdir(parents=True)
    policy.save(folder / ("adapter" if policy.is_lora else "model"))
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rngs,
    }
    torch.save(state, folder / STATE)
    if pending is not None:
        torch.save(pending, folder / PENDING)
    files = {
        f.relative_to(folder).as_posix(): _describe(f)
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }
    seal = folder / SEAL
    with seal.open("w") as out:
        json.dump({"step": step, "files": files}, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    for d in {folder, *((folder / name).parent for name in files)}:
        _fsync_dir(d)


def _describe(path: Path) -> dict:
    """Size and sha256 of a file just written, fsynced on the way so the seal never outlives it."""
    return {"bytes": path.stat().st_size, "sha256": _sha256(path, fsync=True)}


def _sha256(path: Path, fsync: bool = False) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 24):
            digest.update(chunk)
        if fsync:
            os.fsync(f.fileno())
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (no-op where directories can't be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename is still atomic
    finally:
        os.close(fd)


def _point_latest(root: Path, name: str) -> None:
    """Replace ``latest`` atomically: readers see the old name or the new one, never a partial one."""
    tmp = root / ".latest.tmp"
    with tmp.open("w") as out:
        out.write(name)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(root / "latest")
    _fsync_dir(root)


def _prune(root: Path, step: int, keep: int) -> None:
    """Keep the ``keep`` newest checkpoints up to ``step``. Newer ones are from a trajectory a resume
    abandoned (it fell back past them) and must never be resumed from; stray temp folders of killed
    writes go too."""
    done = _step_folders(root)
    ahead = [f for f in done if _step_of(f) > step]
    behind = [f for f in done if _step_of(f) <= step]
    for old in ahead + behind[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    for stray in root.glob(".step_*.tmp"):
        shutil.rmtree(stray, ignore_errors=True)


def _save_failure(root: Path, step: int, error: Exception) -> str:
    older = [f for f in _step_folders(root) if _step_of(f) < step]
    kept = (
        f"the previous checkpoint {older[0].name} is intact"
        if older
        else "no earlier checkpoint exists"
    )
    return f"could not write checkpoint step_{step:06d} to {root}: {one_line(error)}; {kept}"


# --- reading ---


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The folder ``checkpoints/latest`` names, if it exists (no check that it reads back whole)."""
    pointer = run_dir / "checkpoints" / "latest"
    if not pointer.exists():
        return None
    path = pointer.parent / pointer.read_text().strip()
    return path if path.exists() else None


def resume(
    run_dir: Path,
    policy: Policy,
    optimizer,
    scheduler,
    log: Callable[[str], None],
    rank: int = 0,
) -> int:
    """Load the newest checkpoint that reads back whole and return its step (0 when none does);
    the global random streams become process ``rank``'s as saved.

    The one ``latest`` names is tried first, then the older ones, newest first. Exactly one line is
    logged: where the run resumes from, preceded by each damaged checkpoint skipped and why."""
    skipped = []
    for path in _candidates(run_dir / "checkpoints"):
        try:
            loaded = _read(path, policy, optimizer)
        except Exception as e:  # a damaged file can raise nearly anything from its reader
            skipped.append(f"checkpoint {path.name} is unreadable ({one_line(e)})")
            continue
        _apply(loaded, policy, optimizer, scheduler, rank)
        log("; ".join([*skipped, f"resuming from {path} (step {loaded.step})"]))
        return loaded.step
    end = "no usable checkpoint left" if skipped else f"no checkpoint in {run_dir}"
    log("; ".join([*skipped, f"{end}: starting from step 0"]))
    return 0


def load_checkpoint(path: Path, policy: Policy, optimizer, scheduler) -> int:
    """Restore one checkpoint into the live objects; returns the step it was taken after. Raises
    :class:`CheckpointError` (and changes nothing) when it is damaged or does not fit the policy."""
    try:
        loaded = _read(path, policy, optimizer)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} is unreadable ({one_line(e)})") from e
    _apply(loaded, policy, optimizer, scheduler, 0)
    return loaded.step


def pending_rollouts(run_dir: Path, step: int, rank: int = 0):
    """Process ``rank``'s rollouts drawn for step ``step + 1`` before checkpoint ``step`` was
    taken, or None where that checkpoint holds none (no async rollouts, or the run's last step)."""
    path = run_dir / "checkpoints" / f"step_{step:06d}" / PENDING
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)[rank]


def read_adapter(folder: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """A checkpoint's ``adapter/`` folder (peft's format) as an engine loads it: its tensors, and
    the keys of its config the engine needs (rank, alpha, target modules)."""
    from safetensors.torch import load_file

    config = json.loads((folder / "adapter_config.json").read_text())
    tensors = load_file(folder / "adapter_model.safetensors")
    targets = config["target_modules"]
    engine_config = {
        "r": config["r"],
        "lora_alpha": config["lora_alpha"],
        "target_modules": sorted(targets) if isinstance(targets, list) else targets,
    }
    return tensors, engine_config


def _candidates(root: Path) -> list[Path]:
    """The folder ``latest`` names (even a missing one, so that its absence is reported), then the
    checkpoints older than it, newest first. Without ``latest``, every checkpoint, newest first: a
    crash between the first rename and the first pointer leaves a whole but unnamed one."""
    folders = _step_folders(root)
    pointer = root / "latest"
    if not pointer.exists():
        return folders
    named = root / pointer.read_text().strip()
    cutoff = _step_of(named)
    older = [f for f in folders if f != named and (cutoff < 0 or _step_of(f) < cutoff)]
    return [named, *older]


@dataclass
class _Loaded:
    """A checkpoint read completely into memory and checked against the live objects."""

    step: int
    weights: dict[str, torch.Tensor]
    state: dict


def _read(path: Path, policy: Policy, optimizer) -> _Loaded:
    """Verify the seal, load every file, and check that all of it fits ``policy`` and ``optimizer``.
    Touches nothing live; raises on the first problem."""
    if not path.is_dir():
        raise CheckpointError("the folder is missing")
    _verify_seal(path)
    from safetensors.torch import load_file

    if policy.is_lora:
        if not (path / ADAPTER).exists():
            raise CheckpointError(f"{ADAPTER} is missing")
        weights = load_file(path / ADAPTER)
    else:
        shards = sorted((path / "model").glob("*.safetensors"))
        if not shards:
            raise CheckpointError("model/ holds no safetensors file")
        weights = {k: v for f in shards for k, v in load_file(f).items()}
    _check_weights(weights, policy)
    if not (path / STATE).exists():
        raise CheckpointError(f"{STATE} is missing")
    state = torch.load(path / STATE, map_location="cpu", weights_only=False)
    missing = {"step", "optimizer", "scheduler", "rng"} - set(state)
    if missing:
        raise CheckpointError(f"{STATE} lacks {sorted(missing)}")
    _check_optimizer(state["optimizer"], optimizer)
    return _Loaded(int(state["step"]), weights, state)


def _verify_seal(path: Path) -> None:
    """Every file the seal lists has its size and sha256. A folder without a seal predates seals:
    its loaders are then the only check."""
    seal = path / SEAL
    if not seal.exists():
        return
    try:
        files = json.loads(seal.read_text())["files"]
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"{SEAL} is damaged") from e
    for name, want in files.items():
        f = path / name
        if not f.is_file():
            raise CheckpointError(f"{name} is missing")
        size = f.stat().st_size
        if size != want["bytes"]:
            short = "truncated, " if size < want["bytes"] else ""
            raise CheckpointError(f"{name} is {short}{size} bytes, not {want['bytes']}")
        if _sha256(f) != want["sha256"]:
            raise CheckpointError(f"{name} does not match its sha256")


def _check_weights(weights: dict[str, torch.Tensor], policy: Policy) -> None:
    """Same names and shapes as the live model. FullFT files omit tied weights (the output head
    sharing the embedding's storage), so a live tensor may be absent if it shares a saved one's."""
    live = policy.weights()
    unknown = sorted(set(weights) - set(live))
    if unknown:
        raise CheckpointError(f"{len(unknown)} tensors the model lacks, e.g. {unknown[0]}")
    for name, tensor in weights.items():
        if tensor.shape != live[name].shape:
            ours, theirs = tuple(tensor.shape), tuple(live[name].shape)
            raise CheckpointError(f"{name} has shape {ours}, the model's {theirs}")
    saved_storage = {live[k].untyped_storage().data_ptr() for k in weights}
    absent = [
        k
        for k in live
        if k not in weights
        and (policy.is_lora or live[k].untyped_storage().data_ptr() not in saved_storage)
    ]
    if absent:
        raise CheckpointError(f"{len(absent)} tensors are missing, e.g. {absent[0]}")


def _check_optimizer(saved: dict, optimizer) -> None:
    """The saved optimizer state fits the live optimizer's parameter groups (checked here so that
    applying it cannot fail half-way)."""
    try:
        ours = [len(g["params"]) for g in saved["param_groups"]]
    except (KeyError, TypeError) as e:
        raise CheckpointError("the optimizer state is damaged") from e
    live = [len(g["params"]) for g in optimizer.state_dict()["param_groups"]]
    if ours != live:
        raise CheckpointError(f"optimizer groups of {ours} parameters, the live one {live}")


def _apply(loaded: _Loaded, policy: Policy, optimizer, scheduler, rank: int) -> None:
    """Put a checked checkpoint into the live objects (nothing here is expected to fail)."""
    optimizer.load_state_dict(loaded.state["optimizer"])
    scheduler.load_state_dict(loaded.state["scheduler"])
    policy.load_weights(loaded.weights)
    saved = loaded.state["rng"]
    # a dict: one process's streams, as checkpoints held them before each process saved its own
    rng.restore(saved[rank] if isinstance(saved, list) else saved)


# --- messages ---


def _step_of(path: Path) -> int:
    """The step a ``step_NNNNNN`` folder holds, or -1 for any other name."""
    match = STEP_NAME.match(path.name)
    return int(match.group(1)) if match else -1


def _step_folders(root: Path) -> list[Path]:
    """The checkpoint folders under ``root``, newest first."""
    if not root.is_dir():
        return []
    return sorted((f for f in root.iterdir() if _step_of(f) >= 0), key=_step_of, reverse=True)


def one_line(error: BaseException) -> str:
    """A short one-line account of an error: the OS's words for OS errors, else the first line."""
    if isinstance(error, CheckpointError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    first = first if len(first) <= 160 else first[:157] + "..."
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


FAILED = "failed.json"  # the record of a run whose process failed (the sweep reads it)


def write_failure(run_dir: Path, record: dict) -> None:
    """Record a failed point in its run directory (created if the process died before making it)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / FAILED).write_text(json.dumps(record, indent=1) + "\n")


def clear_failure(run_dir: Path) -> None:
    """Drop the record of an earlier failure: the point is being run again (its log keeps it)."""
    (run_dir / FAILED).unlink(missing_ok=True)
