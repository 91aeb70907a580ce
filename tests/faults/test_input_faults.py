"""Hostile input: non-finite numbers, counts below one, control characters in names, pipes named like
photos, damaged and oversized images. Each is refused or shown in words; nothing hangs."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from fault_checks import Run, one_sentence
from photo_files import png_claiming, write_jpeg

from app.library import decode
from app.search import Searcher


@pytest.mark.parametrize(
    "argv",
    [
        ("search", "dog", "--negative-weight", "nan"),
        ("search", "dog", "--negative-weight", "inf"),
        ("search", "dog", "--image-weight", "nan"),
        ("ground", "PHOTO", "dog", "--zoom-growth", "nan"),
        ("ground", "PHOTO", "dog", "--zoom-min-share", "inf"),
        ("search", "dog", "--top", "0"),
        ("search", "dog", "--top", "-3"),
        ("index", "PHOTOS", "--batch-size", "0"),
        ("search", "dog", "--rerank", "-1"),
    ],
)
def test_options_refuse_values_no_command_can_use(
    photos: Path, run: Run, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    assert run("index", str(photos))[0] == 0
    args = [{"PHOTO": str(next(photos.iterdir())), "PHOTOS": str(photos)}.get(a, a) for a in argv]
    with pytest.raises(SystemExit) as exited:
        run(*args)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and f"argument {argv[-2]}: must be" in err


def test_json_is_valid_even_when_a_score_is_not_a_number(
    photos: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("index", str(photos))[0] == 0
    search = Searcher.search

    def gone_wrong(self: Searcher, *args: object, **kwargs: object) -> object:  # a model that gives NaN
        response = search(self, *args, **kwargs)
        response.hits = [dataclasses.replace(hit, score=float("nan")) for hit in response.hits]
        return response

    monkeypatch.setattr(Searcher, "search", gone_wrong)
    code, out, err = run("search", "red", "--all", "--json")

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    assert code == 0, err
    data = json.loads(out, parse_constant=refuse)
    assert [hit["score"] for hit in data["results"]] == [None] * 4


def test_control_characters_in_names_cannot_drive_the_terminal(photos: Path, run: Run) -> None:
    write_jpeg(photos / "clear\x1b[2J.jpg", (1, 2, 3))
    write_jpeg(photos / "x.jpg\n  1   9.999  z  99.9  2001-01-01  forged.jpg", (4, 5, 6))
    assert run("index", str(photos))[0] == 0
    code, out, _ = run("search", "red", "--all")
    lines = out.splitlines()
    assert code == 0 and "\x1b" not in out and "\\x1b[2J" in out
    assert len(lines) == 1 + 6 and not any(line.lstrip().startswith("1   9.999") for line in lines)
    assert "\\x0a" in out


def test_search_warns_of_a_folder_that_does_not_exist(photos: Path, tmp_path: Path, run: Run) -> None:
    assert run("index", str(photos))[0] == 0
    code, _, err = run("search", "red", "--folder", str(tmp_path / "no-such-folder"))
    assert code == 0 and "warning:" in err and "no-such-folder is not a folder" in err


def test_a_damaged_jpeg_is_called_damaged(tmp_path: Path) -> None:
    good = Path(write_jpeg(tmp_path / "good.jpg", (200, 10, 10), size=(64, 64)))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:100])  # ends inside the header: Pillow says "Truncated File Read"
    with pytest.raises(decode.DecodeError, match=r"^damaged") as refused:
        decode.decode_image(cut)
    assert "cannot read the file" not in str(refused.value)


def test_a_pipe_named_like_a_photo_fails_once_not_on_every_run(photos: Path, run: Run) -> None:
    os.mkfifo(photos / "pipe.jpg")
    code, out, _ = run("index", str(photos))
    assert code == 0 and "1 failed" in out
    code, out, _ = run("index", str(photos))
    assert code == 0 and "0 failed" in out and "5 unchanged" in out


def test_ground_refuses_a_pipe_without_opening_it(
    photos: Path, tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)

    def opened(*args: object, **kwargs: object) -> None:
        raise AssertionError("opened a FIFO: without a writer this waits forever")

    monkeypatch.setattr(decode.Image, "open", opened)
    code, _, err = run("ground", str(pipe), "a dog")
    assert code == 2 and "not a regular file" in one_sentence(err, "ground")


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PNG whose header claims 14000 x 14000 (196 megapixels: under the header limit, so only the
    decode ceiling stands between it and 600 MB of pixels)."""
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    png_claiming(path, 14000, 14000)
    return path


def test_search_by_a_huge_png_is_refused_before_decoding(photos: Path, huge_png: Path, run: Run) -> None:
    assert run("index", str(photos))[0] == 0
    code, _, err = run("search", "--image", str(huge_png))
    line = one_sentence(err, "search")
    assert code == 2 and "image too large to decode (PNG 14000 x 14000 = 196,000,000 pixels;" in line


def test_indexing_a_huge_png_records_it_as_too_large(
    photos: Path, tmp_path: Path, huge_png: Path, run: Run
) -> None:
    shutil.copyfile(huge_png, photos / "huge.png")  # small on disk (one colour), huge when decoded
    code, out, _ = run("index", str(photos))
    assert code == 0 and "1 failed" in out
    conn = sqlite3.connect(tmp_path / "home" / ".library" / "library.db")
    errors = [row[0] for row in conn.execute("SELECT error FROM photos WHERE status = 'error'")]
    conn.close()
    assert len(errors) == 1 and "too large to decode" in errors[0]


def test_an_error_quoting_a_hostile_name_cannot_drive_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main

    hostile = tmp_path / "x\x1b[2J\nmultigrain: fake line.db"
    assert main(["search", "a dog", "--db", str(hostile)]) == 2  # "no library at <the name>"
    err = capsys.readouterr().err
    assert "\x1b" not in err and err.count("\n") == 1 and "\\x1b[2J\\x0a" in err
