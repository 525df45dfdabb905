"""A terminal a person reads: third-party noise (vLLM, transformers, torch and OpenMP warnings) goes
to a log file; our own lines, progress bars and errors stay on the terminal."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def quiet_terminal(log_path: Path) -> None:
    """From now on, Python logging and warnings of every library, and whatever C code writes to
    file descriptor 2, go to ``log_path``; ``sys.stderr`` and ``sys.stdout`` still reach the
    terminal, so `print`, rich progress bars and error messages are seen as before."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 (open for the life of the process)
    os.environ["VLLM_CONFIGURE_LOGGING"] = "0"  # vLLM would add its own terminal handler
    os.environ["VLLM_LOGGING_LEVEL"] = "INFO"  # the file can hold what the terminal could not
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(handlers=[handler], level=logging.INFO, force=True)
    logging.captureWarnings(True)
    import transformers.utils.logging as hf_logging

    hf_logging.disable_default_handler()
    hf_logging.enable_propagation()
    hf_logging.disable_progress_bar()  # "Loading weights" bars: the run has its own progress
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    os.dup2(log.fileno(), 2)  # C-level writes (torch, OpenMP, vLLM's C++) land in the log
    sys.stderr = terminal
