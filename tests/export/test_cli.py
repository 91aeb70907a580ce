"""``multigrain export`` / ``verify`` / ``bench-encoders``: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
import pathlib
import shutil

import pytest

from cli.main import main
from engine.checkpoint import save_checkpoint


def _last_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_verify_passes_against_its_checkpoint(
    fp32_bundle: pathlib.Path, tiny_checkpoint: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(fp32_bundle), "--checkpoint", str(tiny_checkpoint), "--providers", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "files match their sha256" in out
    assert "image_embed" in out and "itm_logit" in out and "box" in out
    assert out.strip().splitlines()[-1].startswith("PASS")


def test_verify_int8_prints_thresholds(
    int8_bundle: pathlib.Path, tiny_checkpoint: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(int8_bundle), "--checkpoint", str(tiny_checkpoint), "--providers", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "0.99" in out and "PASS" in out


def test_verify_fails_against_another_checkpoint(
    fp32_bundle: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trained_like import randomised

    other = save_checkpoint(randomised("test-tiny", seed=1), tmp_path / "other")
    assert main(["verify", str(fp32_bundle), "--checkpoint", str(other)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_verify_refuses_a_damaged_bundle_in_one_line(
    fp32_bundle: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = pathlib.Path(shutil.copytree(fp32_bundle, tmp_path / "b"))
    (bundle / "concepts.onnx").write_bytes(b"edited")
    assert main(["verify", str(bundle)]) == 2
    line = _last_line_error(capsys)
    assert line.startswith("multigrain verify:") and "concepts.onnx does not match its sha256" in line


def test_export_errors_are_one_line(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "not a checkpoint directory" in _last_line_error(capsys)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert main(["export", str(tmp_path / "missing"), str(busy)]) == 2
    assert "is not a model bundle" in _last_line_error(capsys)
    assert (busy / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_export_int8_end_to_end(
    tiny_checkpoint: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle"
    assert main(["export", str(tiny_checkpoint), str(out), "--variant", "int8"]) == 0
    printed = capsys.readouterr().out
    assert "exporting 5 fp32 graphs" in printed and "making the int8 variant" in printed and "PASS" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["variant"] == "int8" and manifest["drift"]["pass"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*manifest["files"], "manifest.json"])
    assert not list(tmp_path.glob(".bundle.*")), "no staging directory left behind"
    assert main(["verify", str(out), "--checkpoint", str(tiny_checkpoint), "--providers", "cpu"]) == 0


@pytest.mark.slow
def test_bench_encoders_prints_the_table(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench-encoders", "--models", "test-tiny", "--batches", "1,3", "--seconds", "0.05"]
    assert main([*args, "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for engine in ("torch eager CPU", "ORT fp32 CPU", "ORT int8 CPU"):
        assert out.count(engine) == 2, engine
    assert "GFLOP/img" in out and "% peak" in out
