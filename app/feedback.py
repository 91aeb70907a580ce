"""Relevance feedback: a query moved toward the photos a person marked right and away from those marked
wrong, in embedding space (Rocchio's update). "More like this" moves its example photo with it
(``app.similar.with_feedback``), and text search moves the query's words (``Searcher.with_feedback``)."""

from __future__ import annotations

import numpy as np

# Rocchio's classic weights for the query, the right and the wrong photos (docs/similar.md measures them
# on the world: +4.1 points of nDCG@10 after one round of five marks, +9.4 after three).
ALPHA, BETA, GAMMA = 1.0, 0.75, 0.25


def unit(vector: np.ndarray) -> np.ndarray:
    """``vector`` scaled to length 1 (a zero vector stays zero)."""
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-12 else vector


def rocchio(
    query: np.ndarray,
    right: np.ndarray,
    wrong: np.ndarray,
    alpha: float = ALPHA,
    beta: float = BETA,
    gamma: float = GAMMA,
) -> np.ndarray:
    """Rocchio's update in embedding space: ``alpha * q + beta * mean(right) - gamma * mean(wrong)``,
    made unit again (``right``/``wrong``: (M, D) vectors of the photos marked so, M may be 0)."""
    moved = alpha * unit(np.asarray(query, np.float32))
    if len(right):
        moved = moved + beta * np.mean([unit(v) for v in right], axis=0)
    if len(wrong):
        moved = moved - gamma * np.mean([unit(v) for v in wrong], axis=0)
    return unit(moved.astype(np.float32))
