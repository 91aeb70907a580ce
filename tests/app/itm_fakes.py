"""A fake model with an ITM head and a box head, for tests of the ITM re-order (``app.head_itm``).

Its ITM logit is how red the patches it may see are (10 x mean of red minus blue): over the whole photo,
or over the patches of an image mask (a region). Its words always point at the left half of a photo."""

from __future__ import annotations

import numpy as np
from PIL import Image
from search_fakes import TextTable

RED, BLUE = (255, 0, 0), (0, 0, 255)


class ItmRuntime(TextTable):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.manifest = {"token_grid": {"patch_stride": 8}}
        self.itm_pairs = 0

    def predict_boxes(self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        return np.tile([[0.25, 0.5, 0.5, 1.0]], (len(tokens), 1))  # centre box: the left half

    def itm_scores(
        self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray, image_mask: np.ndarray | None = None
    ) -> np.ndarray:
        self.itm_pairs += len(tokens)
        patches = tokens[:, 1:]
        seen = np.ones(patches.shape[:2]) if image_mask is None else np.asarray(image_mask)[:, 1:]
        red = ((patches[..., 0] - patches[..., 2]) * seen).sum(axis=1) / seen.sum(axis=1)
        return (10.0 * red).astype(np.float32)


def halves(left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (64, 32), right)
    image.paste(left, (0, 0, 32, 32))
    return image
