"""A bundle as an older Multigrain wrote it, made from the session's fp32 bundle (test helper)."""

from __future__ import annotations

import json
import pathlib
import shutil

import torch

from engine.model.xvlm import XVLM
from export.bundle import write_manifest


def old_format_bundle(fp32_bundle: pathlib.Path, model: XVLM, out: pathlib.Path) -> pathlib.Path:
    """The fp32 bundle as format 1 wrote it: a text graph of ids and mask only, no ``names`` entry."""
    import onnx

    from export.onnx_export import strip_source_locations

    class OldText(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
            text = self.model.encode_text(input_ids, attention_mask)
            return text.embed, text.hidden

    shutil.copytree(fp32_bundle, out)
    ids = torch.randint(1000, 2000, (2, 7))
    seq = {0: torch.export.Dim("batch", min=1, max=64), 1: torch.export.Dim("tokens", min=1, max=40)}
    program = torch.onnx.export(
        OldText().eval(),
        (ids, torch.ones_like(ids)),
        input_names=["input_ids", "attention_mask"],
        output_names=["embed", "hidden"],
        dynamic_shapes={"input_ids": seq, "attention_mask": seq},
        opset_version=20,
        dynamo=True,
        external_data=False,
    )
    onnx.save(strip_source_locations(program.model_proto), str(out / "text.onnx"))
    manifest = json.loads((out / "manifest.json").read_text())
    computed = ("format_version", "identity", "files", "created")
    fields = {k: v for k, v in manifest.items() if k not in computed}
    fields.pop("names")
    fields["graphs"]["text"]["inputs"] = ["input_ids", "attention_mask"]
    fields["source"].pop("checkpoint_path")
    written = write_manifest(out, fields) | {"format_version": 1}
    (out / "manifest.json").write_text(json.dumps(written, indent=2))
    return out
