"""The public MLM logits (XVLM.mlm_logits) against X-VLM's head re-derived from official-layout weights.

X-VLM's BertForMaskedLM (models/xbert.py) gathers the fused hidden states at ``masked_pos`` and applies
BERT's prediction head: dense -> GELU (erf form) -> LayerNorm -> decoder, whose weight is tied to the word
embeddings, plus an output bias. The golden values below redo that in float64 numpy from the tensors an
official checkpoint would hold (``text_encoder.cls.predictions.*``), not from our module.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from batches import region_batch
from official_format import to_official
from scipy.special import erf

from engine.losses import mlm_loss
from engine.model.factory import create_model

# Logits here are of size ~0.5; float32 arithmetic over 32-wide layers is good to ~1e-7.
TOLERANCE = 1e-5
HEAD = "text_encoder.cls.predictions."
ARGS = ("masked_ids", "text_mask", "image_tokens", "image_mask", "masked_pos")  # mlm_logits' order


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("test-tiny", pretrained_text=False)
    with torch.no_grad():  # fresh init has unit LayerNorm and zero bias, which would hide a swapped tensor
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    return model.eval()


def _golden_head(picked: np.ndarray, official: dict[str, torch.Tensor], eps: float) -> np.ndarray:
    def weight(name: str) -> np.ndarray:
        return official[HEAD + name].double().numpy()

    x = picked @ weight("transform.dense.weight").T + weight("transform.dense.bias")
    x = 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)
    x = x * weight("transform.LayerNorm.weight") + weight("transform.LayerNorm.bias")
    return x @ weight("decoder.weight").T + weight("bias")


def _inputs(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    batch = region_batch(model.cfg, seed=3)
    with torch.no_grad():
        tokens = model.vision_encoder(batch["images"])[batch["image_index"]]
    return {
        "masked_ids": batch["mlm_ids"],
        "text_mask": batch["text_mask"],
        "image_tokens": tokens,
        "image_mask": torch.ones(tokens.shape[:2], dtype=torch.long),
        "masked_pos": batch["mlm_pos"],
        "labels": batch["mlm_labels"],
    }


def _golden_logits(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> np.ndarray:
    with torch.no_grad():
        hidden = model.encode_text(inputs["masked_ids"], inputs["text_mask"]).hidden
        fused = model.fuse(hidden, inputs["text_mask"], inputs["image_tokens"], inputs["image_mask"])
    fused = fused.double().numpy()
    picked = np.take_along_axis(fused, inputs["masked_pos"].numpy()[:, :, None], axis=1)
    official = to_official(model, "pretrain")
    return _golden_head(picked, official, model.cfg.text.layer_norm_eps)


def test_mlm_logits_match_the_bert_head_from_official_weights() -> None:
    model = _model()
    inputs = _inputs(model)
    with torch.no_grad():
        logits = model.mlm_logits(*(inputs[k] for k in ARGS))
    golden = _golden_logits(model, inputs)
    assert logits.shape == (*inputs["masked_pos"].shape, model.cfg.text.vocab_size)
    assert np.abs(golden).max() > 0.1, "logits too small for the tolerance to mean anything"
    assert np.abs(logits.double().numpy() - golden).max() < TOLERANCE


def test_mlm_loss_is_cross_entropy_of_the_public_logits(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model()
    inputs = _inputs(model)
    calls = []
    public = model.mlm_logits
    monkeypatch.setattr(model, "mlm_logits", lambda *args: calls.append(1) or public(*args))
    with torch.no_grad():
        loss = mlm_loss(model, *(inputs[k] for k in ARGS), inputs["labels"])
    assert calls == [1]
    golden = _golden_logits(model, inputs)
    labels = inputs["labels"].numpy()
    keep = labels != -100
    top = golden.max(-1, keepdims=True)
    log_norm = np.log(np.exp(golden - top).sum(-1)) + top[..., 0]
    picked = np.take_along_axis(golden, np.where(keep, labels, 0)[..., None], axis=-1)[..., 0]
    expected = (log_norm - picked)[keep].mean()
    assert abs(float(loss) - expected) < TOLERANCE


def test_mlm_logits_need_an_mlm_head() -> None:
    model = create_model("test-tiny", pretrained_text=False, mlm_head=False)
    with pytest.raises(RuntimeError, match="no MLM head"):
        model.mlm_logits(*(torch.zeros(1, 2, dtype=torch.long) for _ in range(2)), None, None, None)
