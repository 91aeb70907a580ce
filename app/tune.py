"""``tune-search``: choose a bundle's search weights and cutoff on the synthetic world, and measure them.

1. The world's val and test images are linked into two evaluation libraries (in ``--work``), a share of
   them (30 %) given a ``.txt`` caption sidecar (their first world caption), and indexed with the bundle
   through the app's own path (indexer, caption pass, vector cache).
2. Queries: every other caption of each image (the first may be its sidecar, which would be a trivial
   match), and "captions about small objects": ``a small <colour> <kind>`` for each object the world
   marks small whose kind and colour occur once in its image; the ground truth is that image. Other
   images may hold the same thing (phrases unique in the whole split are too few to measure), so
   R@5/R@10 matter, and a second measure counts any image holding such a small object as a hit.
3. On val: the region share ``lambda`` (``w_global = 1 - lambda``, ``w_region = lambda``) maximising the
   mean of R@1/5/10 over both query sets, then the caption weight; then the cutoff: the z (robust, per
   query, as search computes it) that non-matching pairs exceed at a 1 % rate.
4. On test: R@1/5/10 with and without regions and captions, the cutoff's rates, int8 vs float16 ranking
   agreement, and the recall of the two-stage shortcut against the exact scan.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from app.head_rerank import pinned_count
from app.home import data_dir, resolve_bundle
from app.index_library import index_library
from app.intervals import bootstrap_diff
from app.library import store
from app.library.db import open_db
from app.search import (
    REFERENCE_CAPTIONS,
    caption_term,
    combine,
    first_stage,
    robust_scale,
    word_term,
    z_scores,
)
from app.settings import load_settings, save_settings
from app.tune_itm import (
    ITM_HEAD,
    NO_ITM,
    ItmChoice,
    ItmTable,
    QueryItm,
    change,
    choose_itm,
    heads_of,
    option_name,
)
from app.vectors import VectorIndex, load_index
from core.caption_words import WordEvidence
from core.errors import KnownError
from core.region_boxes import BOX_SET_NAME
from core.search_settings import Cutoff, SearchSettings

LAMBDAS = tuple(round(x, 2) for x in np.arange(0.0, 1.001, 0.1))
CAPTION_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5)
# The "z" caption fusion's weights (a z-score, not a cosine: ten times larger per unit) and floors.
Z_CAPTION_WEIGHTS = (0.005, 0.01, 0.025, 0.05, 0.1)
CAPTION_FLOORS = (2.0, 3.0, 4.0, 5.0)
# The "words" fusion's (its lift is a z above the floor, scaled by the caption's coverage of the query).
WORD_WEIGHTS = (0.005, 0.01, 0.02, 0.05, 0.1)
WORD_FLOORS = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
TARGET_FPR = 0.01
KS = (1, 5, 10)
SHORTCUT_SHARES = (0.005, 0.01, 0.02, 0.03, 0.05)
_TEXT_BATCH = 256

Log = Callable[[str], None]


def weights(lam: float, wc: float = 0.0, fusion: str = "centred", floor: float = 0.0) -> SearchSettings:
    """The score's weights for region share ``lam`` and caption weight ``wc``, with the caption term's
    ``fusion`` and ``floor`` (what tuning varies)."""
    return SearchSettings(
        w_global=1.0 - lam, w_region=lam, w_caption=wc, caption_fusion=fusion, caption_floor=floor
    )


Captioning = tuple[float, str, float]  # caption weight, caption fusion, caption floor
NO_CAPTIONS: Captioning = (0.0, "centred", 0.0)


@dataclass
class WorldLibrary:
    db: Database
    index: VectorIndex
    keys: list[str]  # world-relative image path per index position
    captioned: set[str]

    def positions(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.keys)}


@dataclass
class QuerySet:
    name: str
    texts: list[str]
    gt: np.ndarray  # index position of each query's image
    relevant: list[np.ndarray] | None = None  # if set, any of these positions counts as a hit


@dataclass
class Tables:
    """Cosines of each query with each photo: global, best region, best caption (NaN: none)."""

    g: np.ndarray
    r: np.ndarray
    c: np.ndarray
    centre: np.ndarray  # per query: median caption cosine over the library's captioned photos
    scale: np.ndarray  # per query: their robust scale
    words: WordEvidence  # the captions' words, for the "words" caption fusion

    def scores(self, lam: float, wc: float, fusion: str = "centred", floor: float = 0.0) -> np.ndarray:
        """Each query's score of each photo, by search's own formulas (each query one term, weight 1)."""
        settings = weights(lam, wc, fusion, floor)
        s = combine(self.g, self.r, None, settings)
        if wc and fusion == "words":  # zero for a photo without captions, as in search
            s[:, self.words.photos] += word_term(self.words, None, settings)
        elif wc:  # a photo without captions (NaN) gets no caption term, as in search
            s = s + np.nan_to_num(caption_term(self.c, self.centre, None, settings, self.scale), nan=0.0)
        return s


# ----- libraries and queries ----------------------------------------------------------------------------
def _link(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        dst.write_bytes(src.read_bytes())


def world_library(
    world: Path, split: str, work: Path, runtime: Any, caption_share: float, log: Any, seed: int = 0
) -> WorldLibrary:
    """The split's images as a library (linked, with caption sidecars for ``caption_share`` of them)."""
    folder = work / split
    photos = folder / "photos"
    captioned: set[str] = set()
    if split == "all":
        roots = [world / "images"]
    else:
        records = json.loads((world / "retrieval" / f"{split}.json").read_text())
        photos.mkdir(parents=True, exist_ok=True)
        chosen = np.random.default_rng(seed).random(len(records)) < caption_share
        for rec, with_caption in zip(records, chosen, strict=True):
            src = world / rec["image"]
            _link(src, photos / src.name)
            sidecar = photos / f"{src.name}.txt"
            if with_caption:
                sidecar.write_text(rec["caption"][0])
                captioned.add(rec["image"])
            else:
                sidecar.unlink(missing_ok=True)
        roots = [photos]
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "library.db"
    db = open_db(db_path)
    started = time.monotonic()
    report = index_library(db, db_path, runtime, [str(r) for r in roots], folder / "thumbs").report
    log(
        f"  {split}: {report.counts.encoded} photos encoded, {report.counts.unchanged} unchanged "
        f"({time.monotonic() - started:.0f} s)"
    )
    index = load_index(db, db_path, runtime.identity, BOX_SET_NAME, exact_limit=10**9)
    paths = store.photo_paths(db)
    base = world / "images" / split if split != "all" else world
    keys = []
    for pid in index.ids:
        path = Path(paths[int(pid)])
        keys.append(f"images/{split}/{path.name}" if split != "all" else str(path.relative_to(base)))
    return WorldLibrary(db, index, keys, captioned)


def caption_queries(world: Path, split: str, positions: dict[str, int]) -> QuerySet:
    texts, gt = [], []
    for rec in json.loads((world / "retrieval" / f"{split}.json").read_text()):
        if rec["image"] in positions:
            for caption in rec["caption"][1:]:
                texts.append(caption)
                gt.append(positions[rec["image"]])
    return QuerySet("captions", texts, np.array(gt, np.int64))


def small_object_queries(world: Path, split: str, positions: dict[str, int]) -> tuple[QuerySet, QuerySet]:
    """'a small <colour> <kind>' for small objects unique in their image: with that image as the ground
    truth, and with any image of the split holding a small object of that kind and colour."""
    records = json.loads((world / "objects" / f"{split}.json").read_text())
    holders: dict[tuple[str, str | None], list[int]] = {}
    for rec in records:
        for obj in rec["objects"]:
            if obj["size"] == "small" and rec["image"] in positions:
                holders.setdefault((obj["kind"], obj["colour"]), []).append(positions[rec["image"]])
    texts, gt, relevant = [], [], []
    for rec in records:
        if rec["image"] not in positions:
            continue
        counts: dict[tuple[str, str | None], int] = {}
        for obj in rec["objects"]:
            counts[(obj["kind"], obj["colour"])] = counts.get((obj["kind"], obj["colour"]), 0) + 1
        for obj in rec["objects"]:
            key = (obj["kind"], obj["colour"])
            if obj["size"] == "small" and counts[key] == 1:
                texts.append(" ".join(w for w in ("a small", obj["colour"], obj["kind"]) if w))
                gt.append(positions[rec["image"]])
                relevant.append(np.unique(holders[key]))
    gt_array = np.array(gt, np.int64)
    return (
        QuerySet("small objects", texts, gt_array),
        QuerySet("small objects, any photo holding one", texts, gt_array, relevant),
    )


# ----- cosine tables and metrics ------------------------------------------------------------------------
def tables(index: VectorIndex, runtime: Any, texts: list[str]) -> Tables:
    n = index.n
    g = np.empty((len(texts), n), np.float32)
    r = np.empty((len(texts), n), np.float32)
    c = np.full((len(texts), n), np.nan, np.float32)
    centre = np.zeros(len(texts), np.float32)
    scale = np.ones(len(texts), np.float32)
    for s in range(0, len(texts), _TEXT_BATCH):
        embeds = runtime.encode_texts(texts[s : s + _TEXT_BATCH])[0]
        cos = index.cosines(embeds)
        g[s : s + len(embeds)], r[s : s + len(embeds)] = cos.global_, cos.regions
        rows, best = index.caption_scores(embeds)
        if rows.size:
            c[s : s + len(embeds), rows] = best
            median, spread = robust_scale(best)
            centre[s : s + len(embeds)], scale[s : s + len(embeds)] = median[:, 0], spread[:, 0]
    return Tables(g, r, c, centre, scale, index.caption_words(REFERENCE_CAPTIONS).evidence(texts))


def truth_ranks(scores: np.ndarray, gt: np.ndarray, relevant: list[np.ndarray] | None = None) -> np.ndarray:
    """Per query, the rank (0: first) of its ground-truth photo, or with ``relevant`` of its best
    relevant photo; ties count against it."""
    if relevant is None:
        truth = scores[np.arange(len(gt)), gt]
    else:
        truth = np.array([scores[i, rel].max() for i, rel in enumerate(relevant)])
    return (scores > truth[:, None]).sum(axis=1)


def recalls(scores: np.ndarray, gt: np.ndarray, relevant: list[np.ndarray] | None = None) -> dict[str, float]:
    """R@k: share of queries whose ground-truth photo (or, with ``relevant``, any relevant photo) ranks
    in the top k; ties count against it."""
    if len(gt) == 0:
        return {f"R@{k}": float("nan") for k in KS}
    rank = truth_ranks(scores, gt, relevant)
    return {f"R@{k}": float((rank < k).mean()) for k in KS}


def caption_change(t: Tables, qs: QuerySet, choice: Choice) -> dict[str, tuple[float, float, float]]:
    """R@1 and R@10 with the chosen captioning minus without captions (same region share), per query:
    the mean in points and its 95 % paired bootstrap interval."""
    without = truth_ranks(t.scores(choice.lam, *NO_CAPTIONS), qs.gt, qs.relevant)
    with_captions = truth_ranks(t.scores(choice.lam, *choice.captioning), qs.gt, qs.relevant)
    return {f"R@{k}": bootstrap_diff(without < k, with_captions < k) for k in (1, 10)}


def objective(metrics: list[dict[str, float]]) -> float:
    return float(np.mean([np.mean(list(m.values())) for m in metrics]))


def robust_z(scores: np.ndarray) -> np.ndarray:
    """Each row's robust z-scores, as search's cutoff computes them (a row that does not spread at all
    gets huge ones instead of none)."""
    median, scale = robust_scale(scores)
    return z_scores(scores, median, np.maximum(scale, 1e-9))


def calibrate(scores: np.ndarray, gt: np.ndarray) -> Cutoff:
    """The z that non-matching (query, photo) pairs exceed at ``TARGET_FPR``, and the raw-score
    distribution of those pairs (for libraries too small to estimate their own)."""
    z = robust_z(scores)
    match = np.zeros_like(scores, dtype=bool)
    match[np.arange(len(gt)), gt] = True
    cut = float(np.quantile(z[~match], 1.0 - TARGET_FPR))
    median, scale = robust_scale(scores[~match])
    return Cutoff(
        z=round(cut, 3),
        fpr=float((z[~match] >= cut).mean()),
        tpr=float((z[match] >= cut).mean()),
        null_median=float(median.item()),
        null_scale=float(scale.item()),
    )


def cutoff_rates(scores: np.ndarray, gt: np.ndarray, cut: float) -> dict[str, float]:
    z = robust_z(scores)
    match = np.zeros_like(scores, dtype=bool)
    match[np.arange(len(gt)), gt] = True
    return {"fpr": float((z[~match] >= cut).mean()), "tpr": float((z[match] >= cut).mean())}


def shortcut_recall(
    index: VectorIndex, runtime: Any, texts: list[str], lam: float, shares: tuple[float, ...], top: int = 10
) -> dict[str, dict[str, float]]:
    """Recall@top of the shortlists against the exact multi-grained scan (int8 regions of every photo),
    with the formula ``Searcher.rank`` uses: the two-stage search (global cosine first, then regions for
    a shortlist of share x N) and, when the index holds them, the 4-bit coarse pass re-scored in int8."""
    hits: dict[str, dict[float, int]] = {
        "two-stage": dict.fromkeys(shares, 0),
        "4-bit": dict.fromkeys(shares, 0),
    }
    total = 0
    settings = weights(lam)
    for s in range(0, len(texts), _TEXT_BATCH):
        embeds = runtime.encode_texts(texts[s : s + _TEXT_BATCH])[0]
        cos = index.cosines(embeds)
        exact = combine(cos.global_, cos.regions, None, settings)
        truth = np.argpartition(-exact, top - 1, axis=1)[:, :top]
        firsts = {"two-stage": first_stage(cos.global_, None, None, settings)}
        if cos.coarse is not None:
            firsts["4-bit"] = first_stage(cos.global_, cos.coarse, None, settings)
        for kind, first in firsts.items():
            for share in shares:
                size = max(top, round(share * index.n))
                short = np.argpartition(-first, size - 1, axis=1)[:, :size]
                staged = np.full_like(exact, -np.inf)
                np.put_along_axis(staged, short, np.take_along_axis(exact, short, axis=1), axis=1)
                found = np.argpartition(-staged, top - 1, axis=1)[:, :top]
                hits[kind][share] += sum(len(set(a) & set(b)) for a, b in zip(truth, found, strict=True))
        total += len(embeds) * top
    return {
        kind: {f"{share:.1%}": counts[share] / max(total, 1) for share in shares}
        for kind, counts in hits.items()
        if kind in firsts
    }


def int8_agreement(
    lib: WorldLibrary, runtime: Any, texts: list[str], lam: float, top: int = 10
) -> dict[str, float]:
    """Top-k overlap and largest cosine difference between the int8 index and the float16 BLOBs."""
    stored = store.all_vectors(lib.db, runtime.identity)
    hashes = store.photo_hashes(lib.db)
    g = np.stack([stored[hashes[int(i)]].embedding for i in lib.index.ids])  # type: ignore[index]
    r = np.stack([stored[hashes[int(i)]].regions for i in lib.index.ids])  # type: ignore[index]
    settings = weights(lam)
    overlap, worst = 0, 0.0
    for s in range(0, len(texts), _TEXT_BATCH):
        embeds = runtime.encode_texts(texts[s : s + _TEXT_BATCH])[0]
        cos = lib.index.cosines(embeds)
        fg = embeds @ g.T
        fr = np.einsum("qd,nkd->qnk", embeds, r).max(axis=2)
        worst = max(worst, float(np.abs(cos.global_ - fg).max()), float(np.abs(cos.regions - fr).max()))
        a = np.argsort(-combine(cos.global_, cos.regions, None, settings), axis=1)[:, :top]
        b = np.argsort(-combine(fg, fr, None, settings), axis=1)[:, :top]
        overlap += sum(len(set(x) & set(y)) for x, y in zip(a, b, strict=True))
    return {f"top{top}_overlap": overlap / max(len(texts) * top, 1), "max_abs_cosine_diff": worst}


# ----- the command ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    """What tuning on val chose, and the objective behind it."""

    lam: float  # region share: w_global = 1 - lam, w_region = lam
    captioning: Captioning
    cutoff: Cutoff
    by_lambda: dict[float, float]  # val objective of each region share, without captions
    by_caption: dict[str, float]  # ... of each captioning, with the chosen share
    itm: ItmChoice = NO_ITM  # photos re-ordered by the ITM head (0: none) and the region ITM's weight
    by_itm: dict[str, float] = field(default_factory=dict)  # val objective of each such option

    @property
    def wc(self) -> float:
        return self.captioning[0]


def run_tuning(args: argparse.Namespace) -> int:
    from app.library.encoder import load_runtime

    world = _checked_world(args.world)
    runtime = load_runtime(resolve_bundle(args.bundle), providers="cpu")
    work = Path(args.work) if args.work else data_dir() / "tuning" / runtime.identity
    log: Log = lambda text: print(text, flush=True)  # noqa: E731
    log(f"tuning search for {runtime.identity} on {world} (work folder {work})")
    started = time.monotonic()
    slack = args.uncaptioned_slack / 100
    choice = choose_on_val(world, work, runtime, args.caption_share, log, slack, not args.no_itm)
    test = world_library(world, "test", work, runtime, args.caption_share, log)
    sets = query_sets_of_test(world, test)
    configs = configs_to_measure(choice, args.caption_share)
    results, rates = measure_on_test(world, test, runtime, sets, configs, choice, not args.no_itm)
    agreement = int8_agreement(test, runtime, (sets[0].texts + sets[1].texts)[:2000], choice.lam)
    shortcut = measure_shortcut(args.shortcut_split, world, work, runtime, test, choice.lam, log)
    report = {
        "bundle": runtime.identity,
        "world": str(world),
        "chosen": {
            "w_global": round(1 - choice.lam, 3),
            "w_region": choice.lam,
            "w_caption": choice.wc,
            "caption_fusion": choice.captioning[1],
            "caption_floor": choice.captioning[2],
            "itm_head": choice.itm[0],
            "w_region_itm": choice.itm[1],
            "cutoff_z": choice.cutoff.z,
        },
        "val_objective_by_lambda": choice.by_lambda,
        "val_objective_by_caption_weight": choice.by_caption,
        "val_objective_by_itm": choice.by_itm,
        "test": results,
        "test_cutoff": rates,
        "int8_vs_float16": agreement,
        "shortcut_recall_at_10": shortcut,
        "seconds": round(time.monotonic() - started, 1),
    }
    print_report(report)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    if not args.no_save or args.settings_out:
        # The result view's calibration is tune-view's: the bundle's current one is kept, not reset.
        current = load_settings(runtime.identity, runtime.manifest.get("search_settings"))
        settings = replace(tuned_settings(choice, args.world, results, rates), view=current.view)
        keep_settings(args, runtime.identity, settings, log)
    return 0


def _checked_world(path: str) -> Path:
    world = Path(path).resolve()
    if not (world / "retrieval" / "val.json").is_file() or not (world / "objects" / "val.json").is_file():
        raise KnownError(f"{world}: not a synthetic world with val/test splits (`multigrain scenes`)")
    return world


def choose_on_val(
    world: Path,
    work: Path,
    runtime: Any,
    caption_share: float,
    log: Log,
    slack: float = 0.0,
    itm: bool = True,
) -> Choice:
    """The region share, then the captioning (weight, fusion, floor), maximising the mean R@1/5/10 of the
    val captions and small objects; a captioning must keep the mean R@1/5/10 of the captions of photos
    without a caption within ``slack`` of no captions at all. Then the cutoff calibrated on the val
    captions."""
    val = world_library(world, "val", work, runtime, caption_share, log)
    positions = val.positions()
    captions = caption_queries(world, "val", positions)
    small, _ = small_object_queries(world, "val", positions)
    captions_t, small_t = tables(val.index, runtime, captions.texts), tables(val.index, runtime, small.texts)
    bare = ~np.isin(captions.gt, [positions[k] for k in val.captioned])

    def score(lam: float, captioning: Captioning) -> float:
        return objective(
            [
                recalls(captions_t.scores(lam, *captioning), captions.gt),
                recalls(small_t.scores(lam, *captioning), small.gt),
            ]
        )

    def uncaptioned(lam: float, captioning: Captioning) -> float:
        return objective([recalls(captions_t.scores(lam, *captioning)[bare], captions.gt[bare])])

    by_lambda = {lam: score(lam, NO_CAPTIONS) for lam in LAMBDAS}
    lam = max(LAMBDAS, key=lambda x: (round(by_lambda[x], 6), -abs(x - 0.5)))
    options = [(wc, "centred", 0.0) for wc in CAPTION_WEIGHTS]
    options += [(wc, "z", floor) for wc in Z_CAPTION_WEIGHTS for floor in CAPTION_FLOORS]
    options += [(wc, "words", floor) for wc in WORD_WEIGHTS for floor in WORD_FLOORS]
    least = uncaptioned(lam, NO_CAPTIONS) - slack
    fair = [c for c in options if c == NO_CAPTIONS or uncaptioned(lam, c) >= least]
    by_caption = {_captioning_name(c): score(lam, c) for c in options}
    captioning = max(fair, key=lambda c: (round(by_caption[_captioning_name(c)], 6), -c[0]))
    cutoff = calibrate(captions_t.scores(lam, *captioning), captions.gt)
    best, off = by_lambda[lam], by_lambda[0.0]
    log(f"  val: lambda {lam} (objective {best:.3f}, without regions {off:.3f}); captions {captioning}")
    log(f"  cutoff: z >= {cutoff.z} (val FPR {cutoff.fpr:.3%}, TPR {cutoff.tpr:.1%})")
    itm_choice, by_itm = NO_ITM, {}
    if itm:
        table = ItmTable(world, val.keys, runtime)
        started = time.monotonic()
        pairs = ((captions, captions_t), (small, small_t))
        sets = [query_itm(qs, t, table, lam, captioning, cutoff) for qs, t in pairs]
        itm_choice, by_itm = choose_itm(sets)
        seconds = time.monotonic() - started
        log(f"  re-order: {option_name(itm_choice)} (val, {seconds:.0f} s)")
    return Choice(lam, captioning, cutoff, by_lambda, by_caption, itm_choice, by_itm)


def query_itm(
    qs: QuerySet, t: Tables, table: ItmTable, lam: float, captioning: Captioning, cutoff: Cutoff
) -> QueryItm:
    """A query set's scores under the chosen weights and captions, its heads' ITM logits, and how many
    photos of each query pass the cutoff (the re-order keeps them apart from the rest, as search does)."""
    scores = t.scores(lam, *captioning)
    heads = heads_of(scores)
    whole, region = table.logits(qs.texts, heads)
    matched = (robust_z(scores) >= cutoff.z).sum(axis=1)
    exact = np.zeros(scores.shape, bool)
    if captioning[0] and captioning[1] == "words":
        exact[:, t.words.photos] = t.words.exact()
    pinned = np.array([pinned_count(exact[q, heads[q]], int(matched[q])) for q in range(len(heads))])
    return QueryItm(qs.name, scores, whole, region, matched, qs.gt, qs.relevant, pinned)


def _captioning_name(captioning: Captioning) -> str:
    wc, fusion, floor = captioning
    if fusion == "centred":
        return f"w_caption {wc}"
    return f"w_caption {wc}, {'words, ' if fusion == 'words' else ''}z above {floor}"


def query_sets_of_test(world: Path, test: WorldLibrary) -> list[QuerySet]:
    """Captions, small objects (two ways), and the captions of the photos that have a caption sidecar."""
    positions = test.positions()
    sets = [caption_queries(world, "test", positions), *small_object_queries(world, "test", positions)]
    captioned = np.array([positions[k] for k in test.captioned], np.int64)
    uncaptioned = np.setdiff1d(np.arange(test.index.n), captioned)
    sets.append(_restrict(sets[0], captioned, "captions of captioned photos"))
    sets.append(_restrict(sets[0], uncaptioned, "captions of photos without captions"))
    return sets


def configs_to_measure(choice: Choice, caption_share: float) -> dict[str, tuple[float, float, str, float]]:
    """Name -> (region share, caption weight, caption fusion, caption floor) of each configuration."""
    with_captions = f"global + regions + captions ({caption_share:.0%} captioned),"
    configs = {
        "global only": (0.0, *NO_CAPTIONS),
        "global + regions": (choice.lam, *NO_CAPTIONS),
        "regions only": (1.0, *NO_CAPTIONS),
        f"{with_captions} {_captioning_name(choice.captioning)}": (choice.lam, *choice.captioning),
    }
    if choice.captioning != (0.5, "centred", 0.0):  # the old blend, for comparison
        configs[f"{with_captions} w_caption 0.5"] = (choice.lam, 0.5, "centred", 0.0)
    return configs


def measure_on_test(
    world: Path,
    test: WorldLibrary,
    runtime: Any,
    sets: list[QuerySet],
    configs: dict[str, tuple[float, float, str, float]],
    choice: Choice,
    itm: bool = True,
) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """R@k of every query set under every configuration (and what the chosen captioning and ITM re-order
    change, with their intervals; with ``itm``, the region ITM at weight 1 too, chosen or not), and the
    chosen cutoff's rates on the captions."""
    results: dict[str, dict[str, Any]] = {}
    rates: dict[str, float] = {}
    itm_table = ItmTable(world, test.keys, runtime) if itm else None  # scores nothing until asked
    for qs in sets:
        t = tables(test.index, runtime, qs.texts)
        results[f"{qs.name} ({len(qs.texts)})"] = {
            name: recalls(t.scores(*w), qs.gt, qs.relevant) for name, w in configs.items()
        }
        if choice.wc:
            results[f"{qs.name} ({len(qs.texts)})"]["captions' change, points [95 %]"] = caption_change(
                t, qs, choice
            )
        if itm_table is not None:
            found = query_itm(qs, t, itm_table, choice.lam, choice.captioning, choice.cutoff)
            # The chosen re-order, and (measured, not chosen) the region ITM at weight 1 beside it.
            for option in dict.fromkeys([choice.itm, (ITM_HEAD, 1.0)]):
                if option == NO_ITM:
                    continue
                measured = change(found, option)
                rows = results[f"{qs.name} ({len(qs.texts)})"]
                rows[f"the above, then {option_name(option)}"] = measured["with"]
                rows[f"ITM (region weight {option[1]}): change, points [95 %]"] = measured["change"]
        if qs.name == "captions":
            rates = cutoff_rates(t.scores(choice.lam, *choice.captioning), qs.gt, choice.cutoff.z)
    return results, rates


def measure_shortcut(
    split: str, world: Path, work: Path, runtime: Any, test: WorldLibrary, lam: float, log: Log
) -> dict[str, Any]:
    """Shortlist recall on the test library or on the whole world (``split``); nothing for 'none'."""
    if split == "none":
        return {}
    lib = test if split == "test" else world_library(world, "all", work, runtime, 0.0, log)
    positions = lib.positions()
    queries = caption_queries(world, "test", positions).texts
    queries += small_object_queries(world, "test", positions)[0].texts
    found = shortcut_recall(lib.index, runtime, queries, lam, SHORTCUT_SHARES)
    return {"library": lib.index.n, "queries": len(queries), **found}


def tuned_settings(
    choice: Choice, world: str, results: dict[str, Any], rates: dict[str, float]
) -> SearchSettings:
    return SearchSettings(
        w_global=round(1 - choice.lam, 3),
        w_region=choice.lam,
        w_caption=choice.wc,
        caption_fusion=choice.captioning[1],
        caption_floor=choice.captioning[2],
        itm_head=choice.itm[0],
        w_region_itm=choice.itm[1],
        cutoff=choice.cutoff,
        tuned=True,
        source=f"tune-search on {world} val, {time.strftime('%Y-%m-%d')}",
        report={"test": results, "test_cutoff": rates},
    )


def keep_settings(args: argparse.Namespace, identity: str, settings: SearchSettings, log: Log) -> None:
    """Save the settings for the bundle (unless ``--no-save``) and write them to ``--settings-out``."""
    if not args.no_save:
        save_settings(identity, settings)
        log(f"saved the search settings of {identity}")
    if args.settings_out:
        # For a checkpoint folder's search_settings.json: bundles exported from it ship them.
        Path(args.settings_out).write_text(json.dumps(settings.to_json(), indent=1) + "\n")
        log(f"wrote {args.settings_out}")


def _restrict(qs: QuerySet, positions: np.ndarray, name: str) -> QuerySet:
    keep = np.isin(qs.gt, positions)
    return QuerySet(name, [t for t, k in zip(qs.texts, keep, strict=True) if k], qs.gt[keep])


def print_report(report: dict[str, Any]) -> None:
    c = report["chosen"]
    print(
        f"\nchosen: w_global {c['w_global']}, w_region {c['w_region']}, w_caption {c['w_caption']} "
        f"({c['caption_fusion']}, floor {c['caption_floor']}), "
        f"ITM re-order of the first {c['itm_head']} (region weight {c['w_region_itm']}), "
        f"cutoff z >= {c['cutoff_z']}"
    )
    print("\ntest split, text -> image retrieval (ground truth: the query's image)")
    for set_name, configs in report["test"].items():
        print(f"  {set_name}")
        for name, m in configs.items():
            if name.endswith("change, points [95 %]"):
                cells = "  ".join(f"{k} {v[0]:+5.1f} [{v[1]:+5.1f}, {v[2]:+5.1f}]" for k, v in m.items())
                print(f"    {name:74s} {cells}")
                continue
            cells = "  ".join(f"{k} {v:6.1%}" for k, v in m.items())
            print(f"    {name:74s} {cells}")
    r = report["test_cutoff"]
    print(f"\ncutoff on test captions: false-positive rate {r['fpr']:.2%}, matches kept {r['tpr']:.1%}")
    a = report["int8_vs_float16"]
    print(
        f"int8 index vs float16 BLOBs: top-10 overlap {a['top10_overlap']:.1%}, "
        f"largest cosine difference {a['max_abs_cosine_diff']:.4f}"
    )
    s = report["shortcut_recall_at_10"]
    if s:
        print(f"shortlist recall@10 vs the exact scan ({s['library']} photos, {s['queries']} test queries):")
        for kind, label in (("two-stage", "global first stage"), ("4-bit", "4-bit regions first")):
            if kind in s:
                print(f"  {label:22s} " + ", ".join(f"shortlist {k}: {v:.1%}" for k, v in s[kind].items()))
    print(f"({report['seconds']} s)")
