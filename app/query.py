"""What a user asks for: text and/or an example image, negative terms, weights and filters.

Query text syntax: words are the positive text; a word starting with ``-`` is a negative term, and
``-"two words"`` a negative phrase (``dog -cat``: photos of dogs, less so those with cats). A hyphen
inside a word (``t-shirt``) or a lone ``-`` is ordinary text. Everything else, punctuation, SQL-looking
text or emoji included, is just text for the model's tokenizer; it never reaches SQL.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from app.library.decode import DecodeError, require_photo_file
from app.terminal import shown
from core.errors import KnownError

MAX_TEXT_CHARS = 2000  # the tokenizer keeps ~40 words; longer text only costs time
_TERM = re.compile(r'-"([^"]*)"?|"([^"]*)"?|(\S+)')


class QueryError(KnownError):
    """A query that cannot be run (nothing to search for, a date that is not a date)."""


@dataclass(frozen=True)
class Filters:
    folder: str | None = None  # photos inside this folder (any depth)
    after: float | None = None  # local wall-clock seconds (see vectorcache.local_seconds), inclusive
    before: float | None = None  # exclusive


@dataclass(frozen=True)
class Query:
    text: str = ""
    negatives: tuple[str, ...] = ()
    image: Path | None = None
    image_weight: float = 0.5  # share of the image when there is text too (text gets 1 - it)
    negative_weight: float = 0.5  # total weight of the negative terms, shared between them
    filters: Filters = field(default_factory=Filters)

    @property
    def is_empty(self) -> bool:
        return not self.text and not self.negatives and self.image is None


def split_terms(text: str) -> tuple[str, tuple[str, ...]]:
    """``'a dog -cat -"red car"'`` -> ``('a dog', ('cat', 'red car'))``; see the module docstring."""
    text = text[:MAX_TEXT_CHARS]
    positive: list[str] = []
    negatives: list[str] = []
    for match in _TERM.finditer(text):
        neg_phrase, phrase, word = match.groups()
        if neg_phrase is not None:
            if neg_phrase.strip():
                negatives.append(neg_phrase.strip())
        elif phrase is not None:
            positive.append(phrase)
        elif word.startswith("-") and len(word) > 1 and word.strip("-"):
            negatives.append(word.lstrip("-"))
        else:
            positive.append(word)
    return " ".join(p for p in positive if p.strip()).strip(), tuple(negatives)


def parse_date(text: str, end: bool = False) -> float:
    """``2023-05-01`` or an ISO date-time -> local wall-clock seconds.

    A bare date names a whole day, and both ends of a range include it: ``end`` turns it into the first
    instant of the next day (``before`` is exclusive of that instant)."""
    text = text.strip()
    try:
        if len(text) <= 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time())
        else:
            moment = datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError as err:
        raise QueryError(f"{text!r} is not a date (use YYYY-MM-DD or an ISO 8601 date and time)") from err
    return (moment - datetime(1970, 1, 1)).total_seconds()


def make_query(
    text: str = "",
    *,
    image: str | Path | None = None,
    image_weight: float = 0.5,
    negative_weight: float = 0.5,
    folder: str | None = None,
    after: str | None = None,
    before: str | None = None,
) -> Query:
    """A query from command-line style arguments (dates as text; see ``parse_date``)."""
    positive, negatives = split_terms(text or "")
    if not 0.0 <= image_weight <= 1.0:
        raise QueryError(f"the image weight must lie between 0 and 1, not {image_weight}")
    if not (math.isfinite(negative_weight) and negative_weight >= 0):  # NaN fails every comparison
        raise QueryError(f"the negative weight must be a number of at least 0, not {negative_weight}")
    if image and not Path(image).exists():
        raise QueryError(f"{shown(str(image))}: no such image file")
    if image:
        try:
            require_photo_file(image)
        except DecodeError as err:
            raise QueryError(f"{shown(str(image))}: {err}") from err
    filters = Filters(
        folder=folder,
        after=parse_date(after) if after else None,
        before=parse_date(before, end=True) if before else None,
    )
    return Query(
        positive,
        negatives,
        Path(image) if image else None,
        image_weight,
        negative_weight,
        filters,
    )
