"""What is true of a finished scene: each kept object's kind, colour, visible box and derived words.

Text is generated from these facts only, and they are also written out (objects/*.json, elem fields)
so that tests and evaluation can check the text against the geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

from .backgrounds import Background
from .catalogue import Kind
from .geometry import Box, centre, position_words, size_word


@dataclass(frozen=True)
class SceneObject:
    kind: Kind
    colour: str | None
    box: Box
    size: str | None  # "small", "large" or None (medium: no word)
    hpos: str | None  # "left", "right" or None
    vpos: str | None  # "top", "bottom" or None

    @property
    def centre(self) -> tuple[float, float]:
        return centre(self.box)


@dataclass(frozen=True)
class SceneFacts:
    width: int
    height: int
    background: Background
    objects: tuple[SceneObject, ...]


def make_object(kind: Kind, colour: str | None, box: Box, width: int, height: int) -> SceneObject:
    h, v = position_words(box, width, height)
    return SceneObject(kind, colour, box, size_word(box, width, height), h, v)
