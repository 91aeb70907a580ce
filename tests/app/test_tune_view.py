"""``tune-view``: the box-confidence threshold, whether the best region helps, and the settings' schema
(bundles built before the view was calibrated still load, with defaults)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.tune_view import BoxSample, _holds_centre, box_threshold, region_report
from core.search_settings import (
    DEFAULT_BOX_CONFIDENCE,
    SearchSettings,
    SettingsError,
    ViewSettings,
    parse_settings,
)

REPO = Path(__file__).resolve().parents[2]


def samples(pairs: list[tuple[float, bool]], region_hit: bool = True, chance: float = 0.2) -> list[BoxSample]:
    return [BoxSample(conf, right, region_hit, chance) for conf, right in pairs]


def test_the_threshold_separates_right_boxes_from_wrong_ones() -> None:
    right = [(c, True) for c in (1.0, 2.0, 3.0, 0.5)]
    wrong = [(c, False) for c in (-2.0, -1.0, 0.0, 2.5)]
    report = box_threshold(samples(right + wrong))
    assert report["threshold"] == 0.5  # all right boxes above it, three of four wrong ones below
    assert report["accuracy_sure"] == pytest.approx(4 / 5) and report["accuracy_unsure"] == 0.0
    assert report["share_sure"] == pytest.approx(5 / 8)


def test_the_best_region_is_drawn_only_when_it_beats_chance() -> None:
    assert region_report(samples([(0.0, True)] * 4, region_hit=True, chance=0.2))["helps"]
    assert not region_report(samples([(0.0, True)] * 4, region_hit=False, chance=0.2))["helps"]


def test_a_box_holds_a_referent_by_its_centre() -> None:
    boxes = np.array([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]])
    assert _holds_centre(boxes, (10, 10, 20, 20), 100, 100).tolist() == [True, False]


def test_settings_without_a_view_load_with_defaults() -> None:
    """A bundle exported before ``tune-view`` existed: its manifest's settings have no ``view``."""
    old = {"w_global": 0.8, "w_region": 0.2, "w_caption": 0.0, "cutoff": {"z": 3.1}, "tuned": True}
    settings = parse_settings(old)
    assert settings.view == ViewSettings()
    assert settings.view.box_confidence == DEFAULT_BOX_CONFIDENCE and not settings.view.best_region
    assert settings.view.image_weight == 0.5
    with pytest.raises(SettingsError, match="image_weight"):
        parse_settings({**old, "view": {"image_weight": 2.0}})


def test_the_demo_checkpoint_ships_a_calibrated_view() -> None:
    shipped = SearchSettings.from_json(json.loads((REPO / "models/demo/search_settings.json").read_text()))
    view = shipped.view
    assert view.tuned and "held-out world" in view.report["source"]
    assert view.report["boxes"]["threshold"] == view.box_confidence
    assert view.best_region == view.report["regions"]["helps"]
