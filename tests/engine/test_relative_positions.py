"""Swin relative-position tables resized as X-VLM does (BEiT's geometric grid + bicubic spline).

The reference here is computed independently of engine/model/relative_positions.py: the grid by its
definition (bisection for q with sum_{i<n} q^i = dst_half, offsets at the partial sums) and the values with
scipy's interpolating bicubic spline through the original points. The smooth test pattern is chosen so
that timm's linear resize on the same grid misses the reference by about 0.07, far outside TOLERANCE.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch
from official_format import to_official
from scipy.interpolate import RectBivariateSpline

from engine.checkpoint import import_official, load_checkpoint, save_checkpoint
from engine.config import load_config
from engine.model.factory import create_model
from engine.model.relative_positions import (
    geometric_offsets,
    resize_relative_position_table,
    resize_relative_position_tables,
)

# Float32 rounding of values of size ~3 is ~3e-7; a linear resize is off by ~7e-2 on the pattern below.
TOLERANCE = 1e-5
SUFFIX = "relative_position_bias_table"


def _reference_grid(src_side: int, dst_side: int) -> np.ndarray:
    terms, dst_half = src_side // 2, dst_side // 2
    low, high = 1.01, 1.5
    while high - low > 1e-6:
        mid = (low + high) / 2
        if np.sum(mid ** np.arange(terms)) > dst_half:
            high = mid
        else:
            low = mid
    positive = np.cumsum(mid ** np.arange(terms))  # 1, 1 + q, 1 + q + q^2, ...
    return np.concatenate([-positive[::-1], [0.0], positive])


def _reference_resize(table: torch.Tensor, dst_side: int) -> torch.Tensor:
    src_side = round(table.shape[0] ** 0.5)
    grid = _reference_grid(src_side, dst_side)
    target = np.arange(-(dst_side // 2), dst_side // 2 + 1, dtype=np.float64)
    heads = []
    for values in table.double().numpy().T:
        spline = RectBivariateSpline(grid, grid, values.reshape(src_side, src_side), kx=3, ky=3, s=0)
        heads.append(spline(target, target).ravel())
    return torch.from_numpy(np.stack(heads, axis=1))


def _smooth_table(side: int, heads: int) -> torch.Tensor:
    """Sines plus a small cross term over unit-spaced offsets, values in about [-3, 3] like trained tables."""
    offsets = np.arange(side) - side // 2
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    columns = [
        1.5 * np.sin(0.5 * dx + 0.7 * h) + np.cos(0.4 * dy - 0.3 * h) + 0.03 * dx * dy for h in range(heads)
    ]
    return torch.from_numpy(np.stack(columns, axis=-1).reshape(side * side, heads)).float()


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def test_grid_is_beits_geometric_progression() -> None:
    grid = geometric_offsets(13, 23)
    assert np.allclose(grid, _reference_grid(13, 23), atol=1e-12, rtol=0)
    assert grid[6] == 0 and grid[7] == 1.0 and np.allclose(grid, -grid[::-1])
    assert abs(grid[-1] - 11) < 1e-4, "the outermost source offset must reach the target's largest one"


@pytest.mark.filterwarnings("ignore::UserWarning")  # timm's linear resize warns about torch indexing
def test_window_7_to_12_is_the_cubic_spline_not_the_linear_one() -> None:
    from timm.layers.pos_embed_rel import resize_rel_pos_bias_table

    table = _smooth_table(13, 3)
    reference = _reference_resize(table, 23)
    ours = resize_relative_position_table(table, 23 * 23)
    assert ours.shape == (529, 3) and ours.dtype == torch.float32
    assert _max_diff(ours, reference) < TOLERANCE
    # The pattern must tell the two methods apart, or the check above proves nothing.
    linear = resize_rel_pos_bias_table(table, new_window_size=(12, 12), new_bias_shape=(529, 3))
    assert _max_diff(linear, reference) > 1000 * TOLERANCE
    # The original offsets are kept exactly where the grid hits an integer (0 and +-1).
    square, big = table.view(13, 13, 3), ours.view(23, 23, 3)
    assert torch.allclose(big[10:13, 10:13], square[5:8, 5:8], atol=1e-6)


def test_same_window_is_untouched_and_bad_shapes_are_refused() -> None:
    table = _smooth_table(13, 2)
    assert resize_relative_position_table(table, 169) is table
    with pytest.raises(ValueError, match="not"):
        resize_relative_position_table(table, 500)
    state = {"a.attn.relative_position_bias_table": table, "other": torch.zeros(3)}
    target = {"a.attn.relative_position_bias_table": torch.zeros(529, 2), "other": torch.zeros(4)}
    assert resize_relative_position_tables(state, target) == ["a.attn.relative_position_bias_table"]
    assert state["a.attn.relative_position_bias_table"].shape == (529, 2) and state["other"].shape == (3,)


def _tiny_swin_config(image_size: int, window: int):
    kwargs = {"embed_dim": 8, "depths": [2, 2, 2, 2], "num_heads": [1, 1, 2, 2], "window_size": window}
    return load_config("test-tiny-swin", **{"vision.image_size": image_size, "vision.trunk_kwargs": kwargs})


def _source_224() -> torch.nn.Module:
    """The 224-px, window-7 shape of the official pre-trained checkpoints (13 x 13 tables), with every
    table set to the smooth pattern so that a resize can be checked against the reference."""
    model = create_model(_tiny_swin_config(224, 7), pretrained_text=False)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(SUFFIX):
                assert param.shape[0] == 169, name
                param.copy_(_smooth_table(13, param.shape[1]))
    return model.eval()


def _assert_resized_as_x_vlm(source: torch.nn.Module, loaded: torch.nn.Module) -> None:
    src, new = source.state_dict(), loaded.state_dict()
    tables = [k for k in src if k.endswith(SUFFIX)]
    assert len(tables) == 8
    worst = max(_max_diff(new[k], _reference_resize(src[k], 23)) for k in tables)
    assert worst < TOLERANCE, f"tables differ from X-VLM's cubic resize by {worst:.3g}"
    assert all(torch.equal(new[k], v) for k, v in src.items() if not k.endswith(SUFFIX))


def test_import_224_checkpoint_at_384_resizes_like_x_vlm(tmp_path: pathlib.Path) -> None:
    source = _source_224()
    torch.save({"model": to_official(source, "pretrain")}, tmp_path / "224.th")
    imported, report = import_official(tmp_path / "224.th", _tiny_swin_config(384, 12))
    assert any("resized 8 Swin relative-position tables (169 -> 529 rows" in n for n in report.notes)
    _assert_resized_as_x_vlm(source, imported)


def test_fine_tuning_at_384_from_a_224_checkpoint_uses_the_same_resize(tmp_path: pathlib.Path) -> None:
    # engine/train.py starts from init_checkpoint through load_checkpoint with the run's model_overrides.
    source = _source_224()
    save_checkpoint(source, tmp_path / "ck")
    window_12 = _tiny_swin_config(384, 12).vision.trunk_kwargs
    loaded, _ = load_checkpoint(
        tmp_path / "ck", overrides={"vision.image_size": 384, "vision.trunk_kwargs": window_12}
    )
    assert loaded.cfg.vision.image_size == 384
    _assert_resized_as_x_vlm(source, loaded)
    with torch.no_grad():  # the resized model runs at its new size
        assert loaded.encode_image(torch.zeros(1, 3, 384, 384)).tokens.shape == (1, 1 + 144, 64)
