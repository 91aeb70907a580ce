"""How an index run shares the machine between decoding photos and encoding them.

The indexer's pipeline (``indexer.py``) has decoder threads that read, decode, thumbnail and preprocess
photos, and encoder threads that run the vision graph, each its own onnxruntime call. On a CPU both want
every core: a 12-megapixel JPEG costs about 30 ms of one core on the decode side and xvlm-base-384
int8 about 500 ms of CPU to encode (``multigrain bench-index``, docs/benchmarks.md "Indexing: decode
beside encode"). The split below is what that benchmark chose on the 2-core build machine, in rounds
alternated with the indexer's earlier split (2 decoders, one call on all cores at a batch of 16):

- A batch of 1 image per onnxruntime call on a CPU: ``bench-encoders`` measured xvlm-base-384 int8 at
  6.36 images/s at batch 1 against 4.86 at batch 16 on the idle machine; ``bench-index``'s medians
  agree (encoder alone, one call on both cores: 2.04 against 1.28 images/s, busy machine).
- One encoder call per core with one intra-op thread each, the batch cut into one part per call. A
  call with intra-op threads on every core waits at each operator for its slowest thread, and a
  decoder (or another process) holding one core makes that thread slow; single-thread calls do not
  wait for each other, and the operating system gives a freed core to whichever thread is ready.
  ``MAX_ENCODERS`` bounds the calls (each holds its own activations); more cores than that go to each
  call's intra-op threads.
- One decoder per core: the queue between decoders and encoders is bounded (``indexer.PREFETCH``), so
  decoders that are ahead wait and cost nothing.
- On a GPU one call at a time with a large batch (``GPU_RUN_BATCH``) keeps it busy while decoders on
  every core feed it. Not measured: no GPU was at hand.

Only 1 and 2 cores were measured (``taskset``-style affinity on the 2-core machine); the rule for more
cores extends them, and ``multigrain bench-index --cores 1,2,4,...`` measures it on the machine at hand.
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
