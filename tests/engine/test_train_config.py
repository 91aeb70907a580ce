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


def test_a_misspelt_loss_weight_is_refused_by_name_with_the_known_ones(tmp_path: Path) -> None:
    config = _write(tmp_path / "run.json", {"loss_weights": {"itc": 1.0, "bx": 1.0}})
    with pytest.raises(
        ConfigError, match=r"unknown loss weight 'bx' in .*run\.json; the losses are itc, itm"
    ):
        load_train_config(config, [])
    with pytest.raises(ConfigError, match=r"unknown loss weight 'box_atn' in the command line"):
        load_train_config(None, ["loss_weights.box_atn=1"])


def test_a_misspelt_setting_is_refused_with_the_nearest_known_one(tmp_path: Path) -> None:
    config = _write(tmp_path / "run.json", {"stpes": 10})
    with pytest.raises(
        ConfigError, match=r"unknown training setting 'stpes' in .*run\.json \(did you mean 'steps'\?\)"
    ):
        load_train_config(config, [])


def test_a_setting_the_task_never_reads_is_refused_by_name(tmp_path: Path) -> None:
    config = _write(tmp_path / "run.json", {"task": "pretrain", "grounding_train": "g.json"})
    with pytest.raises(ConfigError, match=r"sets 'grounding_train', which a pretrain run never reads"):
        load_train_config(config, [])
    with pytest.raises(
        ConfigError, match=r"the command line sets 'region_prob', which a grounding run never"
    ):
        load_train_config(None, ["task=grounding", "region_prob=0.5"])
    # What a base says for its own task is no error of the stage that changes the task.
    _write(tmp_path / "pre.json", {"task": "pretrain", "region_prob": 0.5, "crop_scale": [0.7, 1.0]})
    stage = _write(tmp_path / "ground.json", {"base": "pre.json", "task": "grounding", "steps": 5})
    assert load_train_config(stage, []).task == "grounding"


def test_a_config_error_reaches_the_command_line_as_one_sentence(tmp_path: Path, capsys) -> None:
    from cli.main import main

    config = _write(tmp_path / "run.json", {"loss_weights": {"bx": 1.0}})
    assert main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("multigrain train: unknown loss weight 'bx'") and "\n" not in err
