"""Checkpoint files that would hurt if read as they ask: a huge safetensors header, a pickle that runs
code, a zip bomb. Each is refused in one sentence before anything large is allocated."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from fault_checks import Run, one_sentence

from core.hashing import sha256_file
from engine.checkpoint import WEIGHTS, save_checkpoint
from engine.model.factory import create_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(
        create_model("test-tiny", pretrained_text=False), tmp_path_factory.mktemp("c") / "ck"
    )


@pytest.fixture
def huge_header_checkpoint(checkpoint: Path, tmp_path: Path) -> Path:
    """A copy of ``checkpoint`` whose weights file claims a 1 TB JSON header (its meta hash updated, as
    a tool that rewrote the file would)."""
    copy = tmp_path / "huge-header"
    copy.mkdir()
    for file in checkpoint.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    (copy / WEIGHTS).write_bytes(struct.pack("<Q", 2**40) + b'{"__metadata__":{}}')
    meta = json.loads((copy / "meta.json").read_text())
    meta["weights_sha256"] = sha256_file(copy / WEIGHTS)
    (copy / "meta.json").write_text(json.dumps(meta))
    return copy


def test_a_huge_safetensors_header_is_refused(huge_header_checkpoint: Path, tmp_path: Path, run: Run) -> None:
    code, _, err = run("export", str(huge_header_checkpoint), str(tmp_path / "out"))
    line = one_sentence(err, "export")
    assert code == 2 and f"cannot read {WEIGHTS}" in line and "header too large" in line


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return os.system, ("true",)


def test_a_pickle_that_runs_code_is_named_as_such(tmp_path: Path, run: Run) -> None:
    file = tmp_path / "official.pth"
    torch.save({"model": {"w": torch.zeros(2)}, "hook": _RunsCode()}, file)
    code, _, err = run("import-xvlm", str(file), "--config", "test-tiny", "--out", str(tmp_path / "out"))
    line = one_sentence(err, "import-xvlm")
    assert code == 2 and "the file asks to run code (pickle GLOBAL posix.system)" in line
    assert "Multigrain never does" in line and "damaged or another format" not in line


def test_a_zip_bomb_checkpoint_is_refused_before_torch_reads_it(
    tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = tmp_path / "bomb.pth"
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("archive/data/0", "w", force_zip64=True) as member,
    ):
        for _ in range(256):  # 256 MB of zeros in about 250 KB
            member.write(b"\0" * 2**20)

    def loaded(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load read the bomb")

    monkeypatch.setattr(torch, "load", loaded)
    code, _, err = run("import-xvlm", str(bomb), "--config", "test-tiny", "--out", str(tmp_path / "out"))
    line = one_sentence(err, "import-xvlm")
    assert code == 2 and "would unpack to 0.3 GB" in line and "zip bomb" in line
    assert bomb.stat().st_size < 2**20
