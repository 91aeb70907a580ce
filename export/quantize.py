"""The fp16 and int8 variants, both made from the fp32 graphs.

- fp16 (for CUDA): weights and activations in float16, graph inputs and outputs kept float32 so the
  runtime's numpy code is the same for every variant. L2 normalisation stays float32: squaring a token
  above 256 overflows float16.
- int8 (for CPU): ONNX Runtime's dynamic quantisation (int8 weights, uint8 activations scaled per batch)
  of **MatMul nodes with a constant weight**, and of the **embedding tables** (``Gather`` from a
  constant: word, position and token-type embeddings, stored in 8 bits and dequantised after the
  lookup).
  The word table alone is 30,522 x 384 floats, 47 MB of the demo's 55 MB int8 text graph; int8 makes
  that graph 19 MB, and the text embeddings' cosine with fp32 moved from 0.99840 to 0.99833 on average
  (1,000 test captions). What stays float32, and why:
  * ``Gemm``: the dynamo exporter writes a Linear on 2-D input as Gemm, which here means exactly the
    projections into the shared space (vision_proj, text_proj) and the ITM / box head MLPs. They are a
    tiny share of the FLOPs and decide the embedding and the logits directly.
  * activation x activation MatMuls (attention scores, attention x values): ORT's ``MatMulConstBOnly``.
  * ``Conv`` (the patch embedding), ``Gather`` of activations, and the whole concepts graph (a single
    small projection; quantising it saves nothing worth its error).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onnx

FP16_KEEP_FP32_OPS = ("ReduceL2", "ReduceSumSquare", "Pow", "Sqrt")
INT8_OP_TYPES = ("MatMul", "Gather")
INT8_SKIP_GRAPHS = ("concepts",)


def to_fp16(src: str | Path, dst: str | Path) -> dict[str, Any]:
    """fp32 graph -> fp16 graph with float32 inputs and outputs; returns what was kept in fp32."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    block = sorted({*DEFAULT_OP_BLOCK_LIST, *FP16_KEEP_FP32_OPS})
    model = onnx.load(str(src))
    half = convert_float_to_float16(model, keep_io_types=True, op_block_list=block)
    onnx.save(half, str(dst))
    return {
        "method": "onnxruntime.transformers.float16",
        "fp32_ops": list(FP16_KEEP_FP32_OPS),
        "io": "float32",
    }


class _NoPreprocessAdvice(logging.Filter):
    # quantize_dynamic logs "Please consider to run pre-processing" on the root logger for every graph;
    # its pre-processing is shape inference and fusions that only matter for static (QDQ) quantisation.
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    root = logging.getLogger()
    advice = _NoPreprocessAdvice()
    root.addFilter(advice)
    try:
        yield
    finally:
        root.removeFilter(advice)


def to_int8(src: str | Path, dst: str | Path, graph: str) -> dict[str, Any]:
    """fp32 graph -> dynamically quantised int8 graph (or a plain copy for graphs kept in fp32)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if graph in INT8_SKIP_GRAPHS:
        Path(dst).write_bytes(Path(src).read_bytes())
        return {"quantized_nodes": 0, "kept_fp32": "whole graph"}
    # The dynamo exporter's value_info makes ORT's second shape-inference pass fail ("inferred shape and
    # existing shape differ"); the shapes are re-inferred from scratch anyway, so drop them first.
    model = onnx.load(str(src))
    del model.graph.value_info[:]
    clean = Path(dst).with_suffix(".clean.onnx")
    onnx.save(model, str(clean))
    with _quiet_quantizer():
        quantize_dynamic(
            str(clean),
            str(dst),
            op_types_to_quantize=list(INT8_OP_TYPES),
            weight_type=QuantType.QInt8,
            # Per-channel weight scales cost nothing at run time and keep layers with uneven channels
            # (Swin's late stages) accurate.
            per_channel=True,
            extra_options={"MatMulConstBOnly": True},
        )
    clean.unlink()
    quantized_graph = onnx.load(str(dst)).graph
    eight_bit = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)  # ORT stores Gather tables as uint8
    int8_tables = {i.name for i in quantized_graph.initializer if i.data_type in eight_bit}
    quantized = sum(1 for n in quantized_graph.node if n.op_type == "MatMulInteger")
    tables = sum(1 for n in quantized_graph.node if n.op_type == "Gather" and n.input[0] in int8_tables)
    return {
        "quantized_nodes": quantized,
        "quantized_embedding_tables": tables,
        "kept_fp32": "Gemm (projections, heads), attention MatMuls, Conv",
    }


def quantization_summary(variant: str) -> dict[str, Any]:
    """What the manifest records about how a variant was made."""
    if variant == "int8":
        return {
            "method": "onnxruntime.quantization.quantize_dynamic",
            "weight_type": "QInt8",
            "per_channel": True,
            "op_types": list(INT8_OP_TYPES),
            "matmul_const_b_only": True,
            "graphs_kept_fp32": list(INT8_SKIP_GRAPHS),
        }
    if variant == "fp16":
        return {
            "method": "onnxruntime.transformers.float16",
            "fp32_ops": list(FP16_KEEP_FP32_OPS),
            "io": "float32",
        }
    return {}
