"""Taught names in text: which words are names, and the placeholder token each becomes.

A taught name ("Rex") is typed as a reserved vocabulary entry ``[unusedN]`` (N = its slot), which
WordPiece never produces from text, so no query without the name can reach the name's learned
embedding. Names match as whole words, in any case, after the same normalisation every caption gets
(``pre_caption``). One implementation for teaching (engine, torch) and for search (the bundle runtime,
torch-free), so both tokenise a name the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from core.errors import KnownError
from core.text import CLS_ID, EmptyTextError, Tokenizer, pre_caption

# Slots a bundle's text graph has for names ([unused0] .. [unused63]); in BERT's uncased vocabulary
# these are the consecutive ids 1..64 (checked at export: ``placeholder_range``).
NAME_SLOTS = 64
MAX_NAME_WORDS = 4


class BadNameError(KnownError):
    """A name that cannot be taught (empty, too long, a reserved word)."""


def name_key(name: str) -> str:
    """The form a name is matched and kept unique by: normalised like a caption (lower case, no
    punctuation); refused if nothing of it is left or it is long enough to be a sentence."""
    try:
        key = pre_caption(name, 100)
    except EmptyTextError as err:
        raise BadNameError(f"{name!r} cannot be a name: it has no letters or digits") from err
    if len(key.split()) > MAX_NAME_WORDS:
        raise BadNameError(f"{name!r} cannot be a name: at most {MAX_NAME_WORDS} words")
    return key


def placeholder_token(slot: int) -> str:
    return f"[unused{slot}]"


def placeholder_range(tok: Tokenizer, slots: int = NAME_SLOTS) -> int:
    """The id of ``[unused0]``, after checking that the ``slots`` placeholders have consecutive ids (the
    text graph replaces a contiguous id range)."""
    first = tok.token_to_id(placeholder_token(0))
    for slot in range(slots):
        if tok.token_to_id(placeholder_token(slot)) != first + slot:
            raise ValueError(f"{tok.vocab_path}: [unused0..{slots - 1}] do not have consecutive ids")
    return first


def name_pattern(names: list[str]) -> re.Pattern[str] | None:
    """Whole-word matcher of the names' keys, longest first ("rex junior" before "rex")."""
    if not names:
        return None
    words = sorted((re.escape(name_key(n)) for n in names), key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(words) + r")\b")


def token_ids(tok: Tokenizer, text: str, names: Mapping[str, int], max_words: int) -> list[int]:
    """[CLS] + pieces of the normalised text, each whole-word name replaced by its placeholder id.
    Raises ``EmptyTextError`` as ``pre_caption`` does."""
    text = pre_caption(text, max_words)
    pattern = name_pattern(list(names))
    by_key = {name_key(n): i for n, i in names.items()}
    ids = [CLS_ID]
    parts = pattern.split(text) if pattern else [text]
    for k, part in enumerate(parts):
        if k % 2 == 1:  # re.split puts the captured names at the odd positions
            ids.append(by_key[part])
        elif part.strip():
            ids.extend(tok.token_ids(part.strip())[1:])
    return ids[: tok.max_tokens]


@dataclass(frozen=True)
class NameTable:
    """The names a text graph should know: name -> slot, and every slot's learned input embedding.

    Rows of slots without a name are never read (no text yields their placeholder), so they are zeros.
    """

    slots: Mapping[str, int]  # name as the person typed it -> slot
    embeddings: np.ndarray  # (NAME_SLOTS, H) float32
    # name -> its look (D,) float32 (``core.name_look``), for the names that have one: search re-orders
    # by it; the text graph never reads it.
    looks: Mapping[str, np.ndarray] = field(default_factory=dict)

    def ids(self, first_id: int) -> dict[str, int]:
        """name -> placeholder vocabulary id."""
        return {name: first_id + slot for name, slot in self.slots.items()}

    def __bool__(self) -> bool:
        return bool(self.slots)
