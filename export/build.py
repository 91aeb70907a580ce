"""Checkpoint -> bundle: export the fp32 graphs, derive the variant, measure drift, write the manifest.

The bundle is assembled in a hidden staging directory beside ``out_dir`` and renamed into place only
after its drift passed, so a failed or interrupted export never leaves a half bundle that looks whole.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from core.hashing import sha256_file
from core.names import NAME_SLOTS, placeholder_range
from core.text import Tokenizer
from engine.checkpoint import WEIGHTS, CheckpointError, load_checkpoint
from engine.model.xvlm import XVLM
from export.bundle import (
    EXPORT_RECIPE,
    MANIFEST,
    NAME_INPUT,
    NAMES_FILE,
    VARIANTS,
    VOCAB,
    BundleError,
    graph_inputs,
    read_manifest,
    write_manifest,
)
from export.carried_names import CarriedName, carried_summary, read_names, write_names
from export.onnx_export import GRAPH_IO, OPSET, TRACE_BATCH, export_graphs
from export.quantize import quantization_summary, to_fp16, to_int8


class ExportError(BundleError):
    """An export that could not produce a trustworthy bundle."""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def exporter_versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxscript": _version("onnxscript"),
        "onnxruntime": onnxruntime.__version__,
        "multigrain": _version("multigrain"),
        "recipe": EXPORT_RECIPE,
    }


REPO = Path(__file__).resolve().parents[1]


def model_fields(model: XVLM, variant: str, graphs: list[str], first_name_id: int = 1) -> dict[str, Any]:
    """The manifest's model facts, all read from the model's config (the one source of truth), and
    where the text graph's name placeholders are in the vocabulary."""
    cfg = model.cfg
    v, t = cfg.vision, cfg.text
    return {
        "model": cfg.name,
        "config": cfg.to_dict(),
        "variant": variant,
        "image_size": v.image_size,
        "image_mean": list(cfg.image_mean),
        "image_std": list(cfg.image_std),
        "max_tokens": t.max_tokens,
        "max_words": t.max_words,
        "embed_dim": cfg.embed_dim,
        "text_hidden": t.hidden_size,
        "token_grid": {
            "grid": v.grid,
            "patch_stride": v.patch_stride,
            "num_tokens": v.num_tokens,
            "width": v.width,
        },
        "graphs": {
            name: {
                "file": f"{name}.onnx",
                "inputs": list(graph_inputs(name)),
                "outputs": list(GRAPH_IO[name][1]),
            }
            for name in graphs
        },
        "vocab": VOCAB,
        "names": {"input": NAME_INPUT, "slots": NAME_SLOTS, "first_id": first_name_id},
    }


def checkpoint_reference(ckpt: Path) -> str:
    """Where the checkpoint is, as the manifest records it for teaching names (which needs torch and the
    weights): relative to the repository when inside it (``models/demo``, so a moved checkout still
    finds it), else absolute (an imported X-VLM model's folder)."""
    path = ckpt.resolve()
    try:
        return path.relative_to(REPO).as_posix()
    except ValueError:
        return str(path)


def name_placeholders(ckpt: Path) -> int:
    """The id of ``[unused0]`` in the checkpoint's vocabulary, checked to start a contiguous range."""
    try:
        return placeholder_range(Tokenizer(ckpt / VOCAB))
    except (KeyError, ValueError, FileNotFoundError) as err:
        raise ExportError(
            f"cannot export {ckpt}: its vocabulary has no room for taught names ({err})"
        ) from err


def _derive_variant(fp32_dir: Path, stage: Path, variant: str, graphs: list[str]) -> dict[str, Any]:
    notes: dict[str, Any] = {}
    for name in graphs:
        src, dst = fp32_dir / f"{name}.onnx", stage / f"{name}.onnx"
        if variant == "fp32":
            shutil.copyfile(src, dst)
        elif variant == "fp16":
            notes[name] = to_fp16(src, dst)
        else:
            notes[name] = to_int8(src, dst, name)
    return notes


SEARCH_SETTINGS = "search_settings.json"


def read_shipped_settings(checkpoint: Path) -> dict[str, Any] | None:
    """The search settings tuned for this model (``multigrain tune-search --settings-out``) that a
    checkpoint folder may carry as ``search_settings.json``; the bundle ships them in its manifest, so a
    fresh install searches with tuned weights and cutoff before anyone runs the tuner. They are not part
    of the identity: they decide no vector. A file that is not valid settings is refused here."""
    from core.search_settings import SettingsError, parse_settings

    path = checkpoint / SEARCH_SETTINGS
    if not path.is_file():
        return None
    try:
        settings = parse_settings(json.loads(path.read_text()))
    except (OSError, ValueError, SettingsError) as err:
        raise ExportError(
            f"cannot export {checkpoint}: {path.name} is not usable search settings: {err}"
        ) from err
    return settings.to_json() | {"source": f"shipped with the model ({settings.source})"}


def export_bundle(
    checkpoint: str | Path,
    out_dir: str | Path,
    variant: str = "fp32",
    *,
    model: XVLM | None = None,
    fp32_graphs: str | Path | None = None,
    check: bool = True,
    log: Callable[[str], None] = print,
    names_file: str | Path | None = None,
) -> dict[str, Any]:
    """Write a bundle of ``checkpoint`` to ``out_dir``; returns its manifest.

    ``model`` skips reloading the checkpoint; ``fp32_graphs`` reuses an earlier fp32 export (int8 and
    fp16 are always made from fp32 graphs). With ``check`` the export fails (``ExportError``) when the
    measured drift exceeds the variant's thresholds. An existing bundle at ``out_dir`` is replaced;
    any other non-empty directory is refused. ``names_file``: taught names for the bundle to carry
    (export/carried_names.py); their named path is part of the drift check.
    """
    ckpt, out = Path(checkpoint), Path(out_dir)
    _check_target(variant, out)
    model, source = _load_source(ckpt, model)
    shipped_settings = read_shipped_settings(ckpt)
    model = model.float().eval()
    graphs = [n for n in GRAPH_IO if n != "box" or model.bbox_head is not None]
    first_name_id = name_placeholders(ckpt)
    carried = _carried_names(names_file, model, log) if names_file is not None else []
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        notes = _write_graphs(model, variant, graphs, stage, fp32_graphs, log, first_name_id)
        shutil.copyfile(ckpt / "vocab.txt", stage / VOCAB)
        if carried:
            write_names(
                stage / NAMES_FILE, carried, model.cfg.text.hidden_size, NAME_SLOTS, model.cfg.embed_dim
            )
        fields = (
            model_fields(model, variant, graphs, first_name_id)
            | {
                "source": source,
                "exporter": exporter_versions() | {"opset": str(OPSET), "trace_batch": str(TRACE_BATCH)},
                "quantization": quantization_summary(variant) | ({"graphs": notes} if notes else {}),
            }
            | ({"search_settings": shipped_settings} if shipped_settings else {})
        )
        manifest = write_manifest(stage, fields)
        drift = _checked_drift(model, stage, variant, manifest["identity"], check, log)
        # The manifest is not among the hashed files, so adding the drift changes no hash or identity.
        manifest = write_manifest(stage, fields | {"drift": drift})
        read_manifest(stage)
        _move_into_place(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return manifest


def _carried_names(names_file: str | Path, model: XVLM, log: Callable[[str], None]) -> list[CarriedName]:
    """The taught names to carry, checked against this model's text width; refused when there are none."""
    try:
        carried = read_names(names_file, NAME_SLOTS, model.cfg.text.hidden_size, model.cfg.embed_dim)
    except BundleError as err:
        raise ExportError(f"cannot export with these names: {err}") from err
    if not carried:
        raise ExportError(f"{names_file} holds no names: there is nothing for the bundle to carry")
    log(f"the bundle carries {len(carried)} taught name(s): {carried_summary(carried)}")
    return carried


def _check_target(variant: str, out: Path) -> None:
    """Refuse an unknown variant, and an ``out`` that holds something other than a bundle."""
    if variant not in VARIANTS:
        raise ExportError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ExportError(f"{out} exists and is not a model bundle; choose an empty or new directory")


def _load_source(ckpt: Path, model: XVLM | None) -> tuple[XVLM, dict[str, Any]]:
    """The model (loaded unless given) and the manifest's ``source``: checkpoint name, weights hash, meta."""
    try:
        if model is None:
            model, _ = load_checkpoint(ckpt)
        weights_sha = sha256_file(ckpt / WEIGHTS)
        meta = json.loads((ckpt / "meta.json").read_text())
    except (CheckpointError, OSError, json.JSONDecodeError) as err:
        raise ExportError(f"cannot export {ckpt}: {err}") from err
    return model, {
        "checkpoint": ckpt.name,
        "checkpoint_path": checkpoint_reference(ckpt),
        "weights_sha256": weights_sha,
        "meta": meta,
    }


def _write_graphs(
    model: XVLM,
    variant: str,
    graphs: list[str],
    stage: Path,
    fp32_graphs: str | Path | None,
    log: Callable[[str], None],
    first_name_id: int = 1,
) -> dict[str, Any]:
    """The variant's graphs into ``stage``, made from fp32 graphs (exported now unless given); its notes."""
    with tempfile.TemporaryDirectory(prefix="multigrain-fp32-") as scratch:
        fp32_dir = Path(fp32_graphs) if fp32_graphs else Path(scratch)
        if not fp32_graphs:
            log(f"exporting {len(graphs)} fp32 graphs of {model.cfg.name} ({', '.join(graphs)})")
            export_graphs(model, fp32_dir, graphs, first_name_id)
        if variant != "fp32":
            log(f"making the {variant} variant from the fp32 graphs")
        return _derive_variant(fp32_dir, stage, variant, graphs)


def _checked_drift(
    model: XVLM, stage: Path, variant: str, identity: str, check: bool, log: Callable[[str], None]
) -> dict[str, Any]:
    """The staged bundle's drift from the torch model; with ``check``, ``ExportError`` when too far."""
    from export.parity import format_drift, measure_drift
    from export.runtime import Runtime

    log(f"measuring drift of {identity} against fp32 torch")
    drift = measure_drift(model, Runtime(stage, providers="cpu"), variant)
    log(format_drift(drift))
    if check and not drift["pass"]:
        raise ExportError(
            f"{variant} export drifts too far from the torch model: {'; '.join(drift['failures'])}"
        )
    return drift


def _move_into_place(stage: Path, out: Path) -> None:
    """Replace ``out`` (an old bundle, or nothing) by the finished ``stage``."""
    stage.chmod(0o755)  # mkdtemp makes it private; a bundle is read by whoever runs the app
    if out.exists():
        shutil.rmtree(out)
    stage.rename(out)
