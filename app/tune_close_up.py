"""``tune-search``'s close-up step: the share of the close-up cosine (``app.close_up``), chosen on val and
measured on test, with the app's own re-ordering.

For each query, the first ``CLOSE_UP_HEAD`` photos by the chosen score (weights and captions) are seen
close up, as search sees them (``close_ups``: the photo decoded at twice the model's input size, the box
head reading the words, the crop encoded), and re-ordered as search re-orders them
(``head_rerank.segments`` and ``rerank_order``: photos above the cutoff apart from those below). A
photo's tokens are computed once per library and kept, since the same photos head many queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.close_up import close_ups
from app.head_rerank import rerank_order, segments
from app.intervals import bootstrap_diff
from app.library.decode import decode_image

# The shares tried on val (0: no close-up), and the photos seen close up per query: on the seed-17
# world's val split 20 and 30 gave the same R@1/5/10 (the re-ordered photos come from the first few),
# 10 less, and each photo costs two vision passes at every search.
CLOSE_UP_SHARES = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
CLOSE_UP_HEAD = 20
KS = (1, 5, 10)


class CloseUpTable:
    """Close-up cosines of (query, photo) pairs of one world library; images and tokens kept per photo."""

    def __init__(self, world: Path, keys: list[str], runtime: Any) -> None:
        self.world, self.keys, self.runtime = world, keys, runtime
        self._images: dict[int, Any] = {}
        self._tokens: dict[int, np.ndarray] = {}
        self._seen: dict[tuple[str, int], float] = {}  # (query, photo) -> cosine: query sets overlap

    def _photos(self, positions: np.ndarray) -> tuple[list[Any], np.ndarray]:
        missing = [int(p) for p in positions if int(p) not in self._tokens]
        for p in missing:
            self._images[p] = decode_image(self.world / self.keys[p], 2 * int(self.runtime.image_size)).image
        if missing:
            _, tokens = self.runtime.encode_images([self._images[p] for p in missing])
            self._tokens.update(zip(missing, tokens, strict=True))
        return [self._images[int(p)] for p in positions], np.stack([self._tokens[int(p)] for p in positions])

    def cosines(self, texts: list[str], heads: np.ndarray) -> np.ndarray:
        """(Q, H) the close-up cosine of each query with each photo of its head (``heads`` (Q, H))."""
        out = np.zeros(heads.shape, np.float32)
        for s in range(0, len(texts), 64):
            embeds, hidden, mask = self.runtime.encode_texts(texts[s : s + 64])
            for j, text in enumerate(texts[s : s + 64]):
                new = np.array([p for p in heads[s + j] if (text, int(p)) not in self._seen], np.int64)
                if new.size:
                    self._score(text, new, (hidden[j : j + 1], mask[j : j + 1]), embeds[j])
                out[s + j] = [self._seen[(text, int(p))] for p in heads[s + j]]
        return out

    def _score(
        self, text: str, positions: np.ndarray, words: tuple[np.ndarray, np.ndarray], embed: np.ndarray
    ) -> None:
        images, tokens = self._photos(positions)
        found = close_ups(self.runtime, images, words[0], words[1], embed, tokens)
        self._seen.update(((text, int(p)), float(c)) for p, c in zip(positions, found.cosines, strict=True))


def heads_of(scores: np.ndarray, head: int = CLOSE_UP_HEAD) -> np.ndarray:
    """(Q, head) each query's first photos by ``scores``, best first (ties by position, as search's)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :head]


def reordered_ranks(
    scores: np.ndarray,
    close: np.ndarray,
    share: float,
    matched: np.ndarray,
    gt: np.ndarray,
    relevant: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Per query, the rank (0: first) of its ground-truth photo (or best relevant one) once its head
    (``close`` (Q, H), the head being the first H by ``scores``) is re-ordered as search does, with
    ``matched[q]`` photos above the cutoff."""
    ranks = np.empty(len(scores), np.int64)
    head = close.shape[1]
    for q in range(len(scores)):
        order = np.argsort(-scores[q], kind="stable")
        if share > 0:
            top = order[:head].copy()
            for a, b in segments(len(order), int(matched[q]), head):
                part = np.arange(a, b)
                mixed = rerank_order(scores[q, top[part]], close[q, part], np.ones(b - a, bool), 1.0 - share)
                order[a:b] = top[part[mixed]]
        place = np.empty(order.size, np.int64)
        place[order] = np.arange(order.size)
        wanted = np.array([gt[q]]) if relevant is None else relevant[q]
        ranks[q] = place[wanted].min()
    return ranks


@dataclass(frozen=True)
class QueryCloseUps:
    """One query set's scores under the chosen settings, its heads' close-up cosines and matches."""

    name: str
    scores: np.ndarray  # (Q, N)
    close: np.ndarray  # (Q, H)
    matched: np.ndarray  # (Q,) photos above the cutoff
    gt: np.ndarray
    relevant: list[np.ndarray] | None

    def ranks(self, share: float) -> np.ndarray:
        return reordered_ranks(self.scores, self.close, share, self.matched, self.gt, self.relevant)


def choose_share(sets: list[QueryCloseUps]) -> tuple[float, dict[float, float]]:
    """The share maximising the mean over ``sets`` of mean R@1/5/10 (ties: the smaller share)."""
    by_share = {}
    for share in CLOSE_UP_SHARES:
        by_share[share] = float(np.mean([np.mean([(s.ranks(share) < k).mean() for k in KS]) for s in sets]))
    best = max(CLOSE_UP_SHARES, key=lambda x: (round(by_share[x], 6), -x))
    return best, by_share


def change(found: QueryCloseUps, share: float) -> dict[str, Any]:
    """R@1/5/10 without and with the close-up re-order, and R@1 and R@10's change with 95 % intervals."""
    before, after = found.ranks(0.0), found.ranks(share)
    return {
        "without": {f"R@{k}": float((before < k).mean()) for k in KS},
        "with": {f"R@{k}": float((after < k).mean()) for k in KS},
        "change": {f"R@{k}": bootstrap_diff(before < k, after < k) for k in (1, 10)},
    }
