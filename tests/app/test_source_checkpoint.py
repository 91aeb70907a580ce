"""The checkpoint behind a bundle, for teaching and fine-tuning: usable or a sentence why not."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.source_checkpoint import WEIGHTS, source_checkpoint, torch_work_refusal
from core.errors import KnownError
from core.hashing import sha256_file


def _manifest(checkpoint: Path | None, weights: str = "0" * 64) -> dict:
    source = {} if checkpoint is None else {"checkpoint_path": str(checkpoint), "weights_sha256": weights}
    return {"identity": "m-int8-1", "source": source}


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / WEIGHTS).write_bytes(b"weights")
    return folder


def test_a_usable_checkpoint_is_returned_with_its_hash(checkpoint: Path) -> None:
    weights = sha256_file(checkpoint / WEIGHTS)
    assert source_checkpoint(_manifest(checkpoint, weights), "m-int8-1", "teaching") == (checkpoint, weights)
    with pytest.raises(KnownError, match="holds other weights"):
        source_checkpoint(_manifest(checkpoint), "m-int8-1", "teaching")


@pytest.mark.parametrize(
    ("work", "again", "word"),
    [("Teaching a name", "teach again", "teaching"), ("Fine-tuning", "try again", "fine-tuning")],
)
def test_each_refusal_is_a_sentence_for_its_work(checkpoint: Path, work: str, again: str, word: str) -> None:
    no_record = torch_work_refusal(_manifest(None), "m-int8-1", work, again, torch_installed=True)
    assert no_record is not None and no_record.startswith("The model bundle m-int8-1 does not record")
    assert f"and {word} needs it" in no_record and no_record.endswith(".")
    gone = torch_work_refusal(_manifest(checkpoint / "gone"), "m-int8-1", work, again, torch_installed=True)
    assert gone is not None and "which is not here any more" in gone
    no_torch = torch_work_refusal(_manifest(checkpoint), "m-int8-1", work, again, torch_installed=False)
    assert no_torch == (
        f"{work} needs the engine extra (torch), which is not installed: install it with "
        f"`pip install 'multigrain[engine]'`, then {again}."
    )
    assert torch_work_refusal(_manifest(checkpoint), "m-int8-1", work, again, torch_installed=True) is None
