"""How an index run shares the machine between decoding photos and encoding them.

The indexer's pipeline (``indexer.py``) has worker threads that read, decode, thumbnail and preprocess
photos, and encoder calls that run the vision graph. On a CPU both want every core: the encoder costs
about 500 ms of CPU a 12-megapixel photo with xvlm-base-384 int8 and decoding about 80 ms, measured on
the 2-core build machine (``multigrain bench-index``). The split below is what that benchmark chose
there (docs/benchmarks.md, "Indexing: decode beside encode"):

- One onnxruntime call with intra-op threads on every core stalls at each operator's barrier whenever a
  decoder thread holds one of the cores, so the encoder loses more time than the decoders use. Two
  calls of one intra-op thread each never wait for each other: the operating system fills the cores
  with whichever thread is ready, and decoding slots into the gaps.
- So on a CPU: one encoder call per core, up to ``MAX_ENCODERS`` (each call holds its own activations,
  about 0.3 GB at a batch of 16 for xvlm-base-384); the cores left over when there are more of them go
  to each call's intra-op threads. Decoders: one per core; the queue between them and the encoders is
  bounded, so idle decoders cost nothing.
- The images of one onnxruntime call (``run_batch``): 1 on a CPU, where larger batches were not faster;
  on a GPU a large batch keeps it busy and one call at a time is enough (``GPU_RUN_BATCH``).

Machines with more than 2 cores were not measured (the build machine has 2); the rule for them extends
the measured one and ``multigrain bench-index --cores`` measures any split on the machine at hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

MAX_ENCODERS = 4
GPU_RUN_BATCH = 32
_CUDA = "CUDAExecutionProvider"


@dataclass(frozen=True)
class Split:
    decoders: int  # threads that read, decode, thumbnail and preprocess
    encoders: int  # batches encoded at once, each by its own onnxruntime call
    intra_op: int  # onnxruntime intra-op threads of each call (0: onnxruntime's default)
    run_batch: int  # images per onnxruntime call

    def __str__(self) -> str:
        threads = self.intra_op or "default"
        return (
            f"{self.decoders} decoders, {self.encoders} encoder calls x {threads} threads, "
            f"{self.run_batch} images a call"
        )


def available_cores() -> int:
    """The cores this process may run on (a ``taskset`` or container limit counts, not the machine's)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return max(1, len(affinity(0)))
    return max(1, os.cpu_count() or 1)


def default_split(cores: int | None = None, gpu: bool = False) -> Split:
    """The split for ``cores`` (default: ``available_cores()``); see the module docstring."""
    cores = cores or available_cores()
    if gpu:
        return Split(decoders=cores, encoders=1, intra_op=0, run_batch=GPU_RUN_BATCH)
    encoders = min(cores, MAX_ENCODERS)
    return Split(decoders=cores, encoders=encoders, intra_op=max(1, cores // encoders), run_batch=1)


def split_for(runtime: Any) -> Split:
    """The split for indexing with ``runtime``: ``default_split`` for its device. A runtime made with
    other intra-op threads than that split's, or that does not say (the window's, which serves
    searches too, keeps onnxruntime's default), is called by one encoder thread at a time."""
    gpu = _CUDA in getattr(runtime, "providers", ())
    chosen = default_split(gpu=gpu)
    threads = getattr(runtime, "threads", None)
    if gpu or threads == chosen.intra_op:
        return chosen
    return replace(chosen, encoders=1, intra_op=threads or 0)
