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


@pytest.fixture(scope="session")
def int8_bundle(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_checkpoint: pathlib.Path,
    tiny_model: XVLM,
    fp32_bundle: pathlib.Path,
) -> pathlib.Path:
    from export.build import export_bundle

    out = tmp_path_factory.mktemp("bundles") / "int8"
    # Made from the fp32 graphs of the fp32 bundle, as the CLI does.
    export_bundle(tiny_checkpoint, out, "int8", model=tiny_model, fp32_graphs=fp32_bundle, log=lambda _: None)
    return out


@pytest.fixture(scope="session")
def fp16_bundle(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_checkpoint: pathlib.Path,
    tiny_model: XVLM,
    fp32_bundle: pathlib.Path,
) -> pathlib.Path:
    from export.build import export_bundle

    out = tmp_path_factory.mktemp("bundles") / "fp16"
    export_bundle(tiny_checkpoint, out, "fp16", model=tiny_model, fp32_graphs=fp32_bundle, log=lambda _: None)
    return out
