"""``tune-search``'s ITM step: whether to re-order a text query's first photos by the ITM head, and the
weight of the region ITM beside it (``app.head_itm``), chosen on val and measured on test, with the
app's own re-ordering.

For each query, the first ``ITM_HEAD`` photos by the chosen score (weights and captions) are scored as
search scores them (the photo decoded at twice the model's input size, its tokens, the ITM head on the
whole photo and on the box the words point at) and re-ordered as search re-orders them
(``head_rerank.segments`` and ``rerank_order``: photos above the cutoff apart from those below). A
photo's tokens are computed once per library, and each (query, photo) pair once, since the same photos
head many queries and the query sets overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.head_itm import itm_parts
from app.head_rerank import head_order, segments
from app.intervals import bootstrap_diff
from app.library.decode import decode_image

# Photos re-ordered per query: X-VLM re-ranks its top 16 (k_test); 20 covers the first page's worth, and
# each costs a vision pass and one or two fusion passes at every search (1 s budget in the app).
ITM_HEAD = 20
# The region ITM's weights tried on val beside the whole photo's ITM (0: the whole photo alone).
REGION_ITM_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
KS = (1, 5, 10)
ItmChoice = tuple[int, float]  # photos re-ordered (0: none), region ITM weight
NO_ITM: ItmChoice = (0, 0.0)


class ItmTable:
    """ITM logits, whole photo and region, of (query, photo) pairs of one world library."""

    def __init__(self, world: Path, keys: list[str], runtime: Any) -> None:
        self.world, self.keys, self.runtime = world, keys, runtime
        self._images: dict[int, Any] = {}
        self._tokens: dict[int, np.ndarray] = {}
        self._seen: dict[tuple[str, int], tuple[float, float]] = {}  # (query, photo) -> (whole, region)

    def _photos(self, positions: np.ndarray) -> tuple[list[Any], np.ndarray]:
        missing = [int(p) for p in positions if int(p) not in self._tokens]
        for p in missing:
            self._images[p] = decode_image(self.world / self.keys[p], 2 * int(self.runtime.image_size)).image
        if missing:
            _, tokens = self.runtime.encode_images([self._images[p] for p in missing])
            self._tokens.update(zip(missing, tokens, strict=True))
        return [self._images[int(p)] for p in positions], np.stack([self._tokens[int(p)] for p in positions])

    def logits(self, texts: list[str], heads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Q, H) twice: the whole photo's ITM logit and the region's, for each query and photo of its
        head (``heads`` (Q, H))."""
        whole = np.zeros(heads.shape, np.float32)
        region = np.zeros(heads.shape, np.float32)
        for s in range(0, len(texts), 64):
            _, hidden, mask = self.runtime.encode_texts(texts[s : s + 64])
            for j, text in enumerate(texts[s : s + 64]):
                new = np.array([p for p in heads[s + j] if (text, int(p)) not in self._seen], np.int64)
                if new.size:
                    self._score(text, new, hidden[j : j + 1], mask[j : j + 1])
                pairs = [self._seen[(text, int(p))] for p in heads[s + j]]
                whole[s + j], region[s + j] = zip(*pairs, strict=True)
        return whole, region

    def _score(self, text: str, positions: np.ndarray, hidden: np.ndarray, mask: np.ndarray) -> None:
        images, tokens = self._photos(positions)
        whole, region = itm_parts(self.runtime, images, hidden, mask, tokens)
        assert region is not None
        for p, w, r in zip(positions, whole, region, strict=True):
            self._seen[(text, int(p))] = (float(w), float(r))


def heads_of(scores: np.ndarray, head: int = ITM_HEAD) -> np.ndarray:
    """(Q, head) each query's first photos by ``scores``, best first (ties by position, as search's)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :head]


def reordered_ranks(
    scores: np.ndarray,
    head_scores: np.ndarray | None,
    matched: np.ndarray,
    gt: np.ndarray,
    relevant: list[np.ndarray] | None = None,
    pinned: np.ndarray | None = None,
) -> np.ndarray:
    """Per query, the rank (0: first) of its ground-truth photo (or best relevant one) once its head
    (the first H by ``scores``, ``head_scores`` (Q, H); None: none) is re-ordered by ``head_scores`` as
    search does, with ``matched[q]`` photos above the cutoff, the first ``pinned[q]`` left in place."""
    ranks = np.empty(len(scores), np.int64)
    for q in range(len(scores)):
        order = np.argsort(-scores[q], kind="stable")
        if head_scores is not None:
            head = head_scores.shape[1]
            scored = np.full(order.size, np.nan)
            scored[:head] = head_scores[q]
            spans = segments(order.size, int(matched[q]), head, 0 if pinned is None else int(pinned[q]))
            order = order[head_order(scores[q, order], scored, spans, 0.0)]
        place = np.empty(order.size, np.int64)
        place[order] = np.arange(order.size)
        wanted = np.array([gt[q]]) if relevant is None else relevant[q]
        ranks[q] = place[wanted].min()
    return ranks


@dataclass(frozen=True)
class QueryItm:
    """One query set's scores under the chosen settings, its heads' ITM logits and its matches."""

    name: str
    scores: np.ndarray  # (Q, N)
    whole: np.ndarray  # (Q, H) the whole photo's ITM logit
    region: np.ndarray  # (Q, H) the region's
    matched: np.ndarray  # (Q,) photos above the cutoff
    gt: np.ndarray
    relevant: list[np.ndarray] | None
    pinned: np.ndarray | None = None  # (Q,) first photos found by their captions' exact words

    def ranks(self, choice: ItmChoice) -> np.ndarray:
        count, w_region = choice
        head = None if count == 0 else (self.whole + w_region * self.region)[:, :count]
        return reordered_ranks(self.scores, head, self.matched, self.gt, self.relevant, self.pinned)


def options() -> list[ItmChoice]:
    return [NO_ITM, *((ITM_HEAD, w) for w in REGION_ITM_WEIGHTS)]


def choose_itm(sets: list[QueryItm]) -> tuple[ItmChoice, dict[str, float]]:
    """The option maximising the mean over ``sets`` of mean R@1/5/10 (ties: no re-order, then the
    smaller region weight)."""
    by_option = {}
    for option in options():
        recalls = [np.mean([(s.ranks(option) < k).mean() for k in KS]) for s in sets]
        by_option[option] = float(np.mean(recalls))
    best = max(options(), key=lambda o: (round(by_option[o], 6), -o[0], -o[1]))
    return best, {option_name(o): v for o, v in by_option.items()}


def option_name(choice: ItmChoice) -> str:
    count, w_region = choice
    return "none" if count == 0 else f"the first {count} by ITM, region ITM weight {w_region}"


def change(found: QueryItm, choice: ItmChoice) -> dict[str, Any]:
    """R@1/5/10 with ``choice``, and R@1 and R@10's change from no re-order with 95 % intervals."""
    before, after = found.ranks(NO_ITM), found.ranks(choice)
    return {
        "with": {f"R@{k}": float((after < k).mean()) for k in KS},
        "change": {f"R@{k}": bootstrap_diff(before < k, after < k) for k in (1, 10)},
    }
