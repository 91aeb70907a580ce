"""Quantised vectors and the ONNX Runtime graphs that score queries against them.

Why: a library's region embeddings are the bulk of its memory (100k photos x 14 regions x 256 dims is
1.4 GB in float32). Each stored vector is unit length, so

- int8 with one scale per vector (``scale = max|x| / 127``, 260 bytes for D = 256) moves a cosine by
  ~4e-4 (std; 2e-3 at most): as good as the float16 BLOBs for ranking;
- 4-bit with one scale per 128 dims (136 bytes) moves it by ~7e-3 (std): too coarse to order the
  best results, fine to find them among all photos (a coarse pass, then int8 for a shortlist).

Graphs run onnxruntime's integer kernels (VNNI dot products where the CPU has them):

- ``column model``: the matrices are constants of the graph, stored transposed (one column per vector,
  the operators' layout) and read by onnxruntime from the cache files (external data); it packs them
  once when the session is created. The global embeddings go through
  ``com.microsoft.DynamicQuantizeMatMul`` (int8), the regions through ``com.microsoft.MatMulNBits``
  (4-bit, a kernel made for one query row against a large constant) followed by a max over each
  photo's K regions. Measured on the 2-core dev machine for 100k photos (1.4M region vectors), under a
  concurrent training run: int8 DynamicQuantizeMatMul 16-20 ms, 4-bit MatMulNBits 8 ms, int8 as a
  non-constant ``MatMulInteger`` input 48 ms, 8-bit MatMulNBits 25 ms.
- ``RowScorer``: int8 rows gathered at query time (a shortlist), ``MatMulInteger`` on inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

_OPSET = [helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)]
_IR_VERSION = 9  # onnxruntime 1.2x reads up to IR 10/13; 9 is what opset 18 needs


def quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, D) floats -> (n, D) int8 and (n,) float32 scales with ``x ~= q * scale[:, None]``."""
    x = np.asarray(x, dtype=np.float32)
    peak = np.abs(x).max(axis=1) if x.size else np.zeros(len(x), dtype=np.float32)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(x / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def _external(name: str, file: str, shape: tuple[int, ...], dtype: int) -> TensorProto:
    """A constant whose bytes stay in ``file`` (beside the model): onnxruntime reads them from there."""
    tensor = TensorProto()
    tensor.name = name
    tensor.data_type = dtype
    tensor.dims.extend(shape)
    tensor.data_location = TensorProto.EXTERNAL
    itemsize = 1 if dtype in (TensorProto.INT8, TensorProto.UINT8) else 4
    for key, value in (("location", file), ("offset", "0"), ("length", str(int(np.prod(shape)) * itemsize))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def padded_dim(dim: int) -> int:
    """Columns of the graphs' query input: a multiple of 16, the smallest 4-bit block."""
    return max(16, -(-dim // 16) * 16)


def block_size(padded: int) -> int:
    """The 4-bit block: 128 dims (two scales a vector for D = 256), smaller if D is not a multiple."""
    return next(b for b in (128, 64, 32, 16) if padded % b == 0)


def quantize_4bit(x: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, Dp) floats -> MatMulNBits' layout: packed uint8 (n, Dp / block, block / 2) and float32 scales
    (n * Dp / block,). Symmetric: value = (nibble - 8) * scale, the first of two values in the low nibble."""
    n, dp = x.shape
    blocks = np.asarray(x, np.float32).reshape(n, dp // block, block)
    peak = np.abs(blocks).max(axis=2, keepdims=True)
    scale = np.where(peak > 0, peak / 7.0, 1.0).astype(np.float32)
    nibbles = (np.clip(np.rint(blocks / scale), -8, 7) + 8).astype(np.uint8)
    packed = nibbles[..., 0::2] | (nibbles[..., 1::2] << 4)
    return np.ascontiguousarray(packed), scale.reshape(-1)


@dataclass(frozen=True)
class ColumnMatrix:
    """One matrix of a column model, stored in files beside the model."""

    name: str  # the model output it produces
    values_file: str  # bits 8: int8 (Dp, M); bits 4: uint8 (M, Dp / block, block / 2)
    scales_file: str  # float32: (M,) for 8 bits, (M * Dp / block,) for 4 bits
    columns: int  # M
    group: int = 1  # > 1: every ``group`` consecutive columns reduce to their maximum: output (Q, M / group)
    bits: int = 8
    block: int = 0  # 4 bits: dims per scale


def write_column_model(path: Path, dim: int, matrices: Sequence[ColumnMatrix]) -> None:
    """Write an ONNX model scoring ``queries`` (Q, dim) float against the matrices in files."""
    nodes, inits, outputs = [], [], []
    for m in matrices:
        if m.bits == 8:
            inits.append(_external(f"{m.name}_values", m.values_file, (dim, m.columns), TensorProto.INT8))
            inits.append(_external(f"{m.name}_scales", m.scales_file, (m.columns,), TensorProto.FLOAT))
            op = helper.make_node(
                "DynamicQuantizeMatMul",
                ["queries", f"{m.name}_values", f"{m.name}_scales"],
                [f"{m.name}_all"],
                domain="com.microsoft",
            )
        else:
            blocks = dim // m.block
            shape = (m.columns, blocks, m.block // 2)
            inits.append(_external(f"{m.name}_values", m.values_file, shape, TensorProto.UINT8))
            inits.append(
                _external(f"{m.name}_scales", m.scales_file, (m.columns * blocks,), TensorProto.FLOAT)
            )
            op = helper.make_node(
                "MatMulNBits",
                ["queries", f"{m.name}_values", f"{m.name}_scales"],
                [f"{m.name}_all"],
                domain="com.microsoft",
                K=dim,
                N=m.columns,
                bits=4,
                block_size=m.block,
                accuracy_level=4,  # int8 compute
            )
        nodes.append(op)
        if m.group > 1:
            shape = np.array([0, m.columns // m.group, m.group], np.int64)  # 0: keep Q
            inits.append(numpy_helper.from_array(shape, f"{m.name}_shape"))
            inits.append(numpy_helper.from_array(np.array([2], np.int64), f"{m.name}_axis"))
            nodes.append(helper.make_node("Reshape", [f"{m.name}_all", f"{m.name}_shape"], [f"{m.name}_3d"]))
            nodes.append(
                helper.make_node("ReduceMax", [f"{m.name}_3d", f"{m.name}_axis"], [m.name], keepdims=0)
            )
        else:
            nodes.append(helper.make_node("Identity", [f"{m.name}_all"], [m.name]))
        outputs.append(helper.make_tensor_value_info(m.name, TensorProto.FLOAT, ["Q", m.columns // m.group]))
    graph = helper.make_graph(
        nodes,
        "multigrain-scores",
        [helper.make_tensor_value_info("queries", TensorProto.FLOAT, ["Q", dim])],
        outputs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=_OPSET, ir_version=_IR_VERSION)
    onnx.save(model, str(path))


def _options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle pool threads block instead of spinning: on a machine with few cores a spinning pool steals
    # the cores the next call (or the text encoder's session) needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def column_scorer(model_path: Path, threads: int = 0) -> ort.InferenceSession:
    """The session of a model written by ``write_column_model`` (packs its matrices: the load cost)."""
    return ort.InferenceSession(str(model_path), _options(threads), providers=["CPUExecutionProvider"])


class RowScorer:
    """Cosines of queries with int8 rows chosen at call time: ``MatMulInteger`` on inputs."""

    def __init__(self, threads: int = 0) -> None:
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["rows", "queries"], ["dots"])],
            "multigrain-rows",
            [
                helper.make_tensor_value_info("rows", TensorProto.INT8, ["n", "D"]),
                helper.make_tensor_value_info("queries", TensorProto.INT8, ["D", "Q"]),
            ],
            [helper.make_tensor_value_info("dots", TensorProto.INT32, ["n", "Q"])],
        )
        model = helper.make_model(graph, opset_imports=_OPSET, ir_version=_IR_VERSION)
        self._session = ort.InferenceSession(
            model.SerializeToString(), _options(threads), providers=["CPUExecutionProvider"]
        )

    def __call__(self, rows: np.ndarray, scales: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """int8 rows (n, D) with scales (n,), float queries (Q, D) -> float32 dot products (n, Q)."""
        if len(rows) == 0:
            return np.zeros((0, len(queries)), dtype=np.float32)
        q8, q_scale = quantize_rows(queries)
        (dots,) = self._session.run(None, {"rows": rows, "queries": np.ascontiguousarray(q8.T)})
        return dots.astype(np.float32) * scales[:, None] * q_scale[None, :]
