"""Training curves from a run's metrics.csv (and eval.csv) as a PNG."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path


def _read(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def _final_step(run: Path) -> float | None:
    """The step of the run's final checkpoint: rows past it were logged by an attempt that was cut."""
    meta = run / "final" / "meta.json"
    if not meta.exists():
        return None
    return float(json.loads(meta.read_text()).get("source", {}).get("step", 0)) or None


def chain_runs(run_dirs: Sequence[str | Path]) -> tuple[list[dict], list[dict], list[float]]:
    """Metrics and eval rows of consecutive stages on one step axis, and where each later stage begins.

    Each stage's steps are shifted by the steps of the stages before it (their final checkpoints)."""
    rows: list[dict] = []
    evals: list[dict] = []
    starts: list[float] = []
    offset = 0.0
    for i, run_dir in enumerate(run_dirs):
        run = Path(run_dir)
        stage = _read(run / "metrics.csv")
        if not stage:
            raise FileNotFoundError(f"no metrics.csv rows in {run}")
        end = _final_step(run) or max(r["step"] for r in stage)
        if i:
            starts.append(offset)
        for source, target in ((stage, rows), (_read(run / "eval.csv"), evals)):
            target.extend({**r, "step": r["step"] + offset} for r in source if r["step"] <= end)
        offset += end
    return rows, evals, starts


def plot_training(
    run_dirs: str | Path | Sequence[str | Path], out: str | Path, title: str | None = None
) -> Path:
    """Losses (left) and validation curves (right) of one run, or of several stages run one after
    another (each started from the previous one's final checkpoint), with dotted lines between stages."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [run_dirs] if isinstance(run_dirs, (str, Path)) else list(run_dirs)
    rows, evals, starts = chain_runs(runs)
    fig, axes = plt.subplots(1, 2 if evals else 1, figsize=(13 if evals else 7, 4.5), squeeze=False)
    ax = axes[0][0]
    terms = sorted({k for r in rows for k in r if k.endswith("_loss")})
    for i, term in enumerate(terms):
        pts = [(r["step"], r[term]) for r in rows if term in r]
        # tab20: more terms than the default cycle's 10 colours, and no two share one.
        colour = plt.cm.tab20(i % 20)
        ax.plot(*zip(*pts, strict=True), label=term.replace("_loss", ""), linewidth=1, color=colour)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    ax.set_title("training losses (region_* = region batches)")
    if evals:
        ax2 = axes[0][1]
        for key in sorted({k for r in evals for k in r if k != "step"}):
            pts = [(r["step"], r[key]) for r in evals if key in r]
            ax2.plot(*zip(*pts, strict=True), marker="o", label=key.replace("val_", ""))
        ax2.set_xlabel("step")
        ax2.set_ylabel("%")
        ax2.set_ylim(0, 100)
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=8)
        ax2.set_title("validation (ITC retrieval R@1, grounding accuracy)")
    for ax_ in axes[0]:
        for x in starts:
            ax_.axvline(x, color="grey", linestyle=":", linewidth=1)
    fig.suptitle(title or " + ".join(Path(r).name for r in runs))
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
