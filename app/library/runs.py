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
    row = db.execute(
        "SELECT started_at, status, total, encoded, failed, pid, host FROM index_runs"
        " ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    started_at, status, total, encoded, failed, pid, host = row
    here = host is None or host == socket.gethostname()
    if status == "running" and here and pid is not None and not process_alive(int(pid)):
        status = "interrupted"
    return RunSummary(started_at, status, total, encoded, failed, None if here else host)
