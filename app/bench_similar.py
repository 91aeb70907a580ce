"""``bench-similar``: photo-to-photo search ("more like this") measured on the synthetic world.

Libraries: the world's val and test splits, each indexed with the bundle as ``tune-search`` does, 30 %
of the photos given a caption sidecar (their first world caption). Every photo of a split is a query;
the candidates are the other photos of that split.

Graded relevance, from the world's own facts (``grade``): a photo's *main object* is its largest.
- 3: the candidate holds an object of the query's main kind and colour, and shares with the query its
  background or a relation (the same "kind left of / right of / above / below kind" between two objects);
- 2: it holds an object of the query's main kind and colour;
- 1: it shares at least one object kind with the query;
- 0: nothing of the above.

Metrics per query: nDCG@10 (gain 2^grade - 1, ideal over all candidates), mAP@10 (relevant: grade >= 2,
normalised by min(10, relevant count)) and R@10 at the top grade (grade-3 candidates in the top 10, over
min(10, their count)); queries without any grade-3 candidate are left out of that one. Intervals: 95 %
paired bootstrap over queries. Fusion weights are chosen on val, reported on test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.intervals import bootstrap_diff
from app.library.decode import decode_image
from app.parts import PartCache
from app.search import robust_stats, z_scores
from app.similar import (
    DEFAULT_FUSION,
    PHOTO_ONLY,
    QUERY_CAPTIONS,
    Evidence,
    ExampleQuery,
    Fusion,
    by_parts,
    evidence,
    example_of,
    fuse,
    with_feedback,
)
from app.vectors import VectorIndex
from core.part_ranking import PARTS_HEAD
from world.geometry import relation

K = 10
FEEDBACK_MARKS = 5  # photos marked per round, the first not yet marked
OBJECT_WEIGHTS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
CAPTION_WEIGHTS = (0.5, 1.0, 2.0, 4.0, 8.0)
CAPTION_FLOORS = (0.0, 1.0, 2.0)
METHODS = ("z", "z-signed", "raw")
SIGNAL_SETS = (QUERY_CAPTIONS, (*QUERY_CAPTIONS, "photo->caption"))
PARTS_STEP = "+ parts, close up"  # the full model's first photos re-ordered by their parts (app.parts)
CUTOFF_FPR = 0.01  # unrelated candidates a "more like this" cutoff lets through (text search's rate)
UNCAPTIONED_SLACK = 0.5  # points of nDCG@10 the photos without captions may lose to a caption fusion

Log = Callable[[str], None]


# ----- graded relevance ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhotoFacts:
    """What grading needs of one photo, read from an ``objects/<split>.json`` record."""

    main: tuple[str, str | None]  # (kind, colour) of the largest object
    main_small: bool  # the world calls the largest object small
    things: frozenset[tuple[str, str | None]]  # (kind, colour) of every object
    kinds: frozenset[str]
    relations: frozenset[tuple[str, str, str]]  # (kind, relation, kind)
    background: str


def photo_facts(record: dict[str, Any]) -> PhotoFacts:
    objects = record["objects"]
    largest = max(objects, key=lambda o: o["bb"][2] * o["bb"][3])
    w, h = record["width"], record["height"]
    relations = set()
    for a, b in itertools.permutations(objects, 2):
        rel = relation(tuple(a["bb"]), tuple(b["bb"]), w, h)
        if rel is not None:
            relations.add((a["kind"], rel, b["kind"]))
    return PhotoFacts(
        main=(largest["kind"], largest["colour"]),
        main_small=largest["size"] == "small",
        things=frozenset((o["kind"], o["colour"]) for o in objects),
        kinds=frozenset(o["kind"] for o in objects),
        relations=frozenset(relations),
        background=record["background"],
    )


def grade(query: PhotoFacts, candidate: PhotoFacts) -> int:
    """The candidate's relevance to the query, 0 to 3 (module docstring)."""
    if query.main in candidate.things:
        context = query.background == candidate.background or bool(query.relations & candidate.relations)
        return 3 if context else 2
    return 1 if query.kinds & candidate.kinds else 0


def grade_matrix(facts: Sequence[PhotoFacts]) -> np.ndarray:
    """(N, N) grades of every photo (column) for every query (row); the diagonal is -1 (not a candidate)."""
    n = len(facts)
    grades = np.array([[grade(q, c) for c in facts] for q in facts], np.int8).reshape(n, n)
    np.fill_diagonal(grades, -1)
    return grades


# ----- metrics ------------------------------------------------------------------------------------------
def ndcg_at(order: np.ndarray, grades: np.ndarray, k: int = K) -> float:
    """nDCG@k of a ranking ``order`` (candidate indices, best first) with ``grades`` of every candidate."""
    gains = (2.0 ** np.maximum(grades, 0)) - 1.0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    got = float(gains[order[:k]] @ discounts[: min(k, len(order))])
    ideal_gains = np.sort(gains)[::-1][:k]
    ideal = float(ideal_gains @ discounts[: len(ideal_gains)])
    return got / ideal if ideal > 0 else float("nan")


def ap_at(order: np.ndarray, relevant: np.ndarray, k: int = K) -> float:
    """Average precision at k, normalised by min(k, relevant count); NaN without relevant candidates."""
    total = int(relevant.sum())
    if total == 0:
        return float("nan")
    hits = relevant[order[:k]].astype(np.float64)
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / min(k, total))


def recall_at(order: np.ndarray, relevant: np.ndarray, k: int = K) -> float:
    total = int(relevant.sum())
    return float(relevant[order[:k]].sum() / min(k, total)) if total else float("nan")


def query_metrics(scores: np.ndarray, rows: np.ndarray, grades: np.ndarray) -> tuple[float, float, float]:
    """(nDCG@10, mAP@10, R@10 at the top grade) of one query; ``scores`` of the candidates ``rows``."""
    order = np.argsort(-scores, kind="stable")
    g = grades[rows]
    return ndcg_at(order, g), ap_at(order, g >= 2), recall_at(order, g == 3)


# ----- one split --------------------------------------------------------------------------------------
@dataclass
class SplitRun:
    """Everything measured on one split's library: per query its evidence, grades and subsets."""

    index: VectorIndex
    grades: np.ndarray  # (N, N) by index position
    captioned: np.ndarray  # (N,) bool: the photo has a caption
    small: np.ndarray  # (N,) bool: its main object is small
    queries: list[ExampleQuery]
    found: list[Evidence]

    def metrics(self, fusion: Fusion, found: list[Evidence] | None = None) -> np.ndarray:
        """(N, 3) per-query metrics under ``fusion``."""
        found = self.found if found is None else found
        return np.array([query_metrics(fuse(e, fusion), e.rows, self.grades[i]) for i, e in enumerate(found)])

    def orders(self, fusion: Fusion) -> list[np.ndarray]:
        """Per query, its candidates (into ``found[i].rows``) best first under ``fusion``."""
        return [np.argsort(-fuse(e, fusion), kind="stable") for e in self.found]

    def order_metrics(self, orders: list[np.ndarray]) -> np.ndarray:
        """(N, 3) per-query metrics of rankings given as orders (``orders``' form)."""
        out = []
        for i, (e, order) in enumerate(zip(self.found, orders, strict=True)):
            g = self.grades[i][e.rows]
            out.append((ndcg_at(order, g), ap_at(order, g >= 2), recall_at(order, g == 3)))
        return np.array(out)

    def uncaptioned_ndcg(self, fusion: Fusion) -> np.ndarray:
        """Per query, nDCG@10 counting only the gains of photos without captions (captioned ones still
        take their places): whether captions push uncaptioned matches out of the first ten."""
        return self.order_uncaptioned(self.orders(fusion))

    def order_uncaptioned(self, orders: list[np.ndarray]) -> np.ndarray:
        out = []
        for i, (e, order) in enumerate(zip(self.found, orders, strict=True)):
            g = np.where(self.captioned[e.rows], 0, self.grades[i][e.rows])
            out.append(ndcg_at(order, g))
        return np.array(out)


def split_run(lib: Any, world: Path, split: str) -> SplitRun:
    """Evidence for every photo of a split library as a query (``lib``: a ``tune.WorldLibrary``)."""
    records = {r["image"]: r for r in json.loads((world / "objects" / f"{split}.json").read_text())}
    facts = [photo_facts(records[key]) for key in lib.keys]
    index = lib.index
    queries = [example_of(index, p) for p in range(index.n)]
    captioned = np.array([len(q.captions) > 0 for q in queries])
    return SplitRun(
        index=index,
        grades=grade_matrix(facts),
        captioned=captioned,
        small=np.array([f.main_small for f in facts]),
        queries=queries,
        found=[evidence(index, q) for q in queries],
    )


# ----- choosing the fusion on val -----------------------------------------------------------------------
def mean_ndcg(run: SplitRun, fusion: Fusion) -> float:
    return float(np.nanmean(run.metrics(fusion)[:, 0]))


def choose_fusion(run: SplitRun, log: Log) -> tuple[Fusion, dict[str, float]]:
    """The object weight (captions off) by val nDCG@10; then the caption signals, weight and floor of
    the ``z`` fusion with the best val nDCG@10 among those that keep the photos without captions within
    ``UNCAPTIONED_SLACK`` points of the visual fusion, for the queries with captions and for those
    without alike (``SplitRun.uncaptioned_ndcg``). The signed methods are measured for the record but
    cannot be chosen: they may rank a photo lower for its caption, or for lacking one."""
    by_object = {w: mean_ndcg(run, Fusion(w_object=w, w_caption=0.0)) for w in OBJECT_WEIGHTS}
    w_object = max(OBJECT_WEIGHTS, key=lambda w: by_object[w])
    tried: dict[str, float] = {f"object {w}": v for w, v in by_object.items()}
    best = Fusion(w_object=w_object, w_caption=0.0)
    best_value = by_object[w_object]
    groups = (run.captioned, ~run.captioned)  # queries with captions, and without
    visual = run.uncaptioned_ndcg(best)
    least = [float(np.nanmean(visual[g])) - UNCAPTIONED_SLACK / 100 for g in groups]
    grid = itertools.product(SIGNAL_SETS, METHODS, CAPTION_WEIGHTS, CAPTION_FLOORS)
    for signals, method, wc, floor in grid:
        if method == "raw" and floor:
            continue  # the floor is a z, meaningless for raw cosines
        fusion = Fusion(w_object, wc, floor, method, signals)  # type: ignore[arg-type]
        value = mean_ndcg(run, fusion)
        tried[f"{'+'.join(signals)} {method} caption {wc} floor {floor}"] = value
        if method != "z" or value <= best_value + 1e-9:
            continue
        kept = run.uncaptioned_ndcg(fusion)
        if all(float(np.nanmean(kept[g])) >= bound for g, bound in zip(groups, least, strict=True)):
            best, best_value = fusion, value
    log(
        f"  val: w_object {best.w_object}, captions {best.method} {best.w_caption}, "
        f"floor {best.caption_floor}, signals {', '.join(best.caption_signals)}"
    )
    return best, tried


# ----- the table ------------------------------------------------------------------------------------------
def steps(chosen: Fusion) -> dict[str, Fusion]:
    return {
        "global vector": PHOTO_ONLY,
        "+ objects": Fusion(w_object=chosen.w_object, w_caption=0.0),
        "+ captions": replace(chosen, w_object=0.0),
        "+ objects + captions": chosen,
    }


def subsets(run: SplitRun) -> dict[str, np.ndarray]:
    n = run.index.n
    return {
        "all photos": np.ones(n, bool),
        "captioned query": run.captioned,
        "uncaptioned query": ~run.captioned,
        "small main object": run.small,
    }


def step_table(
    run: SplitRun, chosen: Fusion, more: dict[str, list[np.ndarray]] | None = None
) -> dict[str, Any]:
    """Per subset and step: the three metrics, and nDCG@10's change against the global vector. ``more``:
    further steps given as each query's ranking (``SplitRun.orders``' form), e.g. ``parts_orders``."""
    per_step = {name: run.metrics(f) for name, f in steps(chosen).items()}
    uncaptioned = {name: run.uncaptioned_ndcg(f) for name, f in steps(chosen).items()}
    for name, orders in (more or {}).items():
        per_step[name] = run.order_metrics(orders)
        uncaptioned[name] = run.order_uncaptioned(orders)
    base = per_step["global vector"]
    table: dict[str, Any] = {}
    for subset, mask in subsets(run).items():
        rows = {}
        for name, m in per_step.items():
            rows[name] = {
                "nDCG@10": float(np.nanmean(m[mask, 0])),
                "mAP@10": float(np.nanmean(m[mask, 1])),
                "R@10 top grade": float(np.nanmean(m[mask, 2])),
                "nDCG@10 change": bootstrap_diff(base[mask, 0], m[mask, 0]),
                "nDCG@10 of uncaptioned photos": float(np.nanmean(uncaptioned[name][mask])),
                "its change": bootstrap_diff(uncaptioned["global vector"][mask], uncaptioned[name][mask]),
            }
        table[f"{subset} ({int(mask.sum())})"] = rows
    return table


def parts_orders(
    run: SplitRun, paths: Sequence[Path], runtime: Any, fusion: Fusion, head: int = PARTS_HEAD
) -> list[np.ndarray]:
    """Each query's ranking under ``fusion``, its first ``head`` re-ordered by their parts close up as the
    window's "Find similar" does (``app.similar.by_parts``, without its time budget); ``paths``: each
    index position's photo file, decoded as the app decodes it."""
    size = 2 * int(runtime.image_size)

    def decode(positions: np.ndarray) -> tuple[list[Any], list[int]]:
        return [decode_image(paths[int(p)], size).image for p in positions], list(range(len(positions)))

    # Every photo's parts are kept for the whole split: each is a candidate of many queries.
    parts_at = PartCache(limit=len(paths)).parts_at(runtime, decode, run.index)
    out = []
    for i, base in enumerate(run.orders(fusion)):
        order, _ = by_parts(run.found[i].rows[base], i, parts_at, head, None)
        out.append(base[order])
    return out


# ----- the cutoff ------------------------------------------------------------------------------------------
def fused_z(scores: np.ndarray) -> np.ndarray | None:
    """A query's fused scores as robust z-scores over its candidates (nearly all of which are not like
    the query photo), the scale a cutoff would be judged on; None when they do not spread."""
    stats = robust_stats(scores)
    return None if stats is None else z_scores(scores, *stats)


def _fused_zs(run: SplitRun, fusion: Fusion) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query: the robust z of its fused scores (``app.similar.fused_z``) and its candidates' grades."""
    out = []
    for i, e in enumerate(run.found):
        z = fused_z(fuse(e, fusion))
        if z is not None:
            out.append((z, run.grades[i][e.rows]))
    return out


def cutoff_line(run: SplitRun, fusion: Fusion, fpr: float = CUTOFF_FPR) -> float:
    """The fused z above which ``fpr`` of the unrelated candidates (grade 0) lie: a "more like this"
    cutoff chosen at a false positive rate, as text search's is."""
    unrelated = np.concatenate([z[g == 0] for z, g in _fused_zs(run, fusion)])
    return float(np.quantile(unrelated, 1.0 - fpr))


def cutoff_rates(run: SplitRun, fusion: Fusion, line: float) -> dict[str, float]:
    """What the cutoff ``line`` does on ``run``: the share of unrelated candidates (grade 0) and of related
    ones (grade >= 2) above it, and of the queries with at least one photo above it."""
    per_query = _fused_zs(run, fusion)
    unrelated = np.concatenate([z[g == 0] for z, g in per_query])
    related = np.concatenate([z[g >= 2] for z, g in per_query])
    return {
        "z": round(line, 2),
        "unrelated_above": float(np.mean(unrelated >= line)),
        "related_above": float(np.mean(related >= line)),
        "queries_with_a_match": float(np.mean([z.max() >= line for z, _ in per_query])),
    }


# ----- relevance feedback ---------------------------------------------------------------------------------
def feedback_rounds(run: SplitRun, fusion: Fusion, rounds: int) -> list[np.ndarray]:
    """Per-query nDCG@10 after 0..``rounds`` rounds of simulated feedback: each round the first
    ``FEEDBACK_MARKS`` photos not yet marked are marked right (grade >= 2) or wrong (grade 0)."""
    results = [run.metrics(fusion)[:, 0]]
    queries = list(run.queries)
    found = list(run.found)
    marked: list[dict[int, bool]] = [{} for _ in queries]
    for _ in range(rounds):
        for i, e in enumerate(found):
            order = e.rows[np.argsort(-fuse(e, fusion), kind="stable")]
            fresh = [int(p) for p in order if int(p) not in marked[i]][:FEEDBACK_MARKS]
            for p in fresh:
                g = int(run.grades[i][p])
                if g != 1:
                    marked[i][p] = g >= 2
            right = [p for p, ok in marked[i].items() if ok]
            wrong = [p for p, ok in marked[i].items() if not ok]
            moved = with_feedback(run.index, run.queries[i], right, wrong)
            queries[i], found[i] = moved, evidence(run.index, moved)
        results.append(
            np.array([query_metrics(fuse(e, fusion), e.rows, run.grades[i])[0] for i, e in enumerate(found)])
        )
    return results


def feedback_time(n: int, work: Path, dim: int, rounds: int = 20) -> dict[str, float]:
    """Milliseconds per feedback round (update the query, score the library, rank) at ``n`` photos of
    random vectors (``bench.synthetic_cache``)."""
    from app.bench import synthetic_cache

    index = VectorIndex(synthetic_cache(work / f"cache-{n}", n, dim))
    query = example_of(index, 0)
    rng = np.random.default_rng(0)
    times = []
    for r in range(rounds + 1):
        marks = rng.choice(index.n, 2 * FEEDBACK_MARKS, replace=False)
        t0 = time.perf_counter()
        moved = with_feedback(index, query, list(marks[:FEEDBACK_MARKS]), list(marks[FEEDBACK_MARKS:]))
        scores = fuse(evidence(index, moved), DEFAULT_FUSION)
        np.argpartition(-scores, 20)[:20]
        if r:  # the first round warms the sessions and maps the files
            times.append((time.perf_counter() - t0) * 1e3)
    return {"photos": n, "p50_ms": float(np.median(times)), "p90_ms": float(np.quantile(times, 0.9))}


# ----- the command ----------------------------------------------------------------------------------------
def run_bench_similar(args: argparse.Namespace) -> int:
    from app.home import data_dir, resolve_bundle
    from app.library.encoder import load_runtime
    from app.tune import _checked_world, world_library

    world = _checked_world(args.world)
    runtime = load_runtime(resolve_bundle(args.bundle), providers="cpu")
    work = Path(args.work) if args.work else data_dir() / "tuning" / runtime.identity
    log: Log = lambda text: print(text, flush=True)  # noqa: E731
    started = time.monotonic()
    log(f"bench-similar: {runtime.identity} on {world} (work folder {work})")
    val = split_run(world_library(world, "val", work, runtime, args.caption_share, log), world, "val")
    chosen, tried = choose_fusion(val, log)
    line = cutoff_line(val, chosen)
    test_lib = world_library(world, "test", work, runtime, args.caption_share, log)
    test = split_run(test_lib, world, "test")
    more = {}
    if args.parts:
        began = time.monotonic()
        more[PARTS_STEP] = parts_orders(
            test, [world / key for key in test_lib.keys], runtime, chosen, args.parts
        )
        log(
            f"  test: the first {args.parts} of each ranking re-ordered by parts "
            f"({time.monotonic() - began:.0f} s)"
        )
    report: dict[str, Any] = {
        "bundle": runtime.identity,
        "world": str(world),
        "caption_share": args.caption_share,
        "chosen": chosen.__dict__,
        "val_ndcg_by_setting": tried,
        "cutoff": {"val": cutoff_rates(val, chosen, line), "test": cutoff_rates(test, chosen, line)},
        "test": step_table(test, chosen, more),
    }
    if args.feedback_rounds:
        per_round = feedback_rounds(test, chosen, args.feedback_rounds)
        report["feedback"] = {
            f"round {r}": {
                "nDCG@10": float(np.nanmean(v)),
                "change": bootstrap_diff(per_round[0], v),
            }
            for r, v in enumerate(per_round)
        }
    if args.time_at:
        with tempfile.TemporaryDirectory(prefix="multigrain-similar-") as scratch:
            report["feedback_time"] = feedback_time(args.time_at, Path(scratch), test.index.dim)
    report["seconds"] = round(time.monotonic() - started, 1)
    print_report(report)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


def _change(cell: tuple[float, float, float]) -> str:
    mean, low, high = cell
    return f"{mean:+5.1f} [{low:+5.1f}, {high:+5.1f}]"


def print_report(report: dict[str, Any]) -> None:
    c = report["chosen"]
    print(
        f"\nchosen on val: w_object {c['w_object']}, captions: {c['method']}, weight {c['w_caption']}, "
        f"floor {c['caption_floor']}, signals {', '.join(c['caption_signals'])}"
    )
    print(f"\ntest split, photo -> photo ({report['caption_share']:.0%} of photos captioned)")
    header = "nDCG@10  mAP@10  R@10 top  nDCG change [95 %]      uncapt. nDCG  its change [95 %]"
    for subset, rows in report["test"].items():
        print(f"  {subset:28s} {header}")
        for name, m in rows.items():
            print(
                f"    {name:26s} {m['nDCG@10']:7.1%} {m['mAP@10']:7.1%} {m['R@10 top grade']:8.1%}  "
                f"{_change(m['nDCG@10 change'])}  {m['nDCG@10 of uncaptioned photos']:12.1%}  "
                f"{_change(m['its change'])}"
            )
    if "cutoff" in report:
        print(f"\na cutoff on the fused z, at {CUTOFF_FPR:.0%} of unrelated candidates above it on val")
        for split, m in report["cutoff"].items():
            print(
                f"  {split:5s} z {m['z']:.2f}: unrelated above {m['unrelated_above']:5.1%}, "
                f"related (grade >= 2) above {m['related_above']:5.1%}, "
                f"queries with a match {m['queries_with_a_match']:5.1%}"
            )
    if "feedback" in report:
        print("\nrelevance feedback (top 5 marked per round by the grades), nDCG@10, change [95 %]")
        for name, m in report["feedback"].items():
            print(f"  {name:8s} {m['nDCG@10']:6.1%}  {_change(m['change'])}")
    if "feedback_time" in report:
        t = report["feedback_time"]
        print(
            f"time per feedback round at {t['photos']:,} photos: "
            f"p50 {t['p50_ms']:.0f} ms, p90 {t['p90_ms']:.0f} ms"
        )
    print(f"({report['seconds']} s)")
