"""Test-wide settings (no network, no user folders, deterministic torch) and the tiny model, checkpoint
and fp32 bundle that export, fault and CLI tests share (exported once per session; torch is imported
only by a test that asks for them)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from engine.model.xvlm import XVLM

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Test helpers (tests/<room>/*.py that are not tests) import each other by module name.
for room in ("world", "engine", "export", "app", "faults"):
    sys.path.insert(0, str(Path(__file__).parent / room))


@pytest.fixture(scope="session")
def tiny_model() -> XVLM:
    from trained_like import randomised

    return randomised("test-tiny")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_model: XVLM) -> Path:
    from engine.checkpoint import save_checkpoint

    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("ckpt") / "test-tiny")


@pytest.fixture(scope="session")
def fp32_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path, tiny_model: XVLM) -> Path:
    from export.build import export_bundle

    out = tmp_path_factory.mktemp("bundles") / "fp32"
    export_bundle(tiny_checkpoint, out, "fp32", model=tiny_model, log=lambda _: None)
    return out
