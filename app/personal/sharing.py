"""Sharing taught names: export them to a concept pack, import a pack into a library.

One use case each, called by ``multigrain names export|import`` and by the window's Things panel.
A pack holds what a name learned for one checkpoint, so the library it goes into must use that
checkpoint (any bundle of it: fp32 or int8, as the library's own lookup allows). Everything is
checked before the first write, and the names are stored in one transaction: a refused pack, or one
that fails half way, leaves the library as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from app.library.store import paths_of_hashes
from app.personal.card import benchmark_for, name_card
from app.personal.pack import Pack, PackName, PackPhoto, write_pack
from app.personal.store import Label, LearnedName, NameRow, find_name, labels_of, learned_for, save_taught
from app.personal.teach import METHOD
from app.source_checkpoint import recorded_checkpoint
from core.errors import KnownError
from core.names import NAME_SLOTS, BadNameError, name_key


class ImportRefused(KnownError):
    """A pack this library cannot take (another checkpoint, a name it has, no room)."""


class NameTakenError(ImportRefused):
    """The pack's name is already taught in this library; ``--as`` gives it another."""

    def __init__(self, message: str, name: str, renamable: bool) -> None:
        super().__init__(message)
        self.name = name  # as this library spells it
        self.renamable = renamable  # the pack holds this one name, so --as can give it another


@dataclass(frozen=True)
class BundleFacts:
    """What packs need of the library's model bundle, from its manifest (no model is loaded)."""

    identity: str
    weights: str | None  # sha256 of the checkpoint's weights it was exported from
    hidden: int | None  # width of a name's embedding; None: the bundle cannot take names
    checkpoint_dir: Path | None  # where its checkpoint is recorded to be (for the benchmark card)
    embed_dim: int | None = None  # width of the embeddings a look is compared with


def bundle_facts(bundle: Path) -> BundleFacts:
    from export.bundle import NAME_INPUT, BundleError, read_manifest

    manifest = read_manifest(bundle)
    source = manifest.get("source") or {}
    text = manifest["graphs"].get("text", {})
    takes_names = isinstance(manifest.get("names"), dict) and NAME_INPUT in text.get("inputs", [])
    try:
        hidden = int(manifest["config"]["text"]["hidden_size"]) if takes_names else None
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(f"{bundle}: unreadable manifest: no text hidden_size in its config") from err
    # The folder only serves the card, which is quoted only for weights the manifest records.
    folder = recorded_checkpoint(manifest)
    embed = manifest.get("embed_dim")
    return BundleFacts(
        str(manifest["identity"]),
        source.get("weights_sha256"),
        hidden,
        folder,
        int(embed) if isinstance(embed, int) and not isinstance(embed, bool) else None,
    )


def _short(sha: str | None) -> str:
    return f"{sha[:12]}…" if sha else "not recorded"


# ----- export ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Exported:
    path: Path
    size: int
    content_sha256: str
    names: tuple[PackName, ...]


def pack_names(db: Database, bundle: BundleFacts, names: list[str]) -> list[PackName]:
    """The names as a pack holds them: what each learned for this bundle (or its checkpoint), its
    photos by content hash and box (never a path), and its card."""
    out: list[PackName] = []
    seen: set[int] = set()
    for asked in names:
        row = find_name(db, asked)
        if row is None:
            raise KnownError(f"the library has no name {asked!r} (`multigrain names` lists them)")
        if row.id in seen:
            continue  # named twice ("Rex rex"): once in the pack
        seen.add(row.id)
        found = learned_for(db, row.id, bundle.identity, bundle.weights)
        if found is None:
            learned = ", ".join(row.models) or "no model"
            raise KnownError(
                f"{row.name} has learned nothing for the model {bundle.identity} (it was taught for "
                f"{learned}): export with the bundle it was taught for (--bundle), or teach it with this one"
            )
        learned, taught_at = found
        folder = bundle.checkpoint_dir if learned.checkpoint == bundle.weights else None
        card = name_card(
            learned.photos,
            learned.seconds,
            taught_at,
            benchmark_for(folder, learned.checkpoint, learned.method),
        )
        photos = tuple(PackPhoto(lb.content_hash, lb.box, lb.proposed) for lb in labels_of(db, row.id))
        out.append(
            PackName(
                row.name,
                row.kind,
                learned.method,
                learned.model,
                learned.checkpoint,
                learned.token,
                photos,
                card,
                learned.look,
            )
        )
    return out


def export_names(db: Database, bundle: BundleFacts, names: list[str], out: Path) -> Exported:
    items = pack_names(db, bundle, names)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    size, digest = write_pack(out, items, created)
    return Exported(out, size, digest, tuple(items))


# ----- import ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportedName:
    row: NameRow
    item: PackName  # as the pack had it (its own spelling, kind, card)
    linked: int  # its teaching photos found in this library (by content hash)


def _check_model(item: PackName, bundle: BundleFacts) -> None:
    if bundle.hidden is None:
        raise ImportRefused(
            f"the model bundle {bundle.identity} is too old to use taught names: export it again with "
            "`multigrain export`, then import the pack"
        )
    if item.method != METHOD:
        raise ImportRefused(
            f"{item.name} was learned with the {item.method!r} method, which this Multigrain cannot use "
            f"(it uses {METHOD!r})"
        )
    same = item.checkpoint == bundle.weights if bundle.weights else item.model == bundle.identity
    if not same:
        raise ImportRefused(
            f"{item.name} was learned on the model {item.model} (checkpoint weights "
            f"{_short(item.checkpoint)}), but this library uses {bundle.identity} (weights "
            f"{_short(bundle.weights)}): a learned name only works with the checkpoint it was learned on. "
            f"Import it where that model is used, or teach {item.name} here from your own photos"
        )
    if item.token.size != bundle.hidden:
        # The same checkpoint with another width can only be an edited pack.
        raise ImportRefused(
            f"{item.name}'s embedding has {item.token.size} values but the model {bundle.identity} takes "
            f"{bundle.hidden}: the pack was edited; nothing was imported"
        )
    if item.look is not None and bundle.embed_dim is not None and item.look.size != bundle.embed_dim:
        raise ImportRefused(
            f"{item.name}'s look has {item.look.size} values but the model {bundle.identity} makes "
            f"{bundle.embed_dim}: the pack was edited; nothing was imported"
        )


def _targets(db: Database, pack: Pack, as_name: str | None) -> list[str]:
    """The name each pack entry will have here; refused if one is taken or there is no room."""
    if as_name is not None:
        if len(pack.names) != 1:
            raise ImportRefused(
                f"--as renames one name, but the pack holds {len(pack.names)} "
                f"({', '.join(n.name for n in pack.names)}); import it without --as"
            )
        name_key(as_name)  # refuses what cannot be a name
        targets = [as_name]
    else:
        targets = [item.name for item in pack.names]
    for target, item in zip(targets, pack.names, strict=True):
        if (row := find_name(db, target)) is not None:
            alone = len(pack.names) == 1
            way = "under another name (--as NEWNAME)" if alone else "from a pack without it"
            raise NameTakenError(
                f"the library already has the name {row.name!r}; import the pack's {item.name} {way}, "
                f"or forget {row.name} first",
                row.name,
                alone,
            )
    used = db.execute("SELECT count(*) FROM names").fetchone()[0]
    if used + len(targets) > NAME_SLOTS:
        raise ImportRefused(
            f"the library knows {used} names and a library has room for {NAME_SLOTS}: the pack's "
            f"{len(targets)} do not fit; forget some first (`multigrain names --forget NAME`)"
        )
    return targets


def import_pack(
    db: Database, bundle: BundleFacts, pack: Pack, as_name: str | None = None
) -> list[ImportedName]:
    """Store the pack's names (each in a free slot, with its learned row and its photos by content hash,
    linked to a library photo with the same bytes where there is one), all or none."""
    for item in pack.names:
        _check_model(item, bundle)
    targets = _targets(db, pack, as_name)
    paths = paths_of_hashes(db, (p.content_hash for item in pack.names for p in item.photos))
    done: list[ImportedName] = []
    with db.atomic():
        for target, item in zip(targets, pack.names, strict=True):
            if find_name(db, target) is not None:  # taught by another process since the check
                raise BadNameError(f"the library already has the name {target!r}; nothing was imported")
            # The schema keeps a path per photo: a photo this library does not have gets none ("").
            labels = [
                Label(p.content_hash, paths.get(p.content_hash, ""), p.box, p.proposed) for p in item.photos
            ]
            learned = LearnedName(
                item.model,
                item.checkpoint,
                item.method,
                item.token,
                _count(item.card, len(labels)),
                _seconds(item.card),
                item.look,
            )
            row = save_taught(db, target, item.kind, labels, learned)
            done.append(ImportedName(row, item, sum(1 for lb in labels if lb.path)))
    return done


def _count(card: dict[str, Any], default: int) -> int:
    value = card.get("photos")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def _seconds(card: dict[str, Any]) -> float:
    value = card.get("seconds")
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else 0.0
    )
