"""Caption normalisation and the tokenizer: no [SEP], and the same ids as BERT's reference tokenizer."""

from __future__ import annotations

import random

import pytest

from core.text import CLS_ID, EmptyTextError, Tokenizer, default_vocab_path, pre_caption


def test_pre_caption_rules() -> None:
    assert pre_caption('A Dog, "next" to (a) red-car/truck!  ', 30) == "a dog next to a red car truck"
    assert pre_caption("<person> walks: #1 ~fast~;", 30) == "person walks 1 fast"
    assert pre_caption("one two three four", 2) == "one two"
    with pytest.raises(EmptyTextError):
        pre_caption(" ?!. ", 30)


def test_cls_and_no_sep() -> None:
    tok = Tokenizer(max_tokens=6)
    ids, mask = tok(["a dog", "a dog next to a red car on the beach"])
    assert ids[0].tolist() == [CLS_ID, 1037, 3899, 0, 0, 0]
    assert mask[0].tolist() == [1, 1, 1, 0, 0, 0]
    assert 102 not in ids, "X-VLM's tokenizer never appends [SEP]"
    assert len(ids[1]) == 6 and mask[1].all(), "long captions are cut to max_tokens"


def varied_strings(n: int, seed: int = 0) -> list[str]:
    """Words, punctuation, accents, CJK, emoji, control characters, numbers and very long runs."""
    rng = random.Random(seed)
    words = [
        "dog",
        "Red",
        "CAR",
        "beach",
        "unbelievable",
        "naïve",
        "café",
        "Zürich",
        "東京",
        "的",
        "🐶",
        "🚗",
        "don't",
        "e-mail",
        "x/y",
        "3.14",
        "1,000",
        "(left)",
        "##ing",
        "\t",
        "\u00a0",
        "\u200b",
        "مرحبا",
        "Привет",
        "ßtraße",
        "İstanbul",
        "ﬁne",
        "a\u0301",
        "<person>",
        "$$$",
        "C++",
        "...",
    ]
    out = []
    for i in range(n):
        if i % 50 == 0:
            out.append(" ".join(rng.choice(words) for _ in range(400)))  # very long
            continue
        k = rng.randint(0, 12)
        pieces = [rng.choice(words) for _ in range(k)]
        if rng.random() < 0.3:
            pieces.append("".join(chr(rng.randint(33, 0x2FFF)) for _ in range(rng.randint(1, 8))))
        out.append(rng.choice([" ", "  ", ",", ""]).join(pieces))
    return out


def test_same_ids_as_the_reference_bert_tokenizer_on_1000_strings() -> None:
    from transformers import BertTokenizer

    ref = BertTokenizer(str(default_vocab_path()), do_lower_case=True)
    tok = Tokenizer(max_tokens=40)
    for text in varied_strings(1000):
        expected = [CLS_ID, *ref.convert_tokens_to_ids(ref.tokenize(text))][:40]
        assert tok.token_ids(text) == expected, repr(text)


def test_special_token_text_in_a_caption_stays_text() -> None:
    # Deliberate difference from BertTokenizer, which turns a literal "[MASK]" into the mask id: a user's
    # query must not be able to inject special tokens. Brackets and words are ordinary WordPieces.
    ids = Tokenizer().token_ids("a [MASK] and a [SEP]")
    assert ids[0] == CLS_ID and 103 not in ids and 102 not in ids
