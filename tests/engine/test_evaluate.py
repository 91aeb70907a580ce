"""Retrieval metrics, grounding IoU and zoom-in refinement against hand-computed cases."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from coarse_boxes import coarse_box, square_photo

from core.box_metrics import accuracy_by_area, iou_inclusive
from core.zoom import Zoom
from engine.evaluate import evaluate_grounding, recall_metrics
from engine.model.factory import create_model
from engine.model.xvlm import XVLM


def test_recall_by_hand() -> None:
    # 2 images, 3 captions: captions 0, 1 belong to image 0; caption 2 to image 1.
    img2txt = [[0, 1], [2]]
    txt2img = np.array([0, 0, 1])
    i2t = np.array(
        [[0.1, 0.9, 0.5], [0.8, 0.2, 0.7]]
    )  # image 0: best is caption 1 (rank 0); image 1: caption 2 at rank 1
    t2i = np.array(
        [[0.2, 0.9], [0.9, 0.1], [0.3, 0.4]]
    )  # caption 0 -> image 0 at rank 1; 1 -> rank 0; 2 -> rank 0
    m = recall_metrics(i2t, t2i, img2txt, txt2img)
    assert m["txt_r1"] == pytest.approx(50.0) and m["txt_r5"] == pytest.approx(100.0)
    assert m["img_r1"] == pytest.approx(200 / 3) and m["img_r5"] == pytest.approx(100.0)
    assert m["r_mean"] == pytest.approx((50 + 100 + 100 + 200 / 3 + 100 + 100) / 6)


def test_iou_uses_the_inclusive_pixel_convention() -> None:
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 10.0, 10.0]])
    # inclusive: intersection columns 5..9 -> 5 x 10 = 50, union 150
    assert iou_inclusive(a, b)[0] == pytest.approx(50 / 150)
    assert iou_inclusive(a, a)[0] == pytest.approx(1.0)


def test_grounding_accuracy_is_broken_down_by_referent_size() -> None:
    iou = np.array([0.9, 0.2, 0.6, 0.7, 0.1])
    share = np.array([0.03, 0.04, 0.10, 0.5, 0.5])
    got = accuracy_by_area(iou, share)
    assert got == {
        "<5%": {"grounding_acc": 50.0, "count": 2},
        "5-15%": {"grounding_acc": 100.0, "count": 1},
        ">=15%": {"grounding_acc": 50.0, "count": 2},
    }
    assert "<5%" not in accuracy_by_area(iou[2:], share[2:])


def _coarse_box_model() -> XVLM:
    """test-tiny whose box head is ``coarse_box`` on a 4 x 4 grid of the pixels it is given."""
    model = create_model("test-tiny")

    def encode_image(pixels: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(tokens=pixels)  # the 'tokens' are the normalised pixels themselves

    def predict_box(hidden: torch.Tensor, mask: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        bright = (tokens[:, 0] > 0).numpy()  # above the CLIP mean: the white square
        return torch.tensor([coarse_box(b, grid=4) for b in bright])

    model.encode_image, model.predict_box = encode_image, predict_box  # type: ignore[method-assign]
    return model


def test_zoom_in_refinement_fixes_what_a_coarse_box_head_gets_wrong(tmp_path: Path) -> None:
    # 24 px squares in 256 px photos, each inside one 64 px cell of the 4 x 4 grid: one pass answers the
    # whole cell (IoU 0.14). Zooming into that cell (growth 1, min share 1/4) sees 16 px cells: the box
    # is 32 px (IoU 0.56). Both passes are scored on the same records.
    squares = [(70, 70, 24, 24), (6, 134, 24, 24), (200, 20, 24, 24)]
    records = []
    for i, box in enumerate(squares):
        square_photo(256, 256, box).save(tmp_path / f"{i}.png")
        records.append({"image": f"{i}.png", "text": "the square", "bbox": list(box), "ref_id": i})
    (tmp_path / "grounding.json").write_text(json.dumps(records))

    got = evaluate_grounding(
        _coarse_box_model(), tmp_path / "grounding.json", tmp_path, zoom=Zoom(growth=1.0, min_share=0.25)
    )
    assert got["count"] == 3 and got["grounding_acc"] == 0.0
    assert got["mean_iou"] == pytest.approx(24 * 24 / 64**2, abs=0.01)
    assert got["zoom"]["grounding_acc"] == 100.0
    assert got["zoom"]["mean_iou"] == pytest.approx(24 * 24 / 32**2, abs=0.01)
    assert (got["zoom"]["growth"], got["zoom"]["min_share"]) == (1.0, 0.25)
    assert "zoom" not in evaluate_grounding(_coarse_box_model(), tmp_path / "grounding.json", tmp_path)


def test_evaluate_command_prints_and_writes_every_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from cli.main import main
    from engine.checkpoint import save_checkpoint
    from world import generate_world

    world = tmp_path / "world"
    generate_world(world, 12, seed=5, test_size=4, val_size=2)
    torch.manual_seed(0)
    checkpoint = save_checkpoint(create_model("test-tiny", pretrained_text=False), tmp_path / "ck")
    out = tmp_path / "eval.json"
    argv = ["evaluate", str(checkpoint), "--data-root", str(world), "--k-test", "2", "--threads", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (
        "retrieval on 4 images" in printed and "ITC  TR R@1/5/10" in printed and "ITM  TR R@1/5/10" in printed
    )
    assert "single pass (X-VLM's protocol)" in printed and "zoom-in (growth 1.5, min share 0.4)" in printed
    report = json.loads(out.read_text())
    assert (
        set(report["retrieval"]) >= {"itc", "itm", "counts"} and report["retrieval"]["counts"]["images"] == 4
    )
    grounding = report["grounding"]
    assert grounding["count"] == grounding["zoom"]["count"] > 0
    assert 0.0 <= grounding["grounding_acc"] <= 100.0 and 0.0 <= grounding["zoom"]["grounding_acc"] <= 100.0

    assert main([*argv, "--no-zoom", "--retrieval", ""]) == 0
    printed = capsys.readouterr().out
    assert "single pass" in printed and "zoom-in" not in printed and "retrieval on" not in printed


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--threads", "-1"], "--threads must be 0"), (["--zoom-min-share", "0"], "zoom min share must be in")],
)
def test_evaluate_refuses_bad_settings_in_one_line_before_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str], message: str
) -> None:
    from cli.main import main

    # The checkpoint does not exist: a refusal that names the setting comes before any loading.
    assert main(["evaluate", str(tmp_path / "no-checkpoint"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
