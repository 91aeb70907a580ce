"""Handlers of the export room's commands (export, verify, bench-encoders); see cli/main.py for arguments."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from core.errors import KnownError


def export(args: argparse.Namespace) -> int:
    from export.build import export_bundle
    from export.bundle_archive import archive_path, check_archive_target, is_archive_path, write_archive

    out = Path(args.out_dir)
    if not (args.single_file or is_archive_path(out)):
        manifest = export_bundle(args.checkpoint, out, args.variant, names_file=args.names_file)
        size = sum((out / name).stat().st_size for name in manifest["files"]) / 1e6
        print(f"wrote {out}: {manifest['identity']} ({len(manifest['files'])} files, {size:.1f} MB)")
        return 0
    out = archive_path(out)
    check_archive_target(out)  # before minutes of export, not after
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as scratch:
        folder = Path(scratch) / "bundle"
        manifest = export_bundle(args.checkpoint, folder, args.variant, names_file=args.names_file)
        print(f"packing {len(manifest['files'])} files into one file")
        write_archive(folder, out)
    print(f"wrote {out}: {manifest['identity']} (one file, {out.stat().st_size / 1e6:.1f} MB)")
    return 0


@contextlib.contextmanager
def _unpacked(path: Path) -> Iterator[Path]:
    """A bundle folder to verify: ``path`` itself, or a single-file bundle unpacked (after every check
    an install makes) into a temporary folder."""
    from export.bundle_intake import stage_bundle

    if path.is_dir():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="multigrain-verify-") as scratch:
        stage_bundle(path, Path(scratch) / path.name)
        print(f"{path}: one file; every member is a plain file listed in its manifest, none too large")
        yield Path(scratch) / path.name


def verify(args: argparse.Namespace) -> int:
    with _unpacked(Path(args.bundle)) as folder:
        return _verify_folder(folder, args)


def _verify_folder(folder: Path, args: argparse.Namespace) -> int:
    from export.bundle import load_bundle
    from export.carried_names import carried_summary
    from export.runtime import Runtime

    bundle = load_bundle(folder)  # every file's sha256, and the identity they give
    m = bundle.manifest
    runtime = Runtime(bundle.path, providers=args.providers)  # reads the carried names, refusing bad ones
    runtime.open_graphs(list(m["graphs"]))  # each graph's role
    print(
        f"bundle {bundle.identity}: format {m['format_version']}, model {m['model']} ({m['variant']}), "
        f"{len(m['files'])} files match their sha256, every graph fits its role"
    )
    if runtime.carried:
        print(
            f"carries {len(runtime.carried)} taught name(s): {carried_summary(runtime.carried)} (slots in "
            "range, names unique, rows finite and as wide as the text graph takes)"
        )
    if not args.checkpoint:
        return 0
    from core.hashing import sha256_file
    from engine.checkpoint import WEIGHTS, CheckpointError, load_checkpoint
    from export.parity import format_drift, measure_drift

    ckpt = Path(args.checkpoint)
    try:
        weights = sha256_file(ckpt / WEIGHTS)
        model, _ = load_checkpoint(ckpt)
    except (CheckpointError, OSError) as err:
        raise KnownError(f"cannot read checkpoint {ckpt}: {err}") from err
    expected = m.get("source", {}).get("weights_sha256")
    if expected != weights:
        print(f"FAIL: {ckpt} is not the checkpoint this bundle was exported from (weights sha256 differs)")
        return 1
    drift = measure_drift(model, runtime, bundle.variant)
    print(format_drift(drift))
    return 0 if drift["pass"] else 1


def bench_encoders(args: argparse.Namespace) -> int:
    from export.bench import run_benchmark

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    run_benchmark(models, batches, seconds=args.seconds, cache=args.cache, threads=args.threads)
    return 0
