"""Training: the CPU smoke test (a few steps on test-tiny, resume included) and DDP equivalence."""

from __future__ import annotations

import csv
import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from batches import region_batch
from safetensors.torch import load_file

from engine.config import ConfigError
from engine.distributed import DistInfo
from engine.model.factory import create_model
from engine.train import Trainer, lr_factor
from engine.train_config import load_train_config
from world import generate_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("world")
    generate_world(root, 24, seed=3, test_size=4, val_size=2)
    return root


def _cfg(world: Path, out: Path, *extra: str, task: str = "pretrain"):
    # Region batches are pre-training's alone: another task refuses settings it would never read.
    regions = ["region_images=2", "region_texts=6", "region_prob=0.5"] if task == "pretrain" else []
    return load_train_config(
        None,
        [
            f"task={task}",
            "model=test-tiny",
            f"data_root={world}",
            f"out_dir={out}",
            "steps=6",
            "batch_size=4",
            *regions,
            "workers=0",
            "amp=off",
            "save_every=3",
            "log_every=1",
            "warmup=2",
            "eval_retrieval=null",
            "eval_grounding=null",
            *extra,
        ],
    )


class _StopAfter(Exception):
    pass


def test_smoke_train_and_resume_equals_an_uninterrupted_run(world: Path, tmp_path: Path) -> None:
    straight = Trainer(_cfg(world, tmp_path / "a"), DistInfo(), progress=False)
    straight.fit()
    with open(tmp_path / "a" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(float(r["step"])) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(float(r["itc_loss"]) > 0 for r in rows)
    assert any(r.get("region_box_l1_loss") for r in rows), "region steps with the box loss ran"
    saved = load_train_config(None, [])
    assert (tmp_path / "a" / "final" / "train_config.json").exists() and saved.task == "pretrain"

    # Interrupted after step 4 (the checkpoint at step 3 is the last one), then resumed.
    interrupted = Trainer(_cfg(world, tmp_path / "b"), DistInfo(), progress=False)

    def stop(row: dict) -> None:
        if row["step"] == 4:
            raise _StopAfter

    with pytest.raises(_StopAfter):
        interrupted.fit(on_log=stop)
    resumed = Trainer(_cfg(world, tmp_path / "b"), DistInfo(), progress=False)
    assert resumed.resumed and resumed.state.step == 3
    resumed.fit()
    a = load_file(str(tmp_path / "a" / "final" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "final" / "model.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst == 0.0, f"resumed run differs from the uninterrupted one by {worst}"


def test_stop_at_ends_early_on_the_full_schedule(world: Path, tmp_path: Path) -> None:
    trainer = Trainer(_cfg(world, tmp_path / "s", "stop_at=3", "region_prob=0"), DistInfo(), progress=False)
    final = trainer.fit()
    meta = json.loads((final / "meta.json").read_text())
    assert meta["source"]["step"] == 3 and trainer.state.step == 3
    # The learning rate follows the 6-step schedule, not a 3-step one (which would be 0 by now).
    for group in trainer.optimizer.param_groups:
        assert group["lr"] == pytest.approx(group["initial_lr"] * lr_factor(3, warmup=2, total=6))
    assert trainer.optimizer.param_groups[0]["lr"] > 0
    with pytest.raises(ConfigError, match="stop_at"):
        _cfg(world, tmp_path / "x", "stop_at=7")


def test_frozen_parameters_do_not_move_and_box_attention_is_logged(world: Path, tmp_path: Path) -> None:
    extra = ('freeze_prefixes=["vision_encoder.", "text_encoder."]', "loss_weights.box_attn=1", "steps=2")
    trainer = Trainer(_cfg(world, tmp_path / "f", *extra, task="grounding"), DistInfo(), progress=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    final = trainer.fit()
    after = load_file(str(final / "model.safetensors"))
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved, "nothing trained"
    assert all(not k.startswith(("vision_encoder.", "text_encoder.")) for k in moved), sorted(moved)[:5]
    assert any(k.startswith("bbox_head.") for k in moved) and any(".crossattention." in k for k in moved)
    with open(tmp_path / "f" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert all(float(r["box_attn_loss"]) > 0 for r in rows)


def test_ablation_switches_remove_their_data_and_loss(world: Path, tmp_path: Path) -> None:
    no_objects = Trainer(_cfg(world, tmp_path / "o", 'region_kinds=["region"]'), DistInfo(), progress=False)
    kinds = {e.kind for r in no_objects.streams["regions"].dataset.records for e in r.elems}
    assert kinds == {"region"}
    no_box = Trainer(
        _cfg(world, tmp_path / "x", "loss_weights.box=0", "region_prob=1"), DistInfo(), progress=False
    )
    logs = no_box.step()
    assert "region_itc_loss" in logs and not any("box" in k for k in logs)


# ----- DDP: one step on 2 ranks == one process on the concatenated batch ---------------------------
WEIGHTS = {"itm": 0.0, "mlm": 0.0}  # ITM draws negatives at random from the local batch by design


def _split(batch: dict[str, torch.Tensor], rank: int) -> dict[str, torch.Tensor]:
    n_img = batch["images"].shape[0] // 2
    keep = (batch["image_index"] // n_img) == rank
    out = {k: v[keep] for k, v in batch.items() if k != "images"}
    out["images"] = batch["images"][rank * n_img : (rank + 1) * n_img]
    out["image_index"] = out["image_index"] - rank * n_img
    return out


def _rank_main(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = create_model("test-tiny")
    ddp = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    batch = _split(region_batch(model.cfg, n_images=4, texts_per_image=2), rank)
    loss = sum(ddp(batch, WEIGHTS).values())
    loss.backward()
    if rank == 0:
        torch.save(
            {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None},
            Path(out_dir) / "ddp.pt",
        )
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_rank_gradients_equal_one_process_on_the_whole_batch(tmp_path: Path) -> None:
    mp.spawn(_rank_main, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    torch.manual_seed(0)
    model = create_model("test-tiny")
    batch = region_batch(model.cfg, n_images=4, texts_per_image=2)
    sum(model(batch, WEIGHTS).values()).backward()
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    single = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert ddp.keys() == single.keys()
    for name in single:
        assert torch.allclose(ddp[name], single[name], atol=1e-6, rtol=1e-4), name
    assert single["temp"].abs() > 0 and single["vision_encoder.trunk.patch_embed.proj.weight"].abs().sum() > 0
