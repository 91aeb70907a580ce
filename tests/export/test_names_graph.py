"""The text graph's taught-name input: a name's learned embedding reaches the graph, a text without a
name is exactly what it was, and a bundle of the format before it still searches but refuses names."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch
from old_bundles import old_format_bundle

from core.names import NameTable
from engine.model.xvlm import XVLM
from export.bundle import BundleError
from export.onnx_export import TextGraph
from export.parity import named_drift
from export.runtime import Runtime

TEXTS = ["a dog on the beach", "two red cars", "rexford and bellamy", "!!"]  # no name as a whole word


def _table(runtime: Runtime, seed: int = 0) -> NameTable:
    slots, hidden = runtime.name_table_shape()
    rows = np.random.default_rng(seed).normal(0, 0.05, (slots, hidden)).astype(np.float32)
    return NameTable({"Rex": 3, "Bella": 10}, rows)


@pytest.mark.parametrize(("bundle", "limit"), [("fp32_bundle", 1e-4), ("int8_bundle", None)])
def test_a_taught_name_reaches_the_graph_as_the_engine_encodes_it(
    bundle: str, limit: float | None, tiny_model: XVLM, request: pytest.FixtureRequest
) -> None:
    runtime = Runtime(request.getfixturevalue(bundle), providers="cpu")
    metrics, _ = named_drift(tiny_model, runtime)
    if limit is not None:
        assert metrics["named_text_embed"]["max_abs"] <= limit, metrics
    assert metrics["named_text_embed"]["cosine_min"] >= 0.99, metrics


def test_the_name_changes_the_embedding_and_case_does_not_matter(fp32_bundle: pathlib.Path) -> None:
    runtime = Runtime(fp32_bundle, providers="cpu")
    names = _table(runtime)
    plain = runtime.encode_texts(["rex on the beach"])[0]
    taught = runtime.encode_texts(["Rex on the beach", "REX ON THE BEACH!"], names=names)[0]
    assert np.abs(taught[0] - plain[0]).max() > 1e-3  # the learned row, not the word "rex"
    np.testing.assert_array_equal(taught[0], taught[1])
    ids, _, _ = runtime.tokenize(["Rex and Bella", "rexford"], names)
    first = runtime.manifest["names"]["first_id"]
    assert list(ids[0, :4]) == [101, first + 3, runtime.tokenizer.token_ids("and")[1], first + 10]
    assert first + 3 not in ids[1]  # whole words only


@pytest.mark.parametrize("bundle", ["fp32_bundle", "int8_bundle"])
def test_a_text_without_a_name_is_exactly_unchanged(bundle: str, request: pytest.FixtureRequest) -> None:
    runtime = Runtime(request.getfixturevalue(bundle), providers="cpu")
    before = runtime.encode_texts(TEXTS)
    after = runtime.encode_texts(TEXTS, names=_table(runtime, seed=1))
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)  # tolerance 0


def test_the_graph_module_without_names_is_encode_text_exactly(tiny_model: XVLM) -> None:
    graph = TextGraph(tiny_model, first_id=1).eval()
    ids = torch.tensor([[101, 2003, 1037, 3899, 0], [101, 4, 2003, 0, 0]])
    mask = (ids > 0).long()
    table = torch.randn(64, tiny_model.cfg.text.hidden_size)
    with torch.no_grad():
        embed, hidden = graph(ids[:1], mask[:1], table)
        ref = tiny_model.encode_text(ids[:1], mask[:1])
        assert torch.equal(embed, ref.embed) and torch.equal(hidden, ref.hidden)
        named, _ = graph(ids[1:], mask[1:], table)
        assert not torch.allclose(named, tiny_model.encode_text(ids[1:], mask[1:]).embed)


def test_an_old_format_bundle_searches_but_refuses_names(
    fp32_bundle: pathlib.Path, tiny_model: XVLM, tmp_path: pathlib.Path
) -> None:
    old = Runtime(old_format_bundle(fp32_bundle, tiny_model, tmp_path / "old"), providers="cpu")
    new = Runtime(fp32_bundle, providers="cpu")
    assert not old.takes_names and new.takes_names
    np.testing.assert_allclose(old.encode_texts(TEXTS)[0], new.encode_texts(TEXTS)[0], atol=1e-5)
    with pytest.raises(BundleError, match=r"too old to use taught names.*export it again"):
        old.encode_texts(["rex"], names=_table(new))
