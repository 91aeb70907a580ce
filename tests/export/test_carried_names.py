"""The names file a bundle carries (``export.carried_names``): float32 rows kept bit for bit, and every
malformed file refused with what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bundle_files import HIDDEN, SLOTS, rex

from export.bundle import BundleError
from export.carried_names import CarriedName, names_json, names_table, parse_names, read_names, write_names


def test_rows_survive_the_file_bit_for_bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = rng.normal(0, 0.05, (2, HIDDEN)).astype(np.float32)
    rows[0, 0] = np.float32(1.0) + np.finfo(np.float32).eps  # a value a decimal round-off would lose
    names = [CarriedName("Bella", "dog", 40, rows[1]), CarriedName("Rex", "dog", 3, rows[0])]
    write_names(tmp_path / "names.json", names, HIDDEN, SLOTS)
    back = read_names(tmp_path / "names.json", SLOTS, HIDDEN)
    assert [n.name for n in back] == ["Rex", "Bella"]  # slot order, so the same names give the same bytes
    assert (
        back[0].embedding.tobytes() == rows[0].tobytes() and back[1].embedding.tobytes() == rows[1].tobytes()
    )
    table = names_table(back, SLOTS, HIDDEN)
    assert table.slots == {"Rex": 3, "Bella": 40} and table.embeddings.shape == (SLOTS, HIDDEN)
    assert not table.embeddings[0].any() and table.embeddings[40].tobytes() == rows[1].tobytes()


def _entry(**changes: object) -> dict[str, object]:
    return json.loads(names_json([rex()], HIDDEN))["names"][0] | changes


def _file(*entries: dict[str, object], **top: object) -> bytes:
    return json.dumps({"format": 1, "hidden": HIDDEN, "names": list(entries)} | top).encode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a names file of format 1"),
        (_file(_entry(), format=2), "not a names file of format 1"),
        (_file(_entry(), hidden=16), "its rows are 16 wide; this model's text width is 8"),
        (_file(_entry(slot=SLOTS)), "'Rex' has slot 64; slots run from 0 to 63"),
        (_file(_entry(slot=-1)), "'Rex' has slot -1"),
        (_file(_entry(slot=True)), "'Rex' has slot True"),
        (_file(_entry(embedding=[0.0] * 7)), "'Rex' has 7 embedding values; this model's text width is 8"),
        (_file(_entry(embedding=[float("nan")] * 8)), "not a finite number"),
        (_file(_entry(embedding=[1e39] * 8)), "not a finite number"),
        (_file(_entry(name="?!")), "cannot be a name"),
        (_file(_entry(kind=None)), "'Rex' has no kind word"),
        (_file(_entry(), _entry(name="rex", slot=4)), "the name 'rex' is listed twice"),
        (_file(_entry(), _entry(name="Bella")), "slot 3 is given to two names"),
        (_file(*[_entry(name=f"n{i}", slot=i) for i in range(SLOTS + 1)]), "at most 64 names"),
    ],
)
def test_a_malformed_names_file_is_refused_with_the_reason(text: bytes, message: str) -> None:
    with pytest.raises(BundleError, match=f"somewhere: not a usable names file: .*{message}"):
        parse_names(text, SLOTS, HIDDEN, "somewhere")


def test_writing_refuses_what_reading_would(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="slot 3 is given to two names"):
        write_names(
            tmp_path / "names.json", [rex(), CarriedName("Bella", "dog", 3, rex().embedding)], HIDDEN, SLOTS
        )
    assert not (tmp_path / "names.json").exists()


def test_a_look_travels_with_its_name_and_a_name_without_one_writes_no_key(tmp_path: Path) -> None:
    look = np.array([0.6, 0.8, 0.0], np.float32)
    with_look = CarriedName("Rex", "dog", 3, rex().embedding, look)
    assert "look" not in names_json([rex()], HIDDEN)  # the bytes of a bundle without looks stay as they were
    write_names(
        tmp_path / "names.json",
        [with_look, CarriedName("Bella", "dog", 4, rex().embedding)],
        HIDDEN,
        SLOTS,
        3,
    )
    back = read_names(tmp_path / "names.json", SLOTS, HIDDEN, 3)
    assert back[0].look is not None and back[0].look.tobytes() == look.tobytes() and back[1].look is None
    table = names_table(back, SLOTS, HIDDEN)
    assert set(table.looks) == {"Rex"} and table.looks["Rex"].tobytes() == look.tobytes()


@pytest.mark.parametrize(
    ("look", "message"),
    [
        ([0.6, 0.8], "'Rex' has a look that is not 3 finite numbers"),
        ([float("nan"), 0.0, 1.0], "not 3 finite numbers"),
        ([1.0, 1.0, 0.0], "'Rex' has a look that is not of unit length"),
        ("bright", "not 3 finite numbers"),
    ],
)
def test_a_bad_look_is_refused_with_the_reason(look: object, message: str) -> None:
    with pytest.raises(BundleError, match=f"somewhere: not a usable names file: .*{message}"):
        parse_names(_file(_entry(look=look)), SLOTS, HIDDEN, "somewhere", 3)


def test_looks_of_two_widths_are_refused() -> None:
    text = _file(_entry(look=[1.0, 0.0]), _entry(name="Bella", slot=4, look=[1.0, 0.0, 0.0]))
    with pytest.raises(BundleError, match="its looks are of 2 different widths"):
        parse_names(text, SLOTS, HIDDEN, "somewhere")
