"""The runtime's token ids against the engine's text path and transformers' BERT tokenizers."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from core.text import EmptyTextError, Tokenizer, pre_caption
from export.runtime import Runtime

_ODD = [
    "Café naïve Ångström façade",
    "中文字符 and 日本語のテキスト, 한국어",
    "emoji 😀🐶🚗 ok 👍🏽",
    "zero\u200bwidth\u200djoiner",
    "ctrl\x00char\x07bell\x1b",
    "ﬁne ligatures ﬂ",
    "İstanbul ǅ ß straße",
    "\u0301 combining accent e\u0301",
    "nbsp\u00a0here\u3000ideographic",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
    "tab\tand\nnewline\r\n",
    "[CLS] [SEP] [UNK] [PAD] [MASK] literal specials",
    "<person> rides a bike with <person>",
    "well-known A/B test -- hyphen/slash",
    "!!!what??? (really) #tag *star* ~tilde: semi; 'quote' \"double\"",
    "$100 @home & 50% off {braces} [brackets] <angles> |pipe| \\back",
    "ℌ𝔢𝔩𝔩𝔬 mathematical Ⅻ ①②",
    "Привет мир, Ελληνικά, العربية, עברית, हिन्दी",
    "x" * 150,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
]


@pytest.fixture(scope="module")
def world_captions(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Captions of a small generated world (CI has no data/world)."""
    from world import generate_world

    root = tmp_path_factory.mktemp("world")
    generate_world(root, 40, seed=11, test_size=20, val_size=2)
    return [c for e in json.loads((root / "retrieval/test.json").read_text()) for c in e["caption"]]


def varied_texts(captions: list[str], n: int = 1000, seed: int = 0) -> list[str]:
    """Real captions, hand-picked oddities, very long texts and random character soup."""
    rng = np.random.default_rng(seed)
    texts = list(_ODD)
    pool = list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 ,.'!?\"()*#:;~-/<>[]{}éüßçñ中文😀\u200b\t\n")
    while len(texts) < n:
        kind = len(texts) % 4
        if kind == 0 and captions:
            texts.append(captions[int(rng.integers(len(captions)))])
        elif kind == 1:  # very long: up to 30 phrases
            phrases = rng.choice(_ODD + captions[:50], size=int(rng.integers(2, 30)))
            texts.append(" ".join(phrases))
        elif kind == 2:
            texts.append("".join(rng.choice(pool, size=int(rng.integers(1, 200)))))
        else:
            word = captions[int(rng.integers(len(captions)))] if captions else "a dog"
            texts.append(word.upper() + rng.choice([" !!", "...", " -- ", "/", ""]))
    return texts[:n]


def _engine_path(
    texts: list[str], max_words: int, tok: Tokenizer
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    kept, rows = [], []
    for i, t in enumerate(texts):
        try:
            rows.append(pre_caption(t, max_words))
            kept.append(i)
        except EmptyTextError:
            pass
    ids, mask = tok(rows, pad_to="max")
    return ids, mask, kept


@pytest.fixture(scope="module")
def runtime(fp32_bundle: pathlib.Path) -> Runtime:
    return Runtime(fp32_bundle, providers="cpu")


def test_token_ids_match_the_engine_path(runtime: Runtime, world_captions: list[str]) -> None:
    texts = varied_texts(world_captions)
    assert len(texts) == 1000
    max_words, max_tokens = runtime.manifest["max_words"], runtime.max_tokens
    ids, mask, blank = runtime.tokenize(texts)
    ref_ids, ref_mask, kept = _engine_path(texts, max_words, Tokenizer(max_tokens=max_tokens))
    assert sorted(set(range(len(texts))) - set(kept)) == list(np.flatnonzero(blank))
    np.testing.assert_array_equal(ids[kept], ref_ids)
    np.testing.assert_array_equal(mask[kept], ref_mask)
    assert (mask.sum(1) == max_tokens).sum() > 50, "some texts must hit the length limit"


@pytest.mark.parametrize("reference", ["BertTokenizer", "BertTokenizerLegacy"])
def test_token_ids_match_transformers_bert(
    runtime: Runtime, reference: str, world_captions: list[str]
) -> None:
    # transformers' own BERT-uncased tokenizers as the independent reference: the tokenizers-backed
    # one and the pure-Python legacy one. X-VLM's ids are [CLS] + pieces, cut to max_tokens, no [SEP].
    from transformers import BertTokenizer
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    vocab = runtime.tokenizer.vocab_path
    if reference == "BertTokenizer":
        table = {
            line.rstrip("\n"): i for i, line in enumerate(vocab.read_text(encoding="utf-8").splitlines())
        }
        bert = BertTokenizer(vocab=table, do_lower_case=True)
    else:
        bert = BertTokenizerLegacy(vocab_file=str(vocab), do_lower_case=True)
    texts = varied_texts(world_captions)
    ids, mask, blank = runtime.tokenize(texts)
    t = runtime.max_tokens
    for i, text in enumerate(texts):
        if blank[i]:
            continue
        pieces = bert.convert_tokens_to_ids(bert.tokenize(pre_caption(text, runtime.manifest["max_words"])))
        expected = [101, *pieces[: t - 1]]
        assert ids[i, : len(expected)].tolist() == expected, repr(text)
        assert mask[i].sum() == len(expected)


def test_blank_texts_do_not_crash_and_match_nothing(runtime: Runtime) -> None:
    texts = ["", "   ", "?!...", "\n\t", "a red car"]
    embeds, hidden, mask = runtime.encode_texts(texts)
    assert embeds.shape == (5, runtime.embed_dim)
    assert np.all(embeds[:4] == 0), "blank texts get a zero embedding (cosine 0 with everything)"
    assert np.isclose(np.linalg.norm(embeds[4]), 1.0, atol=1e-5)
    assert mask[:4].sum(1).tolist() == [1, 1, 1, 1], "a blank text is the bare [CLS]"
    assert np.isfinite(hidden).all()
    images = np.zeros((1, 3, runtime.image_size, runtime.image_size), np.float32)
    _, tokens = runtime.encode_images(images)
    assert np.isfinite(runtime.itm_scores(hidden, mask, tokens)).all()
