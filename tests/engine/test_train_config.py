"""Training config files: a stage names its base and states only what it changes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from engine.config import ConfigError
from engine.train_config import load_train_config

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_a_stage_changes_its_base_and_a_named_setting_replaces_it_whole(tmp_path: Path) -> None:
    _write(tmp_path / "base.json", {"steps": 100, "lr": 1e-4, "loss_weights": {"itc": 1.0, "box": 1.0}})
    _write(tmp_path / "stages" / "mid.json", {"base": "../base.json", "steps": 50})
    stage = _write(tmp_path / "stages" / "last.json", {"base": "mid.json", "loss_weights": {"box": 2.0}})
    cfg = load_train_config(stage, ["lr=3e-5"])
    assert (cfg.steps, cfg.lr) == (50, 3e-5)  # from mid.json; the command line wins over every file
    assert cfg.loss_weights == {"box": 2.0}  # replaced whole, not merged with the base's
    assert load_train_config(tmp_path / "base.json", []).steps == 100


def test_inheritance_loops_and_bad_bases_are_refused_by_name(tmp_path: Path) -> None:
    _write(tmp_path / "a.json", {"base": "b.json"})
    _write(tmp_path / "b.json", {"base": "a.json"})
    with pytest.raises(ConfigError, match=r"loop \(a\.json -> b\.json -> a\.json\)"):
        load_train_config(tmp_path / "a.json", [])
    _write(tmp_path / "c.json", {"base": "missing.json"})
    with pytest.raises(ConfigError, match=r"cannot read training config .*missing\.json"):
        load_train_config(tmp_path / "c.json", [])
    _write(tmp_path / "d.json", {"base": ["a.json"]})
    with pytest.raises(ConfigError, match="must be the path of another config file"):
        load_train_config(tmp_path / "d.json", [])
    (tmp_path / "e.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="is not a JSON object"):
        load_train_config(tmp_path / "e.json", [])


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "configs" / "train").glob("*.json")))
def test_every_shipped_training_config_resolves(name: str) -> None:
    cfg = load_train_config(REPO / "configs" / "train" / name, [])
    assert "base" not in dataclasses.asdict(cfg)


def test_the_demo_stages_keep_what_makes_them_stages() -> None:
    # Settings a stage must not inherit from the one before: the grounding stage runs its whole
    # schedule (stage 2 stopped early) with the trunk frozen; stage 4 trains ITM with the boxes.
    stage3 = load_train_config(REPO / "configs" / "train" / "demo_stage3.json", [])
    stage4 = load_train_config(REPO / "configs" / "train" / "demo_stage4.json", [])
    assert (stage3.task, stage3.stop_at, stage3.steps, stage3.model_overrides) == ("grounding", 0, 6000, {})
    assert stage3.loss_weights == {"itc": 0.0, "itm": 0.0, "mlm": 0.0, "box": 1.0, "box_attn": 1.0}
    assert (stage4.task, stage4.steps, stage4.freeze_prefixes) == ("pretrain", 500, stage3.freeze_prefixes)
    assert stage4.loss_weights["itm"] == 1.0 and stage4.init_checkpoint == "runs/demo3/final"
