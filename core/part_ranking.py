"""How "more like this" re-orders its head by the photos' parts seen close up (``app.parts``): the
numbers, in a module of constants alone, so the command line's help can quote them without importing
numpy. Chosen on the world's validation split with scratch sweeps (docs/similar.md, "Parts, close up").
"""

# The parts are the cells of a PART_GRID x PART_GRID grid. A 3 x 3 and a 4 x 4 grid together did better
# on val's small objects (nDCG@10 12.7 against 11.4), at 25 vision passes per photo instead of 9.
PART_GRID = 3
# Distinctive parts outweigh common ones by (1 - cos(part, typical part)) ** PART_POWER (val: 4, 8, 16
# tried; 8 best on small objects, within 0.1 point of the best on the rest).
PART_POWER = 8.0
# Photos at the head of the ranking re-ordered by their parts, as many as PARTS_SECONDS of decoding and
# encoding allow (each costs PART_GRID ** 2 vision passes).
PARTS_HEAD = 30
PARTS_SECONDS = 2.0
