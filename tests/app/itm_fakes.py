"""A fake model with an ITM head and a box head, for tests of the ITM re-order (``app.head_itm``).

Its ITM logit is how red the patches it may see are (10 x mean of red minus blue): over the whole photo,
or over the patches of an image mask (a region). Its words always point at the left half of a photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from search_fakes import Library, TextTable, unit

from app.library.db import open_db

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


def red_ball_library(root: Path) -> Library:
    """Three photos the index ranks 'right' > 'red' > 'left' for "red ball" (global vectors made so),
    with files: the ITM head finds 'red' reddest, 'left' and 'right' even, and 'left' red where the words
    point."""
    runtime = ItmRuntime()
    words = unit(np.arange(1.0, 9.0))
    runtime.texts["red ball"] = words
    library = Library(open_db(root / "library.db"), root / "library.db", root, runtime)
    (root / "photos").mkdir()
    away = unit(np.eye(8)[0] - words[0] * words)  # a direction at right angles to the words
    photos = {
        "right.png": (halves(BLUE, RED), 0.1),
        "red.png": (Image.new("RGB", (64, 32), RED), 0.3),
        "left.png": (halves(RED, BLUE), 0.5),
    }
    for name, (picture, noise) in photos.items():
        picture.save(root / "photos" / name)
        library.add(name, unit(words + noise * away))  # cosine with the words falls as noise grows
    return library
