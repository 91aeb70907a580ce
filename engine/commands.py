"""Handlers of the engine's commands (model-info, import-xvlm, scenes, train, evaluate)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from core.errors import KnownError


def model_info(args: argparse.Namespace) -> int:
    from engine.config import ConfigError, list_models, load_config

    if args.list:
        for name in list_models():
            print(f"{name:16s} {load_config(name).description}")
        return 0
    try:
        cfg = load_config(args.name)
    except ConfigError as err:
        raise KnownError(str(err)) from err

    import torch

    from engine.model.factory import count_parameters, create_model

    model = create_model(cfg).eval()
    counts = count_parameters(model)
    v, t = cfg.vision, cfg.text
    print(f"model        {cfg.name}: {cfg.description}")
    print(
        f"image        {v.trunk} at {v.image_size} px, {v.grid}x{v.grid} grid (stride {v.patch_stride}), "
        f"{v.num_tokens} tokens x {v.width}"
    )
    print(
        f"text         {t.num_text_layers} text + {t.num_fusion_layers} fusion layers, "
        f"hidden {t.hidden_size}, "
        f"max {t.max_tokens} tokens" + (f", initialised from {t.init}" if t.init else "")
    )
    print(
        f"heads        ITC {cfg.embed_dim}-d, ITM"
        + (", box" if cfg.box_head else "")
        + (", MLM" if cfg.mlm_head else "")
    )
    print("parameters   " + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in counts.items() if k != "total"))
    print(f"total        {counts['total'] / 1e6:.1f}M parameters ({counts['total']:,})")
    if args.forward:
        from core.text import Tokenizer

        tok = Tokenizer(max_tokens=t.max_tokens)
        ids, mask = tok(["a dog next to a red car on the beach"])
        images = torch.randn(1, 3, v.image_size, v.image_size)
        with torch.inference_mode():
            start = time.perf_counter()
            image = model.encode_image(images)
            text = model.encode_text(torch.from_numpy(ids), torch.from_numpy(mask))
            itm = model.itm_score(text.hidden, text.mask, image.tokens)
            box = model.predict_box(text.hidden, text.mask, image.tokens) if cfg.box_head else None
            elapsed = time.perf_counter() - start
        print(
            f"forward      image tokens {tuple(image.tokens.shape)}, text hidden {tuple(text.hidden.shape)}, "
            f"cosine {float(image.embed @ text.embed.T):+.3f}, ITM logit {float(itm):+.3f}"
            + (f", box {[round(x, 3) for x in box[0].tolist()]}" if box is not None else "")
            + f" in {elapsed * 1000:.0f} ms"
        )
    return 0


def import_xvlm(args: argparse.Namespace) -> int:
    from engine.checkpoint import CheckpointError, import_official
    from engine.config import ConfigError

    try:
        _, report = import_official(args.checkpoint, args.config, args.out)
    except (CheckpointError, ConfigError) as err:
        raise KnownError(str(err)) from err
    print(
        f"imported {args.checkpoint} ({report.layout} layout): {report.loaded} tensors loaded, "
        f"{len(report.ignored)} ignored (buffers rebuilt by the model, tied decoder), 0 missing, 0 unexpected"
    )
    for note in report.notes:
        print(f"note: {note}")
    print(f"wrote {Path(args.out)}")
    return 0


def scenes(args: argparse.Namespace) -> int:
    from world import generate_world
    from world.generate import WorldArgumentError

    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done == total or done % 500 == 0:
            rate = done / max(time.perf_counter() - start, 1e-9)
            print(f"\r{done}/{total} images ({rate:.0f}/s)", end="" if done < total else "\n", flush=True)

    try:
        summary = generate_world(
            Path(args.out),
            args.n,
            args.seed,
            test_size=args.test_size,
            val_size=args.val_size,
            workers=args.workers,
            progress=progress,
            personal=args.personal,
            **({} if args.min_referent_area is None else {"min_referent_area": args.min_referent_area}),
        )
    except WorldArgumentError as err:  # only bad arguments; any other error is a bug and keeps its traceback
        raise KnownError(str(err)) from err
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0


def train(args: argparse.Namespace) -> int:
    from core.records import RecordError
    from engine.checkpoint import CheckpointError
    from engine.config import ConfigError
    from engine.train import train as run_training
    from engine.train_config import load_train_config

    try:
        cfg = load_train_config(args.config, args.overrides)
        final = run_training(cfg, progress=not args.no_progress)
    except (ConfigError, CheckpointError, RecordError) as err:
        raise KnownError(str(err)) from err
    print(f"finished: {final}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    import torch

    from core.records import RecordError
    from core.zoom import zoom_from_args
    from engine.checkpoint import CheckpointError, load_checkpoint
    from engine.evaluate import evaluate_grounding, evaluate_retrieval, format_retrieval, write_json

    try:
        zoom = zoom_from_args(args)  # bad values fail before anything loads
        if args.threads < 0:
            raise KnownError(f"--threads must be 0 (torch's default) or more, got {args.threads}")
        if args.threads:
            # Two evaluations side by side on a small machine: one thread each, or they oversubscribe it.
            torch.set_num_threads(args.threads)
        model, _ = load_checkpoint(args.checkpoint)
        root = Path(args.data_root)
        results: dict = {"checkpoint": str(args.checkpoint), "model": model.cfg.name}
        if args.retrieval:
            start = time.perf_counter()
            r = evaluate_retrieval(model, root / args.retrieval, root, k_test=args.k_test, amp=args.amp)
            results["retrieval"] = r
            print(
                f"retrieval on {r['counts']['images']} images / {r['counts']['texts']} captions "
                f"({time.perf_counter() - start:.0f} s)"
            )
            print(format_retrieval("ITC", r["itc"]))
            if "itm" in r:
                print(format_retrieval("ITM", r["itm"]) + f"  (ITC top {args.k_test} re-ranked)")
        if args.grounding and model.bbox_head is not None:
            g = evaluate_grounding(model, root / args.grounding, root, amp=args.amp, zoom=zoom)
            results["grounding"] = g
            print(f"grounding on {g['count']} expressions, accuracy (IoU >= 0.5) and mean IoU:")
            print(_grounding_line("single pass (X-VLM's protocol)", g))
            if zoom is not None:
                name = f"zoom-in (growth {zoom.growth}, min share {zoom.min_share})"
                print(_grounding_line(name, g["zoom"]))
    except (CheckpointError, RecordError) as err:
        raise KnownError(str(err)) from err
    if args.out:
        write_json(args.out, results)
        print(f"wrote {args.out}")
    return 0


def _grounding_line(name: str, g: dict) -> str:
    sizes = ", ".join(
        f"{size} {b['grounding_acc']:.1f} ({b['count']})" for size, b in g["by_referent_area"].items()
    )
    return f"  {name}: {g['grounding_acc']:.1f}, mean IoU {g['mean_iou']:.3f}; by referent size: {sizes}"


def plot_training(args: argparse.Namespace) -> int:
    from engine.plots import plot_training as plot

    try:
        out = plot(args.run, args.out)
    except FileNotFoundError as err:
        raise KnownError(str(err)) from err
    print(f"wrote {out}")
    return 0


def pack(args: argparse.Namespace) -> int:
    from engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    try:
        model, meta = load_checkpoint(args.checkpoint)
    except CheckpointError as err:
        raise KnownError(str(err)) from err
    source = {
        **meta.get("source", {}),
        "packed_from": str(args.checkpoint),
        "packed_from_sha256": meta.get("weights_sha256"),
    }
    out = save_checkpoint(model, args.out, source=source, half=args.half)
    size = (out / "model.safetensors").stat().st_size
    print(f"wrote {out} ({size / 2**20:.1f} MiB, {'fp16' if args.half else 'fp32'})")
    return 0


def bench_teach(args: argparse.Namespace) -> int:
    from engine.personal.cost import format_costs, measure

    costs = []
    for model in args.models:
        costs.append(measure(model, args.photos, args.steps, args.jitter, log=print))
        print(format_costs(costs[-1:]).splitlines()[-2], flush=True)
    print(format_costs(costs))
    return 0


def bench_personal(args: argparse.Namespace) -> int:
    import torch

    from engine.checkpoint import CheckpointError, load_checkpoint
    from engine.evaluate import write_json
    from engine.personal.bench import AppScoring, PersonalBenchError, format_table, run_bench
    from engine.personal.names import METHODS
    from engine.personal.teach import TeachSettings

    methods = tuple(m for m in args.methods.split(",") if m)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise KnownError(f"unknown method {unknown[0]!r}: use {', '.join(METHODS)}")
    try:
        ks = tuple(int(k) for k in args.ks.split(",") if k)
    except ValueError as err:
        raise KnownError(f"--ks takes whole numbers separated by commas, got {args.ks!r}") from err
    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = {"steps": args.steps, "jitter": args.jitter}
    settings = TeachSettings(**{key: value for key, value in chosen.items() if value is not None})
    try:
        model, _ = load_checkpoint(args.checkpoint)
        app = AppScoring.of_checkpoint(args.checkpoint)
        results = run_bench(model, args.data_root, methods, ks, settings, app=app)
    except (CheckpointError, FileNotFoundError, PersonalBenchError) as err:
        raise KnownError(str(err)) from err
    print(format_table(results))
    if args.out:
        write_json(
            args.out, {"checkpoint": str(args.checkpoint), "data_root": str(args.data_root), **results}
        )
    return 0
