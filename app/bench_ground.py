"""``bench-ground``: the app's grounding scored and timed on a grounding split, one pass against zoom-in.

Each expression of the split goes through ``app.grounding.ground_image``, the function the CLI and the
GUI draw with, on the bundle's ONNX runtime: once in one pass and once with the zoom-in refinement
(``core.zoom``). The table gives accuracy at IoU >= 0.5 (REFER's inclusive convention, as
``multigrain evaluate``), accuracy by referent size, mean IoU and the median milliseconds per
expression, for every bundle side by side, so the ratios come from one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from app.grounding import ground_image
from app.home import resolve_bundle
from app.library.encoder import load_runtime
from core.box_metrics import AREA_BUCKETS, grounding_metrics
from core.errors import KnownError
from core.records import RecordError, open_image, read_grounding
from core.zoom import Zoom, zoom_from_args


def _score(runtime: object, records: list, zoom: Zoom | None) -> dict:
    preds, truths, shares, seconds = [], [], [], []
    for record in records:
        image = open_image(record.image)
        start = time.perf_counter()
        g = ground_image(runtime, image, record.text, zoom)  # type: ignore[arg-type]
        seconds.append(time.perf_counter() - start)
        x, y, w, h = g.fraction
        preds.append([x * g.width, y * g.height, w * g.width, h * g.height])
        truths.append(record.box)
        shares.append(record.box[2] * record.box[3] / (g.width * g.height))
    out = grounding_metrics(preds, truths, shares)
    out["ms_p50"] = 1000.0 * float(np.median(seconds))
    return out


def _row(bundle: str, name: str, m: dict) -> str:
    sizes = [m["by_referent_area"].get(b[2], {}).get("grounding_acc") for b in AREA_BUCKETS]
    cells = [f"{v:.1f}" if v is not None else "-" for v in sizes]
    return (
        f"| {bundle} | {name} | {m['grounding_acc']:.1f} | {' | '.join(cells)} | {m['mean_iou']:.3f} "
        f"| {m['ms_p50']:.1f} |"
    )


def run_bench_ground(args: argparse.Namespace) -> int:
    zoom = zoom_from_args(args)
    assert zoom is not None  # bench-ground has no --no-zoom: it reports both passes
    path = Path(args.data_root) / "grounding" / f"{args.split}.json"
    try:
        records = read_grounding(path, args.data_root)[: args.limit]
    except (RecordError, OSError) as err:
        raise KnownError(str(err)) from err
    if not records:
        raise KnownError(f"{path}: no grounding expressions")
    bundles = args.bundle or [None]
    header = " | ".join(f"{b[2]}" for b in AREA_BUCKETS)
    print(f"grounding, {len(records)} expressions of {path}, through the app's runtime (CPU)\n")
    print(f"| bundle | pass | accuracy | {header} | mean IoU | ms / expression (p50) |")
    print("| --- | --- | --- | " + "--- | " * len(AREA_BUCKETS) + "--- | --- |")
    report: dict = {"data": str(path), "count": len(records), "zoom": asdict(zoom), "bundles": {}}
    for named in bundles:
        bundle = resolve_bundle(named)
        runtime = load_runtime(bundle, providers="cpu", threads=args.threads)
        if not runtime.has_box_head:
            raise KnownError(f"model bundle {bundle} has no box head: it cannot ground text")
        single, zoomed = _score(runtime, records, None), _score(runtime, records, zoom)
        report["bundles"][str(bundle)] = {"single": single, "zoom": zoomed}
        print(_row(bundle.name, "one pass", single))
        print(_row(bundle.name, f"zoom-in x{zoom.growth}, >= {zoom.min_share}", zoomed))
        gain = zoomed["grounding_acc"] - single["grounding_acc"]
        blanks = " | ".join("" for _ in AREA_BUCKETS)
        slower = zoomed["ms_p50"] / single["ms_p50"]
        print(f"| {bundle.name} | zoom / one pass | {gain:+.1f} points | {blanks} | | x{slower:.2f} time |")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        print(f"\nwrote {args.out}")
    return 0
