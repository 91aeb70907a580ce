"""``tune-view``: calibrate what the result view claims, on the world's validation split.

Three measurements, each through the functions the app itself uses:

- The grounded box (``app.grounding.ground_image``, zoom-in as the view draws it): its ITM confidence
  against whether the box is right (IoU >= 0.5). The threshold is the one that best separates right
  from wrong boxes (largest true-positive rate minus false-positive rate, Youden's J); below it the
  view says it is not sure where the thing is.
- The best candidate region (the library's fixed boxes, ``core.region_boxes.BOXES``, the one whose
  region embedding is closest to the text): how often it holds the referent's centre, against a box
  of the set picked at random. It is drawn only when it beats chance by ``REGION_MARGIN``.
- The text/image balance of a text-plus-image query: a caption's cosines with the photos spread far
  less than an example photo's do, so at 50/50 the image decides the order. The default image share
  makes both parts' spreads (robust scale across the photos) equal.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from app.grounding import ground_image
from app.home import resolve_bundle
from app.library.encoder import load_runtime
from app.search import combine
from core.box_metrics import iou_inclusive
from core.errors import KnownError
from core.records import RecordError, open_image, read_grounding, read_retrieval_eval
from core.region_boxes import BOXES
from core.search_settings import SearchSettings, ViewSettings, parse_settings

REGION_MARGIN = 0.10  # the best region must hold the referent this much more often than a random box
BALANCE_QUERIES = 200  # caption + other photo pairs whose score spreads set the balance


@dataclass(frozen=True)
class BoxSample:
    confidence: float  # ITM logit of the grounded box
    correct: bool  # IoU >= 0.5 with the referent
    region_hit: bool  # the best candidate region holds the referent's centre
    chance_hit: float  # share of the candidate boxes that hold it


def _holds_centre(boxes: np.ndarray, truth: tuple[float, float, float, float], w: int, h: int) -> np.ndarray:
    """Which of ``boxes`` (fractions x, y, w, h) hold the centre of ``truth`` (pixels x, y, w, h)."""
    cx, cy = (truth[0] + truth[2] / 2) / w, (truth[1] + truth[3] / 2) / h
    return (
        (boxes[:, 0] <= cx)
        & (cx <= boxes[:, 0] + boxes[:, 2])
        & (boxes[:, 1] <= cy)
        & (cy <= boxes[:, 1] + boxes[:, 3])
    )


def measure_boxes(runtime: object, records: list) -> list[BoxSample]:
    samples = []
    for record in records:
        image = open_image(record.image).convert("RGB")
        g = ground_image(runtime, image, record.text)  # type: ignore[arg-type]
        x, y, w, h = g.fraction
        pred = np.array([[x * g.width, y * g.height, w * g.width, h * g.height]])
        correct = bool(iou_inclusive(pred, np.array([record.box]))[0] >= 0.5)
        _, tokens = runtime.encode_images([image])  # type: ignore[attr-defined]
        regions = runtime.encode_regions(tokens, BOXES[None].astype(np.float64))[0]  # type: ignore[attr-defined]
        text = runtime.encode_texts([record.text])[0][0]  # type: ignore[attr-defined]
        holds = _holds_centre(BOXES, record.box, g.width, g.height)
        best = int(np.argmax(regions @ text))
        samples.append(BoxSample(g.confidence, correct, bool(holds[best]), float(holds.mean())))
    return samples


def box_threshold(samples: list[BoxSample]) -> dict:
    """The confidence that best separates right boxes from wrong ones (Youden's J), and what it gives."""
    conf = np.array([s.confidence for s in samples])
    right = np.array([s.correct for s in samples])
    if right.all() or not right.any():
        raise KnownError("the split's boxes are all right or all wrong: no threshold to calibrate")
    best_t, best_j = float(conf.min()), -1.0
    for t in np.unique(conf):
        j = float(np.mean(conf[right] >= t) - np.mean(conf[~right] >= t))
        if j > best_j:
            best_t, best_j = float(t), j
    sure = conf >= best_t
    return {
        "threshold": round(best_t, 3),
        "youden_j": best_j,
        "accuracy_all": float(right.mean()),
        "accuracy_sure": float(right[sure].mean()),
        "accuracy_unsure": float(right[~sure].mean()) if (~sure).any() else None,
        "share_sure": float(sure.mean()),
    }


def region_report(samples: list[BoxSample]) -> dict:
    hit = float(np.mean([s.region_hit for s in samples]))
    chance = float(np.mean([s.chance_hit for s in samples]))
    return {
        "best_region_holds_referent": hit,
        "random_box_holds_referent": chance,
        "helps": hit >= chance + REGION_MARGIN,
    }


def balance_report(runtime: object, retrieval: list, settings: SearchSettings, count: int) -> dict:
    """For queries made of one photo's caption (A) and another photo as the example (B), at each image
    weight: how often A is in the combined top 10 (the text counts) and how often B's nearest other
    photo is (the image counts); B itself is left out of the ranking. The default is the weight whose
    weaker part is found most often."""
    images = [open_image(r.image).convert("RGB") for r in retrieval]
    global_, tokens = runtime.encode_images(images)  # type: ignore[attr-defined]
    boxes = np.broadcast_to(BOXES, (len(images), *BOXES.shape)).astype(np.float64)
    regions = runtime.encode_regions(tokens, boxes)  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    picks = rng.choice(len(retrieval), size=(min(count, len(retrieval)), 2), replace=True)
    picks = picks[picks[:, 0] != picks[:, 1]]  # the example is another photo than the caption's
    texts = runtime.encode_texts([retrieval[a].captions[0] for a, _ in picks])[0]  # type: ignore[attr-defined]

    def scores(vectors: np.ndarray) -> np.ndarray:
        cos_r = np.einsum("qd,nkd->qnk", vectors, regions).max(axis=2)
        return combine(vectors @ global_.T, cos_r, None, settings)

    rows = np.arange(len(picks))
    text_scores, image_scores = scores(texts), scores(global_[picks[:, 1]])
    image_scores[rows, picks[:, 1]] = -np.inf
    neighbour = np.argmax(image_scores, axis=1)
    table = {}
    for weight in np.round(np.arange(0.05, 0.96, 0.05), 2):
        mixed = (1 - weight) * text_scores + weight * image_scores
        top = np.argsort(-mixed, axis=1)[:, :10]
        text_hit = float(np.mean((top == picks[:, :1]).any(axis=1)))
        image_hit = float(np.mean((top == neighbour[:, None]).any(axis=1)))
        table[float(weight)] = {"text_target_top10": text_hit, "image_neighbour_top10": image_hit}
    best = max(table, key=lambda w: (min(table[w].values()), -abs(w - 0.5)))
    return {"image_weight": best, "by_weight": table, "queries": len(picks)}


def _load_base(path: str | None) -> SearchSettings:
    if not path or not Path(path).is_file():
        return SearchSettings()
    return parse_settings(json.loads(Path(path).read_text()))


def run_tune_view(args: argparse.Namespace) -> int:
    root = Path(args.data_root)
    try:
        grounding = read_grounding(root / "grounding" / f"{args.split}.json", root)[: args.limit]
        retrieval = read_retrieval_eval(root / "retrieval" / f"{args.split}.json", root)
    except (RecordError, OSError) as err:
        raise KnownError(str(err)) from err
    if not grounding or not retrieval:
        raise KnownError(f"{root}: the {args.split} split has no grounding expressions or photos")
    bundle = resolve_bundle(args.bundle)
    runtime = load_runtime(bundle, providers="cpu", threads=args.threads)
    if not runtime.has_box_head:
        raise KnownError(f"model bundle {bundle} has no box head: nothing to calibrate")
    base = _load_base(args.settings)
    started = time.perf_counter()
    samples = measure_boxes(runtime, grounding)
    boxes, regions = box_threshold(samples), region_report(samples)
    balance = balance_report(runtime, retrieval, base, BALANCE_QUERIES)
    print(
        f"tune-view: {bundle.name}, {len(samples)} expressions and {len(retrieval)} photos "
        f"of {root} {args.split}\n"
    )
    print("| measure | value |\n| --- | --- |")
    print(f"| box right (IoU >= 0.5), all | {boxes['accuracy_all']:.1%} |")
    print(f"| confidence threshold (Youden J {boxes['youden_j']:.2f}) | {boxes['threshold']:.2f} |")
    print(f"| boxes drawn as sure | {boxes['share_sure']:.1%} |")
    print(
        f"| right among sure / not sure | {boxes['accuracy_sure']:.1%} / {_pct(boxes['accuracy_unsure'])} |"
    )
    print(f"| best region holds the referent | {regions['best_region_holds_referent']:.1%} |")
    print(f"| a random candidate box holds it | {regions['random_box_holds_referent']:.1%} |")
    print(f"\ntext + image queries ({balance['queries']}): the caption's photo, and the example's nearest")
    print("other photo, in the top 10 of the combined ranking\n")
    print("| image weight | caption's photo in top 10 | example's neighbour in top 10 |\n| --- | --- | --- |")
    for weight, hits in balance["by_weight"].items():
        chosen = " (chosen)" if weight == balance["image_weight"] else ""
        print(
            f"| {weight:.2f}{chosen} | {hits['text_target_top10']:.1%} "
            f"| {hits['image_neighbour_top10']:.1%} |"
        )
    print(f"\n{time.perf_counter() - started:.0f} s")
    view = ViewSettings(
        box_confidence=boxes["threshold"],
        best_region=bool(regions["helps"]),
        image_weight=balance["image_weight"],
        tuned=True,
        report={
            "source": f"tune-view on {root} {args.split}, {time.strftime('%Y-%m-%d')}",
            "boxes": boxes,
            "regions": regions,
            "balance": balance,
            "expressions": len(samples),
        },
    )
    if args.settings_out:
        Path(args.settings_out).write_text(json.dumps(replace(base, view=view).to_json(), indent=1) + "\n")
        print(f"wrote {args.settings_out}")
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
