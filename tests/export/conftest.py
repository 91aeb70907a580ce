"""Export fixtures: the fp16 and int8 bundles made from the tiny fp32 bundle (tests/conftest.py), once per
test session."""

from __future__ import annotations

import pathlib

import pytest

from engine.model.xvlm import XVLM


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
