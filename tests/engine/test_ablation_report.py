"""The ablation table: which file feeds which column, rows not yet run, and the hand-written reading kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.ablation_report import binomial_half_width, report, table, write_report


def _write(path: Path, data: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "eval.json").write_text(json.dumps(data))


def _retrieval(tr: float, ir: float) -> dict:
    itc = {"txt_r1": tr, "img_r1": ir, "r_mean": (tr + ir) / 2}
    itm = {"txt_r1": tr + 10, "img_r1": ir + 10, "r_mean": (tr + ir) / 2 + 10}
    return {"retrieval": {"itc": itc, "itm": itm, "counts": {"images": 1000, "texts": 5000}}}


def test_rows_take_retrieval_from_the_pretrained_run_and_grounding_from_the_fine_tune(tmp_path: Path) -> None:
    _write(tmp_path / "full", _retrieval(30.0, 20.0))
    _write(tmp_path / "full-grounding", {"grounding": {"grounding_acc": 44.4, "count": 3000}})
    _write(tmp_path / "no-box", _retrieval(28.0, 19.0))
    lines = table(tmp_path).splitlines()
    full, no_objects, _, no_box = lines[2:]
    assert full.split(" | ")[1:] == ["30.0", "20.0", "25.0", "40.0", "30.0", "35.0", "44.4 |"]
    assert "not run" in no_objects
    assert no_box.endswith("| 33.5 |  |")  # its fine-tune has not run yet: grounding left empty
    text = report(
        tmp_path,
        {"model": "tiny", "steps": 500, "lr": 2e-4, "batch_size": 32, "region_images": 8, "region_prob": 0.5},
        {"steps": 500},
    )
    assert "TR R@1 ±2.8" in text and "grounding ±1.8" in text
    assert "`tiny` model pre-trained 500 steps at learning rate 0.0002" in text


def test_binomial_half_width() -> None:
    assert binomial_half_width(50.0, 10_000) == pytest.approx(0.98, abs=0.01)
    assert binomial_half_width(50.0, 100) > binomial_half_width(50.0, 10_000)


def test_regenerating_keeps_the_reading_written_by_hand(tmp_path: Path) -> None:
    out = tmp_path / "ablation.md"
    out.write_text("# old table\n\n## Reading the table\n\nObject labels matter.\n")
    write_report(out, "# new table\n")
    assert out.read_text() == "# new table\n\n## Reading the table\n\nObject labels matter.\n"
    write_report(tmp_path / "fresh.md", "# only\n")
    assert (tmp_path / "fresh.md").read_text() == "# only\n"
