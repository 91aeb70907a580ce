"""Command-line value types that refuse what no command can use: NaN, infinities, a count below one.

``float("nan")`` and ``float("inf")`` parse, so ``type=float`` lets them through to scoring, where NaN
compares false with everything and ends up printed (and in ``--json``, as invalid JSON). argparse turns
the ``ArgumentTypeError`` raised here into one line naming the option.
"""

from __future__ import annotations

import argparse
import math


def finite_float(text: str) -> float:
    """A float option's value: any finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def positive_int(text: str) -> int:
    """A count option's value (results to show, photos per batch): a whole number of at least 1."""
    return _whole_number(text, least=1)


def non_negative_int(text: str) -> int:
    """A count option where 0 means none (photos to re-rank): a whole number of at least 0."""
    return _whole_number(text, least=0)


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, not {value}")
    return value
