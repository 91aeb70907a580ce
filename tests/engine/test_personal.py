"""Teaching a name on the text side: placeholders, preservation, no photo re-encoded, the benchmark."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.text import Tokenizer
from engine.model.factory import create_model
from engine.personal.names import NamedTextEncoder, TaughtName, placeholder_id, token_ids
from engine.personal.teach import TeachPhoto, TeachSettings, teach_name

GENERAL = ["a dog on the beach", "two cats and a red car", "a horse left of a tree"]


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("test-tiny", pretrained_text=False).eval()


def _photos(model: torch.nn.Module, n: int = 3) -> tuple[list[TeachPhoto], torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    size = model.cfg.vision.image_size
    with torch.no_grad():
        out = model.encode_image(torch.randn(n + 6, 3, size, size, generator=g))
    photos = [
        TeachPhoto(
            out.tokens[i], out.embed[i], 200, 100, (20.0, 10.0, 80.0, 60.0), [(120.0, 30.0, 60.0, 50.0)]
        )
        for i in range(n)
    ]
    return photos, out.embed[n:]


def test_names_are_whole_words_in_any_case_and_map_to_their_placeholder() -> None:
    tok = Tokenizer(max_tokens=20)
    rex = placeholder_id(tok, 0)
    ids = token_ids(tok, "REX on the beach, not Rexford", {"Rex": rex}, 30)
    assert ids.count(rex) == 1 and ids[1] == rex
    assert token_ids(tok, "a dog", {"Rex": rex}, 30) == tok.token_ids("a dog")
    assert rex not in tok.token_ids("[unused0] unused0")  # no text can produce the placeholder


def test_without_names_the_text_side_is_the_model_itself(model: torch.nn.Module) -> None:
    tok = Tokenizer(max_tokens=model.cfg.text.max_tokens)
    ids, mask = tok(GENERAL, pad_to="max")
    with torch.no_grad():
        expected = model.encode_text(torch.from_numpy(ids), torch.from_numpy(mask)).embed
    assert torch.allclose(NamedTextEncoder(model, []).embed(GENERAL), expected, atol=1e-5)


def test_teaching_moves_the_name_keeps_the_model_and_re_encodes_no_photo(model: torch.nn.Module) -> None:
    photos, negatives = _photos(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    name, stats = teach_name(
        model, "Rex", "dog", 0, photos, negatives, GENERAL, TeachSettings("both", steps=25)
    )
    assert stats.vision_passes == 0
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    fresh, _ = teach_name(model, "Rex", "dog", 0, photos, negatives, GENERAL, TeachSettings("both", steps=0))
    positives = torch.stack([p.embed for p in photos])
    taught = NamedTextEncoder(model, [name]).embed(["Rex"])
    untaught = NamedTextEncoder(model, [fresh]).embed(["Rex"])
    assert (taught @ positives.T).mean() > (untaught @ positives.T).mean() + 0.05


def _drift(model: torch.nn.Module, name: TaughtName) -> float:
    before = NamedTextEncoder(model, []).embed(GENERAL)
    after = NamedTextEncoder(model, [name]).embed(GENERAL)
    return float((after - before).norm(dim=1).max())


def test_preservation_token_is_exact_and_the_rank1_regulariser_holds_general_queries(
    model: torch.nn.Module,
) -> None:
    photos, negatives = _photos(model)
    token, _ = teach_name(
        model, "Rex", "dog", 0, photos, negatives, GENERAL, TeachSettings("token", steps=15)
    )
    assert _drift(model, token) == 0.0
    held, _ = teach_name(model, "Rex", "dog", 0, photos, negatives, GENERAL, TeachSettings("rank1", steps=25))
    free, _ = teach_name(
        model, "Rex", "dog", 0, photos, negatives, GENERAL, TeachSettings("rank1", steps=25, w_keep=0.0)
    )
    assert _drift(model, held) < 0.5 * _drift(model, free)


def test_bench_personal_runs_end_to_end_on_a_tiny_world(tmp_path: Path, model: torch.nn.Module) -> None:
    from cli.main import main
    from engine.checkpoint import save_checkpoint
    from world import generate_world

    generate_world(tmp_path / "world", 8, 4, test_size=4, val_size=0, personal=6)
    checkpoint = save_checkpoint(model, tmp_path / "ck")
    out = tmp_path / "bench.json"
    argv = ["bench-personal", "--checkpoint", str(checkpoint), "--data-root", str(tmp_path / "world")]
    assert main([*argv, "--methods", "token", "--ks", "1", "--steps", "2", "--out", str(out)]) == 0
    import json

    rows = json.loads(out.read_text())["rows"]
    assert [r["method"] for r in rows] == ["kind + colour words", "kind word", "query by example", "token"]
    assert rows[-1]["re_encoded"] == 0 and rows[-1]["queries"] == 6  # one held-out photo per name
    # As the app ranks: the same queries, under its index alone and with the name's box, per mix.
    assert rows[-1]["index"]["queries"] == rows[-1]["app"]["queries"] == 6
    assert set(rows[-1]["app_by_w_photo"]) == {"0.0", "0.15", "0.3", "0.5", "0.7", "1.0"}
    # The box alone, and the name's score by the look's share (the box and the crop against the look).
    assert rows[-1]["app_box_only"]["queries"] == 6
    assert set(rows[-1]["app_by_w_look"]) == {"0.0", "0.333", "0.5", "0.667", "0.8", "1.0"}
    assert rows[-1]["app_by_w_look"]["0.0"] == rows[-1]["app_box_only"]
    assert rows[-1]["place_index"]["queries"] == 6  # each held-out photo in its place, "Rex on the beach"
    assert main([*argv, "--methods", "palavra"]) == 2
    assert main([*argv, "--ks", "6"]) == 2  # more than the teaching pool


class _Photo:
    """What ``_app_ranks`` reads of a personal photo."""

    def __init__(self, split: str, individual: str | None, kinds: tuple[str, ...]) -> None:
        self.split, self.individual, self.kinds = split, individual, kinds

    def same_kind(self, kind: str) -> list[str]:
        return [k for k in self.kinds if k == kind]


def test_app_ranks_count_the_index_then_the_head_reordered_by_the_box() -> None:
    from engine.personal.bench import AppScoring, Gallery, _app_ranks, name_sets

    # Four held-out photos (two of Rex, two look-alike dogs) and a teaching photo that never competes.
    photos = [
        _Photo("test", "Rex", ("dog",)),
        _Photo("test", "Rex", ("dog", "dog")),
        _Photo("test", None, ("dog",)),
        _Photo("test", None, ("dog", "cat")),
        _Photo("teach", "Rex", ("dog",)),
    ]
    query = torch.tensor([1.0, 0.0])
    global_cos = [0.5, 0.2, 0.6, 0.4, 0.9]
    embed = torch.tensor([[c, (1 - c * c) ** 0.5] for c in global_cos])
    regions = torch.zeros(5, 2, 2)  # no region helps: the index ranks by the global cosine
    gallery = Gallery(photos, embed, torch.zeros(5, 1, 1), regions)
    box_cos = torch.tensor([0.9, 0.95, 0.1, 0.3, 0.0])
    app = AppScoring(w_global=1.0, w_region=0.0, rerank=2, w_photo=0.5)
    positives, others = name_sets(gallery, "Rex", "dog")
    assert (positives, others) == ([0, 1], [2, 3])
    index, reordered = _app_ranks(gallery, query, box_cos, app, positives, others)
    # Photo 0 against look-alikes 2 (0.6) and 3 (0.4): second by the index; in the head [2, 0], its box
    # lifts it first (0.5*0.5 + 0.5*0.9 = 0.70 against 0.35). Photo 1 (0.2) is third: outside a head of
    # two, the box cannot help it.
    assert index == [2, 3] and reordered == [1, 3]
    _, box_only = _app_ranks(gallery, query, box_cos, AppScoring(1.0, 0.0, rerank=3), positives, others, 0.0)
    assert box_only == [1, 1]  # a head of three holds every photo: the box alone decides


def test_jittered_boxes_stay_in_the_image_and_near_the_box() -> None:
    from engine.personal.teach import jittered

    box = [100.0, 50.0, 40.0, 30.0]
    boxes = jittered(box, 160, 16, torch.Generator().manual_seed(0))
    assert boxes[0] == box and len(boxes) == 17
    for x, y, w, h in boxes[1:]:
        assert x >= 0 and y >= 0 and x + w <= 160 + 1e-6 and y + h <= 160 + 1e-6
        assert 0.8 * 40 - 1e-6 <= w <= 1.25 * 40 + 1e-6 and 0.8 * 30 - 1e-6 <= h <= 1.25 * 30 + 1e-6
    assert len({tuple(b) for b in boxes}) == 17  # copies, not the same box again


def test_bench_teach_times_the_teaching_child(capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    assert main(["bench-teach", "test-tiny", "--photos", "2", "--steps", "2", "--jitter", "1"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("test-tiny "))
    fields = row.split()
    assert fields[2:6] == [
        str(create_model("test-tiny", pretrained_text=False).cfg.vision.image_size),
        "2",
        "2",
        "1",
    ]
    assert all(float(v) >= 0 for v in fields[6:9]) and float(fields[8]) >= float(fields[7])


def test_crop_embeds_encode_the_box_cropped_and_a_look_is_their_unit_mean(
    tmp_path: Path, model: torch.nn.Module
) -> None:
    from PIL import Image

    from core.name_look import look_crop
    from engine.data.transforms import EvalTransform
    from engine.personal.look import crop_embeds, name_look

    image = Image.new("RGB", (80, 60), (0, 0, 200))
    image.paste((220, 30, 30), (40, 12, 72, 48))
    path = tmp_path / "p.png"
    image.save(path)
    box = (0.5, 0.2, 0.4, 0.6)
    c = model.cfg
    pixels = EvalTransform(c.vision.image_size, c.image_mean, c.image_std)(look_crop(image, box))
    with torch.no_grad():
        direct = model.encode_image(pixels[None]).embed[0]
    [got, whole] = crop_embeds(model, [path, path], [box, (0.0, 0.0, 1.0, 1.0)])
    torch.testing.assert_close(got, direct, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got, whole, atol=1e-3)  # the crop is not the whole photo
    look = name_look(model, [path, path], [box, (0.0, 0.0, 1.0, 1.0)])
    torch.testing.assert_close(look, torch.nn.functional.normalize(got + whole, dim=0), rtol=1e-5, atol=1e-5)
