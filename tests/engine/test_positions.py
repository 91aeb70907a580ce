"""The optional fusion position embedding and starting a run from a checkpoint with it added."""

from __future__ import annotations

import pathlib

import pytest
import torch

from engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from engine.config import load_config
from engine.model.factory import create_model
from engine.model.positions import fusion_position_init, sincos_2d


def test_sincos_codes_are_distinct_per_cell_and_bounded() -> None:
    codes = sincos_2d(4, 16)
    assert codes.shape == (16, 16)
    distances = torch.cdist(codes, codes) + torch.eye(16) * 1e9
    assert float(distances.min()) > 0.1, "two grid cells share a code"
    assert float(codes.abs().max()) <= 1.0
    # Row half depends on the row only: cells (0, 0) and (0, 3) share it, (0, 0) and (3, 0) do not.
    assert torch.equal(codes[0, :8], codes[3, :8]) and not torch.equal(codes[0, :8], codes[12, :8])
    with pytest.raises(ValueError, match="multiple of 4"):
        sincos_2d(4, 18)


def test_summary_token_gets_no_position() -> None:
    init = fusion_position_init(3, 8)
    assert init.shape == (1, 10, 8)
    assert float(init[0, 0].abs().max()) == 0.0 and float(init[0, 1:].abs().max()) > 0


def _pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    plain = create_model(load_config("test-tiny")).eval()
    with torch.no_grad():  # fresh heads are near zero; random weights make any dependence visible
        for p in plain.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    with_pos = create_model(load_config("test-tiny", fusion_pos_embed=True)).eval()
    with_pos.load_state_dict({**with_pos.state_dict(), **plain.state_dict()})
    return plain, with_pos


def test_fusion_sees_where_tokens_are_only_with_the_embedding() -> None:
    plain, with_pos = _pair()
    s = plain.cfg.vision.image_size
    images = torch.randn(1, 3, s, s)
    ids = torch.tensor([[101, 2000, 3000]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        tokens = plain.encode_image(images).tokens
        hidden = plain.encode_text(ids, mask).hidden
        # Swapping two patches changes nothing for position-blind cross-attention...
        swapped = tokens.clone()
        swapped[:, [1, 2]] = tokens[:, [2, 1]]
        box = plain.predict_box(hidden, mask, tokens)
        assert torch.allclose(box, plain.predict_box(hidden, mask, swapped), atol=1e-6)
        # ...and moves the box once tokens carry their place.
        moved = with_pos.predict_box(hidden, mask, swapped) - with_pos.predict_box(hidden, mask, tokens)
    assert float(moved.abs().max()) > 1e-6
    names = with_pos.new_parameter_names()
    assert "fusion_pos_embed" in names and with_pos.no_weight_decay("fusion_pos_embed")


def test_a_checkpoint_starts_a_model_with_the_embedding_added(tmp_path: pathlib.Path) -> None:
    plain, _ = _pair()
    save_checkpoint(plain, tmp_path / "ck")
    loaded, _ = load_checkpoint(tmp_path / "ck", overrides={"fusion_pos_embed": True})
    assert loaded.cfg.fusion_pos_embed
    expected = fusion_position_init(plain.cfg.vision.grid, plain.cfg.vision.width)
    assert torch.equal(loaded.fusion_pos_embed.detach(), expected)
    state = loaded.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in plain.state_dict().items())
    # An override that reshapes existing weights is still refused.
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_checkpoint(tmp_path / "ck", overrides={"embed_dim": 48})
