"""The fine-tune's settings follow from the checkpoint (its heads, its own training config) and from the
records (region batches only with name boxes; batch and steps from the photo count)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core import finetune
from engine.finetune.plan import FineTuneError, count_records, plan


def write_records(folder: Path, photos: int, boxed: int) -> Path:
    """Records as export-labels writes them (the images need not exist to be counted)."""
    (folder / "pretrain").mkdir(parents=True)
    pairs = [{"image": f"/p/{i}.jpg", "caption": [f"photo {i}"], "image_id": str(i)} for i in range(photos)]
    regions = [
        {
            "image": f"/p/{i}.jpg",
            "width": 40,
            "height": 30,
            "caption": [f"photo {i}"],
            "elems": [{"caption": ["Rex", "Rex the dog"], "bb": [1, 2, 10, 12], "kind": "object"}],
        }
        for i in range(boxed)
    ]
    (folder / finetune.IMAGE_TEXT).write_text("".join(json.dumps(r) + "\n" for r in pairs))
    (folder / finetune.REGIONS).write_text("".join(json.dumps(r) + "\n" for r in regions))
    return folder


def test_captions_alone_train_image_text_gently(tiny_checkpoint: Path, tmp_path: Path) -> None:
    records = write_records(tmp_path / "records", photos=5, boxed=0)
    counts = count_records(records)
    assert (counts.image_text, counts.regions, counts.boxes) == (5, 0, 0)
    cfg = plan(tiny_checkpoint, records, counts, tmp_path / "run", epochs=2)
    assert (cfg.task, cfg.init_checkpoint, cfg.data_root) == ("pretrain", str(tiny_checkpoint), str(records))
    assert cfg.regions == [] and cfg.region_prob == 0.0
    assert cfg.loss_weights == {"itc": 1.0, "itm": 1.0, "mlm": 1.0, "box": 0.0, "box_attn": 0.0}
    assert (cfg.batch_size, cfg.steps, cfg.lr) == (5, 2, pytest.approx(1e-5))
    assert cfg.lr_mult_new == 1.0 and cfg.workers == 0 and cfg.eval_retrieval is None


def test_name_boxes_add_region_batches_and_the_checkpoint_sets_the_rate(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    records = write_records(tmp_path / "records", photos=40, boxed=3)
    counts = count_records(records)
    assert (counts.regions, counts.boxes, counts.texts_per_region) == (3, 3, 2.0)
    cfg = plan(tiny_checkpoint, records, counts, tmp_path / "run")
    assert cfg.regions == [finetune.REGIONS] and cfg.region_prob == 0.5
    assert (cfg.region_images, cfg.region_texts) == (3, 6)
    assert cfg.loss_weights["box"] == 1.0 and cfg.loss_weights["box_attn"] == 0.0  # no fusion positions
    assert (cfg.batch_size, cfg.steps) == (20, 3 * 2)  # 40 photos: two batches of 20 an epoch

    trained = Path(shutil.copytree(tiny_checkpoint, tmp_path / "trained"))
    own = {"lr": 2e-4, "hue_safe_augment": False, "loss_weights": {"itc": 0.0, "box_attn": 1.0}}
    (trained / "train_config.json").write_text(json.dumps(own))
    cfg = plan(trained, records, counts, tmp_path / "run", cuda=True)
    assert cfg.lr == pytest.approx(2e-5) and not cfg.hue_safe_augment and cfg.workers == 4
    assert cfg.loss_weights["box_attn"] == 1.0 and cfg.loss_weights["itc"] == 1.0  # the library's task


def test_too_few_photos_and_foreign_folders_are_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    one = write_records(tmp_path / "one", photos=1, boxed=1)
    with pytest.raises(FineTuneError, match="at least 2 photos"):
        plan(tiny_checkpoint, one, count_records(one), tmp_path / "run")
    with pytest.raises(FineTuneError, match="does not hold usable records"):
        count_records(tmp_path / "nothing")
