"""The app's commands end to end on a tiny library, with a test-tiny bundle exported once per session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_runtime import FakeRuntime
from photo_files import write_jpeg, write_photos
from PIL import Image

from app import commands, home
from cli.main import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight test-tiny model exported to an fp32 bundle (engine code runs only here)."""
    import torch

    from engine.checkpoint import save_checkpoint
    from engine.model.factory import create_model
    from export.build import export_bundle

    torch.manual_seed(0)
    model = create_model("test-tiny", pretrained_text=False)
    root = tmp_path_factory.mktemp("tiny")
    checkpoint = save_checkpoint(model, root / "checkpoint")
    export_bundle(checkpoint, root / "bundle", "fp32", model=model, log=lambda _: None)
    return root / "bundle"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_bundle: Path) -> Iterator[Path]:
    """App data in tmp_path/home, the tiny bundle as default, and a folder of six photos."""
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MULTIGRAIN_BUNDLE", str(tiny_bundle))
    photos = tmp_path / "photos"
    write_photos(photos, 5)
    (photos / "sub").mkdir()
    write_jpeg(photos / "sub" / "red.jpg", (220, 20, 20), size=(64, 48))
    (photos / "sub" / "red.jpg.txt").write_text("a red square")
    yield photos


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_index_search_ground_status(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "index", str(env))
    assert code == 0, err
    assert "6 photos found: 6 encoded" in out and "6 photos searchable" in out
    assert "indexed 6/6 photos" in err and "photos/s" in err and "ETA" in err
    assert (tmp_path / "home" / ".library" / "library.db").is_file() and (
        tmp_path / "home" / "thumbs"
    ).is_dir()
    assert "captions: 1 photos with captions, 1 embedded" in out

    code, out, _ = run(capsys, "index", str(env))  # nothing changed: nothing encoded
    assert code == 0 and "6 unchanged" in out

    code, out, err = run(
        capsys, "search", "a red square -blue", "--json", "--all", "--top", "4", "--rerank", "2"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["considered"] == 6 and len(data["results"]) == 4
    assert data["query"] == {"text": "a red square", "negatives": ["blue"], "image": None}
    first = data["results"][0]
    assert set(first) >= {"path", "score", "z", "cosines", "itm", "region", "taken_at"}
    assert all(r["itm"] is not None for r in data["results"][:2]) and data["results"][2]["itm"] is None
    assert os.path.isfile(first["path"])

    code, out, _ = run(
        capsys, "search", "--image", str(env / "sub" / "red.jpg"), "--all", "--top", "1", "--json"
    )
    assert code == 0 and json.loads(out)["results"][0]["path"].endswith("red.jpg")

    code, out, _ = run(capsys, "search", "square", "--folder", str(env / "sub"), "--sort", "date", "--all")
    assert code == 0 and "1 of 1 photos match" in out and "red.jpg" in out

    code, out, _ = run(capsys, "search", "square", "--after", "2999-01-01")
    assert code == 0 and "0 of 0 photos match" in out

    annotated = tmp_path / "annotated.png"
    code, out, err = run(
        capsys, "ground", str(env / "sub" / "red.jpg"), "a red square", "--out", str(annotated)
    )
    assert code == 0, err
    assert "box (" in out and "of 64x48" in out
    with Image.open(annotated) as image:
        assert image.size == (64, 48)
    code, out, _ = run(capsys, "ground", str(env / "sub" / "red.jpg"), "a red square", "--json")
    box = json.loads(out)["box"]
    assert code == 0 and 0 <= box[0] <= box[2] <= 64 and 0 <= box[1] <= box[3] <= 48
    code, out, _ = run(capsys, "ground", str(env / "sub" / "red.jpg"), "a red square", "--json", "--no-zoom")
    single = json.loads(out)["box"]
    assert code == 0 and 0 <= single[0] <= single[2] <= 64 and 0 <= single[1] <= single[3] <= 48

    code, out, _ = run(capsys, "status")
    assert code == 0
    assert "photos: 6 indexed" in out and "vector cache: fresh, 6 photos" in out and "captions: 1" in out
    assert ", done, 6 files, " in out.split("last index run: ")[1].splitlines()[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["search", ""],
        ["search", "!!!"],
        ["search", "dog", "--after", "last tuesday"],
        ["search", "dog", "--image", "/no/such/image.jpg"],
        ["search", "dog", "--image-weight", "2"],
    ],
)
def test_bad_queries_exit_2(env: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert run(capsys, "index", str(env))[0] == 0
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and err.startswith("multigrain search: ")


def test_odd_queries_through_the_cli(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "index", str(env))[0] == 0
    for text in ("'; DROP TABLE photos; --", "🐶🐱 über", "dog " * 2500, "-cat"):
        code, out, err = run(capsys, "search", "--json", "--", text)  # "--": a query may start with "-"
        assert code == 0, err
        json.loads(out)
    assert run(capsys, "status")[1].count("photos: 6 indexed") == 1


def test_known_errors_exit_2_in_one_line(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "search", "dog")
    assert code == 2 and "no library at" in err  # nothing indexed yet

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    code, _, err = run(capsys, "search", "dog", "--db", str(garbage))
    assert code == 2 and "not a Multigrain library" in err and err.count("\n") == 1

    not_image = tmp_path / "notes.jpg"
    not_image.write_text("hello")
    code, _, err = run(capsys, "ground", str(not_image), "a dog")
    assert code == 2 and err.startswith("multigrain ground: ") and err.count("\n") == 1
    code, _, err = run(capsys, "ground", str(env / "p000.jpg"), "a dog", "--zoom-growth", "0.5")
    assert code == 2 and "zoom growth must be at least 1" in err and err.count("\n") == 1

    code, _, err = run(capsys, "index", str(tmp_path / "no-such-folder"))
    assert code == 2 and "not a folder" in err

    monkeypatch.delenv("MULTIGRAIN_BUNDLE")
    monkeypatch.setattr(home, "DEFAULT_BUNDLES", (tmp_path / "none",))
    code, _, err = run(capsys, "index", str(env))
    assert code == 2 and "no model bundle found" in err and err.count("\n") == 1
    code, out, _ = run(capsys, "status")
    assert code == 0 and "model bundle: none" in out
    code, _, err = run(capsys, "ground", str(env / "p000.jpg"), "dog", "--bundle", str(tmp_path))
    assert code == 2 and "not a model bundle" in err


def test_ctrl_c_cancels_after_the_current_batch(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(commands, "load_model", lambda args, **_: FakeRuntime(delay_s=0.3))
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN under nohup, the default handler otherwise
    timer = threading.Timer(0.4, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        code, out, err = run(capsys, "index", str(env), "--batch-size", "1")
    finally:
        timer.cancel()
    assert code == 130 and "cancelled" in out and "cancelling after the current batch" in err
    from app.library.db import open_db

    db = open_db(tmp_path / "home" / ".library" / "library.db")
    done = db.execute("SELECT count(*) FROM photos WHERE status = 'ok'").fetchone()[0]
    assert 1 <= done < 6  # the committed batches are kept
    db.close()
    assert signal.getsignal(signal.SIGINT) is before  # the handler the command found is back


# A search-only install (`pip install multigrain`, no engine extra): a finder in front of every other
# that refuses the engine's packages as if they were not installed.
NO_ENGINE = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
from cli.main import main
sys.exit(main(sys.argv[1:]))
"""
ENGINE_PACKAGES = ("torch", "torchvision", "timm", "transformers")


def run_without(blocked: tuple[str, ...], *argv: str) -> subprocess.CompletedProcess[str]:
    """``multigrain ARGV`` in a new process where the ``blocked`` top-level packages cannot be imported."""
    return subprocess.run(
        [sys.executable, "-c", NO_ENGINE.format(blocked=blocked), *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=300,
    )


def test_index_and_search_run_without_the_engine(env: Path) -> None:
    """Real processes on a search-only install: torch, the engine's other packages and engine/ itself
    cannot be imported, and index, search and ground still work."""
    blocked = (*ENGINE_PACKAGES, "engine")
    indexed = run_without(blocked, "index", str(env))
    assert indexed.returncode == 0, indexed.stderr
    assert "6 photos searchable" in indexed.stdout
    found = run_without(blocked, "search", "a red square", "--json", "--all", "--top", "2")
    assert found.returncode == 0, found.stderr
    assert len(json.loads(found.stdout)["results"]) == 2
    grounded = run_without(blocked, "ground", str(env / "sub" / "red.jpg"), "a red square")
    assert grounded.returncode == 0, grounded.stderr


@pytest.mark.parametrize(
    "argv", [["train"], ["export", "checkpoint", "bundle"], ["model-info"]], ids=lambda a: a[0]
)
def test_an_engine_command_without_the_engine_says_which_extra_in_one_line(argv: list[str]) -> None:
    result = run_without(ENGINE_PACKAGES, *argv)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr == (
        f"multigrain {argv[0]}: needs the engine's packages (torch is not installed): "
        "pip install 'multigrain[engine]'\n"
    )


def test_a_traceback_never_reaches_the_user(env: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not sqlite" * 500)
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "search", "dog", "--db", str(garbage)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=300,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_bench_ground_scores_both_passes_per_bundle(
    env: Path, tmp_path: Path, tiny_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = tmp_path / "world"
    (world / "grounding").mkdir(parents=True)
    records = []
    for i, colour in enumerate([(220, 20, 20), (20, 220, 20), (20, 20, 220)]):
        write_jpeg(world / f"{i}.jpg", colour, size=(64, 48))
        records.append({"image": f"{i}.jpg", "text": "a square", "bbox": [8, 8, 24, 16], "ref_id": i})
    (world / "grounding" / "val.json").write_text(json.dumps(records))
    out_json = tmp_path / "bench.json"
    argv = ["bench-ground", "--data-root", str(world), "--split", "val", "--out", str(out_json)]
    code, out, err = run(capsys, *argv, "--bundle", str(tiny_bundle), "--bundle", str(tiny_bundle))
    assert code == 0, err
    assert "3 expressions" in out and out.count("| bundle | one pass |") == 2
    assert out.count("| zoom-in x1.5, >= 0.4 |") == 2 and "x" in out.split("zoom / one pass")[1]
    report = json.loads(out_json.read_text())
    scores = report["bundles"][str(tiny_bundle)]
    for name in ("single", "zoom"):
        assert scores[name]["count"] == 3 and 0.0 <= scores[name]["grounding_acc"] <= 100.0
        assert scores[name]["ms_p50"] > 0
    assert report["zoom"] == {"growth": 1.5, "min_share": 0.4}

    code, _, err = run(capsys, "bench-ground", "--data-root", str(world), "--split", "nope")
    assert code == 2 and err.startswith("multigrain bench-ground: ") and err.count("\n") == 1


def swap_in_garbage(path: Path) -> bytes:
    """Replace the photo at ``path`` with as many bytes that are no image; returns the photo's bytes."""
    good = path.read_bytes()
    path.write_bytes(b"x" * len(good))
    return good


def restore_quietly(path: Path, good: bytes) -> None:
    """Put the photo back with the same size and modification time: to an update, nothing changed."""
    stat = path.stat()
    path.write_bytes(good)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_unreadable_files_are_read_again_when_they_change_or_when_asked(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = sorted(env.glob("*.jpg"))[0]
    good = swap_in_garbage(photo)
    code, out, _ = run(capsys, "index", str(env))
    assert code == 0 and "1 failed" in out
    restore_quietly(photo, good)
    code, out, _ = run(capsys, "index", str(env))  # unchanged to the scan: not read again
    assert code == 0 and "6 unchanged" in out and "5 photos searchable" in out
    code, out, _ = run(capsys, "index", "--retry-failed")  # every folder, the unreadable read again
    assert code == 0 and "1 encoded" in out and "0 failed" in out and "6 photos searchable" in out
    # A file that failed and then changed (size or time) is read again by a plain update.
    good = swap_in_garbage(photo)
    os.utime(photo, ns=(1, 1))
    assert "1 failed" in run(capsys, "index", str(env))[1]
    photo.write_bytes(good)
    code, out, _ = run(capsys, "index", str(env))
    assert code == 0 and "0 failed" in out and "6 photos searchable" in out
    code, _, err = run(capsys, "index")
    assert code == 2 and "--retry-failed" in err


def test_bench_search_compares_the_vector_index_with_faiss(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("faiss")
    argv = ["bench-search", "--index-compare", "300", "--only-index-compare", "--queries", "3"]
    code, out, _ = run(capsys, *argv, "--work", str(tmp_path / "work"))
    assert code == 0
    assert "vector index, 300 photos" in out and "faiss / hand-written" in out
    rows = [line for line in out.splitlines() if "recall@10" in line]
    assert len(rows) == 2 and all("recall@10 1.000" in row for row in rows)  # 300 photos: all candidates
    assert "lines of own code" in out
