"""bench-personal: teach every named individual of the world from k photos, then measure on held-out ones.

Every photo goes through the vision trunk once, as indexing would; teaching and every query after it
reuse those vectors.  Reported per (method, k):
- personal retrieval: for each held-out photo of a name, its rank by ITC cosine to the name among the
  held-out photos that show the same kind but not that individual (look-alikes); R@1, R@5, MRR;
- personal grounding: the box head on the name, IoU >= 0.5 with the individual's box, in held-out
  photos with two or more instances of its kind (single pass, no zoom);
- general retrieval: ITC R@1 on the world's test split with all names taught at once, against before;
- seconds per name and photos re-encoded while teaching.
Baselines without teaching: the kind word plus colour words ("a red dog with black stripes") and query
by example (the first teaching photo's global embedding); the bare kind word for grounding.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.box_metrics import iou_inclusive
from core.name_look import with_look
from core.name_ranking import NAME_RERANK, W_LOOK, W_PHOTO_ALONE, W_PHOTO_IN_CONTEXT
from core.records import read_retrieval_eval, read_retrieval_train
from core.region_boxes import BOXES
from core.search_settings import SearchSettings
from engine.evaluate import encode_images, recall_metrics
from engine.model.xvlm import XVLM
from engine.personal.look import crop_embeds, name_look
from engine.personal.names import NamedTextEncoder, TaughtName
from engine.personal.records import PersonalPhoto, PersonalWorld, read_personal_world
from engine.personal.teach import TeachPhoto, TeachSettings, VisionCounter, teach_name

KEEP_TEXTS = 24  # general queries whose embeddings the rank-1 update must not move (train captions)


class PersonalBenchError(ValueError):
    """A benchmark asked for something the world cannot give (more teaching photos than it has)."""


@dataclass
class Gallery:
    """The personal photos as an index holds them: one row per photo of the world's personal part."""

    photos: list[PersonalPhoto]
    embed: torch.Tensor  # (N, D)
    tokens: torch.Tensor  # (N, 1 + L, C)
    regions: torch.Tensor | None = None  # (N, K, D): the app's candidate boxes (``core.region_boxes``)


@dataclass(frozen=True)
class AppScoring:
    """How the app ranks photos for a name: the index's first stage (global and best grid region, the
    bundle's search weights), then the first ``rerank`` re-ordered by the name's grounded box and its
    look."""

    w_global: float
    w_region: float
    rerank: int = NAME_RERANK
    w_photo: float = W_PHOTO_ALONE  # a query of the name alone
    w_photo_context: float = W_PHOTO_IN_CONTEXT  # the name with other words ("Rex on the beach")
    w_look: float = W_LOOK  # the look's share of the name's score (``core.name_look.with_look``)

    @classmethod
    def of_checkpoint(cls, checkpoint: str | Path | None) -> AppScoring:
        """The weights shipped beside the checkpoint (``search_settings.json``, as its bundles carry
        them), else the app's defaults."""
        path = Path(checkpoint) / "search_settings.json" if checkpoint else None
        if path is not None and path.is_file():
            data = json.loads(path.read_text())
            return cls(float(data["w_global"]), float(data["w_region"]))
        defaults = SearchSettings()
        return cls(defaults.w_global, defaults.w_region)


@dataclass
class GeneralSet:
    image_embed: torch.Tensor
    captions: list[str]
    txt2img: np.ndarray
    img2txt: list[list[int]]


@torch.no_grad()
def encode_gallery(model: XVLM, world: PersonalWorld) -> Gallery:
    photos = list(world.photos)
    embed, tokens = encode_images(model, [str(p.path) for p in photos], keep_tokens=True)
    assert tokens is not None
    size, k = model.cfg.vision.image_size, len(BOXES)
    boxes = torch.tensor(BOXES * size, dtype=torch.float32)
    regions = torch.cat(
        [
            model.encode_concepts(
                tokens[i : i + 64].repeat_interleave(k, 0), boxes.repeat(len(tokens[i : i + 64]), 1)
            )[2]
            for i in range(0, len(tokens), 64)
        ]
    ).view(len(tokens), k, -1)
    return Gallery(photos, embed, tokens, regions)


def encode_general(model: XVLM, root: Path) -> GeneralSet:
    records = read_retrieval_eval(root / "retrieval" / "test.json")
    captions: list[str] = []
    img2txt, txt2img = [], []
    for i, rec in enumerate(records):
        img2txt.append(list(range(len(captions), len(captions) + len(rec.captions))))
        captions.extend(rec.captions)
        txt2img.extend([i] * len(rec.captions))
    embed, _ = encode_images(model, [r.image for r in records], keep_tokens=False)
    return GeneralSet(embed, captions, np.array(txt2img), img2txt)


def library_negatives(model: XVLM, root: Path) -> tuple[torch.Tensor, list[str]]:
    """Other library photos (the world's train split) as global embeddings, and general queries (their
    captions) for the preservation term.  Neither touches a held-out photo or caption."""
    records = read_retrieval_train(root / "retrieval" / "train.json")
    images = list(dict.fromkeys(r.image for r in records))
    texts = list(dict.fromkeys(c for r in records for c in r.captions))[:KEEP_TEXTS]
    embed, _ = encode_images(model, images, keep_tokens=False)
    return embed, texts


def general_r1(text_embed: torch.Tensor, general: GeneralSet) -> dict[str, float]:
    sims = (general.image_embed @ text_embed.t()).numpy()
    m = recall_metrics(sims, sims.T, general.img2txt, general.txt2img)
    return {"tr_r1": m["txt_r1"], "ir_r1": m["img_r1"]}


def _ranks(gallery: Gallery, name: str, kind: str, query: torch.Tensor) -> list[int]:
    """1-based rank of each held-out photo of ``name`` among itself and the held-out look-alike photos."""
    scores = (gallery.embed @ query).numpy()
    held = [i for i, p in enumerate(gallery.photos) if p.split == "test"]
    positives = [i for i in held if gallery.photos[i].individual == name]
    others = [i for i in held if gallery.photos[i].individual != name and gallery.photos[i].same_kind(kind)]
    return [1 + int(np.sum(scores[others] > scores[i])) for i in positives]


@torch.no_grad()
def named_box_cosines(
    model: XVLM, encoder: NamedTextEncoder, gallery: Gallery, name: str
) -> tuple[torch.Tensor, np.ndarray]:
    """For every photo: the cosine of the name with the concept embedding of the box the box head puts
    the name in (what ``app.personal.name_rerank`` computes through the runtime), and that box (x, y,
    w, h as fractions of the photo)."""
    size = model.cfg.vision.image_size
    text = encoder([name])
    out, corners = [], []
    for i in range(0, len(gallery.tokens), 64):
        tokens = gallery.tokens[i : i + 64]
        n = len(tokens)
        cx, cy, w, h = model.predict_box(
            text.hidden.expand(n, -1, -1), text.mask.expand(n, -1), tokens
        ).unbind(-1)
        w, h = w.clamp(1e-3, 1.0), h.clamp(1e-3, 1.0)
        x = torch.minimum((cx - w / 2).clamp(min=0.0), 1.0 - w)
        y = torch.minimum((cy - h / 2).clamp(min=0.0), 1.0 - h)
        boxes = torch.stack([x, y, w, h], dim=-1)
        corners.append(boxes.numpy().astype(np.float64))
        out.append(model.encode_concepts(tokens, boxes * size)[2] @ text.embed[0])
    return torch.cat(out), np.concatenate(corners)


def look_cosines(
    model: XVLM, gallery: Gallery, world: PersonalWorld, name: str, k: int, boxes: np.ndarray
) -> np.ndarray:
    """For every held-out photo: the cosine of the name's look (its first k teaching boxes, cropped) with
    the crop of the photo's ``boxes`` row (where the name grounds); NaN for the other photos."""
    teaching = world.teaching(name, k)
    look = name_look(
        model,
        [p.path for p in teaching],
        [_fractions(p.box_of(name), p.width, p.height) for p in teaching],
    )
    held = [i for i, p in enumerate(gallery.photos) if p.split == "test"]
    out = np.full(len(gallery.photos), np.nan)
    embeds = crop_embeds(model, [gallery.photos[i].path for i in held], [tuple(boxes[i]) for i in held])
    out[held] = (embeds @ look).numpy()
    return out


def _fractions(box: tuple[float, float, float, float], width: int, height: int) -> tuple[float, ...]:
    x, y, w, h = box
    return x / width, y / height, w / width, h / height


# The mixes of photo and name, and of the name's box and look, the benchmark measures, to choose the
# values in core.name_ranking.
W_PHOTO_SWEEP = (0.0, 0.15, 0.3, 0.5, 0.7, 1.0)
W_LOOK_SWEEP = (0.0, 0.333, 0.5, 0.667, 0.8, 1.0)


def _app_ranks(
    gallery: Gallery,
    query: torch.Tensor,
    name_cos: np.ndarray,
    app: AppScoring,
    positives: list[int],
    others: list[int],
    w_photo: float | None = None,
) -> tuple[list[int], list[int]]:
    """Each positive photo's rank among ``others`` (as ``_ranks`` counts it), under the app's first
    stage alone and after its re-order of the first ``app.rerank`` by the name's score (``name_cos``): the
    photo competes with the others only, so the head it may be re-ordered in holds it and the best of
    them. ``query`` is the whole query's embedding (the index and the photo term use it)."""
    assert gallery.regions is not None
    global_cos = (gallery.embed @ query).numpy().astype(np.float64)
    region_cos = (gallery.regions @ query).amax(dim=1).numpy().astype(np.float64)
    first = app.w_global * global_cos + app.w_region * region_cos
    w = app.w_photo if w_photo is None else w_photo
    mixed = w * global_cos + (1.0 - w) * np.asarray(name_cos, np.float64)
    index_ranks, app_ranks = [], []
    for i in positives:
        pool = np.array([i, *others])
        order = pool[np.argsort(-first[pool], kind="stable")]
        index_ranks.append(1 + int(np.flatnonzero(order == i)[0]))
        head = order[: app.rerank]
        order = np.concatenate([head[np.argsort(-mixed[head], kind="stable")], order[app.rerank :]])
        app_ranks.append(1 + int(np.flatnonzero(order == i)[0]))
    return index_ranks, app_ranks


def name_sets(gallery: Gallery, name: str, kind: str) -> tuple[list[int], list[int]]:
    """The held-out photos of ``name``, and the held-out look-alike photos (its kind, not it)."""
    held = [i for i, p in enumerate(gallery.photos) if p.split == "test"]
    positives = [i for i in held if gallery.photos[i].individual == name]
    others = [i for i in held if gallery.photos[i].individual != name and gallery.photos[i].same_kind(kind)]
    return positives, others


def place_queries(gallery: Gallery, name: str, kind: str) -> list[tuple[str, list[int], list[int]]]:
    """ "Rex on the beach": for each background among the name's held-out photos, the query in the world's
    own phrase for it, its positives (the name there) and the rest (look-alikes anywhere, and the name
    in other places)."""
    from world.backgrounds import BACKGROUND_BY_NAME

    positives, others = name_sets(gallery, name, kind)
    out = []
    for background in sorted({gallery.photos[i].background for i in positives}):
        here = [i for i in positives if gallery.photos[i].background == background]
        elsewhere = [i for i in positives if gallery.photos[i].background != background]
        phrase = BACKGROUND_BY_NAME[background].phrases[0]
        out.append((f"{name} {phrase}", here, others + elsewhere))
    return out


def retrieval_metrics(ranks: list[int]) -> dict[str, float]:
    r = np.asarray(ranks, dtype=np.float64)
    return {
        "r1": 100.0 * float(np.mean(r <= 1)),
        "r5": 100.0 * float(np.mean(r <= 5)),
        "mrr": float(np.mean(1.0 / r)),
        "queries": len(ranks),
    }


def _share(hits: list[bool]) -> float | None:
    """Percent of hits; None where no photo qualified (a tiny world)."""
    return 100.0 * float(np.mean(hits)) if hits else None


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def grounding_photos(gallery: Gallery, name: str, kind: str) -> list[int]:
    return [
        i
        for i, p in enumerate(gallery.photos)
        if p.split == "test" and p.individual == name and len(p.same_kind(kind)) >= 2
    ]


@torch.no_grad()
def grounding_hits(
    model: XVLM, encoder: NamedTextEncoder, gallery: Gallery, name: str, kind: str, query: str
) -> list[bool]:
    """Whether the box head on ``query`` lands on ``name``'s box (IoU >= 0.5) in each grounding photo."""
    chosen = grounding_photos(gallery, name, kind)
    if not chosen:
        return []
    text = encoder([query] * len(chosen))
    boxes = model.predict_box(text.hidden, text.mask, gallery.tokens[chosen]).numpy()
    hits = []
    for (cx, cy, w, h), i in zip(boxes, chosen, strict=True):
        p = gallery.photos[i]
        pred = np.array([[(cx - w / 2) * p.width, (cy - h / 2) * p.height, w * p.width, h * p.height]])
        hits.append(bool(iou_inclusive(pred, np.array([p.box_of(name)]))[0] >= 0.5))
    return hits


def teach_photos(
    model: XVLM, gallery: Gallery, world: PersonalWorld, name: str, kind: str, k: int
) -> list[TeachPhoto]:
    rows = {id(p): i for i, p in enumerate(gallery.photos)}
    out = []
    for p in world.teaching(name, k):
        i = rows[id(p)]
        same = [o.box for o in p.instances if o.individual != name and o.kind == kind]
        rest = [o.box for o in p.instances if o.individual != name and o.kind != kind]
        out.append(
            TeachPhoto(gallery.tokens[i], gallery.embed[i], p.width, p.height, p.box_of(name), same + rest)
        )
    return out


def negatives_for(gallery: Gallery, library: torch.Tensor, name: str) -> torch.Tensor:
    """Library photos not showing the name: the train split and the other names' teaching photos."""
    others = [i for i, p in enumerate(gallery.photos) if p.split == "teach" and p.individual != name]
    return torch.cat([library, gallery.embed[others]])


def run_bench(
    model: XVLM,
    root: str | Path,
    methods: tuple[str, ...] = ("token", "rank1", "both"),
    ks: tuple[int, ...] = (1, 3, 5),
    settings: TeachSettings | None = None,
    log: Callable[[str], None] = print,
    app: AppScoring | None = None,
) -> dict:
    """``app``: how the app scores a name (the checkpoint's search weights); default: the app's own."""
    app = app or AppScoring.of_checkpoint(None)
    root = Path(root)
    base = settings or TeachSettings()
    world = read_personal_world(root)
    bad = [k for k in ks if not 1 <= k <= world.teach_photos]
    if bad:
        raise PersonalBenchError(f"k must be 1 to {world.teach_photos} (the teaching pool), got {bad[0]}")
    model.eval()
    seen = VisionCounter(model)
    gallery = encode_gallery(model, world)
    library, keep_texts = library_negatives(model, root)
    general = encode_general(model, root)
    indexed = seen.count
    log(
        f"indexed {indexed} photos ({len(gallery.photos)} personal, {len(library)} library, "
        f"{len(general.image_embed)} test)"
    )
    plain = NamedTextEncoder(model, [])
    before = general_r1(plain.embed(general.captions), general)
    log(f"general ITC R@1 before: {before}")
    rows = baselines(model, gallery, world, plain)
    for row in rows:
        log(
            f"{row['method']:>20s} k={row['k']}: R@1 {row['r1']:.1f} R@5 {row['r5']:.1f} "
            f"MRR {row['mrr']:.3f} grounding {_percent(row['grounding'])}"
        )
    for k in ks:  # k-major: the first k's rows compare every method before the next k starts
        for method in methods:
            rows.append(
                _taught_row(
                    model, gallery, world, library, keep_texts, general, method, k, base, seen, log, app
                )
            )
    return {
        "indexed_photos": indexed,
        "general_before": before,
        "rows": rows,
        "settings": vars(base),
        "app_scoring": vars(app),
    }


def _taught_row(
    model: XVLM,
    gallery: Gallery,
    world: PersonalWorld,
    library: torch.Tensor,
    keep_texts: list[str],
    general: GeneralSet,
    method: str,
    k: int,
    base: TeachSettings,
    seen: VisionCounter,
    log: Callable[[str], None],
    app: AppScoring,
) -> dict:
    """Teach every name with ``method`` from k photos, all at once, and measure the result: by the
    global cosine (the research measure), and as the app ranks (its index, then the name's box)."""
    taught: list[TaughtName] = []
    seconds, passes = [], 0
    for slot, thing in enumerate(world.names):
        photos = teach_photos(model, gallery, world, thing.name, thing.kind, k)
        settings = TeachSettings(**{**vars(base), "method": method})
        before = seen.count
        name, stats = teach_name(
            model,
            thing.name,
            thing.kind,
            slot,
            photos,
            negatives_for(gallery, library, thing.name),
            keep_texts,
            settings,
        )
        passes += seen.count - before
        taught.append(name)
        seconds.append(stats.seconds)
    encoder = NamedTextEncoder(model, taught)
    ranks, hits, index_ranks, app_ranks, box_ranks = [], [], [], [], []
    sweep: dict[float, list[int]] = {w: [] for w in W_PHOTO_SWEEP}
    look_sweep: dict[float, list[int]] = {w: [] for w in W_LOOK_SWEEP}
    place_sweep: dict[float, list[int]] = {w: [] for w in W_PHOTO_SWEEP}
    place_index: list[int] = []
    place_app: list[int] = []
    for thing in world.names:
        query = encoder.embed([thing.name])[0]
        ranks += _ranks(gallery, thing.name, thing.kind, query)
        hits += grounding_hits(model, encoder, gallery, thing.name, thing.kind, thing.name)
        box_cos, boxes = named_box_cosines(model, encoder, gallery, thing.name)
        box_cos = box_cos.numpy().astype(np.float64)
        look_cos = look_cosines(model, gallery, world, thing.name, k, boxes)
        name_cos = with_look(box_cos, look_cos, app.w_look)
        positives, others = name_sets(gallery, thing.name, thing.kind)
        by_index, by_app = _app_ranks(gallery, query, name_cos, app, positives, others)
        index_ranks += by_index
        app_ranks += by_app
        box_ranks += _app_ranks(gallery, query, box_cos, app, positives, others)[1]
        for w in W_PHOTO_SWEEP:
            sweep[w] += _app_ranks(gallery, query, name_cos, app, positives, others, w)[1]
        for w in W_LOOK_SWEEP:
            mixed = with_look(box_cos, look_cos, w)
            look_sweep[w] += _app_ranks(gallery, query, mixed, app, positives, others)[1]
        # "Rex on the beach": the whole query picks the head and scores the photo; the box is the name's.
        for text, here, rest in place_queries(gallery, thing.name, thing.kind):
            place = encoder.embed([text])[0]
            by_index, by_app = _app_ranks(gallery, place, name_cos, app, here, rest, app.w_photo_context)
            place_index += by_index
            place_app += by_app
            for w in W_PHOTO_SWEEP:
                place_sweep[w] += _app_ranks(gallery, place, name_cos, app, here, rest, w)[1]
    after = general_r1(encoder.embed(general.captions), general)
    row = {
        "method": method,
        "k": k,
        **retrieval_metrics(ranks),
        "index": retrieval_metrics(index_ranks),
        "app": retrieval_metrics(app_ranks),
        "app_box_only": retrieval_metrics(box_ranks),
        "app_by_w_photo": {str(w): retrieval_metrics(r) for w, r in sweep.items()},
        "app_by_w_look": {str(w): retrieval_metrics(r) for w, r in look_sweep.items()},
        "place_index": retrieval_metrics(place_index),
        "place_app": retrieval_metrics(place_app),
        "place_by_w_photo": {str(w): retrieval_metrics(r) for w, r in place_sweep.items()},
        "grounding": _share(hits),
        "grounding_photos": len(hits),
        "general_after": after,
        "seconds_per_name": float(np.mean(seconds)),
        "seconds_max": float(np.max(seconds)),
        "re_encoded": passes,
    }
    log(_row_line(row))
    return row


def baselines(model: XVLM, gallery: Gallery, world: PersonalWorld, plain: NamedTextEncoder) -> list[dict]:
    rows = []
    for label, make in (
        ("kind + colour words", lambda t: t.description),
        ("kind word", lambda t: f"a {t.kind}"),
    ):
        ranks, hits = [], []
        for thing in world.names:
            ranks += _ranks(gallery, thing.name, thing.kind, plain.embed([make(thing)])[0])
            hits += grounding_hits(model, plain, gallery, thing.name, thing.kind, make(thing))
        rows.append(
            {
                "method": label,
                "k": 0,
                **retrieval_metrics(ranks),
                "grounding": _share(hits),
                "grounding_photos": len(hits),
            }
        )
    ranks = []
    rows_of = {id(p): i for i, p in enumerate(gallery.photos)}
    for thing in world.names:
        example = gallery.embed[rows_of[id(world.teaching(thing.name, 1)[0])]]
        ranks += _ranks(gallery, thing.name, thing.kind, example)
    rows.append(
        {
            "method": "query by example",
            "k": 1,
            **retrieval_metrics(ranks),
            "grounding": None,
            "grounding_photos": 0,
        }
    )
    return rows


def _row_line(row: dict) -> str:
    app = row["app"]
    return (
        f"{row['method']:>20s} k={row['k']}: R@1 {row['r1']:.1f} R@5 {row['r5']:.1f} MRR {row['mrr']:.3f} "
        f"(as the app ranks: R@1 {app['r1']:.1f} R@5 {app['r5']:.1f} MRR {app['mrr']:.3f}) "
        f"grounding {_percent(row['grounding'])} general R@1 TR/IR {row['general_after']['tr_r1']:.2f}/"
        f"{row['general_after']['ir_r1']:.2f} {row['seconds_per_name']:.1f} s/name, "
        f"re-encoded {row['re_encoded']}"
    )


def format_table(results: dict) -> str:
    """The benchmark as a Markdown table, one row per method and k."""
    before = results["general_before"]
    lines = [
        f"general ITC R@1 before teaching: TR {before['tr_r1']:.2f}, IR {before['ir_r1']:.2f}; "
        f"photos indexed once: {results['indexed_photos']}",
        "",
        "| method | k | R@1 | R@5 | MRR | grounding (photos) | general TR / IR R@1 after | s per name "
        "| re-encoded |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results["rows"]:
        g = "n/a" if r["grounding"] is None else f"{r['grounding']:.1f} ({r['grounding_photos']})"
        after = r.get("general_after")
        general = (
            "unchanged (nothing taught)" if after is None else f"{after['tr_r1']:.2f} / {after['ir_r1']:.2f}"
        )
        secs = f"{r['seconds_per_name']:.1f}" if "seconds_per_name" in r else "-"
        lines.append(
            f"| {r['method']} | {r['k']} | {r['r1']:.1f} | {r['r5']:.1f} | {r['mrr']:.3f} | {g} | "
            f"{general} | {secs} | {r.get('re_encoded', 0)} |"
        )
    taught = [r for r in results["rows"] if "app" in r]
    if taught:
        app = results.get("app_scoring", {})
        lines += [
            "",
            f"As the app ranks a name: its index (w_global {app.get('w_global')}, w_region "
            f"{app.get('w_region')}: the photo and its best grid region), then the first {app.get('rerank')} "
            "re-ordered by the name's score in each photo (the name's grounded box: its concept embedding "
            f"against the name, and its crop against the name's look, the look's share {_share_text(app)}), "
            f"mixed with the photo's cosine at {app.get('w_photo')} for the name alone and "
            f"{app.get('w_photo_context')} for the name in a place (the world's phrase for the photo's "
            'background, e.g. "Rex on the beach"; the photo then competes with the look-alikes anywhere '
            "and the name elsewhere): R@1 / R@5 / MRR",
            "",
            "| query | method | k | queries | global only | index | index + name's box | "
            "index + box and look |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in taught:
            cells = [_cell(m) if m else "-" for m in (r, r["index"], r.get("app_box_only"), r["app"])]
            lines.append(f"| name | {r['method']} | {r['k']} | {r['queries']} | " + " | ".join(cells) + " |")
        for r in taught:
            if "place_app" in r:
                cells = [_cell(m) for m in (r["place_index"], r["place_app"])]
                lines.append(
                    f"| name in a place | {r['method']} | {r['k']} | {r['place_index']['queries']} | - | "
                    + cells[0]
                    + " | - | "
                    + cells[1]
                    + " |"
                )
        lines += _sweep_table(taught)
    return "\n".join(lines)


def _share_text(app: dict) -> str:
    share = app.get("w_look")
    return "-" if share is None else f"{share:.2f}"


def _cell(m: dict) -> str:
    return f"{m['r1']:.1f} / {m['r5']:.1f} / {m['mrr']:.3f}"


def _sweep_table(taught: list[dict]) -> list[str]:
    """R@1 / R@5 / MRR of the re-order by the mix of photo and name (the photo's share), for the name
    alone ("Rex") and the name in a place ("Rex on the beach": the world's phrase for a background), and
    by the look's share of the name's score, for the name alone."""
    weights = list(taught[0]["app_by_w_photo"])
    lines = [
        "",
        "The re-order's mix, by the photo's share (the rest is the name's score): R@1 / R@5 / MRR",
        "",
        "| query | method | k | queries | index | " + " | ".join(f"photo {w}" for w in weights) + " |",
        "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in weights) + " |",
    ]
    for label, index_key, sweep_key in (
        ("name", "index", "app_by_w_photo"),
        ("name in a place", "place_index", "place_by_w_photo"),
    ):
        for r in taught:
            if sweep_key not in r:
                continue
            cells = [r[index_key], *(r[sweep_key][w] for w in weights)]
            text = " | ".join(_cell(m) for m in cells)
            lines.append(f"| {label} | {r['method']} | {r['k']} | {r[index_key]['queries']} | {text} |")
    looked = [r for r in taught if "app_by_w_look" in r]
    if looked:
        shares = list(looked[0]["app_by_w_look"])
        lines += [
            "",
            "The name's score, by the look's share (the rest is the name's box), for the name alone: "
            "R@1 / R@5 / MRR",
            "",
            "| method | k | queries | " + " | ".join(f"look {w}" for w in shares) + " |",
            "| --- | --- | --- | " + " | ".join("---" for _ in shares) + " |",
        ]
        for r in looked:
            text = " | ".join(_cell(r["app_by_w_look"][w]) for w in shares)
            lines.append(f"| {r['method']} | {r['k']} | {r['queries']} | {text} |")
    return lines
