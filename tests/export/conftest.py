"""Export fixtures: one tiny checkpoint and its bundles, exported once per test session."""

from __future__ import annotations

import pathlib

import pytest
from trained_like import randomised

from engine.checkpoint import save_checkpoint
from engine.model.xvlm import XVLM


@pytest.fixture(scope="session")
def tiny_model() -> XVLM:
    return randomised("test-tiny")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_model: XVLM) -> pathlib.Path:
    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("ckpt") / "test-tiny")


@pytest.fixture(scope="session")
def fp32_bundle(
    tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: pathlib.Path, tiny_model: XVLM
) -> pathlib.Path:
    from export.build import export_bundle

    out = tmp_path_factory.mktemp("bundles") / "fp32"
    export_bundle(tiny_checkpoint, out, "fp32", model=tiny_model, log=lambda _: None)
    return out


def _derived_bundle(
    factory: pytest.TempPathFactory, checkpoint: pathlib.Path, model: XVLM, fp32: pathlib.Path, variant: str
) -> pathlib.Path:
    """A variant made from the fp32 bundle's graphs, as the CLI does."""
    from export.build import export_bundle

    out = factory.mktemp("bundles") / variant
    export_bundle(checkpoint, out, variant, model=model, fp32_graphs=fp32, log=lambda _: None)
    return out


@pytest.fixture(scope="session")
def int8_bundle(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_checkpoint: pathlib.Path,
    tiny_model: XVLM,
    fp32_bundle: pathlib.Path,
) -> pathlib.Path:
    return _derived_bundle(tmp_path_factory, tiny_checkpoint, tiny_model, fp32_bundle, "int8")


@pytest.fixture(scope="session")
def fp16_bundle(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_checkpoint: pathlib.Path,
    tiny_model: XVLM,
    fp32_bundle: pathlib.Path,
) -> pathlib.Path:
    return _derived_bundle(tmp_path_factory, tiny_checkpoint, tiny_model, fp32_bundle, "fp16")
