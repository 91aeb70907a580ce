"""What made a photo match a photo query, in words: for the window's details pane and the command line.

Boxes are the index's candidate regions (quarters, ninths and the centre of a photo), so a place is said
by where the box's centre lies: "the top left", "the centre", "the bottom"."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the window imports this at start; app.search loads later, on the search worker
    from app.search import Box, Reason

# A box whose centre lies within this distance of the photo's middle (as a fraction of the side) is
# "the centre" on that axis; a ninth's centre lies 1/3 from it, a quarter's 1/4.
MIDDLE = 0.15


def place_words(box: Box) -> str:
    """Where ``box`` (x, y, w, h as fractions) lies in its photo: 'the top left', 'the centre'..."""
    x, y, w, h = box
    dx, dy = x + w / 2 - 0.5, y + h / 2 - 0.5
    row = "" if abs(dy) <= MIDDLE else ("top" if dy < 0 else "bottom")
    column = "" if abs(dx) <= MIDDLE else ("left" if dx < 0 else "right")
    return "the " + (" ".join(part for part in (row, column) if part) or "centre")


def reason_short(reason: Reason) -> str:
    """A few words for a result line: 'the whole photo', 'its caption', 'an object at the top left'."""
    if reason.kind == "object" and reason.close_up and reason.box is not None:
        return f"a part at {place_words(reason.box)}, close up"
    if reason.kind == "object":
        return f"an object at {place_words(reason.box)}" if reason.box is not None else "an object"
    return "its caption" if reason.kind == "caption" else "the whole photo"


def reason_sentence(reason: Reason, like: str) -> str:
    """A sentence for the details pane; ``like`` names the query photo (its file name)."""
    if reason.close_up and reason.box is not None and reason.query_box is not None:
        return (
            f"Matched on a part, seen close up: the outlined part, at {place_words(reason.box)}, looks like "
            f"{place_words(reason.query_box)} of {like}. Among the first photos, the order is their parts', "
            "not their score's."
        )
    if reason.kind == "object" and reason.box is not None and reason.query_box is not None:
        return (
            f"Matched on an object: the outlined part, at {place_words(reason.box)}, looks like "
            f"{place_words(reason.query_box)} of {like}."
        )
    if reason.kind == "object":
        return f"Matched on an object that looks like one in {like}."
    if reason.kind == "caption":
        return f"Matched on a caption: what {like}'s caption says fits this photo or its caption."
    return f"Matched on the whole photo: it looks like {like} as a whole."
