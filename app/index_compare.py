"""``bench-search --index-compare``: the hand-written vector index against faiss, side by side.

Both rank one library's photos for one query vector by the search's visual score (``faiss_scan``'s
docstring has the formula), each its own way, and are measured in one run, query by query alternately:

- latency of the index's part of a search (query vector in, best 10 positions out), p50 and p95;
- memory: bytes each holds in memory, what stays mapped from files, and the process's resident growth
  while it loads and answers its first queries;
- recall@10 against the exact float32 scan of the same formula over the float vectors;
- lines of our own code each needs (``code_lines``).

The library is synthetic but not uniform noise: every photo's regions lean towards its global
embedding (cosine about 0.7, as a photo's parts resemble the whole), and every query is a noisy view
of one photo (its global embedding and one region), so each has a true match besides the crowd of
near-ties that quantisation reorders. Unlike ``bench.synthetic_cache``, no vector repeats (a repeated
photo would make the exact top 10 a tie).
"""

from __future__ import annotations

import ast
import gc
import io
import json
import shutil
import time
import tokenize
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app import search
from app.faiss_scan import FaissRanker, FaissWriter
from app.vectorcache import EXACT_LIMIT, CacheWriter, read_info
from app.vectors import VectorIndex
from core.search_settings import SearchSettings

CHUNK = 8192  # photos generated (and scored exactly) a step
RECIPE = 2  # in the library's folder name: raise it when the vectors or the way both indexes are built change
TOP = 10
Row = tuple[str, str, str]
Rss = Callable[[], tuple[int, int]]  # (anonymous, file-backed) resident bytes of this process

# Lines of our own code each index needs: whole modules, or (module, function) for the parts of a module
# that exist for scoring (the rest of vectors.py and vectorcache.py, photo columns and cache building,
# would serve either index).
OURS_CODE: tuple[tuple[str, str | None], ...] = (
    ("app/int8.py", None),
    ("app/vectors.py", "VectorIndex.cosines"),
    ("app/vectors.py", "VectorIndex.region_cosines"),
    ("app/vectorcache.py", "CacheWriter.add"),
    ("app/vectorcache.py", "CacheWriter.finish"),
    ("app/blockfile.py", None),  # reads the region rows of a shortlist
)
FAISS_CODE: tuple[tuple[str, str | None], ...] = (("app/faiss_scan.py", None),)


# ----- helpers the table trusts (tests/app/test_index_compare.py) -------------------------------------------
def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int = TOP) -> float:
    """Mean over queries of the share of the true first ``k`` (rows of ``truth``) among the first ``k``
    found (rows of ``found``); order within the first ``k`` does not count."""
    found, truth = np.atleast_2d(found), np.atleast_2d(truth)
    if len(found) != len(truth):
        raise ValueError(f"{len(found)} result lists for {len(truth)} queries")
    hits = [
        len(set(f[:k].tolist()) & set(t[:k].tolist())) / min(k, len(t))
        for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(hits)) if hits else float("nan")


def code_lines(source: str, function: str | None = None) -> int:
    """Lines of ``source`` that hold code: not blank, not only a comment, not part of a docstring; of
    the whole module, or of one ``function`` named by its qualified name ("Class.method")."""
    tree = ast.parse(source)
    docstrings: set[int] = set()
    span: range | None = None
    for node, qualname in _named_nodes(tree):
        first = (getattr(node, "body", None) or [None])[0]
        if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
            docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
        if function is not None and qualname == function:
            span = range(node.lineno, (node.end_lineno or node.lineno) + 1)  # type: ignore[attr-defined]
    if function is not None and span is None:
        raise ValueError(f"no function {function!r} in the source")
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    skip |= {tokenize.ENDMARKER, tokenize.ENCODING}
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(range(token.start[0], token.end[0] + 1))
    lines -= docstrings
    return len(lines if span is None else lines & set(span))


def _named_nodes(tree: ast.Module) -> Iterable[tuple[ast.AST, str]]:
    """The module, its classes and functions (nested ones too), with their qualified names."""
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, name = stack.pop()
        yield node, name
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                stack.append((child, f"{name}.{child.name}" if name else child.name))


def lines_of(parts: Iterable[tuple[str, str | None]], root: Path) -> int:
    return sum(code_lines((root / path).read_text(), function) for path, function in parts)


# ----- the synthetic library ------------------------------------------------------------------------------
def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def photo_chunk(seed: int, chunk: int, size: int, k: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Global (size, D) and region (size, K, D) unit vectors of the ``chunk``-th step of photos; the
    same every time (so a query's photo can be made again without holding the library)."""
    rng = np.random.default_rng([seed, chunk])
    g = _unit(rng.standard_normal((size, dim), dtype=np.float32))
    r = _unit(g[:, None, :] + _unit(rng.standard_normal((size, k, dim), dtype=np.float32)))
    return g, r.astype(np.float32)


def planted_queries(seed: int, n: int, k: int, dim: int, count: int) -> np.ndarray:
    """``count`` unit query vectors (count, D), each a noisy view of one photo: its global embedding
    plus one of its regions, plus as much noise again."""
    rng = np.random.default_rng([seed, 1, 0])  # not a chunk's ([seed, chunk])
    photos = rng.integers(0, n, count)
    queries = []
    for p in photos:
        c = int(p) // CHUNK
        g, r = photo_chunk(seed, c, min(CHUNK, n - c * CHUNK), k, dim)
        view = _unit(g[p % CHUNK] + r[p % CHUNK, rng.integers(k)])
        queries.append(_unit(view + _unit(rng.standard_normal(dim).astype(np.float32))))
    return np.stack(queries).astype(np.float32)


def exact_scores(queries: np.ndarray, g: np.ndarray, r: np.ndarray, settings: SearchSettings) -> np.ndarray:
    """The search's visual score (Q, b) of float vectors: what both indexes approximate."""
    b, k, dim = r.shape
    best_region = (r.reshape(b * k, dim) @ queries.T).reshape(b, k, -1).max(axis=1).T
    return settings.w_global * (queries @ g.T) + settings.w_region * best_region


@dataclass(frozen=True)
class Library:
    ours: Path  # the vector cache
    faiss: Path  # faiss_scan's files
    queries: np.ndarray  # (Q, D)
    truth: np.ndarray  # (Q, TOP) positions, best first, by the exact float scan


def build_library(
    work: Path, n: int, k: int, dim: int, settings: SearchSettings, count: int, seed: int = 5
) -> Library:
    """Both indexes of one synthetic library, and the exact top 10 of its queries (kept in ``work``)."""
    weights = f"{settings.w_global:g}-{settings.w_region:g}"
    home = work / f"compare-v{RECIPE}-{n}-{k}-{dim}-{seed}-{weights}-{count}"
    done = home / "truth.json"  # written last
    if not done.is_file():
        shutil.rmtree(home, ignore_errors=True)
        queries = planted_queries(seed, n, k, dim, count)
        ours = CacheWriter(home / "ours", n, k, dim, n <= EXACT_LIMIT)
        theirs = FaissWriter(home / "faiss", n, k, dim)
        best = np.zeros((count, 0), np.float32)
        where = np.zeros((count, 0), np.int64)
        for c, s in enumerate(range(0, n, CHUNK)):
            e = min(n, s + CHUNK)
            g, r = photo_chunk(seed, c, e - s, k, dim)
            ours.add(np.arange(s, e) + 1, np.zeros(e - s), np.zeros(e - s), g, r)
            theirs.add(g, r)
            scores = np.concatenate([best, exact_scores(queries, g, r, settings)], axis=1)
            where = np.concatenate([where, np.broadcast_to(np.arange(s, e), (count, e - s))], axis=1)
            keep = np.argsort(-scores, axis=1, kind="stable")[:, :TOP]
            best, where = np.take_along_axis(scores, keep, 1), np.take_along_axis(where, keep, 1)
        ours.finish(np.zeros(0, np.int64), np.zeros((0, dim), np.float32))
        theirs.finish()
        np.save(home / "queries.npy", queries)
        done.write_text(json.dumps(where.tolist()))
    return Library(
        home / "ours", home / "faiss", np.load(home / "queries.npy"), np.array(json.loads(done.read_text()))
    )


# ----- the two indexes, one query at a time ---------------------------------------------------------------
def ours_top(index: VectorIndex, query: np.ndarray, settings: SearchSettings, count: int = TOP) -> np.ndarray:
    """The best ``count`` positions for ``query`` as ``Searcher.rank`` finds them (without filters,
    captions or the cutoff's sample): the same shortlist, then the int8 regions of the shortlist."""
    weights = np.ones(1, np.float32)

    def shortlist(global_cos: np.ndarray, coarse: np.ndarray | None) -> np.ndarray:
        first = search.first_stage(global_cos, coarse, weights, settings)
        return search._top(first, search.shortlist_size(index.n, coarse is not None))

    cos = index.cosines(query[None], shortlist)
    if cos.coarse is not None:
        regions = cos.coarse.copy()
        regions[:, cos.rows] = cos.regions
        rows, global_cos = np.arange(index.n), cos.global_
    else:
        rows, regions, global_cos = cos.rows, cos.regions, cos.global_[:, cos.rows]
    scores = search.combine(global_cos, regions, weights, settings)
    return rows[search._top(scores, count)]


def _nothing(global_cos: np.ndarray, coarse: np.ndarray | None) -> np.ndarray:
    """A shortlist of no photo: ``VectorIndex.cosines`` then only scans."""
    return np.zeros(0, np.int64)


@dataclass
class Measured:
    """One index's figures over one library."""

    name: str
    open_s: float  # seconds to open it
    grown: tuple[int, int]  # resident growth (anonymous, file) while opening and its first queries
    held: int  # bytes it holds in memory, by its own count
    mapped: int  # bytes of files it maps and reads for shortlists
    times: list[float] = field(default_factory=list)
    scans: list[float] = field(default_factory=list)  # the first stage alone: the scan of every photo
    found: list[np.ndarray] = field(default_factory=list)

    def row(self, n: int, truth: np.ndarray) -> Row:
        p50, p95 = (1e3 * float(np.percentile(self.times, p)) for p in (50, 95))
        scan = 1e3 * float(np.median(self.scans))
        recall = recall_at_k(np.stack(self.found), truth)
        anon, file = (b / 1e6 for b in self.grown)
        held, mapped = self.held / 1e6, self.mapped / 1e6
        return (
            f"  {self.name}",
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms (scan p50 {scan:.1f} ms); recall@10 {recall:.3f}; "
            f"{held:.0f} MB held ({self.held / n:,.0f} B/photo) + {mapped:.0f} MB mapped; "
            f"RSS +{anon:.0f} MB anon +{file:.0f} MB file; open {self.open_s:.2f} s",
            "",
        )


def _opened(
    rss: Rss, open_index: Callable[[], Any], first_query: Callable[[Any], object]
) -> tuple[Any, float, tuple[int, int]]:
    """An index opened by ``open_index`` and warmed by two queries: it, the seconds to open it and the
    process's resident growth (anonymous, file-backed) meanwhile."""
    gc.collect()
    before, t = rss(), time.perf_counter()
    index = open_index()
    seconds = time.perf_counter() - t
    first_query(index)
    first_query(index)
    after = rss()
    return index, seconds, (after[0] - before[0], after[1] - before[1])


def compare_rows(
    work: Path, n: int, k: int, dim: int, settings: SearchSettings, count: int, rss: Rss, threads: int = 0
) -> list[Row]:
    """Rows of the two indexes over one library of ``n`` photos, and their ratios; ``threads`` for both
    (0: each library's default, one per core for both)."""
    lib = build_library(work, n, k, dim, settings, count)
    info = read_info(lib.ours)
    assert info is not None
    budget = search.shortlist_size(n, n <= EXACT_LIMIT)
    q0 = lib.queries[0]
    ours, seconds, grown = _opened(
        rss, lambda: VectorIndex(info, threads), lambda i: ours_top(i, q0, settings)
    )
    a = Measured(
        "hand-written (ONNX Runtime int8 + 4-bit, int8 shortlist)",
        seconds,
        grown,
        sum(ours.memory_bytes().values()),
        n * k * dim,  # the int8 region rows
    )
    theirs, seconds, grown = _opened(
        rss,
        lambda: FaissRanker(lib.faiss, k, settings.w_global, settings.w_region, threads),
        lambda i: i.top(q0, TOP, budget),
    )
    b = Measured(
        "faiss (IndexScalarQuantizer 8-bit + 4-bit, 8-bit re-score)",
        seconds,
        grown,
        sum(theirs.memory_bytes().values()),
        theirs.mapped_bytes(),
    )
    for q in lib.queries:  # alternately, so the machine's load falls on both alike
        t = time.perf_counter()
        a.found.append(ours_top(ours, q, settings))
        a.times.append(time.perf_counter() - t)
        t = time.perf_counter()
        b.found.append(theirs.top(q, TOP, budget))
        b.times.append(time.perf_counter() - t)
        t = time.perf_counter()
        ours.cosines(q[None], _nothing)
        a.scans.append(time.perf_counter() - t)
        t = time.perf_counter()
        theirs.candidates(q, budget)
        b.scans.append(time.perf_counter() - t)
    del ours, theirs
    gc.collect()
    mode = "every photo's regions" if n <= EXACT_LIMIT else "two-stage: global, then regions of a shortlist"
    p50 = float(np.median(b.times) / np.median(a.times))
    p95 = float(np.percentile(b.times, 95) / np.percentile(a.times, 95))
    scan = float(np.median(b.scans) / np.median(a.scans))
    return [
        (
            f"vector index, {n:,} photos ({mode}), {len(lib.queries)} query vectors, "
            f"threads {threads or 'default'}",
            "",
            "",
        ),
        a.row(n, lib.truth),
        b.row(n, lib.truth),
        (
            "  faiss / hand-written",
            f"p50 x{p50:.2f}, p95 x{p95:.2f}, scan p50 x{scan:.2f}, held x{b.held / max(a.held, 1):.2f}",
            "",
        ),
    ]


def lines_row(root: Path) -> Row:
    ours, theirs = lines_of(OURS_CODE, root), lines_of(FAISS_CODE, root)
    return (
        "lines of own code for scoring (code_lines: no blanks, comments, docstrings)",
        f"hand-written {ours} (int8.py + VectorIndex.cosines/region_cosines + CacheWriter.add/finish "
        f"+ blockfile.py); faiss {theirs} (faiss_scan.py)",
        "",
    )
