"""``multigrain export-things``: a new bundle of the active bundle's checkpoint that carries the taught names.

This process (no torch) picks the names: those the library searches with on the active bundle, that is
its own names with learned parameters for that bundle or its checkpoint, and any the bundle itself
carries (the library's own win on a clash: ``app.personal.usage``). It writes them as a names file
(export/carried_names.py) into a private temporary folder and runs ``multigrain export CHECKPOINT OUT
--names-file FILE`` as a child process: torch exports the graphs again from the recorded checkpoint,
checks the carried names' path against the engine's named encoder and writes the bundle, or one
``.mgbundle`` file. Ctrl+C stops the child; nothing is written at OUT then (export stages its work).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from app.personal.store import list_names
from app.personal.teach import checkpoint_of
from app.personal.usage import names_for
from app.torch_child import run_engine_module
from core.errors import KnownError
from core.names import name_key
from export.bundle import NAMES_FILE
from export.bundle_archive import archive_path
from export.carried_names import CarriedName, carried_summary, write_names


class ExportCancelled(KnownError):
    """Ctrl+C while exporting: nothing was written."""


@dataclass(frozen=True)
class ThingsExport:
    out: Path
    names: list[CarriedName]
    checkpoint: Path


def chosen_names(db: Database, runtime: Any, wanted: list[str] | None = None) -> list[CarriedName]:
    """The names the new bundle carries: all the library searches with on ``runtime``'s bundle, or the
    ``wanted`` ones of them (any case); a sentence when there are none or one is not known."""
    table = names_for(db, runtime)
    identity = runtime.identity
    if not table:
        raise KnownError(
            f"the library has no taught names for the model {identity}: teach one first "
            "(`multigrain teach NAME --kind KIND PHOTO ...`), or name the bundle they were taught with "
            "(--bundle)"
        )
    kinds = {name_key(n.name): n.kind for n in runtime.carried}
    kinds |= {name_key(row.name): row.kind for row in list_names(db)}
    by_key = {name_key(name): name for name in table.slots}
    keys = list(by_key)
    if wanted:
        keys = []
        for name in wanted:
            key = name_key(name)
            if key not in by_key:
                raise KnownError(
                    f"the library has no name {name!r} learned for the model {identity} "
                    "(`multigrain names` lists the names and the models they were learned for)"
                )
            keys.append(key)
    chosen = [by_key[key] for key in dict.fromkeys(keys)]  # each once, in the order asked
    slot = table.slots
    return [
        CarriedName(n, kinds.get(name_key(n), ""), slot[n], table.embeddings[slot[n]], table.looks.get(n))
        for n in chosen
    ]


def _run_child(args: list[str], log: Callable[[str], None]) -> None:
    """Run ``multigrain ARGS`` (the export), forwarding its lines; on Ctrl+C stop it and say that nothing
    was written."""
    try:
        code, tail = run_engine_module("cli.main", args, lambda line: log(f"  {line}"))
    except KeyboardInterrupt:
        raise ExportCancelled("cancelled: no bundle was written") from None
    if code == 130:
        raise ExportCancelled("cancelled: no bundle was written")
    if code != 0:
        raise KnownError(
            f"the export failed, no bundle was written: {tail[-1] if tail else f'exit code {code}'}"
        )


def export_things(
    db: Database,
    runtime: Any,
    out: str | Path,
    variant: str,
    *,
    wanted: list[str] | None = None,
    single_file: bool = False,
    log: Callable[[str], None] = print,
) -> ThingsExport:
    """Export the active bundle's checkpoint to ``out`` in ``variant``, carrying the library's names."""
    if not runtime.takes_names:
        raise KnownError(
            f"the model bundle {runtime.identity} is too old to carry names (bundle format "
            f"{runtime.manifest['format_version']}): export it again with `multigrain export`"
        )
    names = chosen_names(db, runtime, wanted)
    checkpoint, _ = checkpoint_of(runtime.manifest, runtime.identity)
    target = Path(out).expanduser().absolute()  # the child runs in the repository, not here
    if single_file:
        target = archive_path(target)
    log(f"[1/3] names to carry: {carried_summary(names)}")
    slots, hidden = runtime.name_table_shape()
    with tempfile.TemporaryDirectory(prefix="multigrain-things-") as scratch:  # private (0700): rows
        names_file = Path(scratch) / NAMES_FILE
        write_names(names_file, names, hidden, slots, runtime.embed_dim)
        log(f"[2/3] exporting {checkpoint} as {variant} (torch, in a child process)")
        args = ["export", str(checkpoint), str(target), "--variant", variant, "--names-file", str(names_file)]
        _run_child(args + (["--single-file"] if single_file else []), log)
    log(f"[3/3] done: {target}")
    return ThingsExport(target, names, checkpoint)
