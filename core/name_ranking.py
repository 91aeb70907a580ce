"""How a query holding a taught name is ranked after the index: the numbers, in a module of constants
alone, so the command line's help can quote them without importing numpy (every ``multigrain`` start
would pay for it)."""

# Photos at the head of a ranking that a query holding a taught name re-orders by the name's box in each
# (``app.personal.name_rerank``).
# A library of 1,060 photos (60 of the personal world, 1,000 of its test split) put Rex's photos at 14,
# 24, 37, 48 for "Rex" by the index; re-ordering the first 20 gave 17, 24, 37, 48, the first 100 gave
# 3, 6, 8, 11 (demo model, docs/personal.md). Each photo is decoded and encoded again, so the head is
# also cut by time: NAME_RERANK_SECONDS of scoring, then the rest keeps the index's order.
NAME_RERANK = 100
NAME_RERANK_SECONDS = 1.5
# A re-ordered photo's score: w * cos(photo, whole query) + (1 - w) * mean over the query's names of
# cos(the name's box in the photo, the name). For a query of names alone ("Rex") the photo's cosine says
# nothing the box does not say better, and w is W_PHOTO_ALONE; with other words ("Rex on the beach") the
# photo carries them, and w is W_PHOTO_IN_CONTEXT. ``bench-personal`` measured both (docs/personal.md).
W_PHOTO_ALONE = 0.0
W_PHOTO_IN_CONTEXT = 0.7
# A name with a look (``core.name_look``: its teaching boxes cropped and encoded) scores a photo by
# (1 - W_LOOK) * cos(the name's box, the name) + W_LOOK * cos(that box cropped and encoded, the look).
# Chosen on a third world (seed 3) with ``bench-personal``'s sweep; seeds 1 and 2 report it
# (docs/personal.md, "The name's look").
W_LOOK = 2 / 3
