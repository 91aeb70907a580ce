"""ONNX graphs of an XVLM: one thin wrapper module per graph, exported with torch's dynamo exporter.

Each wrapper calls the engine's own methods, so a graph computes exactly what the engine computes; only
the concept graph re-states ``pool_concepts`` for K regions per image at once (a masked mean is a
matmul), and its parity with ``XVLM.encode_concepts`` is tested. Graphs are traced at batch 2 (and
K 3, T 7) with those axes dynamic; verification runs at other sizes so a shape baked in by the trace
shows up as a failure, not as silently wrong vectors.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from torch import nn
from torch.nn import functional as F

from core.names import NAME_SLOTS
from engine.model.xvlm import XVLM
from export.bundle import GRAPH_IO, graph_inputs  # the graphs' names, one table for export and runtime

TRACE_BATCH = 2  # never 1: torch.export specialises size-1 dimensions
TRACE_REGIONS = 3
TRACE_TOKENS = 7
OPSET = 20


class VisionGraph(nn.Module):
    """images (B, 3, S, S) -> normalised global embedding (B, D), image tokens (B, 1+L, C)."""

    def __init__(self, model: XVLM) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model.encode_image(images)
        return out.embed, out.tokens


class ConceptsGraph(nn.Module):
    """image tokens (B, 1+L, C) + patch masks (B, K, L) -> normalised region embeddings (B, K, D).

    The concept [CLS] of spec section 2: the masked mean of the in-box patches (``pool_concepts``),
    through ``vision_proj``, L2-normalised. Boxes become masks in numpy (export/regions.py) because
    floor/ceil geometry is cheap there and keeps the graph a plain matmul.
    """

    def __init__(self, model: XVLM) -> None:
        super().__init__()
        self.vision_proj = model.vision_proj

    def forward(self, image_tokens: torch.Tensor, patch_masks: torch.Tensor) -> torch.Tensor:
        patches = image_tokens[:, 1:]
        summed = patch_masks @ patches  # (B, K, C)
        counts = patch_masks.sum(dim=-1, keepdim=True).clamp(min=1.0)
        return F.normalize(self.vision_proj(summed / counts), dim=-1)


class TextGraph(nn.Module):
    """ids, mask (B, T) int64 + name embeddings (S, H) -> normalised embedding (B, D), hidden (B, T, H).

    Taught names reach the graph as input embeddings: an id in ``[first_id, first_id + S)`` (the
    placeholders ``[unused0..S-1]``, which no text tokenises to) takes row ``id - first_id`` of
    ``name_embeddings`` instead of its word-table row. Every other id keeps the table's row, and the
    choice is a ``Where``, so a text without a name computes exactly what ``encode_text`` computes,
    whatever the name rows hold. The rest is ``encode_text`` on those embeddings.
    """

    def __init__(self, model: XVLM, first_id: int, slots: int = NAME_SLOTS) -> None:
        super().__init__()
        self.model = model
        self.first_id, self.slots = first_id, slots

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, name_embeddings: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        table = self.model.text_encoder.embeddings.word_embeddings(input_ids)
        offset = input_ids - self.first_id
        is_name = (offset >= 0) & (offset < self.slots)
        named = name_embeddings[offset.clamp(0, self.slots - 1)]
        embeds = torch.where(is_name[..., None], named, table)
        text = self.model.text_encoder(inputs_embeds=embeds, attention_mask=attention_mask)
        hidden = text.last_hidden_state
        return F.normalize(self.model.text_proj(hidden[:, 0]), dim=-1), hidden


class ItmGraph(nn.Module):
    """text hidden (B, T, H) + mask, image tokens (B, N, C) + mask -> raw 'match' logit (B,)."""

    def __init__(self, model: XVLM) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        text_hidden: torch.Tensor,
        text_mask: torch.Tensor,
        image_tokens: torch.Tensor,
        image_mask: torch.Tensor,
    ) -> torch.Tensor:
        return self.model.itm_score(text_hidden, text_mask, image_tokens, image_mask)


class BoxGraph(nn.Module):
    """text hidden (B, T, H) + mask, image tokens (B, N, C) -> normalised (cx, cy, w, h) (B, 4)."""

    def __init__(self, model: XVLM) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, text_hidden: torch.Tensor, text_mask: torch.Tensor, image_tokens: torch.Tensor
    ) -> torch.Tensor:
        return self.model.predict_box(text_hidden, text_mask, image_tokens)


@dataclass
class GraphSpec:
    name: str
    module: nn.Module
    example: tuple[torch.Tensor, ...]
    dynamic: dict[str, dict[int, torch.export.Dim]]

    @property
    def inputs(self) -> tuple[str, ...]:
        return graph_inputs(self.name)

    @property
    def outputs(self) -> tuple[str, ...]:
        return GRAPH_IO[self.name][1]


def graph_names(model: XVLM) -> list[str]:
    """The graphs a model exports: all five, less ``box`` when the model has no box head."""
    return [n for n in GRAPH_IO if n != "box" or model.bbox_head is not None]


def graph_specs(model: XVLM, first_name_id: int = 1) -> list[GraphSpec]:
    """``first_name_id``: the vocabulary id of ``[unused0]`` (1 in BERT's uncased vocabulary)."""
    cfg = model.cfg
    v, t = cfg.vision, cfg.text
    batch = torch.export.Dim("batch", min=1, max=4096)
    regions = torch.export.Dim("regions", min=1, max=4096)
    # Position embeddings bound the text length; the exporter needs the bound to keep T symbolic.
    seq = torch.export.Dim("tokens", min=1, max=t.max_position_embeddings)
    g = torch.Generator().manual_seed(0)
    b, n, s = TRACE_BATCH, v.num_tokens, v.image_size
    images = torch.randn(b, 3, s, s, generator=g)
    tokens = torch.randn(b, n, v.width, generator=g)
    masks = (torch.rand(b, TRACE_REGIONS, n - 1, generator=g) > 0.5).float()
    ids = torch.randint(1000, 5000, (b, TRACE_TOKENS), generator=g)
    ids[1, 2] = first_name_id + 3  # a name in the trace, so the Where is not folded away
    names = torch.randn(NAME_SLOTS, t.hidden_size, generator=g)
    text_mask = torch.ones(b, TRACE_TOKENS, dtype=torch.long)
    text_mask[0, -2:] = 0
    hidden = torch.randn(b, TRACE_TOKENS, t.hidden_size, generator=g)
    image_mask = torch.ones(b, n, dtype=torch.long)
    bt = {0: batch, 1: seq}
    specs = [
        GraphSpec("vision", VisionGraph(model), (images,), {"images": {0: batch}}),
        GraphSpec(
            "concepts",
            ConceptsGraph(model),
            (tokens, masks),
            {"image_tokens": {0: batch}, "patch_masks": {0: batch, 1: regions}},
        ),
        GraphSpec(
            "text",
            TextGraph(model, first_name_id),
            (ids, text_mask, names),
            {"input_ids": bt, "attention_mask": bt, "name_embeddings": None},
        ),
        GraphSpec(
            "itm",
            ItmGraph(model),
            (hidden, text_mask, tokens, image_mask),
            {"text_hidden": bt, "text_mask": bt, "image_tokens": {0: batch}, "image_mask": {0: batch}},
        ),
        GraphSpec(
            "box",
            BoxGraph(model),
            (hidden, text_mask, tokens),
            {"text_hidden": bt, "text_mask": bt, "image_tokens": {0: batch}},
        ),
    ]
    keep = graph_names(model)
    return [spec for spec in specs if spec.name in keep]


def disable_fused_attention(model: nn.Module) -> int:
    """Switch timm blocks to eager attention; returns how many modules were switched.

    timm reads its fused-attention flag when a block is built, so setting the global flag after
    ``load_checkpoint`` is too late: the per-module attribute is what the forward pass reads.
    Eager attention exports as plain MatMul/Softmax, which every provider and the int8 quantiser know.
    """
    import timm.layers

    timm.layers.set_fused_attn(False)
    switched = 0
    for module in model.modules():
        if getattr(module, "fused_attn", False):
            module.fused_attn = False
            switched += 1
    return switched


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    # The exporter warns about things that do not concern a user of the bundle (deprecations, the
    # onnxscript optimiser's notes); real failures still raise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def export_graphs(
    model: XVLM, out_dir: str | Path, names: list[str] | None = None, first_name_id: int = 1
) -> dict[str, Path]:
    """Export the model's graphs (fp32) as ``<name>.onnx`` files, one self-contained file each."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.float().eval()
    disable_fused_attention(model)
    os.environ.setdefault("TIMM_FUSED_ATTN", "0")
    paths: dict[str, Path] = {}
    for spec in graph_specs(model, first_name_id):
        if names is not None and spec.name not in names:
            continue
        path = out / f"{spec.name}.onnx"
        with _quiet_export(), torch.no_grad():
            program = torch.onnx.export(
                spec.module.eval(),
                spec.example,
                input_names=list(spec.inputs),
                output_names=list(spec.outputs),
                dynamic_shapes=spec.dynamic,
                opset_version=OPSET,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        if program is None:  # pragma: no cover - only the legacy exporter returns None
            raise RuntimeError("torch.onnx.export returned no program")
        # Stripped in memory and written once (the graphs are far below protobuf's 2 GB limit).
        onnx.save(strip_source_locations(program.model_proto), str(path))
        paths[spec.name] = path
    return paths


def _strip_nodes(nodes: Iterable[onnx.NodeProto]) -> None:
    for node in nodes:
        node.doc_string = ""
        del node.metadata_props[:]
        for attribute in node.attribute:  # control flow (If, Loop) carries subgraphs
            if attribute.HasField("g"):
                _strip_graph(attribute.g)
            for subgraph in attribute.graphs:
                _strip_graph(subgraph)


def _strip_graph(graph: onnx.GraphProto) -> None:
    graph.doc_string = ""
    del graph.metadata_props[:]
    _strip_nodes(graph.node)


def strip_source_locations(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop the exporter's per-node debug metadata (Python stack traces with absolute source paths,
    module names) from ``model``, in place.

    Why: the bundle identity hashes the graph files, and those traces name the checkout and the
    virtual environment, so the same checkpoint exported from two folders got two identities, and a
    library indexed with one bundle had to be indexed again for the other. The computation is
    untouched (nodes, initializers, names); the files also get smaller."""
    _strip_graph(model.graph)
    for function in model.functions:
        function.doc_string = ""
        del function.metadata_props[:]
        _strip_nodes(function.node)
    return model
