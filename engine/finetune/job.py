"""The torch side of ``multigrain fine-tune-library``, run as a child process:
``python -m engine.finetune.job --checkpoint C --records R --out O [--epochs N] [--estimate]``.

The app checks the bundle and its checkpoint and starts this module (it never imports torch). Here the
run's settings are derived (``plan``), then either
- ``--estimate``: one untimed warm-up step and a few timed ones, and one ``estimate: ...`` line
  (``core.finetune``); nothing is written; or
- the whole run, printing ``step n/N`` lines, and at the end the fine-tuned checkpoint written to a
  staging folder beside ``O`` and moved into place in one rename.
Ctrl+C (SIGINT, which the app sends when a person cancels) removes the staging folder: ``O``, whatever
it held before, is untouched, and so is the checkpoint the run started from.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from core.finetune import Estimate, estimate_line, staging_folder, step_line

EXIT_FAILED, EXIT_CANCELLED = 2, 130
WARMUP_STEPS = 1  # untimed: the first step also starts the loader and sizes torch's buffers
TIMED_STEPS = 3
SEARCH_SETTINGS = "search_settings.json"


def _say(line: str) -> None:
    print(line, flush=True)


def _trainer(args: argparse.Namespace, stage: Path) -> tuple[Any, Any]:
    import torch

    from engine.finetune.plan import count_records, plan
    from engine.train import Trainer

    counts = count_records(args.records)
    cuda = torch.cuda.is_available()
    cfg = plan(
        args.checkpoint,
        args.records,
        counts,
        stage / "run",
        epochs=args.epochs,
        cuda=cuda,
        threads=args.threads,
    )
    _say(
        f"records: {counts.image_text} photos with captions, {counts.regions} with "
        f"{counts.boxes} name boxes; "
        f"{args.epochs} epochs in batches of {cfg.batch_size}: {cfg.steps} steps at lr {cfg.lr:g}"
    )
    _say(f"loading the model from {args.checkpoint}")
    trainer = Trainer(cfg, progress=False)
    device = f"cuda ({torch.cuda.get_device_name(0)})" if cuda else f"cpu ({torch.get_num_threads()} threads)"
    _say(f"device: {device}")
    return trainer, cfg


def _estimate(trainer: Any, cfg: Any, started: float) -> Estimate:
    """Time a few steps after an untimed one. A step is an image-caption update plus, with chance
    ``region_prob``, a region update; timed one by one, the two kinds give the expected step."""
    for _ in range(WARMUP_STEPS):
        trainer.step()
    warmed = time.perf_counter()
    plain, with_region = [], []
    for _ in range(min(TIMED_STEPS, max(1, cfg.steps - WARMUP_STEPS))):
        tick = time.perf_counter()
        logs = trainer.step()
        took = time.perf_counter() - tick
        (with_region if any(k.startswith("region_") for k in logs) else plain).append(took)
    if plain and with_region:
        base = sum(plain) / len(plain)
        per_step = base + cfg.region_prob * (sum(with_region) / len(with_region) - base)
    else:
        per_step = sum(plain + with_region) / len(plain + with_region)
    overhead = warmed - started - WARMUP_STEPS * per_step  # loading the model, starting the loader
    device = "cuda" if trainer.dist.device.type == "cuda" else "cpu"
    return Estimate(device, cfg.steps, per_step, max(0.0, overhead) + cfg.steps * per_step)


def _train(trainer: Any, steps: int) -> float:
    every = max(1, steps // 100)  # at most about a hundred lines
    started = time.perf_counter()
    for step in range(1, steps + 1):
        logs = trainer.step()
        if step % every == 0 or step == steps:
            loss = sum(v for k, v in logs.items() if k.endswith("_loss") and not k.startswith("region"))
            elapsed = time.perf_counter() - started
            _say(step_line(step, steps, loss, elapsed / step * (steps - step)))
    return time.perf_counter() - started


def _save(trainer: Any, cfg: Any, args: argparse.Namespace, stage: Path, seconds: float) -> Path:
    from core.hashing import sha256_file
    from engine.checkpoint import WEIGHTS, save_checkpoint

    source = {
        "kind": "fine-tune",
        "task": cfg.task,
        "step": trainer.state.step,
        "fine_tuned_from": str(args.checkpoint),
        "fine_tuned_from_sha256": sha256_file(args.checkpoint / WEIGHTS),
        "records": str(args.records),
        "epochs": args.epochs,
        "seconds": round(seconds, 1),
    }
    # fp32 even when the start was fp16: a small learning rate's changes are finer than fp16's steps.
    vocab = args.checkpoint / "vocab.txt"
    done = save_checkpoint(trainer.model, stage / "checkpoint", source=source, vocab=vocab)
    (done / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    # The search settings tuned for the start travel with it (bundles ship them); a run this gentle
    # moves scores little, and `multigrain tune-search` re-tunes them for the new model.
    if (args.checkpoint / SEARCH_SETTINGS).is_file():
        shutil.copyfile(args.checkpoint / SEARCH_SETTINGS, done / SEARCH_SETTINGS)
    return done


def _move_into_place(done: Path, out: Path) -> None:
    """Replace ``out`` (an earlier fine-tune, or nothing) by ``done`` with renames only."""
    old = out.parent / f".{out.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    done.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    stage = staging_folder(args.out)
    shutil.rmtree(stage, ignore_errors=True)  # a run that was killed left it
    stage.mkdir(parents=True)
    try:
        trainer, cfg = _trainer(args, stage)
        if args.estimate:
            _say(estimate_line(_estimate(trainer, cfg, started)))
            _say(f"(from {TIMED_STEPS} timed steps after {WARMUP_STEPS} warm-up step; nothing was written)")
            return
        _say(f"model loaded in {time.perf_counter() - started:.1f} s; training")
        seconds = _train(trainer, cfg.steps)
        done = _save(trainer, cfg, args, stage, seconds)
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # not cut between the two renames
        try:
            _move_into_place(done, args.out)
        finally:
            signal.signal(signal.SIGINT, previous)
        _say(
            f"wrote {args.out}: {cfg.steps} steps in {seconds:.0f} s ({seconds / cfg.steps:.2f} s a step), "
            f"{time.perf_counter() - started:.0f} s in all"
        )
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl+C must not cut the clean-up short
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m engine.finetune.job")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--records", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--estimate", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except KeyboardInterrupt:
        shutil.rmtree(staging_folder(args.out), ignore_errors=True)
        print(f"cancelled: {args.out} is as it was", file=sys.stderr, flush=True)
        return EXIT_CANCELLED
    except ModuleNotFoundError as err:
        print(f"fine-tuning needs the engine's packages ({err.name} is not installed)", file=sys.stderr)
        return EXIT_FAILED
    except Exception as err:  # a sentence for the person, never a traceback
        print(f"fine-tuning failed: {err}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
