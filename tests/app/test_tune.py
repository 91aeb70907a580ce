"""``tune-search`` measures what search computes: its score tables and z-scores match ``Searcher.rank`` on
the same library, so tuned weights and cutoffs mean the same thing at search time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from search_fakes import K, Library, TextTable, axis, unit

from app import tune
from app.library.db import open_db
from app.query import make_query
from app.search import MIN_CAPTIONS, MIN_STATS, Searcher
from core.search_settings import Cutoff

DOG = axis(0)


@pytest.fixture
def lib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Library]:
    """Enough photos for search to judge scores by the library's own, and enough captions to centre the
    caption term on their median, as tuning always does."""
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    db = open_db(tmp_path / "library.db")
    library = Library(db, tmp_path / "library.db", tmp_path, TextTable({"dog": DOG}))
    rng = np.random.default_rng(5)
    count = max(MIN_STATS, MIN_CAPTIONS) + 10
    for i in range(count):
        regions = unit(rng.standard_normal((K, DOG.size)) + rng.random() * DOG)
        caption = rng.standard_normal(DOG.size) if i % 3 else None  # two photos in three captioned
        library.add(f"p{i:02d}.jpg", rng.standard_normal(DOG.size) + 0.3 * DOG, regions, caption=caption)
    yield library
    db.close()


@pytest.mark.parametrize(("lam", "wc"), [(0.0, 0.0), (0.6, 0.0), (0.3, 0.5), (1.0, 1.5)])
def test_tuning_scores_and_z_are_the_ones_search_ranks_by(lib: Library, lam: float, wc: float) -> None:
    keep_all = replace(tune.weights(lam, wc), cutoff=Cutoff(z=-1e9))  # a cutoff that drops nothing
    searcher = Searcher(lib.db, lib.path, lib.runtime, keep_all)
    ranking = searcher.rank(make_query("dog"))
    assert ranking.cutoff.source == "library" and len(ranking) == searcher.index.n
    table = tune.tables(searcher.index, lib.runtime, ["dog"]).scores(lam, wc)
    np.testing.assert_allclose(table[0, ranking.positions], ranking.scores, rtol=1e-6, atol=1e-6)
    z = tune.robust_z(table)
    assert ranking.z is not None
    np.testing.assert_allclose(z[0, ranking.positions], ranking.z, rtol=1e-5, atol=1e-5)
