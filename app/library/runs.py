"""What the library's last index run is doing: a run whose process is gone reads as interrupted.

An index run is recorded 'running' when it starts and gets its end status when it finishes. A process
that is killed (or a machine that loses power) never writes that end, so the row alone would say
'running' forever. The row also names its process (pid and host); on the same host, a run whose
process no longer exists is reported as interrupted. The next index run resumes it: every batch
committed before the interruption is kept.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from sqlite_utils import Database

from app.library import store


@dataclass(frozen=True)
class RunSummary:
    started_at: float
    status: str  # done, cancelled, failed, running, or interrupted (running, its process gone)
    total: int
    encoded: int
    failed: int
    host: str | None  # where it runs, when that is another machine than this one


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (one of another user's counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # platforms where signal 0 is not a probe: assume it runs, as before
        return True
    return True


def last_run(db: Database) -> RunSummary | None:
    run = store.last_run(db)
    if run is None:
        return None
    here = run.host is None or run.host == socket.gethostname()
    status = run.status
    if status == "running" and here and run.pid is not None and not process_alive(int(run.pid)):
        status = "interrupted"
    return RunSummary(run.started_at, status, run.total, run.encoded, run.failed, None if here else run.host)
