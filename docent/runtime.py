"""What the process runs on: cores, threads, the process group, library versions, memory.

Below training, evaluation and the assistant alike, so none of them imports another for these.
"""

from __future__ import annotations

import importlib.metadata
import os
import resource
import sys
from typing import Any

# the libraries whose versions shape a trained model (recorded in manifests and fingerprints)
VERSIONED = ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "datasets")


def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads share one core's FPU: no gain for matmuls)."""
    import psutil

    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or allowed
    return max(1, min(physical, allowed))


def package_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def join_processes(threads: int) -> tuple[Any, int]:
    """The process group (gloo on a CPU, nccl on GPUs) and the torch threads of this process.

    One process, or several under `accelerate launch`; the Trainer's TrainingArguments later join
    this same state. Processes on one machine share its cores: 2 workers on 2 cores get 1 thread
    each (torchrun sets LOCAL_WORLD_SIZE: the processes on this machine). `threads` > 0 overrides.
    """
    import torch
    from accelerate import PartialState

    processes = PartialState(cpu=not torch.cuda.is_available())
    threads = threads or max(1, physical_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    torch.set_num_threads(threads)
    return processes, threads


def leave_process_group() -> None:
    """Tear down the process group of a multi-process launch (no-op otherwise).

    Without this a worker can abort while exiting ("terminate called without an active
    exception"): gloo's threads outlive the interpreter's shutdown.
    """
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
