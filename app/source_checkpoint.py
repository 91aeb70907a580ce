"""The torch checkpoint a model bundle was exported from, for the work that needs its weights.

Teaching a name and fine-tuning both start from the weights behind the bundle, which the app never
loads itself (torch runs in a child). Bundle format 2 records them in the manifest:
``source.checkpoint_path`` (relative to the repository when inside it, else absolute) and
``source.weights_sha256``. One place says whether they are usable, for every command and the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.home import REPO
from core.errors import KnownError
from core.hashing import sha256_file

WEIGHTS = "model.safetensors"  # engine.checkpoint.WEIGHTS (the app does not import the engine)


def recorded_checkpoint(manifest: dict[str, Any]) -> Path | None:
    """Where the manifest says the checkpoint is (None: it does not say)."""
    source = manifest.get("source") or {}
    recorded = source.get("checkpoint_path")
    if not recorded or not source.get("weights_sha256"):
        return None
    return Path(recorded) if Path(recorded).is_absolute() else REPO / recorded


def missing_source(manifest: dict[str, Any], identity: str, needed_for: str) -> str | None:
    """Why ``needed_for`` ("teaching", "fine-tuning") cannot use this bundle's checkpoint, from the
    manifest and one look at the disk (the weights are not hashed); None when it looks usable."""
    path = recorded_checkpoint(manifest)
    if path is None:
        return (
            f"the model bundle {identity} does not record the checkpoint it was exported from, and "
            f"{needed_for} needs it: export the bundle again from its checkpoint "
            "(`multigrain export CHECKPOINT OUT`)"
        )
    if not (path / WEIGHTS).is_file():
        return (
            f"the model bundle {identity} was exported from {path}, which is not here any more; "
            f"{needed_for} needs that checkpoint (restore it, or export a bundle from the one you have)"
        )
    return None


def source_checkpoint(manifest: dict[str, Any], identity: str, needed_for: str) -> tuple[Path, str]:
    """The checkpoint folder and its weights' sha256, checked against the manifest; a ``KnownError``
    with the reason when ``needed_for`` cannot use it."""
    problem = missing_source(manifest, identity, needed_for)
    if problem is not None:
        raise KnownError(problem)
    path = recorded_checkpoint(manifest)
    assert path is not None
    weights = str(manifest["source"]["weights_sha256"])
    if sha256_file(path / WEIGHTS) != weights:
        raise KnownError(
            f"{path} holds other weights than the ones the bundle {identity} was exported from; "
            f"export the bundle again from it (`multigrain export {path} OUT`) and use that bundle"
        )
    return path, weights


def torch_work_refusal(
    manifest: dict[str, Any], identity: str, work: str, again: str, torch_installed: bool | None = None
) -> str | None:
    """The window's sentence (capitalised, a full stop) why ``work`` ("Teaching a name", "Fine-tuning")
    cannot start with this bundle: its checkpoint is not usable, or torch is not installed (looked up,
    never imported); ``again`` ends the torch sentence ("teach again"). None when it can start."""
    import importlib.util

    problem = missing_source(manifest, identity, work.split()[0].lower())
    if problem is not None:
        return problem[0].upper() + problem[1:] + "."
    if torch_installed is None:
        torch_installed = importlib.util.find_spec("torch") is not None
    if not torch_installed:
        return (
            f"{work} needs the engine extra (torch), which is not installed: "
            f"install it with `pip install 'multigrain[engine]'`, then {again}."
        )
    return None
