"""Training: pre-training (image-text + region batches, spec 3.5), retrieval and grounding fine-tuning.

The same function runs in one process and under ``torchrun`` (DDP, gathered ITC). Each pre-training
iteration takes a region batch with probability ``region_prob`` (optimizer step, no scheduler step) and
always an image-text batch (optimizer step and scheduler step). A checkpoint directory ``last/`` holds
the model in our format plus ``train_state.pt`` (optimizer, scheduler, scaler, step, samplers, RNG), so
an interrupted run resumes where it stopped; running the same command again resumes it.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from core import records as rec
from core.text import Tokenizer
from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.config import load_config
from engine.data.batch import Collator
from engine.data.datasets import GroundingDataset, ImageTextDataset, RegionDataset, collate_items
from engine.data.sampling import ResumableSampler
from engine.data.transforms import TrainTransform
from engine.distributed import DistInfo, barrier, init_distributed
from engine.model.factory import create_model
from engine.model.xvlm import XVLM
from engine.train_config import TrainConfig

TEMP_RANGE = (0.001, 0.5)


class Stream:
    """An endless, resumable sequence of batches from one dataset."""

    def __init__(
        self,
        name: str,
        dataset: Dataset,
        batch_images: int,
        collate: Callable,
        dist: DistInfo,
        seed: int,
        workers: int,
    ) -> None:
        self.name = name
        self.dataset = dataset
        self.batch_images = batch_images
        self.collate = collate
        self.sampler = ResumableSampler(len(dataset), rank=dist.rank, world_size=dist.world_size, seed=seed)
        dataset.seed = seed * 1000 + dist.rank
        self.workers = workers
        self._it = None

    def _loader(self) -> DataLoader:
        return DataLoader(
            self.dataset,
            batch_size=self.batch_images,
            sampler=self.sampler,
            collate_fn=self.collate,
            num_workers=self.workers,
            persistent_workers=False,
            drop_last=False,
            # its own generator: creating an iterator must not consume the global RNG, or a resumed
            # run would draw different ITM negatives and dropout masks than an uninterrupted one
            generator=torch.Generator().manual_seed(0),
        )

    def next(self) -> dict[str, torch.Tensor]:
        if self._it is None:
            self._it = iter(self._loader())
        try:
            batch = next(self._it)
        except StopIteration:
            self._it = iter(self._loader())
            batch = next(self._it)
        self.sampler.advance(batch["images"].shape[0])
        return batch


def _resolve(root: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else root / p


def build_streams(cfg: TrainConfig, model: XVLM, dist: DistInfo) -> dict[str, Stream]:
    mc = model.cfg
    root = Path(cfg.data_root)
    tok = Tokenizer(max_tokens=mc.text.max_tokens)
    mlm = cfg.loss_weights.get("mlm", 1.0) > 0 and mc.mlm_head and cfg.task == "pretrain"
    collator = Collator(mc, tok, mlm=mlm, seed=cfg.seed + dist.rank)
    transform = partial(
        TrainTransform, mc.vision.image_size, mc.image_mean, mc.image_std, hue_safe=cfg.hue_safe_augment
    )
    streams: dict[str, Stream] = {}

    def add(name: str, dataset: Dataset, images: int, max_texts: int | None = None) -> None:
        collate = partial(collate_items, collator=collator, max_texts=max_texts)
        streams[name] = Stream(name, dataset, images, collate, dist, cfg.seed + len(streams), cfg.workers)

    if cfg.task == "pretrain":
        pairs = [r for p in cfg.image_text for r in rec.read_image_text(_resolve(root, p), root)]
        add("image_text", ImageTextDataset(pairs, transform(scale=cfg.crop_scale)), cfg.batch_size)
        if cfg.region_prob > 0 and cfg.regions:
            regions = [r for p in cfg.regions for r in rec.read_regions(_resolve(root, p), root)]
            dataset = RegionDataset(
                regions, transform(colour_only=True), cfg.max_regions, tuple(cfg.region_kinds)
            )
            add("regions", dataset, cfg.region_images, cfg.region_texts)
    elif cfg.task == "retrieval":
        pairs = rec.read_retrieval_train(_resolve(root, cfg.retrieval_train), root)
        add("image_text", ImageTextDataset(pairs, transform(scale=cfg.crop_scale)), cfg.batch_size)
    else:
        refs = rec.read_grounding(_resolve(root, cfg.grounding_train), root)
        add("grounding", GroundingDataset(refs, transform(colour_only=True)), cfg.batch_size)
    return streams


def param_groups(model: XVLM, cfg: TrainConfig) -> list[dict[str, Any]]:
    """{decay, no decay} x {base lr, lr x lr_mult_new for modules without a pretrained source} (spec 3.6)."""
    new = model.new_parameter_names() | {
        n for n, _ in model.named_parameters() if n.startswith(tuple(cfg.new_prefixes))
    }
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups.setdefault((model.no_weight_decay(name), name in new), []).append(p)
    return [
        {
            "params": params,
            "weight_decay": 0.0 if no_decay else cfg.weight_decay,
            "lr": cfg.lr * (cfg.lr_mult_new if is_new else 1.0),
        }
        for (no_decay, is_new), params in sorted(groups.items())
    ]


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to 1, then linear decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / max(warmup, 1)
    return max(0.0, (total - step) / max(total - warmup, 1))


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    if cfg.amp == "off":
        return None
    if cfg.amp == "fp16":
        return torch.float16
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


@dataclass
class RunState:
    step: int = 0  # image-text (scheduler) steps done
    updates: int = 0  # optimizer steps done (region steps included)
    samples: int = 0


class Trainer:
    def __init__(self, cfg: TrainConfig, dist: DistInfo | None = None, progress: bool = True) -> None:
        self.cfg = cfg
        self.dist = dist or init_distributed(cfg.device)
        self.out = Path(cfg.out_dir)
        self.progress = progress and self.dist.is_main
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self._seed(cfg.seed + self.dist.rank)
        self.model = self._build_model().to(self.dist.device)
        frozen = tuple(cfg.freeze_prefixes)
        for name, p in self.model.named_parameters():
            if frozen and name.startswith(frozen):
                p.requires_grad_(False)
        if cfg.grad_checkpointing:
            self.model.set_grad_checkpointing(True)
        self.ddp: torch.nn.Module = self.model
        if self.dist.world_size > 1:
            ids = [self.dist.local_rank] if self.dist.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=True)
        self.optimizer = torch.optim.AdamW(
            param_groups(self.model, cfg), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, foreach=True
        )
        warmup = cfg.warmup_steps()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, partial(lr_factor, warmup=warmup, total=cfg.steps)
        )
        self.dtype = amp_dtype(cfg, self.dist.device)
        use_scaler = self.dtype == torch.float16 and self.dist.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.streams = build_streams(cfg, self.model, self.dist)
        self.state = RunState()
        self.weights = dict(cfg.loss_weights)
        if cfg.task == "grounding":
            keep = ("box", "box_attn")
            self.weights = {"itc": 0.0, "itm": 0.0, "mlm": 0.0} | {
                k: v for k, v in self.weights.items() if k in keep
            }
        # Every rank must take the same region/image-text decision, or their collectives would not match.
        self.rng = random.Random(cfg.seed)
        self.resumed = self._maybe_resume()

    # ----- setup ----------------------------------------------------------------------------------
    @staticmethod
    def _seed(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def _build_model(self) -> XVLM:
        cfg = self.cfg
        if cfg.init_checkpoint:
            model, _ = load_checkpoint(cfg.init_checkpoint, overrides=cfg.model_overrides)
            return model.train()
        return create_model(load_config(cfg.model, **cfg.model_overrides)).train()

    # ----- checkpoints ----------------------------------------------------------------------------
    def _train_state(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "run": vars(self.state).copy(),
            "samplers": {name: s.sampler.state() for name, s in self.streams.items()},
            "rng": {
                "torch": torch.get_rng_state(),
                "python": _plain(random.getstate()),
                "numpy": _plain(list(np.random.get_state())),
                "stream": _plain(self.rng.getstate()),
            },
            "train_config": self.cfg.to_dict(),
        }

    def save(self, name: str = "last") -> Path:
        """Write ``out/name`` atomically (a kill mid-save leaves the previous one intact)."""
        if not self.dist.is_main:
            return self.out / name
        tmp = self.out / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        save_checkpoint(
            self.model, tmp, source={"kind": "training", "step": self.state.step, "task": self.cfg.task}
        )
        torch.save(self._train_state(), tmp / "train_state.pt")
        (tmp / "train_config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2) + "\n")
        final = self.out / name
        old = self.out / f".{name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        return final

    def _maybe_resume(self) -> bool:
        last = self.out / "last"
        if not (last / "train_state.pt").exists():
            return False
        model, _ = load_checkpoint(last)
        self.model.load_state_dict(model.state_dict())
        state = torch.load(last / "train_state.pt", map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.state = RunState(**state["run"])
        for name, s in self.streams.items():
            if name in state["samplers"]:
                s.sampler.load_state(state["samplers"][name])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        random.setstate(_tuples(rng["python"]))
        kind, keys, pos, has_gauss, gauss = rng["numpy"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
        self.rng.setstate(_tuples(rng["stream"]))
        if self.dist.rank > 0:  # every rank derives its own streams from the same saved state
            self._seed(self.cfg.seed + self.dist.rank + 7919 * self.state.step)
        return True

    # ----- one optimizer update -------------------------------------------------------------------
    def _update(self, batch: dict[str, torch.Tensor], scheduler_step: bool) -> dict[str, float]:
        dev = self.dist.device
        batch = {k: v.to(dev, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(dev.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            terms = self.ddp(batch, self.weights)
        loss = sum(terms.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite loss at step {self.state.step}: { {k: float(v) for k, v in terms.items()} }"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.cfg.task == "pretrain":
            with torch.no_grad():
                self.model.temp.clamp_(*TEMP_RANGE)
        if scheduler_step:
            self.scheduler.step()
        self.state.updates += 1
        out = {k: float(v.detach()) for k, v in terms.items()}
        out["grad_norm"] = float(grad_norm)
        return out

    def step(self) -> dict[str, float]:
        """One scheduler step: an optional region update, then the main update."""
        logs: dict[str, float] = {}
        if "regions" in self.streams and self.rng.random() < self.cfg.region_prob:
            region = self._update(self.streams["regions"].next(), scheduler_step=False)
            logs.update({f"region_{k}": v for k, v in region.items()})
        main = "grounding" if self.cfg.task == "grounding" else "image_text"
        batch = self.streams[main].next()
        logs.update(self._update(batch, scheduler_step=True))
        self.state.step += 1
        self.state.samples += int(batch["text_ids"].shape[0]) * self.dist.world_size
        return logs

    # ----- the loop -------------------------------------------------------------------------------
    def fit(self, on_log: Callable[[dict[str, float]], None] | None = None) -> Path:
        from tqdm import tqdm

        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        if self.dist.is_main:
            (self.out / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        bar = tqdm(
            total=cfg.end_step(), initial=self.state.step, disable=not self.progress, dynamic_ncols=True
        )
        metrics = MetricsCSV(self.out / "metrics.csv") if self.dist.is_main else None
        window: dict[str, list[float]] = {}
        tick = time.perf_counter()
        samples_at_tick = self.state.samples
        end = cfg.end_step()
        while self.state.step < end:
            logs = self.step()
            for k, v in logs.items():
                window.setdefault(k, []).append(v)
            bar.update(1)
            if self.state.step % cfg.log_every == 0 or self.state.step == end:
                now = time.perf_counter()
                row = {k: float(np.mean(v)) for k, v in window.items()}
                row.update(
                    step=self.state.step,
                    lr=self.optimizer.param_groups[0]["lr"],
                    temp=float(self.model.temp.detach()),
                    samples_per_s=(self.state.samples - samples_at_tick) / max(now - tick, 1e-9),
                )
                tick, samples_at_tick, window = now, self.state.samples, {}
                bar.set_postfix(
                    {
                        k.replace("_loss", ""): f"{v:.3f}"
                        for k, v in row.items()
                        if k.endswith("_loss") and not k.startswith("region")
                    }
                )
                if metrics:
                    metrics.write(row)
                if on_log:
                    on_log(row)
            if cfg.eval_every and self.state.step % cfg.eval_every == 0 and self.dist.is_main:
                self.evaluate_now(metrics)
            if self.state.step % cfg.save_every == 0 or self.state.step == end:
                self.save("last")
                barrier()
        bar.close()
        final = self.save("final")
        barrier()
        return final

    def evaluate_now(self, metrics: MetricsCSV | None) -> dict[str, float]:
        from engine.evaluate import evaluate_grounding, evaluate_retrieval

        root = Path(self.cfg.data_root)
        out: dict[str, float] = {"step": self.state.step}
        amp = self.dtype == torch.bfloat16
        if self.cfg.eval_retrieval and _resolve(root, self.cfg.eval_retrieval).exists():
            r = evaluate_retrieval(
                self.model, _resolve(root, self.cfg.eval_retrieval), root, amp=amp, limit=500
            )
            out.update({f"val_{k}": v for k, v in r["itc"].items() if k in ("txt_r1", "img_r1", "r_mean")})
        if (
            self.cfg.eval_grounding
            and self.model.bbox_head is not None
            and _resolve(root, self.cfg.eval_grounding).exists()
        ):
            g = evaluate_grounding(
                self.model, _resolve(root, self.cfg.eval_grounding), root, amp=amp, limit=500
            )
            out["val_grounding_acc"] = g["grounding_acc"]
        self.model.train()
        if metrics:
            MetricsCSV(self.out / "eval.csv").write(out)
        print(" ".join(f"{k}={v:.2f}" for k, v in out.items()), flush=True)
        return out


class MetricsCSV:
    """Append rows to a CSV, widening the header when new columns appear."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, row: dict[str, float]) -> None:
        header: list[str] = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                header = next(csv.reader(f), [])
        if header and set(row) <= set(header):
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, header, restval="").writerow(row)
            return
        rows: list[dict] = []
        if header:
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
        columns = list(dict.fromkeys([*header, *row.keys()]))
        rows.append(row)
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, columns, restval="")
            writer.writeheader()
            writer.writerows(rows)


def _plain(value: Any) -> Any:
    """Tuples and numpy scalars to lists and ints, so train_state.pt loads with weights_only=True."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    trainer = Trainer(cfg, progress=progress)
    if trainer.resumed and trainer.dist.is_main:
        print(f"resuming {cfg.out_dir} at step {trainer.state.step}/{cfg.end_step()}", flush=True)
    return trainer.fit()
