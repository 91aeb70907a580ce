"""Records in X-VLM's own formats and the files that hold them.

Every JSON text is written with sorted keys and fixed separators, records in index order, so the same
seed gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from .facts import SceneFacts, SceneObject
from .referring import Expression, object_attributes
from .scene import Scene

# The grounding split (the referring-expression benchmark) only asks for objects that cover at least
# this share of the image.  Smaller ones stay in the pre-training region records.  Why: 42 % of the
# expressions were about objects under 2 % of the frame (median 37 px in a 400 px photo); at the demo
# model's 160 px input with 16 px patches that is about one patch, so IoU >= 0.5 asked for sub-patch
# box regression rather than for understanding the expression, and accuracy on them was 4 % against
# 64 % on the rest.  Human-collected referring sets likewise describe objects a person would point at.
MIN_REFERENT_AREA = 0.02


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def image_rpath(split: str, index: int) -> str:
    return f"images/{split}/{index:06d}.jpg"


def image_id(index: int) -> str:
    return f"world_{index:06d}"


def scene_records(scene: Scene, split: str, min_referent_area: float = MIN_REFERENT_AREA) -> dict[str, Any]:
    """Everything the output files need from one scene, as plain data (it crosses process bounds)."""
    facts = scene.facts
    rpath, iid = image_rpath(split, scene.index), image_id(scene.index)
    regions = [e for per_object in scene.expressions for e in per_object] + scene.pairs
    return {
        "index": scene.index,
        "split": split,
        "image": rpath,
        "image_id": iid,
        "width": facts.width,
        "height": facts.height,
        "captions": list(scene.captions),
        "elems": [object_elem(i, o) for i, o in enumerate(facts.objects)] + [region_elem(e) for e in regions],
        "grounding": grounding_records(scene, rpath, min_referent_area),
        "objects": objects_record(facts, rpath, iid),
        "n_regions": len(regions),
        "kinds": [o.kind.name for o in facts.objects],
        "background": facts.background.name,
    }


def object_elem(position: int, o: SceneObject) -> dict[str, Any]:
    """One object as an X-VLM region-file element: its kind as the caption, its attributes."""
    elem: dict[str, Any] = {"kind": "object", "caption": o.kind.name, "bb": list(o.box), "obj": position}
    attrs = object_attributes(o)
    if attrs:  # X-VLM samples one with random.choice, so an empty list must not be there at all
        elem["attributes"] = attrs
    return elem


def region_elem(e: Expression) -> dict[str, Any]:
    """One referring expression (of an object or a pair) as a region-file element."""
    return {
        "kind": "region",
        "caption": e.text,
        "bb": list(e.box),
        "subject": e.subject,
        "anchor": e.anchor,
        "relation": e.relation,
        "position": e.position,
        "rank": e.rank,
        "union": e.union,
    }


def grounding_records(scene: Scene, rpath: str, min_referent_area: float) -> list[dict[str, Any]]:
    """The scene's single-object expressions as grounding records, leaving out referents too small."""
    w, h = scene.facts.width, scene.facts.height
    records = []
    for i, per_object in enumerate(scene.expressions):
        for k, e in enumerate(per_object):
            if e.box[2] * e.box[3] < min_referent_area * w * h:
                continue
            records.append(
                {
                    "image": rpath,
                    "text": e.text,
                    "ref_id": scene.index * 100 + i * 10 + k,
                    "bbox": list(e.box),
                    "width": w,
                    "height": h,
                }
            )
    return records


def objects_record(facts: SceneFacts, rpath: str, iid: str) -> dict[str, Any]:
    """The scene's objects with their colour, size, box and position (the objects/ files)."""
    return {
        "image": rpath,
        "image_id": iid,
        "width": facts.width,
        "height": facts.height,
        "background": facts.background.name,
        "objects": [
            {
                "kind": o.kind.name,
                "colour": o.colour,
                "size": o.size or "medium",
                "bb": list(o.box),
                "position": [o.hpos, o.vpos],
            }
            for o in facts.objects
        ],
    }


class JsonListWriter:
    """Streams a JSON list, one element per line, without holding it in memory."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] = path.open("w", encoding="utf-8", newline="\n")
        self._f.write("[")
        self._first = True

    def add(self, obj: Any) -> None:
        self._f.write("\n" if self._first else ",\n")
        self._f.write(dumps(obj))
        self._first = False

    def close(self) -> None:
        self._f.write("\n]\n")
        self._f.close()


class WorldWriter:
    """All record files of a world; `add` takes scene_records output in index order."""

    def __init__(self, out_dir: Path, splits: dict[str, int]):
        self.out_dir = out_dir
        (out_dir / "pretrain").mkdir(parents=True, exist_ok=True)
        self._image_text = (out_dir / "pretrain" / "image_text.jsonl").open(
            "w", encoding="utf-8", newline="\n"
        )
        self._regions = (out_dir / "pretrain" / "regions.jsonl").open("w", encoding="utf-8", newline="\n")
        self._lists: dict[str, JsonListWriter] = {}
        for split in splits:
            self._lists[f"retrieval/{split}"] = JsonListWriter(out_dir / "retrieval" / f"{split}.json")
            self._lists[f"grounding/{split}"] = JsonListWriter(out_dir / "grounding" / f"{split}.json")
            if split != "train":
                self._lists[f"objects/{split}"] = JsonListWriter(out_dir / "objects" / f"{split}.json")

    def add(self, rec: dict[str, Any]) -> None:
        split = rec["split"]
        if split == "train":
            self._image_text.write(
                dumps(
                    {
                        "image_rpath": rec["image"],
                        "caption": rec["captions"],
                        "image_id": rec["image_id"],
                    }
                )
                + "\n"
            )
            self._regions.write(
                dumps(
                    {
                        "image_rpath": rec["image"],
                        "image_id": rec["image_id"],
                        "width": rec["width"],
                        "height": rec["height"],
                        "caption": rec["captions"],
                        "elems": rec["elems"],
                    }
                )
                + "\n"
            )
            for c in rec["captions"]:
                self._lists["retrieval/train"].add(
                    {"image": rec["image"], "caption": c, "image_id": rec["image_id"]}
                )
        else:
            self._lists[f"retrieval/{split}"].add({"image": rec["image"], "caption": rec["captions"]})
            self._lists[f"objects/{split}"].add(rec["objects"])
        for g in rec["grounding"]:
            self._lists[f"grounding/{split}"].add(g)

    def close(self) -> None:
        self._image_text.close()
        self._regions.close()
        for w in self._lists.values():
            w.close()


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
