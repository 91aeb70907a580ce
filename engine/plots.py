"""Training curves from a run's metrics.csv (and eval.csv) as a PNG."""

from __future__ import annotations

import csv
from pathlib import Path


def _read(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def plot_training(run_dir: str | Path, out: str | Path, title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run_dir)
    rows = _read(run / "metrics.csv")
    if not rows:
        raise FileNotFoundError(f"no metrics.csv rows in {run}")
    evals = _read(run / "eval.csv")
    fig, axes = plt.subplots(1, 2 if evals else 1, figsize=(13 if evals else 7, 4.5), squeeze=False)
    ax = axes[0][0]
    terms = sorted({k for r in rows for k in r if k.endswith("_loss")})
    for term in terms:
        pts = [(r["step"], r[term]) for r in rows if term in r]
        ax.plot(*zip(*pts, strict=True), label=term.replace("_loss", ""), linewidth=1)
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
    fig.suptitle(title or run.name)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
