"""``multigrain bench-encoders``: encoder throughput of torch eager against the ONNX Runtime bundles.

One table per run: images/s and texts/s for torch eager, ORT fp32 and ORT int8 on CPU (plus torch and
ORT fp32/fp16 on CUDA when a GPU is usable), FLOPs per image counted on the vision forward, and the
achieved FLOP/s as a share of a float32 matmul peak measured in the same run. Models use random weights
(speed does not depend on them); their exports are cached, so a second run measures only.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.text import Tokenizer, pre_caption
from engine.checkpoint import save_checkpoint
from engine.model.factory import create_model
from engine.model.xvlm import XVLM
from export.bundle import BundleError, load_bundle
from export.runtime import CUDA, Runtime, resolve_providers

CAPTIONS = (
    "a man in a red jacket riding a bicycle down a busy city street",
    "two dogs playing with a frisbee on the grass in a park",
    "a bowl of fruit on a wooden kitchen table next to a window",
    "the small white boat on the left of the harbour",
    "a woman holding an umbrella while crossing the road in the rain",
    "children building a sandcastle on the beach at sunset",
    "a plate with a sandwich and a cup of coffee",
    "the tall building behind the trees",
)


@dataclass
class Row:
    model: str
    engine: str
    batch: int
    images_per_s: float
    texts_per_s: float
    eager_images: float | None = None  # the torch eager rate this row is compared with
    eager_texts: float | None = None


def _rate(call: Callable[[], object], items: int, seconds: float) -> float:
    """Items per second: one warm-up call, then calls until ``seconds`` have passed (at least one)."""
    call()
    calls, start = 0, time.perf_counter()
    while True:
        call()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * items / elapsed


def _ort_matmul(n: int, threads: int) -> Callable[[], object]:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.random.default_rng(0).normal(size=(n, n)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).normal(size=(n, n)).astype(np.float32)
    return lambda: session.run(None, {"x": x})


def matmul_peak(
    device: str = "cpu", threads: int = 1, n: int = 2048, seconds: float = 2.0
) -> tuple[float, dict[str, float]]:
    """Float32 n x n matmul FLOP/s: the best of the libraries in play, which is the table's 100 %.

    On CPU torch's BLAS, numpy's and onnxruntime's MLAS can differ by 2x on the same machine, so one
    library alone would make the other engine look faster than the machine; all three are measured.
    """
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)

    def torch_step() -> None:
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()

    flops = 2 * n**3
    rates = {"torch": _rate(torch_step, flops, seconds)}
    if device == "cpu":
        x, y = a.numpy(), b.numpy()
        rates["numpy"] = _rate(lambda: x @ y, flops, seconds)
        rates["onnxruntime"] = _rate(_ort_matmul(n, threads), flops, seconds)
    return max(rates.values()), rates


def vision_flops(model: XVLM) -> float:
    """FLOPs of one image through ``encode_image`` (matmuls, convolutions, attention), torch's counter."""
    from torch.utils.flop_counter import FlopCounterMode

    s = model.cfg.vision.image_size
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model.encode_image(torch.randn(1, 3, s, s))
    return float(counter.get_total_flops())


def _cache_root(cache: str | None) -> Path:
    return Path(cache) if cache else Path(tempfile.gettempdir()) / "multigrain-bench"


def _bundles(model: XVLM, root: Path, variants: list[str], log: Callable[[str], None]) -> dict[str, Path]:
    """Export (or reuse) the bench bundles of ``model``; the cache key is the resolved config."""
    from export.build import export_bundle

    key = hashlib.sha256(json.dumps(model.cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
    home = root / f"{model.cfg.name}-{key}"
    ckpt = home / "checkpoint"
    if not (ckpt / "meta.json").is_file():
        save_checkpoint(model, ckpt, source={"kind": "bench", "weights": "random, seed 0"})
    out: dict[str, Path] = {}
    for variant in ["fp32", *[v for v in variants if v != "fp32"]]:
        target = home / variant
        try:
            load_bundle(target, verify_hashes=False)
        except BundleError:
            log(f"exporting {model.cfg.name} {variant} to {target} (cached for later runs)")
            fp32 = None if variant == "fp32" else home / "fp32"
            export_bundle(
                ckpt, target, variant, model=model, fp32_graphs=fp32, check=False, log=lambda _: None
            )
        out[variant] = target
    return out


def _texts(tok: Tokenizer, max_words: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    texts = [pre_caption(CAPTIONS[i % len(CAPTIONS)], max_words) for i in range(batch)]
    return tok(texts, pad_to="longest")


def bench_model(
    name: str,
    batches: list[int],
    seconds: float,
    root: Path,
    threads: int,
    cuda: bool,
    log: Callable[[str], None],
) -> tuple[list[Row], float]:
    """Rows for one model and its FLOPs per image."""
    torch.manual_seed(0)
    model = create_model(name, pretrained_text=False).eval()
    cfg = model.cfg
    s = cfg.vision.image_size
    tok = Tokenizer(max_tokens=cfg.text.max_tokens)
    flops = vision_flops(model)
    rows: list[Row] = []
    # Torch eager as a user runs it: timm's default (fused) attention, inference mode.
    eager: dict[tuple[str, int], tuple[float, float]] = {}
    devices = ["cpu", *(["cuda"] if cuda and torch.cuda.is_available() else [])]
    for device in devices:
        model.to(device)
        for b in batches:
            images = torch.randn(b, 3, s, s, device=device)
            ids, mask = (torch.from_numpy(x).to(device) for x in _texts(tok, cfg.text.max_words, b))

            def sync(fn: Callable[[], object], dev: str = device) -> Callable[[], None]:
                def call() -> None:
                    with torch.inference_mode():
                        fn()
                    if dev == "cuda":
                        torch.cuda.synchronize()

                return call

            img = _rate(sync(lambda x=images: model.encode_image(x)), b, seconds)
            txt = _rate(sync(lambda i=ids, m=mask: model.encode_text(i, m)), b, seconds)
            eager[(device, b)] = (img, txt)
            rows.append(Row(name, f"torch eager {device.upper()}", b, img, txt, img, txt))
            log(f"  {name} torch {device} batch {b}: {img:.2f} images/s, {txt:.1f} texts/s")
    model.to("cpu")
    variants = ["fp32", "int8"] + (["fp16"] if cuda else [])
    bundles = _bundles(model, root, variants, log)
    plans = [("cpu", "fp32"), ("cpu", "int8")] + ([("cuda", "fp32"), ("cuda", "fp16")] if cuda else [])
    for device, variant in plans:
        runtime = Runtime(bundles[variant], providers=device, threads=threads, verify_hashes=False)
        for b in batches:
            images = np.random.default_rng(0).normal(size=(b, 3, s, s)).astype(np.float32)
            ids, mask = _texts(tok, cfg.text.max_words, b)
            img = _rate(lambda x=images, n=b, rt=runtime: rt.encode_images(x, batch_size=n), b, seconds)
            txt = _rate(
                lambda i=ids, m=mask, n=b, rt=runtime: rt.encode_tokens(i, m, batch_size=n), b, seconds
            )
            ref = eager.get((device, b), eager[("cpu", b)])
            rows.append(Row(name, f"ORT {variant} {device.upper()}", b, img, txt, *ref))
            log(f"  {name} ORT {variant} {device} batch {b}: {img:.2f} images/s, {txt:.1f} texts/s")
    return rows, flops


def format_table(rows: list[Row], flops: dict[str, float], peak: dict[str, float]) -> str:
    head = (
        f"{'model':14s} {'engine':17s} {'batch':>5s} {'images/s':>9s} {'x eager':>8s} {'texts/s':>8s} "
        f"{'x eager':>8s} {'GFLOP/img':>9s} {'GFLOP/s':>8s} {'% peak':>7s}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        device = "cuda" if "CUDA" in r.engine else "cpu"
        achieved = flops[r.model] * r.images_per_s
        lines.append(
            f"{r.model:14s} {r.engine:17s} {r.batch:5d} {r.images_per_s:9.2f} "
            f"{r.images_per_s / r.eager_images:7.2f}x {r.texts_per_s:8.1f} "
            f"{r.texts_per_s / r.eager_texts:7.2f}x "
            f"{flops[r.model] / 1e9:9.2f} {achieved / 1e9:8.1f} {100 * achieved / peak[device]:6.1f}%"
        )
    return "\n".join(lines)


def run_benchmark(
    models: list[str],
    batches: list[int],
    *,
    seconds: float = 3.0,
    cache: str | None = None,
    threads: int = 0,
    log: Callable[[str], None] = print,
) -> str:
    """Measure and print the table; returns it."""
    threads = threads or torch.get_num_threads()
    # Same thread count for both engines, or the comparison measures the thread pools.
    torch.set_num_threads(threads)
    cuda = CUDA in resolve_providers("auto") and torch.cuda.is_available()
    peak, libraries = {}, {}
    peak["cpu"], libraries["cpu"] = matmul_peak("cpu", threads)
    if cuda:
        peak["cuda"], libraries["cuda"] = matmul_peak("cuda")
    rows: list[Row] = []
    flops: dict[str, float] = {}
    root = _cache_root(cache)
    for name in models:
        model_rows, flops[name] = bench_model(name, batches, seconds, root, threads, cuda, log)
        rows += model_rows
    summary = (
        f"bench-encoders: {threads} CPU threads (torch and ORT intra-op), float32 matmul peak "
        f"{peak['cpu'] / 1e9:.0f} GFLOP/s (best 2048x2048 GEMM of "
        + ", ".join(f"{k} {v / 1e9:.0f}" for k, v in libraries["cpu"].items())
        + ")"
        + (f", CUDA {peak['cuda'] / 1e12:.1f} TFLOP/s" if cuda else ", no CUDA device")
        + f"; random weights; >= {seconds:g} s per cell after one warm-up call"
    )
    table = "\n".join([summary, format_table(rows, flops, peak)])
    notes = (
        "x eager: rate / torch eager rate on the same device and batch. % peak: GFLOP/s over the fp32 "
        "matmul peak (int8 can exceed what fp32 allows). Torch eager runs in inference mode with timm's "
        "default fused attention; the graphs use eager attention. Texts are trimmed to the batch's longest "
        "caption for every engine."
    )
    print(table)
    print(notes)
    return table
