"""A run's own random streams (torch CPU, CUDA where present, Python), kept apart from everything else
that draws from the global generators (vLLM's sampler on a CPU draws from torch's at every decode step).

A run trains inside `own(state)`: its streams are swapped in, and swapped back out only if the work
completes, so a failed step leaves the state where the step began (what an emergency checkpoint saves).
A run alone and a run in a pack therefore draw the same numbers.
"""

from __future__ import annotations

import contextlib
import random

import torch


def capture() -> dict:
    """The global streams as they are now."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()  # the current device's
    return state


def restore(state: dict) -> None:
    """Set the global streams to ``state``."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


@contextlib.contextmanager
def own(state: dict):
    """Run the body on the streams ``state``; on success ``state`` becomes where they got to, and the
    global streams go back to what they were."""
    outside = capture()
    restore(state)
    try:
        yield
        state.update(capture())
    finally:
        restore(outside)
