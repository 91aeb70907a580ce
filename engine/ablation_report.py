"""Collect the four ablation runs' evaluations into a markdown table (docs/ablation.md).

Layout written by scripts/ablation: ``runs/ablation/<variant>/eval.json`` holds the retrieval metrics of
the pre-trained model, ``runs/ablation/<variant>-grounding/eval.json`` the grounding accuracy after the
common grounding fine-tune.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from engine.train_config import read_config_file

VARIANTS = [
    ("full", "X-VLM (object labels + region descriptions + box losses)"),
    ("no-objects", "without object labels"),
    ("no-regions", "without region descriptions"),
    ("no-box", "without the box losses"),
]
HEADER = (
    "| training data / loss | TR R@1 | IR R@1 | R mean | TR R@1 (ITM) | IR R@1 (ITM) | R mean (ITM) "
    "| grounding acc |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _cell(metrics: dict[str, float] | None, key: str) -> str:
    return "" if metrics is None or key not in metrics else f"{metrics[key]:.1f}"


def binomial_half_width(percent: float, count: int) -> float:
    """95 % half-width (percentage points) of a rate measured on ``count`` independent queries."""
    p = percent / 100.0
    return 196.0 * math.sqrt(max(p * (1.0 - p), 1e-12) / max(count, 1))


def table(runs: Path) -> str:
    rows = [HEADER]
    for name, label in VARIANTS:
        retrieval = (_load(runs / name / "eval.json") or {}).get("retrieval")
        grounding = (_load(runs / f"{name}-grounding" / "eval.json") or {}).get("grounding")
        if retrieval is None and grounding is None:
            rows.append(f"| {label} | not run | | | | | | |")
            continue
        itc = retrieval["itc"] if retrieval else None
        itm = retrieval.get("itm") if retrieval else None
        cells = [_cell(itc, "txt_r1"), _cell(itc, "img_r1"), _cell(itc, "r_mean")]
        cells += [_cell(itm, "txt_r1"), _cell(itm, "img_r1"), _cell(itm, "r_mean")]
        cells.append(_cell(grounding, "grounding_acc"))
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def noise_note(runs: Path) -> str:
    """How far apart two rows must be before the split itself can tell them apart (one seed each)."""
    full = _load(runs / "full" / "eval.json")
    ground = _load(runs / "full-grounding" / "eval.json")
    if full is None or ground is None:
        return ""
    itc, counts, g = full["retrieval"]["itc"], full["retrieval"]["counts"], ground["grounding"]
    return (
        "Sampling noise of the test split alone (95 % binomial half-width at the full model's rates): "
        f"TR R@1 ±{binomial_half_width(itc['txt_r1'], counts['images']):.1f}, "
        f"IR R@1 ±{binomial_half_width(itc['img_r1'], counts['texts']):.1f}, "
        f"grounding ±{binomial_half_width(g['grounding_acc'], g['count']):.1f} points. "
        "Each row is one training seed, so seed-to-seed variation comes on top of this.\n"
    )


def report(runs: Path, pretrain_cfg: dict[str, Any], grounding_cfg: dict[str, Any]) -> str:
    return (
        "# Ablation on the synthetic world\n\n"
        "X-VLM's ablation (the paper's table of training data and losses) on our world: the "
        f"`{pretrain_cfg['model']}` model pre-trained {pretrain_cfg['steps']} steps at learning rate "
        f"{pretrain_cfg['lr']:g} (batch {pretrain_cfg['batch_size']}; region "
        f"batches of {pretrain_cfg['region_images']} images with p={pretrain_cfg['region_prob']}) from the "
        "same initialisation and seed, four ways. Retrieval is measured on the pre-trained model (ITC, "
        "and ITM re-ranking of the ITC top 16). Grounding is measured, as in the paper, after the same "
        f"grounding fine-tune of every variant ({grounding_cfg['steps']} steps, box and box-attention "
        "losses, image and text trunks frozen), so the variant pre-trained without boxes is measured too.\n\n"
        "Test split: `data/world` test, 1,000 images and 5,000 captions; grounding on its referring "
        "expressions (world v2: referents of at least 2 % of the image).\n\n"
        "Reproduce: `multigrain scenes --out data/world --n 21500 --seed 0`, then `scripts/ablation` "
        "(configs/train/ablation.json, configs/train/ablation_grounding.json).\n\n"
        + table(runs)
        + "\n"
        + noise_note(runs)
    )


# Written by hand after reading the table; kept when the table is regenerated.
READING_MARK = "\n## Reading the table"


def write_report(out: Path, text: str) -> None:
    old = out.read_text() if out.exists() else ""
    if READING_MARK in old:
        text += old[old.index(READING_MARK) :]
    out.write_text(text)


def main(argv: list[str]) -> None:
    runs, out = Path(argv[0]), Path(argv[1])
    # Resolved like `multigrain train` resolves them: the grounding stage names ablation.json as its base.
    pretrain_cfg = read_config_file(Path("configs/train/ablation.json"))
    grounding_cfg = read_config_file(Path("configs/train/ablation_grounding.json"))
    text = report(runs, pretrain_cfg, grounding_cfg)
    write_report(out, text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
