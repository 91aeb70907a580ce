"""Shared by the memory benchmarks (bench_memory.py, bench_encoder_memory.py): what this process holds.

Linux only: it reads ``/proc/self/status`` and ``/proc/self/smaps``. Resident memory comes in two kinds:
private (anonymous) pages the process allocated, and pages of files it maps (shared libraries, the
vector cache's matrices, model graphs), which are page cache the kernel can drop and read again.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict

MB = 1024.0  # smaps and status count kB
_MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+\s")


def memory_mb() -> dict[str, float]:
    """Resident MB now (``rss``), the peak so far (``peak``), and now split into ``anon`` and ``file``."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
                key, amount, _ = line.split()
                values[key.rstrip(":")] = int(amount) / MB
    return {
        "rss": values["VmRSS"],
        "peak": values["VmHWM"],
        "anon": values["RssAnon"],
        "file": values["RssFile"],
    }


def _group(path: str) -> str:
    """Which part of the app a mapped file belongs to (a cache file by its own name)."""
    if ".vcache/" in path:
        return "vector cache: " + os.path.basename(path)
    if path.endswith((".onnx", ".data")):
        return "model graph files"
    if ".so" in os.path.basename(path) or path.endswith(".pyd"):
        return "shared libraries (Python, Qt, onnxruntime, numpy...)"
    return "other mapped files (fonts, locale...)"


def mapped_files_mb() -> dict[str, float]:
    """Resident MB of file pages by group (``_group``), from ``/proc/self/smaps``; a file mapping's
    private copy-on-write pages (relocations) count as private memory, not here."""
    groups: dict[str, float] = defaultdict(float)
    current: str | None = None
    rss = 0
    with open("/proc/self/smaps") as f:
        for line in f:
            if _MAPPING.match(line):
                parts = line.split(maxsplit=5)
                path = parts[5].strip() if len(parts) > 5 else ""
                current = _group(path) if path.startswith("/") and " (deleted)" not in path else None
            elif current is not None and line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif current is not None and line.startswith("Anonymous:"):
                groups[current] += (rss - int(line.split()[1])) / MB
    return dict(groups)
