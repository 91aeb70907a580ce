"""Official X-VLM checkpoint layout, written from the spec (XVLM_SPEC.md section 6.3), for tests.

``official_key_shapes`` enumerates names and shapes from the spec's description alone (independent of
the importer's mapping); ``to_official`` turns one of our models into such a state dict, so a round trip
through the importer can be checked numerically.
"""

from __future__ import annotations

import torch

from engine.model.xvlm import XVLM


def official_key_shapes(model: XVLM, layout: str) -> dict[str, tuple[int, ...]]:
    cfg = model.cfg
    t, v = cfg.text, cfg.vision
    trunk = model.vision_encoder.trunk
    embed = trunk.embed_dim
    depths = [len(stage.blocks) for stage in trunk.layers]
    heads = [stage.blocks[0].attn.num_heads for stage in trunk.layers]
    out: dict[str, tuple[int, ...]] = {}
    ve = "vision_encoder."
    out[ve + "patch_embed.proj.weight"] = (embed, 3, 4, 4)
    out[ve + "patch_embed.proj.bias"] = (embed,)
    out[ve + "patch_embed.norm.weight"] = (embed,)
    out[ve + "patch_embed.norm.bias"] = (embed,)
    res = v.image_size // 4
    for s, depth in enumerate(depths):
        d = embed * 2**s
        window = min(trunk.layers[s].blocks[0].window_size[0], res)
        for b in range(depth):
            p = f"{ve}layers.{s}.blocks.{b}."
            for norm in ("norm1", "norm2"):
                out[p + f"{norm}.weight"] = (d,)
                out[p + f"{norm}.bias"] = (d,)
            out[p + "attn.qkv.weight"] = (3 * d, d)
            out[p + "attn.qkv.bias"] = (3 * d,)
            out[p + "attn.proj.weight"] = (d, d)
            out[p + "attn.proj.bias"] = (d,)
            out[p + "attn.relative_position_bias_table"] = ((2 * window - 1) ** 2, heads[s])
            out[p + "attn.relative_position_index"] = (window**2, window**2)
            out[p + "mlp.fc1.weight"] = (4 * d, d)
            out[p + "mlp.fc1.bias"] = (4 * d,)
            out[p + "mlp.fc2.weight"] = (d, 4 * d)
            out[p + "mlp.fc2.bias"] = (d,)
            if b % 2 == 1 and res > window:
                out[p + "attn_mask"] = ((res // window) ** 2, window**2, window**2)
        if s < len(depths) - 1:
            out[f"{ve}layers.{s}.downsample.reduction.weight"] = (2 * d, 4 * d)
            out[f"{ve}layers.{s}.downsample.norm.weight"] = (4 * d,)
            out[f"{ve}layers.{s}.downsample.norm.bias"] = (4 * d,)
            res //= 2
    out[ve + "norm.weight"] = (v.width,)
    out[ve + "norm.bias"] = (v.width,)

    h, ff = t.hidden_size, t.intermediate_size
    te = "text_encoder.bert." if layout == "pretrain" else "text_encoder."
    out[te + "embeddings.word_embeddings.weight"] = (t.vocab_size, h)
    out[te + "embeddings.position_embeddings.weight"] = (t.max_position_embeddings, h)
    out[te + "embeddings.token_type_embeddings.weight"] = (t.type_vocab_size, h)
    out[te + "embeddings.LayerNorm.weight"] = (h,)
    out[te + "embeddings.LayerNorm.bias"] = (h,)
    out[te + "embeddings.position_ids"] = (1, t.max_position_embeddings)

    def linear(prefix: str, o: int, i: int) -> None:
        out[prefix + ".weight"] = (o, i)
        out[prefix + ".bias"] = (o,)

    def layer_norm(prefix: str) -> None:
        out[prefix + ".weight"] = (h,)
        out[prefix + ".bias"] = (h,)

    for i in range(t.num_text_layers + t.num_fusion_layers):
        p = f"{te}encoder.layer.{i}."
        for name in ("query", "key", "value"):
            linear(p + f"attention.self.{name}", h, h)
        linear(p + "attention.output.dense", h, h)
        layer_norm(p + "attention.output.LayerNorm")
        if i >= t.num_text_layers:
            linear(p + "crossattention.self.query", h, h)
            linear(p + "crossattention.self.key", h, v.width)
            linear(p + "crossattention.self.value", h, v.width)
            linear(p + "crossattention.output.dense", h, h)
            layer_norm(p + "crossattention.output.LayerNorm")
        linear(p + "intermediate.dense", ff, h)
        linear(p + "output.dense", h, ff)
        layer_norm(p + "output.LayerNorm")
    if layout == "pretrain":
        c = "text_encoder.cls.predictions."
        out[c + "bias"] = (t.vocab_size,)
        linear(c + "transform.dense", h, h)
        layer_norm(c + "transform.LayerNorm")
        out[c + "decoder.weight"] = (t.vocab_size, h)

    linear("vision_proj", cfg.embed_dim, v.width)
    linear("text_proj", cfg.embed_dim, h)
    out["temp"] = ()
    heads_out = {"itm_head": 2, **({"bbox_head": 4} if cfg.box_head else {})}
    for head, n in heads_out.items():
        linear(f"{head}.0", 2 * h, h)
        out[f"{head}.1.weight"] = (2 * h,)
        out[f"{head}.1.bias"] = (2 * h,)
        linear(f"{head}.3", n, 2 * h)
    return out


def to_official(model: XVLM, layout: str) -> dict[str, torch.Tensor]:
    """Our weights under official names, with the buffers official files carry."""
    n_text = model.cfg.text.num_text_layers
    te = "text_encoder.bert." if layout == "pretrain" else "text_encoder."
    out: dict[str, torch.Tensor] = {}
    state = model.state_dict()
    for key, value in state.items():
        if key.startswith("vision_encoder.trunk."):
            rest = key[len("vision_encoder.trunk.") :]
            if ".downsample." in rest:  # timm: start of stage s -> Microsoft: end of stage s - 1
                stage = int(rest.split(".")[1])
                rest = rest.replace(f"layers.{stage}.", f"layers.{stage - 1}.", 1)
            out["vision_encoder." + rest] = value.clone()
        elif key.startswith("text_encoder."):
            out[te + key[len("text_encoder.") :]] = value.clone()
        elif key.startswith("fusion_encoder.layer."):
            idx, rest = key[len("fusion_encoder.layer.") :].split(".", 1)
            out[f"{te}encoder.layer.{int(idx) + n_text}.{rest}"] = value.clone()
        elif key.startswith("mlm_head."):
            if layout == "pretrain":
                out["text_encoder.cls.predictions." + key[len("mlm_head.") :]] = value.clone()
        else:
            out[key] = value.clone()
    if layout == "pretrain":
        out["text_encoder.cls.predictions.decoder.weight"] = state[
            "text_encoder.embeddings.word_embeddings.weight"
        ].clone()
    t = model.cfg.text
    out[te + "embeddings.position_ids"] = torch.arange(t.max_position_embeddings)[None]
    for name, buf in model.vision_encoder.trunk.named_buffers():
        if name.endswith(("relative_position_index", "attn_mask")):
            out["vision_encoder." + name] = buf.clone()
    return out
