"""The bridge to a full fine-tune, end to end with the test-tiny model on CPU: a small library with
captions and a taught name -> export-labels -> the records load in the engine's datasets -> an estimate,
then a short fine-tune from the bundle's recorded checkpoint -> export -> the bundle verifies -> the
library is indexed and searched with it (that last leg, an ONNX export, is marked slow). And Ctrl+C
leaves the output folder as it was, with the torch child stopped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from photo_files import write_jpeg, write_photos

from app.finetune.run import fine_tune_library
from app.library.db import open_db
from app.library.hashing import content_hash
from app.personal.store import Label, LearnedName, save_taught
from cli.main import main
from core import finetune, records
from core.hashing import sha256_file

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@dataclass(frozen=True)
class Library:
    root: Path
    photos: Path
    records: Path
    bundle: Path


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, fp32_bundle: Path) -> Iterator[Library]:
    """Six indexed photos, four captioned by sidecars, Rex taught on a seventh, and their records."""
    root = tmp_path_factory.mktemp("finetune")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MULTIGRAIN_HOME", str(root / "home"))
        patch.setenv("MULTIGRAIN_BUNDLE", str(fp32_bundle))
        photos = root / "photos"
        for i, path in enumerate(write_photos(photos, 6)[:4]):
            Path(path + ".txt").write_text(f"a green square number {i}")
        rex = write_jpeg(photos / "rex.jpg", (200, 120, 40), size=(64, 48))
        assert main(["index", str(photos)]) == 0
        db = open_db(root / "home" / ".library" / "library.db")
        learned = LearnedName("another-bundle", "other-weights", "token", np.zeros(32, np.float32), 1, 1.0)
        save_taught(db, "Rex", "dog", [Label(content_hash(rex), rex, (0.1, 0.2, 0.5, 0.6), False)], learned)
        db.close()
        assert main(["export-labels", str(root / "records")]) == 0
        yield Library(root, photos, root / "records", fp32_bundle)


@pytest.fixture(scope="module")
def fine_tuned(library: Library) -> tuple[Path, list[str]]:
    """One epoch of fine-tuning from the bundle's checkpoint (torch in a child); its folder and lines."""
    lines: list[str] = []
    out = library.root / "tuned"
    fine_tune_library(library.bundle, library.records, out, epochs=1, log=lines.append)
    return out, lines


def test_the_records_load_in_the_engines_datasets(library: Library) -> None:
    from engine.data.datasets import ImageTextDataset, RegionDataset
    from engine.data.transforms import TrainTransform

    pairs = records.read_image_text(library.records / finetune.IMAGE_TEXT)
    assert len(pairs) == 5 and sum(len(p.captions) for p in pairs) == 6
    image, texts, _ = ImageTextDataset(pairs, TrainTransform(64, (0.5,) * 3, (0.5,) * 3))[0]
    assert tuple(image.shape) == (3, 64, 64) and texts[0].text
    region_records = records.read_regions(library.records / finetune.REGIONS)
    colour_only = TrainTransform(64, (0.5,) * 3, (0.5,) * 3, colour_only=True)
    _, texts, _ = RegionDataset(region_records, colour_only)[0]
    boxed = [t for t in texts if t.has_box_target]
    assert [t.text for t in boxed] in (["Rex"], ["Rex the dog"])
    x, y, w, h = boxed[0].box  # in the 64 x 64 frame of a random crop that keeps the whole box
    assert 0 <= x < x + w <= 64.01 and 0 <= y < y + h <= 64.01 and w * h > 0.25 * 64 * 64


def test_an_estimate_times_a_few_steps_and_writes_nothing(
    library: Library, capsys: pytest.CaptureFixture[str]
) -> None:
    out = library.root / "estimated"
    argv = [
        "fine-tune-library",
        str(out),
        "--records",
        str(library.records),
        "--from-bundle",
        str(library.bundle),
    ]
    code, printed, err = run(capsys, *argv, "--estimate")
    assert code == 0, err + printed
    [estimate] = [
        finetune.parse_estimate(line) for line in printed.splitlines() if line.startswith("estimate:")
    ]
    assert estimate is not None and estimate.device == "cpu" and estimate.steps == 3  # 3 epochs of 5 photos
    assert (
        estimate.seconds_per_step > 0 and estimate.total_seconds >= estimate.steps * estimate.seconds_per_step
    )
    assert "device: cpu" in printed and not out.exists()
    assert not finetune.staging_folder(out).exists()


def test_a_fine_tune_starts_from_the_bundles_checkpoint(
    fine_tuned: tuple[Path, list[str]], tiny_checkpoint: Path
) -> None:
    out, lines = fine_tuned
    assert "step 1/1" in " ".join(lines) and f"wrote {out}" in " ".join(lines)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["source"]["kind"] == "fine-tune" and meta["source"]["fine_tuned_from"] == str(tiny_checkpoint)
    assert meta["weights_sha256"] != sha256_file(tiny_checkpoint / "model.safetensors")  # it learned
    settings = json.loads((out / "train_config.json").read_text())
    assert settings["region_prob"] == 0.5 and settings["init_checkpoint"] == str(tiny_checkpoint)


def test_refusals_come_before_any_model_loads(
    library: Library, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--records", str(library.records), "--from-bundle", str(library.bundle)]
    code, _, err = run(capsys, "fine-tune-library", str(tiny_checkpoint), *base)
    assert code == 2 and "is the checkpoint the bundle was exported from" in err
    (library.root / "notes").mkdir(exist_ok=True)
    (library.root / "notes" / "todo.txt").write_text("keep")
    code, _, err = run(capsys, "fine-tune-library", str(library.root / "notes"), *base)
    assert code == 2 and "already holds other files" in err
    wrong = ["--records", str(library.photos), "--from-bundle", str(library.bundle)]
    code, _, err = run(capsys, "fine-tune-library", str(library.root / "x"), *wrong)
    assert code == 2 and "holds no training records" in err and "export-labels" in err


@pytest.mark.slow
def test_the_fine_tuned_model_exports_verifies_and_searches(
    library: Library, fine_tuned: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = fine_tuned
    bundle = library.root / "tuned-bundle"
    assert run(capsys, "export", str(out), str(bundle))[0] == 0
    code, printed, err = run(capsys, "verify", str(bundle), "--checkpoint", str(out))
    assert code == 0 and "PASS" in printed, err + printed
    identity = json.loads((bundle / "manifest.json").read_text())["identity"]
    assert identity != json.loads((library.bundle / "manifest.json").read_text())["identity"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MULTIGRAIN_HOME", str(library.root / "home"))
        code, printed, err = run(capsys, "index", str(library.photos), "--bundle", str(bundle))
        assert code == 0 and f"7 photos searchable with {identity}" in printed, err
        code, printed, err = run(capsys, "search", "Rex the dog", "--bundle", str(bundle), "--json", "--all")
    assert code == 0, err
    assert len(json.loads(printed)["results"]) == 7


def test_ctrl_c_leaves_the_previous_checkpoint_as_it_was(library: Library, tiny_checkpoint: Path) -> None:
    out = Path(shutil.copytree(tiny_checkpoint, library.root / "earlier"))  # an earlier fine-tune's output
    before = sha256_file(out / "model.safetensors")
    env = os.environ | {"PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    argv = [
        sys.executable,
        "-m",
        "cli.main",
        "fine-tune-library",
        str(out),
        "--records",
        str(library.records),
    ]
    argv += ["--from-bundle", str(library.bundle), "--epochs", "100"]
    cli = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert cli.stdout is not None
    for line in cli.stdout:
        if line.startswith("step "):
            break
    os.kill(cli.pid, signal.SIGINT)  # as the window's Cancel does: to the command alone, not its child
    rest, err = cli.communicate(timeout=60)
    assert cli.returncode == 130, err
    assert f"cancelled: {out} is as it was" in err
    assert sha256_file(out / "model.safetensors") == before
    assert not finetune.staging_folder(out).exists() and not (library.root / ".earlier.old").exists()
    running = [p for p in Path("/proc").glob("[0-9]*/cmdline") if str(out) in _command_line(p)]
    assert running == []  # the torch child stopped with the command
    assert "step 100/100" not in rest


def _command_line(path: Path) -> str:
    try:
        return path.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""
