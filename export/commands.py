"""Handlers of the export room's commands (export, verify, bench-encoders); see cli/main.py for arguments."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.errors import KnownError


def export(args: argparse.Namespace) -> int:
    from export.build import export_bundle

    manifest = export_bundle(args.checkpoint, args.out_dir, args.variant)
    out = Path(args.out_dir)
    size = sum((out / name).stat().st_size for name in manifest["files"]) / 1e6
    print(f"wrote {out}: {manifest['identity']} ({len(manifest['files'])} files, {size:.1f} MB)")
    return 0


def verify(args: argparse.Namespace) -> int:
    from export.bundle import load_bundle
    from export.runtime import Runtime

    bundle = load_bundle(args.bundle)  # every file's sha256, and the identity they give
    m = bundle.manifest
    Runtime(bundle.path, providers=args.providers).open_graphs(list(m["graphs"]))  # each graph's role
    print(
        f"bundle {bundle.identity}: format {m['format_version']}, model {m['model']} ({m['variant']}), "
        f"{len(m['files'])} files match their sha256, every graph fits its role"
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
    drift = measure_drift(model, Runtime(bundle.path, providers=args.providers), bundle.variant)
    print(format_drift(drift))
    return 0 if drift["pass"] else 1


def bench_encoders(args: argparse.Namespace) -> int:
    from export.bench import run_benchmark

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    run_benchmark(models, batches, seconds=args.seconds, cache=args.cache, threads=args.threads)
    return 0
