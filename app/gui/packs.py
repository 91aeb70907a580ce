"""What the Things panel runs on a worker to export and import concept packs, without Qt: the same use
cases as ``multigrain names export|import`` (``app.personal.sharing``), each on its own connection to the
library, and the sentence the window shows when one is done."""

from __future__ import annotations

from pathlib import Path

from app.personal.pack import SUFFIX
from app.personal.sharing import BundleFacts, Exported, ImportedName, bundle_facts
from core.errors import KnownError

PACK_FILTER = f"Concept packs (*{SUFFIX})"


def _bundle_facts(bundle: Path | None) -> BundleFacts:
    if bundle is None:
        raise KnownError("No model is active: open Models… to import or choose one first.")
    return bundle_facts(bundle)


def export_to(db_path: Path, bundle: Path | None, names: list[str], out: Path) -> Exported:
    """Worker thread: write ``names`` (what they learned for ``bundle``) to the pack ``out``."""
    from app.library.db import open_db
    from app.personal.sharing import export_names

    facts = _bundle_facts(bundle)
    db = open_db(db_path, writable=False)
    try:
        return export_names(db, facts, names, out)
    finally:
        db.close()


def import_from(
    db_path: Path, bundle: Path | None, pack_file: Path, as_name: str | None
) -> list[ImportedName]:
    """Worker thread: the pack is checked whole before the library is opened, then its names stored."""
    from app.library.db import open_db
    from app.personal.looks import looks_after_import
    from app.personal.pack import read_pack
    from app.personal.sharing import import_pack

    pack = read_pack(pack_file)
    facts = _bundle_facts(bundle)
    db = open_db(db_path)
    try:
        done = import_pack(db, facts, pack, as_name)
        assert bundle is not None  # _bundle_facts refused None
        looks_after_import(db, bundle, done)  # an older pack's names: their looks from photos here
        return done
    finally:
        db.close()


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def exported_sentence(done: Exported) -> str:
    names = [item.name for item in done.names]
    return (
        f"Exported {_names(names)} to {done.path.name} ({done.size / 1024:.1f} kB): what "
        f"{'it' if len(names) == 1 else 'they'} learned, and the photos' hashes and boxes, not the photos"
    )


def imported_sentence(done: list[ImportedName]) -> str:
    names = [one.row.name for one in done]
    renamed = [
        f"the pack's {one.item.name} as {one.row.name}" for one in done if one.item.name != one.row.name
    ]
    extra = f" ({', '.join(renamed)})" if renamed else ""
    return f"Imported {_names(names)}{extra}: search for {'it' if len(names) == 1 else 'them'} by name"
