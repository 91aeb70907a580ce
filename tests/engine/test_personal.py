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
    assert main([*argv, "--methods", "palavra"]) == 2
    assert main([*argv, "--ks", "6"]) == 2  # more than the teaching pool
