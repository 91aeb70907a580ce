"""Training curves: stages chained on one step axis."""

from __future__ import annotations

import json
from pathlib import Path

from engine.plots import chain_runs, plot_training


def _run(root: Path, name: str, steps: list[int], final: int | None) -> Path:
    run = root / name
    run.mkdir()
    lines = ["itc_loss,step"] + [f"{1.0 / s},{s}" for s in steps]
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")
    (run / "eval.csv").write_text("step,val_txt_r1\n" + "".join(f"{s},{s / 10}\n" for s in steps[1::2]))
    if final is not None:
        (run / "final").mkdir()
        (run / "final" / "meta.json").write_text(json.dumps({"source": {"step": final}}))
    return run


def test_stages_are_shifted_and_cut_at_their_final_checkpoint(tmp_path: Path) -> None:
    first = _run(tmp_path, "a", [10, 20, 30, 40], final=30)  # step 40 was logged after the cut
    second = _run(tmp_path, "b", [10, 20], final=None)
    rows, evals, starts = chain_runs([first, second])
    assert [r["step"] for r in rows] == [10, 20, 30, 40, 50]
    assert [r["step"] for r in evals] == [20, 50]
    assert starts == [30]
    out = plot_training([first, second], tmp_path / "curve.png")
    assert out.stat().st_size > 10_000
