"""Forward/backward contract of the X-VLM model on the tiny test configs."""

from __future__ import annotations

import pytest
import torch
from batches import region_batch

from engine.config import ConfigError, list_models, load_config
from engine.model.factory import count_parameters, create_model


@pytest.mark.parametrize("name", ["test-tiny", "test-tiny-swin"])
def test_every_loss_is_finite_and_every_parameter_gets_a_gradient(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name)
    out = model(region_batch(model.cfg))
    assert set(out) == {"itc_loss", "itm_loss", "mlm_loss", "box_l1_loss", "box_giou_loss"}
    for key, value in out.items():
        assert torch.isfinite(value), key
    sum(out.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    silent = [n for n, p in model.named_parameters() if p.grad.abs().sum() == 0]
    assert not silent, f"parameters with an all-zero gradient: {silent}"


def test_zero_weight_skips_a_term() -> None:
    model = create_model("test-tiny")
    out = model(region_batch(model.cfg), weights={"box": 0, "mlm": 0})
    assert set(out) == {"itc_loss", "itm_loss"}


def test_grad_checkpointing_changes_nothing() -> None:
    torch.manual_seed(0)
    model = create_model("test-tiny").eval()  # eval: no dropout, so both passes see the same function
    batch = region_batch(model.cfg)
    weights = {"itm": 0}  # ITM samples negatives at random
    plain = sum(model(batch, weights).values())
    model.set_grad_checkpointing(True)
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    ckpt = sum(model(batch, weights).values())
    assert torch.allclose(plain, ckpt, atol=1e-5)


def test_surface_shapes_and_normalisation() -> None:
    model = create_model("test-tiny").eval()
    cfg = model.cfg
    images = torch.randn(3, 3, cfg.vision.image_size, cfg.vision.image_size)
    image = model.encode_image(images)
    assert image.tokens.shape == (3, cfg.vision.num_tokens, cfg.vision.width)
    assert torch.allclose(image.tokens[:, 0], image.tokens[:, 1:].mean(1), atol=1e-6), (
        "token 0 = mean of patches"
    )
    assert torch.allclose(image.embed.norm(dim=-1), torch.ones(3))
    ids = torch.tensor([[101, 2000, 3000, 0], [101, 2001, 0, 0], [101, 5, 6, 7]])
    mask = (ids > 0).long()
    text = model.encode_text(ids, mask)
    assert text.hidden.shape == (3, 4, cfg.text.hidden_size)
    assert torch.allclose(text.embed.norm(dim=-1), torch.ones(3))
    assert model.itm_score(text.hidden, text.mask, image.tokens).shape == (3,)
    box = model.predict_box(text.hidden, text.mask, image.tokens)
    assert box.shape == (3, 4) and (box > 0).all() and (box < 1).all()
    tokens, cmask, _ = model.encode_concepts(image.tokens, torch.tensor([[0.0, 0, 16, 16]] * 3))
    assert cmask[0].sum() == 2  # [CLS] + one 16 px patch
    assert torch.allclose(tokens[:, 0], image.tokens[:, 1])


def test_padding_does_not_change_text_features() -> None:
    model = create_model("test-tiny").eval()
    short = model.encode_text(torch.tensor([[101, 2000, 3000]]), torch.ones(1, 3, dtype=torch.long))
    padded = model.encode_text(torch.tensor([[101, 2000, 3000, 0, 0]]), torch.tensor([[1, 1, 1, 0, 0]]))
    assert torch.allclose(short.embed, padded.embed, atol=1e-5)


def test_configs_are_registered_and_typos_fail() -> None:
    assert {"xvlm-base-224", "xvlm-base-384", "demo", "test-tiny"} <= set(list_models())
    assert load_config("test-tiny", **{"text.dropout": 0.5}).text.dropout == 0.5
    with pytest.raises(ConfigError, match="unknown config key"):
        load_config("test-tiny", **{"text.dropuot": 0.5})
    with pytest.raises(ConfigError, match="unknown model config"):
        load_config("no-such-model")


def test_a_config_file_with_a_misspelt_key_is_refused_by_name(tmp_path) -> None:
    import json

    data = load_config("test-tiny").to_dict()
    data["vision"]["patch_strid"] = data["vision"].pop("patch_stride")
    path = tmp_path / "typo.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"unknown model config key 'vision\.patch_strid'; known: trunk, "):
        load_config(path)


def test_paper_parameter_count() -> None:
    # The paper and README state 216M; an analytic count of the pre-training model is 215.6M.
    total = count_parameters(create_model("xvlm-base-224"))["total"]
    assert 215.0e6 < total < 216.5e6


def test_demo_text_layers_start_from_minilm() -> None:
    from engine.model.text import load_minilm_state

    model = create_model("demo")
    minilm = load_minilm_state()
    assert torch.equal(
        model.text_encoder.encoder.layer[3].output.dense.weight, minilm["encoder.layer.3.output.dense.weight"]
    )
    assert torch.equal(
        model.fusion_encoder.layer[1].attention.self.query.weight,
        minilm["encoder.layer.5.attention.self.query.weight"],
    )
    assert count_parameters(model)["total"] * 2 <= 64 * 1024 * 1024, "fp16 demo checkpoint must fit 64 MB"
