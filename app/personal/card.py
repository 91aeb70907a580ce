"""A taught name's model card: how it was taught (photos, seconds, date) and, when they were measured for
its checkpoint, the benchmark figures of the teaching method (docs/personal.md, ``bench-personal``).

The figures live beside the checkpoint in ``personal_card.json`` (written from a ``bench-personal --out``
JSON by ``scripts/personal_card.py``), with the weights' sha256 they were measured on: a card quotes them
only for those very weights, and says "not measured" otherwise. They describe the method on a synthetic
benchmark, not the name itself; a pack carries them so that whoever imports a name knows what to expect.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

CARD_FILE = "personal_card.json"
NOT_MEASURED = "not measured"
# The bench-personal row fields a card keeps, under the names the card gives them.
_ROW_FIELDS = {
    "k": "k",
    "r1": "personal_r1",
    "r5": "personal_r5",
    "mrr": "personal_mrr",
    "queries": "queries",
    "grounding": "grounding",
    "grounding_photos": "grounding_photos",
    "seconds_per_name": "seconds_per_name",
    "re_encoded": "photos_re_encoded",
}


_PERSONAL = {"r1": "personal_r1", "r5": "personal_r5", "mrr": "personal_mrr"}


def _rounded(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def card_from_bench(bench: dict[str, Any], weights_sha256: str, source: str, measured: str) -> dict[str, Any]:
    """The ``personal_card.json`` of a checkpoint from a ``bench-personal --out`` JSON: for each taught
    method, its rows by k, with general retrieval R@1 before and after teaching (TR: image to text, IR:
    text to image, as the bench reports them)."""
    before = bench.get("general_before") or {}
    methods: dict[str, list[dict[str, Any]]] = {}
    for row in bench.get("rows", []):
        after = row.get("general_after")
        if after is None:  # a baseline without teaching
            continue
        kept = {card: _rounded(row[field]) for field, card in _ROW_FIELDS.items() if field in row}
        app = row.get("app")
        if isinstance(app, dict):
            # The figures a person meets are the app's ranking (its index, then the name's box); the
            # global embedding's own figures stay beside them.
            kept |= {f"{card}_global": kept[card] for card in _PERSONAL.values() if card in kept}
            kept |= {card: _rounded(app[field]) for field, card in _PERSONAL.items() if field in app}
            kept["ranked"] = "as the app ranks: its index, then the name's grounded box and its look"
        kept |= {
            "general_tr_r1_before": _rounded(before.get("tr_r1")),
            "general_ir_r1_before": _rounded(before.get("ir_r1")),
            "general_tr_r1_after": _rounded(after.get("tr_r1")),
            "general_ir_r1_after": _rounded(after.get("ir_r1")),
        }
        methods.setdefault(str(row["method"]), []).append(kept)
    settings = bench.get("settings") or {}
    return {
        "weights_sha256": weights_sha256,
        "measured": measured,
        "source": source,
        "steps": settings.get("steps"),
        "methods": methods,
    }


def benchmark_for(checkpoint_dir: Path | None, weights_sha256: str, method: str) -> dict[str, Any] | str:
    """The method's measured figures for these weights, from the checkpoint's card; ``NOT_MEASURED`` when
    there is no card, it was measured on other weights, or it lacks the method (a card that cannot be read
    is no card: the figures are a courtesy, never a reason to refuse an export)."""
    if checkpoint_dir is None:
        return NOT_MEASURED
    try:
        card = json.loads((checkpoint_dir / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return NOT_MEASURED
    if not isinstance(card, dict) or card.get("weights_sha256") != weights_sha256:
        return NOT_MEASURED
    rows = (card.get("methods") or {}).get(method)
    if not isinstance(rows, list) or not rows:
        return NOT_MEASURED
    return {
        "method": method,
        "measured": str(card.get("measured", "")),
        "source": str(card.get("source", "")),
        "steps": card.get("steps"),
        "rows": rows,
    }


def name_card(
    photos: int, seconds: float, taught_at: float, benchmark: dict[str, Any] | str
) -> dict[str, Any]:
    """The card a pack carries for one name."""
    return {
        "photos": int(photos),
        "seconds": round(float(seconds), 1),
        "taught": time.strftime("%Y-%m-%d", time.localtime(taught_at)),
        "benchmark": benchmark,
    }


def _figure(value: Any, unit: str = " %") -> str:
    return f"{value:.1f}{unit}" if isinstance(value, int | float) and not isinstance(value, bool) else "?"


def describe_card(card: dict[str, Any]) -> list[str]:
    """The card in a few lines for a person (a pack's card is shown, never trusted for anything)."""
    photos, seconds, taught = card.get("photos"), card.get("seconds"), card.get("taught")
    count = f"{photos} photo" if photos == 1 else f"{photos} photos"
    lines = [f"taught from {count} in {_figure(seconds, ' s')} on {taught}"]
    bench = card.get("benchmark")
    if not isinstance(bench, dict):
        return [*lines, "benchmark of the method on this checkpoint: not measured"]
    rows = [r for r in bench.get("rows", []) if isinstance(r, dict)]
    row = max(rows, key=lambda r: r.get("k") if isinstance(r.get("k"), int) else -1, default=None)
    if row is None:
        return [*lines, "benchmark of the method on this checkpoint: not measured"]
    before = (row.get("general_tr_r1_before"), row.get("general_ir_r1_before"))
    after = (row.get("general_tr_r1_after"), row.get("general_ir_r1_after"))
    was = f"TR {_figure(before[0])}, IR {_figure(before[1])}"
    general = (
        f"unchanged ({was})"
        if before == after
        else f"{was} before, TR {_figure(after[0])}, IR {_figure(after[1])} after"
    )
    lines.append(
        f"benchmark of the {bench.get('method')} method on this checkpoint ({bench.get('measured')}, "
        f"{row.get('k')} teaching photos, synthetic world): personal R@5 {_figure(row.get('personal_r5'))}, "
        f"R@1 {_figure(row.get('personal_r1'))}, grounding {_figure(row.get('grounding'))}, "
        f"general R@1 {general}"
    )
    return lines
