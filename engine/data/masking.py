"""X-VLM's MLM masking generator (spec 3.3), in numpy so it runs inside DataLoader workers.

n_pred = min(max_masks, max(1, round(len(tokens) * mask_prob))) with [CLS] counted; positions other than
0 are visited in shuffled order, each opening an n-gram (prob skipgram_prb, size 2..skipgram_size) or a
single token, widened to whole words; the over-collected set is trimmed at random to n_pred; replaced
80 % [MASK], 10 % a random token, 10 % unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.text import MASK_ID

# Ids below this are [PAD], [unusedN], [UNK], [CLS], [SEP], [MASK]: never drawn as random replacements.
_FIRST_REAL_ID = 999


@dataclass
class MaskedText:
    ids: np.ndarray  # (T,) input ids after replacement
    positions: np.ndarray  # (max_masks,) masked positions, padded with 0
    labels: np.ndarray  # (max_masks,) original ids, padded with -100


class MaskingGenerator:
    def __init__(
        self,
        vocab_size: int,
        mask_prob: float = 0.25,
        max_masks: int = 8,
        skipgram_prb: float = 0.2,
        skipgram_size: int = 3,
        mask_whole_word: bool = True,
    ) -> None:
        self.vocab_size = vocab_size
        self.mask_prob = mask_prob
        self.max_masks = max_masks
        self.skipgram_prb = skipgram_prb
        self.skipgram_size = skipgram_size
        self.mask_whole_word = mask_whole_word

    def choose_positions(self, pieces: list[str], rng: np.random.Generator) -> list[int]:
        """Positions (1-based into [CLS] + pieces) to mask; ``pieces`` excludes [CLS]."""
        length = len(pieces) + 1
        n_pred = min(self.max_masks, max(1, round(length * self.mask_prob)))
        chosen: set[int] = set()
        for pos in rng.permutation(np.arange(1, length)):
            if len(chosen) >= n_pred:
                break
            pos = int(pos)
            if pos in chosen:
                continue
            span = 1
            if self.skipgram_size >= 2 and rng.random() < self.skipgram_prb:
                span = int(rng.integers(2, self.skipgram_size + 1))
            start, end = pos, min(pos + span, length)
            if self.mask_whole_word:
                start, end = self._widen_to_words(pieces, start, end)
            chosen.update(range(start, end))
        picked = sorted(chosen)
        if len(picked) > n_pred:
            picked = sorted(int(p) for p in rng.choice(picked, size=n_pred, replace=False))
        return picked

    @staticmethod
    def _widen_to_words(pieces: list[str], start: int, end: int) -> tuple[int, int]:
        # Position p refers to pieces[p - 1]; a '##' piece continues the word before it.
        while start > 1 and pieces[start - 1].startswith("##"):
            start -= 1
        while end <= len(pieces) and end < len(pieces) + 1 and pieces[end - 1].startswith("##"):
            end += 1
        return start, end

    def __call__(self, ids: list[int], pieces: list[str], rng: np.random.Generator, width: int) -> MaskedText:
        """Mask a tokenized caption (``ids`` = [CLS] + piece ids) padded to ``width``."""
        out = np.zeros(width, dtype=np.int64)
        out[: len(ids)] = ids
        positions = [p for p in self.choose_positions(pieces[: len(ids) - 1], rng) if p < len(ids)]
        labels = out[positions].copy()
        for p in positions:
            r = rng.random()
            if r < 0.8:
                out[p] = MASK_ID
            elif r < 0.9:
                out[p] = int(rng.integers(_FIRST_REAL_ID, self.vocab_size))
        pos_arr = np.zeros(self.max_masks, dtype=np.int64)
        lab_arr = np.full(self.max_masks, -100, dtype=np.int64)
        pos_arr[: len(positions)] = positions
        lab_arr[: len(positions)] = labels
        return MaskedText(out, pos_arr, lab_arr)
