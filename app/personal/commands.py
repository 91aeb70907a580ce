"""Handlers of ``multigrain teach`` and ``multigrain names [export|import]`` (arguments in cli/main.py)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from app.commands import _library_command, load_model, open_library
from app.terminal import printable, shown
from core.errors import KnownError


def _photos(count: int) -> str:
    return f"{count} photo" if count == 1 else f"{count} photos"


@_library_command
def teach(args: argparse.Namespace) -> int:
    from app.personal.teach import TeachCancelled, parse_photo
    from app.personal.teach import teach as teach_name

    photos = [parse_photo(p) for p in args.photos]  # a bad box fails before anything loads
    # Ctrl+C (or the window's interrupt) stops the torch child and stores nothing, even when this process
    # was started with SIGINT ignored (a child inherits that from a shell's background job).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    db, _ = open_library(args, must_exist=True)
    runtime = load_model(args)
    try:
        report = teach_name(db, runtime, args.name, args.kind, photos, steps=args.steps, threads=args.threads)
    except TeachCancelled as err:
        print(str(err), file=sys.stderr)
        return 130
    child = report.child
    print(
        f"taught {report.name.name!r} ({report.name.kind}) from {_photos(len(report.labels))} in "
        f"{report.seconds:.1f} s on {child.get('device', 'cpu')} (model {child['seconds_load']:.1f} s, "
        f"learning {child['seconds_teach']:.1f} s, {child['steps']} steps); "
        f"photos re-encoded: {child['photos_encoded']} (the teaching photos), "
        f"library photos re-encoded: 0; contrasted with {report.negatives} library photos"
    )
    print(f'search with it: multigrain search "{report.name.name} on the grass"')
    return 0


@_library_command
def names(args: argparse.Namespace) -> int:
    from app.personal.store import forget_name, labels_of, list_names, rename_name

    db, _ = open_library(args, must_exist=True, writable=bool(args.forget or args.rename))
    if args.forget:
        row = forget_name(db, args.forget)
        print(f"forgot {row.name!r}: its labels and what it learned are gone (the photos are untouched)")
        return 0
    if args.rename:
        old, new = args.rename
        row = rename_name(db, old, new)
        print(f"renamed {old!r} to {row.name!r} (what it learned is kept)")
        return 0
    rows = list_names(db)
    if not rows:
        print("no taught names: teach one with `multigrain teach NAME --kind KIND PHOTO ...`")
        return 0
    for row in rows:
        created = time.strftime("%Y-%m-%d", time.localtime(row.created_at))
        models = ", ".join(row.models) or "no model"
        look = "" if row.looks or not row.models else "; no look yet (`multigrain names look` makes one)"
        print(f"{row.name}  ({row.kind}, {row.photos} photos, taught {created}; learned for {models}{look})")
        if args.verbose:
            for label in labels_of(db, row.id):
                box = ",".join(f"{v:.3f}" for v in label.box)
                how = " (proposed)" if label.proposed else ""
                # An imported name's photo that this library does not have is known by its hash alone.
                where = (
                    shown(label.path)
                    if label.path
                    else f"(not in this library: sha256 {label.content_hash[:12]}…)"
                )
                print(f"    {where}:{box}{how}")
    return 0


def _only_the_action(args: argparse.Namespace) -> None:
    if args.forget or args.rename or args.verbose:
        raise KnownError(f"`names {args.action}` takes no --forget, --rename or -v: run those on their own")


@_library_command
def export_names(args: argparse.Namespace) -> int:
    _only_the_action(args)
    from app.home import resolve_bundle
    from app.personal.sharing import bundle_facts
    from app.personal.sharing import export_names as export

    bundle = bundle_facts(resolve_bundle(args.bundle))
    db, _ = open_library(args, must_exist=True, writable=False)
    done = export(db, bundle, args.names, Path(args.out))
    print(f"wrote {shown(str(done.path))}: {done.size} bytes, pack sha256 {done.content_sha256[:12]}")
    for item in done.names:
        print(
            f"  {printable(item.name)} ({printable(item.kind)}, {_photos(len(item.photos))}), "
            f"learned on {item.model}"
        )
    print("it holds no photo and no path: what each name learned, and its photos' content hashes and boxes")
    return 0


@_library_command
def import_names(args: argparse.Namespace) -> int:
    _only_the_action(args)
    from app.home import resolve_bundle
    from app.personal.card import describe_card
    from app.personal.looks import looks_after_import
    from app.personal.pack import read_pack
    from app.personal.sharing import bundle_facts, import_pack

    pack = read_pack(args.file)  # every check of the file itself, before the library is opened
    folder = resolve_bundle(args.bundle)
    bundle = bundle_facts(folder)
    db, _ = open_library(args, must_exist=True)
    done = import_pack(db, bundle, pack, args.as_name)
    looks = {r.name: r for r in looks_after_import(db, folder, done)}
    for one in done:
        name, photos = printable(one.row.name), len(one.item.photos)
        was = f", the pack's {printable(one.item.name)}" if one.row.name != one.item.name else ""
        print(
            f"imported {name} ({printable(one.row.kind)}{was}): learned on {one.item.model}; "
            f"{one.linked} of its {_photos(photos)} are in this library"
        )
        if one.row.name in looks:
            print(f"  its look made from its {_photos(looks[one.row.name].used)} in this library")
        for line in describe_card(one.item.card):
            print(f"  {printable(line)}")
    first = printable(done[0].row.name)
    print(f'pack sha256 {pack.content_sha256[:12]}; search with it: multigrain search "{first} on the grass"')
    return 0


@_library_command
def fill_looks(args: argparse.Namespace) -> int:
    _only_the_action(args)
    from app.personal.looks import fill_looks as fill

    db, _ = open_library(args, must_exist=True)
    runtime = load_model(args)
    results = fill(db, runtime)
    if not results:
        print(f"no taught name has learned anything for {runtime.identity}: there is nothing to look at")
        return 0
    for r in results:
        name = printable(r.name)
        if r.had_one:
            print(f"{name}: has a look already")
        elif r.used:
            print(f"{name}: look made from {r.used} of its {_photos(r.photos)}")
        else:
            print(f"{name}: none of its {_photos(r.photos)} is in this library; searched by its box alone")
    return 0


@_library_command
def export_things(args: argparse.Namespace) -> int:
    from app.personal.export_things import ExportCancelled
    from app.personal.export_things import export_things as export_with_names
    from export.bundle_archive import is_archive_path

    # Ctrl+C (or the window's interrupt) stops the export child, as for `teach`.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    wanted = [n.strip() for n in args.names.split(",") if n.strip()] if args.names else None
    db, _ = open_library(args, must_exist=True, writable=False)
    runtime = load_model(args)
    single = args.single_file or is_archive_path(args.out)
    try:
        done = export_with_names(db, runtime, args.out, args.variant, wanted=wanted, single_file=single)
    except ExportCancelled as err:
        print(str(err), file=sys.stderr)
        return 130
    print(
        f"{done.out} carries {len(done.names)} taught name(s); a library that uses it finds them with no "
        f"teaching of its own. Check it: multigrain verify {done.out} --checkpoint {done.checkpoint}"
    )
    return 0
