"""The fixed candidate boxes every photo's region embeddings are computed for.

X-VLM pools patch features over a box to embed a region; the library stores one embedding per box of
a fixed set, so a text query can match a part of a photo ("the dog" in a crowded scene) without
running the model at search time. The whole image is not in the set: the global embedding already is
the whole image. Boxes are normalised (x, y, w, h) of the upright photo, the runtime's convention.

The set is named and the name is stored with every vector; changing the boxes means a new name, and
the indexer then recomputes regions rather than mixing two sets.
"""

from __future__ import annotations

import numpy as np

BOX_SET_NAME = "grid-2x2+3x3+centre-v1"


def grid(n: int) -> list[tuple[float, float, float, float]]:
    """The cells of an n x n grid, row by row, as (x, y, w, h) fractions."""
    side = 1.0 / n
    return [(col * side, row * side, side, side) for row in range(n) for col in range(n)]


# Row-major: the 2x2 grid (4), the 3x3 grid (9), then the centre box (1): 14 boxes.
BOXES: np.ndarray = np.array([*grid(2), *grid(3), (0.25, 0.25, 0.5, 0.5)], dtype=np.float32)
BOXES.setflags(write=False)


def boxes_for(batch: int) -> np.ndarray:
    """The box set repeated for a batch: (batch, K, 4) float32."""
    return np.ascontiguousarray(np.broadcast_to(BOXES, (batch, *BOXES.shape)))
