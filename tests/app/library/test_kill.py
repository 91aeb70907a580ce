"""``kill -9`` in the middle of indexing, then a restart: the database is whole and every photo is
indexed exactly once (batches committed before the kill are not encoded again)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from photo_files import write_photos

from app.library.db import open_db
from app.library.runs import last_run

ROOT = Path(__file__).resolve().parents[3]

# The child refuses torch, so this also proves the library and indexer never import it.
CHILD = """
import sys
sys.modules["torch"] = None
from fake_runtime import FakeRuntime
from app.library.db import open_db
from app.library.indexer import Indexer
db_path, thumbs, folder, delay, log = sys.argv[1:]
runtime = FakeRuntime(delay_s=float(delay), log_path=log)
report = Indexer(open_db(db_path), runtime, thumbs, batch_size=2, workers=2).index([folder])
print(report.status, report.counts.encoded)
"""


def run_child(tmp_path: Path, delay: float, log: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests" / "app")])}
    args = [
        str(tmp_path / "library.db"),
        str(tmp_path / "thumbs"),
        str(tmp_path / "photos"),
        str(delay),
        str(log),
    ]
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ok_hashes(db_path: Path) -> set[str]:
    try:  # read-only, so polling never creates the file before the child does
        with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
            rows = conn.execute("SELECT content_hash FROM photos WHERE status = 'ok'").fetchall()
    except sqlite3.OperationalError:  # not created yet, or busy for a moment
        return set()
    return {row[0] for row in rows}


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_during_indexing_then_restart(tmp_path: Path) -> None:
    count = 12
    write_photos(tmp_path / "photos", count)
    db_path = tmp_path / "library.db"

    child = run_child(tmp_path, delay=0.4, log=tmp_path / "first.log")
    deadline = time.monotonic() + 60
    while len(ok_hashes(db_path)) < 4 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, f"the indexer ended before it was killed: {child.communicate()}"
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL

    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    committed = ok_hashes(db_path)
    assert 4 <= len(committed) < count
    # The killed run never wrote its end; the library still says it was interrupted, not 'running'.
    with closing(open_db(db_path)) as db:
        assert last_run(db).status == "interrupted"  # type: ignore[union-attr]

    child = run_child(tmp_path, delay=0.0, log=tmp_path / "second.log")
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.split() == ["done", str(count - len(committed))]

    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT path, status, content_hash FROM photos").fetchall()
        vectors = conn.execute("SELECT count(*), count(DISTINCT content_hash) FROM vectors").fetchone()
        runs = conn.execute("SELECT status FROM index_runs ORDER BY id").fetchall()
    assert len(rows) == len({r[0] for r in rows}) == count and {r[1] for r in rows} == {"ok"}
    assert vectors == (count, count)
    assert runs == [("running",), ("done",)]  # the killed run could not record its end
    encoded_again = sum(int(n) for n in (tmp_path / "second.log").read_text().split())
    assert encoded_again == count - len(committed)  # nothing committed before the kill was redone
