"""Taught names in the library (schema 4): names, the photos and boxes they were taught from, and the
learned placeholder embedding per model bundle.

A name's slot (its placeholder ``[unusedN]``) is fixed when the name is first taught and freed when it
is forgotten; renaming keeps the slot and the learned embedding, because the embedding belongs to the
placeholder, not to the letters of the name. Learned parameters are looked up by bundle identity, and
else by the checkpoint they were learned against: every bundle (fp32, int8) of one checkpoint takes
the same learned row, since it was learned in torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sqlite_utils import Database

from app.library.db import bind_path
from core.errors import KnownError
from core.names import NAME_SLOTS, BadNameError, NameTable, name_key

Box = tuple[float, float, float, float]  # x, y, w, h as fractions of the upright photo


@dataclass(frozen=True)
class NameRow:
    id: int
    name: str
    kind: str
    slot: int
    created_at: float
    photos: int  # labelled photos
    models: tuple[str, ...]  # bundle identities it has learned parameters for
    looks: int = 0  # of those learned rows, the ones with a look (core.name_look)


@dataclass(frozen=True)
class Label:
    content_hash: str
    path: str
    box: Box
    proposed: bool  # the box was proposed by grounding the kind word


@dataclass(frozen=True)
class LearnedName:
    model: str
    checkpoint: str  # sha256 of the weights
    method: str
    token: np.ndarray  # (H,) float32
    photos: int
    seconds: float
    look: np.ndarray | None = None  # (D,) float32: core.name_look; None when it has none


def list_names(db: Database) -> list[NameRow]:
    rows = db.execute(
        """
        SELECT n.id, n.name, n.kind, n.slot, n.created_at,
               (SELECT count(*) FROM name_photos p WHERE p.name_id = n.id),
               (SELECT group_concat(model, char(10)) FROM name_params q WHERE q.name_id = n.id),
               (SELECT count(look) FROM name_params q WHERE q.name_id = n.id)
        FROM names n ORDER BY n.key
        """
    ).fetchall()
    return [
        NameRow(
            i, name, kind, slot, created, count, tuple(sorted(models.split("\n"))) if models else (), looks
        )
        for i, name, kind, slot, created, count, models, looks in rows
    ]


def find_name(db: Database, name: str) -> NameRow | None:
    """The taught name spelled ``name`` in any case (None if there is none)."""
    key = name_key(name)
    return next((row for row in list_names(db) if name_key(row.name) == key), None)


def _free_slot(db: Database) -> int:
    used = {row[0] for row in db.execute("SELECT slot FROM names")}
    free = next((s for s in range(NAME_SLOTS) if s not in used), None)
    if free is None:
        raise KnownError(
            f"the library already knows {NAME_SLOTS} names, the most a model bundle has room for: "
            "forget one first (`multigrain names --forget NAME`)"
        )
    return free


def save_taught(db: Database, name: str, kind: str, labels: list[Label], learned: LearnedName) -> NameRow:
    """Record a name (new, or taught again: its photos are replaced, its parameters for this model
    replaced) in one transaction; returns its row."""
    key = name_key(name)
    with db.atomic():
        existing = db.execute("SELECT id FROM names WHERE key = ?", [key]).fetchone()
        if existing is None:
            cursor = db.execute(
                "INSERT INTO names (name, key, kind, slot, created_at) VALUES (?, ?, ?, ?, ?)",
                [name, key, kind, _free_slot(db), time.time()],
            )
            name_id = int(cursor.lastrowid or 0)
        else:
            name_id = int(existing[0])
            db.execute("UPDATE names SET name = ?, kind = ? WHERE id = ?", [name, kind, name_id])
        db.execute("DELETE FROM name_photos WHERE name_id = ?", [name_id])
        for label in labels:
            db.execute(
                """
                INSERT OR REPLACE INTO name_photos (name_id, content_hash, path, x, y, w, h, proposed)
                VALUES (?, ?, CAST(? AS TEXT), ?, ?, ?, ?, ?)
                """,
                [name_id, label.content_hash, bind_path(label.path), *label.box, int(label.proposed)],
            )
        token = _finite_blob(learned.token, "learned embedding")
        look = None if learned.look is None else _finite_blob(learned.look, "look")
        db.execute(
            """
            INSERT OR REPLACE INTO name_params
                (name_id, model, checkpoint, method, dim, token, photos, seconds, created_at, look)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                name_id,
                learned.model,
                learned.checkpoint,
                learned.method,
                len(token) // 4,
                token,
                learned.photos,
                learned.seconds,
                time.time(),
                look,
            ],
        )
    row = find_name(db, name)
    assert row is not None
    return row


def _finite_blob(vector: np.ndarray, what: str) -> bytes:
    """``vector`` as little-endian float32 bytes; NaN or infinity is refused rather than stored."""
    values = np.ascontiguousarray(vector, dtype="<f4").ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError(f"refusing to store a {what} with NaN or infinite values")
    return values.tobytes()


def _look(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype="<f4").copy()


def store_look(db: Database, name_id: int, model: str, look: np.ndarray) -> None:
    """Give the name's learned row for ``model`` (a bundle identity) this look."""
    with db.atomic():
        db.execute(
            "UPDATE name_params SET look = ? WHERE name_id = ? AND model = ?",
            [_finite_blob(look, "look"), name_id, model],
        )


def labels_of(db: Database, name_id: int) -> list[Label]:
    rows = db.execute(
        "SELECT content_hash, path, x, y, w, h, proposed FROM name_photos WHERE name_id = ? ORDER BY path",
        [name_id],
    )
    return [Label(h, p, (x, y, w, hh), bool(proposed)) for h, p, x, y, w, hh, proposed in rows]


def learned_for(
    db: Database, name_id: int, model: str, checkpoint: str | None
) -> tuple[LearnedName, float] | None:
    """What the name learned for this bundle (``model``), or else for its checkpoint, the newest first,
    as ``name_table`` picks it; with the time it was learned. None when it learned nothing for either."""
    row = db.execute(
        """
        SELECT model, checkpoint, method, dim, token, photos, seconds, created_at, look FROM name_params
        WHERE name_id = ? AND (model = ? OR checkpoint = ?)
        ORDER BY model = ? DESC, created_at DESC LIMIT 1
        """,
        [name_id, model, checkpoint or "", model],
    ).fetchone()
    if row is None:
        return None
    found, weights, method, dim, token, photos, seconds, created, look = row
    vector = np.frombuffer(token, dtype="<f4")
    if vector.size != dim:
        raise ValueError(f"name_params row of name {name_id} holds {vector.size} values, not {dim}")
    learned = LearnedName(found, weights, method, vector.copy(), int(photos), float(seconds), _look(look))
    return learned, float(created)


def forget_name(db: Database, name: str) -> NameRow:
    """Delete a name, its labels and its learned parameters; its slot is free again."""
    row = find_name(db, name)
    if row is None:
        raise KnownError(f"the library has no name {name!r} (`multigrain names` lists them)")
    with db.atomic():
        db.execute("DELETE FROM names WHERE id = ?", [row.id])
    return row


def rename_name(db: Database, old: str, new: str) -> NameRow:
    """Give a name another spelling; what it learned stays (it belongs to the slot, not the letters)."""
    row = find_name(db, old)
    if row is None:
        raise KnownError(f"the library has no name {old!r} (`multigrain names` lists them)")
    key = name_key(new)
    clash = find_name(db, new)
    if clash is not None and clash.id != row.id:
        raise BadNameError(f"the library already has the name {clash.name!r}")
    with db.atomic():
        db.execute("UPDATE names SET name = ?, key = ? WHERE id = ?", [new, key, row.id])
    renamed = find_name(db, new)
    assert renamed is not None
    return renamed


def name_table(
    db: Database, model: str, checkpoint: str | None, shape: tuple[int, int], look_dim: int | None = None
) -> NameTable:
    """The names that have learned parameters for this bundle (``model``), or else for its checkpoint
    (``checkpoint``: the weights' sha256), as the text graph's (S, H) table, with the looks they have
    (of ``look_dim`` values, the bundle's embedding width, when given); empty when none."""
    slots, hidden = shape
    rows = db.execute(
        """
        SELECT n.name, n.slot, q.dim, q.token, q.look, q.model = ? AS exact FROM names n
        JOIN name_params q ON q.name_id = n.id
        WHERE q.model = ? OR q.checkpoint = ?
        ORDER BY n.id, exact DESC, q.created_at DESC
        """,
        [model, model, checkpoint or ""],
    ).fetchall()
    table = np.zeros((slots, hidden), np.float32)
    names: dict[str, int] = {}
    looks: dict[str, np.ndarray] = {}
    for name, slot, dim, token, look, _exact in rows:
        if name in names or dim != hidden or slot >= slots:
            continue  # a better row came first, or another model's width
        table[slot] = np.frombuffer(token, dtype="<f4")
        names[name] = slot
        vector = _look(look)
        if vector is not None and (look_dim is None or vector.size == look_dim):
            looks[name] = vector
    return NameTable(names, table, looks)
