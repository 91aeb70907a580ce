"""The torch-free runtime: a bundle's ONNX graphs behind the same surface as the engine's encoders.

Only numpy, Pillow, onnxruntime and tokenizers are imported (tests/export/test_runtime.py proves it in a
clean interpreter that refuses torch). Sessions are created on first use of each graph, with the
providers and intra-op threads chosen here, so a search that never grounds never loads the box graph.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort
from PIL import Image

from core.errors import KnownError
from core.names import NameTable
from core.names import token_ids as named_token_ids
from core.text import CLS_ID, EmptyTextError, Tokenizer, pre_caption
from export.bundle import NAME_INPUT, Bundle, BundleError, check_graph_io, load_bundle
from export.carried_names import CarriedName, bundle_names, names_table
from export.preprocess import Preprocess
from export.regions import normalised_boxes_to_patch_masks

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


class ProviderError(KnownError):
    """An execution provider that was asked for and cannot be used."""


def _cuda_driver_present() -> bool:
    # onnxruntime-gpu lists CUDA as available even on machines without a GPU and then logs an error
    # when a session falls back; the driver library is what a GPU machine has and a CPU one lacks.
    for name in ("libcuda.so.1", "nvcuda.dll"):
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def resolve_providers(request: str) -> list[str]:
    """'auto' | 'cpu' | 'cuda' -> the provider list handed to onnxruntime (CPU always last)."""
    if request == "cpu":
        return [CPU]
    if request not in ("auto", "cuda"):
        raise ValueError(f"providers must be 'auto', 'cpu' or 'cuda', not {request!r}")
    built = CUDA in ort.get_available_providers()
    if request == "cuda" and not built:
        raise ProviderError(
            "CUDA was requested but this onnxruntime has no CUDA provider (install onnxruntime-gpu)"
        )
    if request == "cuda" or (built and _cuda_driver_present()):
        preload = getattr(ort, "preload_dlls", None)
        if preload is not None:
            # Finds CUDA/cuDNN in the nvidia-* wheels without torch's help; if it fails, onnxruntime
            # still looks in the system library path.
            with contextlib.suppress(Exception):
                preload()
        return [CUDA, CPU]
    return [CPU]


@dataclass(frozen=True)
class SessionTuning:
    """onnxruntime's memory settings for a bundle's sessions (``scripts/bench_encoder_memory.py``
    measures each against peak memory and speed while indexing; docs/benchmarks.md has the table).

    ``arena``: each session keeps the memory of earlier calls for the next (onnxruntime's default);
    off, every call's tensors are allocated and freed with the system allocator. ``memory_pattern``:
    plan one block per call from the first call's shapes (onnxruntime's default). ``shrink_arena``:
    hand the arena's unused chunks back at the end of every call. ``arena_extend``: how an arena
    grows: "power_of_two" (onnxruntime's default: chunks double) or "requested" (each chunk the size
    asked for; then one arena, registered once per process, is shared by every session that uses it).

    Chosen by ``scripts/bench_encoder_memory.py`` (docs/benchmarks.md): indexing with xvlm-base-384
    int8 in batches of 16 peaked at 2.9 GB with onnxruntime's defaults and kept all of it afterwards,
    each session's arena holding its own peak; shrinking the arenas after each call peaked at 1.76 GB
    and kept 0.54 GB. Without the memory pattern the peak was 1.7 GB but the arena kept it; without
    the arena the system allocator fragmented (3.9 GB after two batches, half the speed). What stays
    matters: the window holds the runtime for its searches after an index run.
    """

    arena: bool = True
    memory_pattern: bool = True
    shrink_arena: bool = True
    arena_extend: Literal["power_of_two", "requested"] = "power_of_two"


DEFAULT_TUNING = SessionTuning()
_shared_arena_lock = threading.Lock()
_shared_arena = False


def _register_shared_arena() -> None:
    """One CPU arena that grows by what is asked (not by doubling), for sessions that opt in."""
    global _shared_arena
    with _shared_arena_lock:
        if _shared_arena:
            return
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 1, -1, -1))  # 1: kSameAsRequested
        _shared_arena = True


def session_options(threads: int, tuning: SessionTuning = DEFAULT_TUNING) -> ort.SessionOptions:
    """The options every session of a bundle is created with."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # Spinning worker threads burn the cores between calls; on a 2-core laptop that starves the
    # decoder threads and the GUI (measured: a 100k-photo scoring call 32 ms -> 12.5 ms without).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: fallbacks are reported by ``providers``
    options.enable_cpu_mem_arena = tuning.arena
    options.enable_mem_pattern = tuning.memory_pattern
    if tuning.arena and tuning.arena_extend == "requested":
        _register_shared_arena()
        options.add_session_config_entry("session.use_env_allocators", "1")
    return options


def _f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _used_width(mask: np.ndarray) -> int:
    """Columns up to the last one any row attends to: the rest is padding and only costs time."""
    used = np.flatnonzero(np.asarray(mask).any(axis=0))
    return int(used[-1]) + 1 if used.size else 1


class Runtime:
    """Encoders and heads of one bundle.

    ``providers``: 'auto' (CUDA when onnxruntime has it and a GPU driver is present, else CPU), 'cpu' or
    'cuda' (an error if CUDA cannot be used). ``threads``: intra-op threads per session (0: onnxruntime's
    default, one per physical core). ``tuning``: the sessions' memory settings (``SessionTuning``).
    Every method batches internally and returns float32 numpy arrays.
    """

    def __init__(
        self,
        bundle_dir: str | Path,
        providers: str = "auto",
        threads: int = 0,
        *,
        verify_hashes: bool = True,
        tuning: SessionTuning = DEFAULT_TUNING,
    ) -> None:
        self._bundle: Bundle = load_bundle(bundle_dir, verify_hashes=verify_hashes)
        m = self._bundle.manifest
        self._request = providers
        self._providers = resolve_providers(providers)
        self._threads = int(threads)
        self._tuning = tuning
        self._run_options: ort.RunOptions | None = None
        if tuning.arena and tuning.shrink_arena:
            self._run_options = ort.RunOptions()
            self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._lock = threading.Lock()
        self._preprocess = Preprocess(m["image_size"], m["image_mean"], m["image_std"])
        self._tokenizer: Tokenizer | None = None
        grid = m["token_grid"]
        self._grid, self._stride = int(grid["grid"]), int(grid["patch_stride"])
        self._num_tokens, self._width = int(grid["num_tokens"]), int(grid["width"])
        # Read now, so that a bundle whose names file is not usable is refused when it is opened.
        self._carried: tuple[CarriedName, ...] = tuple(bundle_names(self._bundle))

    # ----- facts -----------------------------------------------------------------------------------
    @property
    def manifest(self) -> dict[str, Any]:
        return self._bundle.manifest

    @property
    def identity(self) -> str:
        """Model name + variant + short hash of the graphs; store it with every vector."""
        return self._bundle.identity

    @property
    def embed_dim(self) -> int:
        return int(self.manifest["embed_dim"])

    @property
    def image_size(self) -> int:
        return int(self.manifest["image_size"])

    @property
    def max_tokens(self) -> int:
        return int(self.manifest["max_tokens"])

    @property
    def threads(self) -> int:
        """Intra-op threads of each session (0: onnxruntime's default)."""
        return self._threads

    @property
    def has_box_head(self) -> bool:
        return self._bundle.has_graph("box")

    @property
    def open_sessions(self) -> tuple[str, ...]:
        """The graphs whose sessions exist now (each is created when first needed)."""
        with self._lock:
            return tuple(self._sessions)

    @property
    def providers(self) -> list[str]:
        """Providers the sessions actually run on (creates the small concepts session if none exists yet,
        because only a live session knows whether CUDA really loaded)."""
        with self._lock:
            live = next(iter(self._sessions.values()), None)
        return list((live or self.session("concepts")).get_providers())

    # ----- sessions --------------------------------------------------------------------------------
    def session(self, graph: str) -> ort.InferenceSession:
        """The graph's session, created on first use."""
        with self._lock:
            existing = self._sessions.get(graph)
            if existing is not None:
                return existing
            options = session_options(self._threads, self._tuning)
            path = self._bundle.graph_path(graph)
            try:
                created = ort.InferenceSession(str(path), sess_options=options, providers=self._providers)
            except Exception as err:  # onnxruntime raises its own untyped errors for bad graphs
                raise KnownError(f"{path}: onnxruntime cannot load this graph: {err}") from err
            inputs = [i.name for i in created.get_inputs()]
            outputs = [o.name for o in created.get_outputs()]
            check_graph_io(self._bundle.path, graph, path.name, inputs, outputs)
            if graph == "text" and self.takes_names and NAME_INPUT not in inputs:
                raise BundleError(
                    f"{self._bundle.path}: {path.name} lacks the {NAME_INPUT} input its manifest promises: "
                    "the bundle's files were swapped or damaged; export it again"
                )
            if self._request == "cuda" and CUDA not in created.get_providers():
                raise ProviderError(
                    "CUDA was requested but onnxruntime could not start it (see its log above)"
                )
            self._sessions[graph] = created
            return created

    def open_graphs(self, graphs: Sequence[str]) -> None:
        """Create these graphs' sessions now (each checked against its role), so that a bundle with a
        wrong graph is refused before the caller reads any photo."""
        for graph in graphs:
            if self._bundle.has_graph(graph):
                self.session(graph)

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One call of one graph, no batching (the other methods batch)."""
        return self.session(graph).run(None, feeds, self._run_options)

    # ----- images ----------------------------------------------------------------------------------
    def preprocess(self, images: Sequence[Image.Image]) -> np.ndarray:
        """PIL images -> (B, 3, S, S) float32, the numpy mirror of engine.data.transforms.EvalTransform."""
        return self._preprocess(images)

    def encode_images(
        self, images: Sequence[Image.Image] | np.ndarray, batch_size: int = 16
    ) -> tuple[np.ndarray, np.ndarray]:
        """PIL images or a preprocessed (B, 3, S, S) array -> (embeds (B, D), tokens (B, 1+L, C)).

        Images are preprocessed one batch at a time, so a long list never sits in memory as pixels.
        """
        n = len(images)
        if isinstance(images, np.ndarray):
            s = self.image_size
            if images.ndim != 4 or images.shape[1:] != (3, s, s):
                raise ValueError(f"expected preprocessed images (B, 3, {s}, {s}), got {images.shape}")
        embeds = np.empty((n, self.embed_dim), dtype=np.float32)
        tokens = np.empty((n, self._num_tokens, self._width), dtype=np.float32)
        for start in range(0, n, batch_size):
            chunk = images[start : start + batch_size]
            pixels = chunk if isinstance(chunk, np.ndarray) else self.preprocess(chunk)
            embed, tok = self.run("vision", {"images": _f32(pixels)})
            embeds[start : start + len(pixels)] = embed
            tokens[start : start + len(pixels)] = tok
        return embeds, tokens

    def encode_regions(self, tokens: np.ndarray, boxes: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Image tokens (B, 1+L, C) and boxes (B, K, 4) as x, y, w, h in fractions (0..1) of the image
        -> normalised region (concept) embeddings (B, K, D), comparable with text embeddings."""
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.ndim != 3 or boxes.shape[-1] != 4 or boxes.shape[0] != len(tokens):
            raise ValueError(f"boxes must be (B, K, 4) with B = {len(tokens)}, got {boxes.shape}")
        b, k = boxes.shape[:2]
        out = np.empty((b, k, self.embed_dim), dtype=np.float32)
        if k == 0:
            return out
        masks = normalised_boxes_to_patch_masks(boxes, self.image_size, self._stride)
        for start in range(0, b, batch_size):
            stop = start + batch_size
            feeds = {"image_tokens": _f32(tokens[start:stop]), "patch_masks": masks[start:stop]}
            out[start:stop] = self.run("concepts", feeds)[0]
        return out

    # ----- texts -----------------------------------------------------------------------------------
    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            self._tokenizer = Tokenizer(self._bundle.vocab_path, max_tokens=self.max_tokens)
        return self._tokenizer

    def tokenize(
        self, texts: Sequence[str], names: NameTable | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Texts -> (ids, mask) int64 (N, max_tokens) and ``blank`` (N,) bool, the engine's path exactly
        (``pre_caption`` then [CLS] + WordPieces). A text that is empty after ``pre_caption`` (blank,
        or only punctuation) becomes the bare [CLS] and is flagged blank. With ``names``, each taught
        name in a text (whole word, any case) becomes its placeholder id (``core.names``)."""
        max_words = int(self.manifest["max_words"])
        if names:
            return self._tokenize_named(texts, names, max_words)
        cleaned: list[str] = []
        blank = np.zeros(len(texts), dtype=bool)
        for i, text in enumerate(texts):
            try:
                cleaned.append(pre_caption(text, max_words))
            except EmptyTextError:
                cleaned.append("")
                blank[i] = True
        ids, mask = self.tokenizer(cleaned, pad_to="max")
        ids[blank, 0], mask[blank, 0] = CLS_ID, 1  # the tokenizer already gives [CLS]; made explicit
        return ids, mask, blank

    def _tokenize_named(
        self, texts: Sequence[str], names: NameTable, max_words: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        placeholders = names.ids(self._names_spec()["first_id"])
        ids = np.zeros((len(texts), self.max_tokens), dtype=np.int64)
        mask = np.zeros_like(ids)
        blank = np.zeros(len(texts), dtype=bool)
        for i, text in enumerate(texts):
            try:
                row = named_token_ids(self.tokenizer, text, placeholders, max_words)
            except EmptyTextError:
                row, blank[i] = [CLS_ID], True
            ids[i, : len(row)], mask[i, : len(row)] = row, 1
        return ids, mask, blank

    # ----- taught names ----------------------------------------------------------------------------
    @property
    def takes_names(self) -> bool:
        """Whether this bundle's text graph can take taught names (bundle format 2 on)."""
        return self._bundle.takes_names

    def _names_spec(self) -> dict[str, int]:
        if not self.takes_names:
            raise BundleError(
                f"the model bundle {self.identity} is too old to use taught names (format "
                f"{self.manifest['format_version']}): export it again with `multigrain export`"
            )
        spec = self.manifest["names"]
        return {"slots": int(spec["slots"]), "first_id": int(spec["first_id"])}

    def name_table_shape(self) -> tuple[int, int]:
        """(S, H): the shape of the ``name_embeddings`` the text graph takes."""
        return self._names_spec()["slots"], int(self.manifest["config"]["text"]["hidden_size"])

    @property
    def carried(self) -> tuple[CarriedName, ...]:
        """The taught names this bundle carries (a bundle exported with someone's things), with kinds."""
        return self._carried

    @property
    def carried_names(self) -> NameTable | None:
        """The carried names as the text graph's input table; None when the bundle carries none."""
        if not self._carried:
            return None
        return names_table(self._carried, *self.name_table_shape())

    def encode_tokens(
        self,
        ids: np.ndarray,
        mask: np.ndarray,
        batch_size: int = 64,
        name_embeddings: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and mask (N, T) -> (embeds (N, D), hidden (N, T, H)).

        Each batch is cut to its longest row before the graph runs (padding only costs time: padded
        positions are masked out) and the hidden states are padded back to T with zeros.
        ``name_embeddings`` (S, H): the input embeddings of the name placeholders' ids (default zeros:
        rows no text without a name reads).
        """
        ids = np.asarray(ids, dtype=np.int64)
        mask = np.asarray(mask, dtype=np.int64)
        n, t = ids.shape
        hidden_size = int(self.manifest["config"]["text"]["hidden_size"])
        embeds = np.empty((n, self.embed_dim), dtype=np.float32)
        hidden = np.zeros((n, t, hidden_size), dtype=np.float32)
        extra: dict[str, np.ndarray] = {}
        if name_embeddings is not None or self.takes_names:
            shape = self.name_table_shape()
            table = np.zeros(shape, np.float32) if name_embeddings is None else _f32(name_embeddings)
            if table.shape != shape:
                raise ValueError(f"name_embeddings must be {shape}, got {table.shape}")
            extra[NAME_INPUT] = table
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            width = _used_width(mask[start:stop])
            feeds = {"input_ids": ids[start:stop, :width], "attention_mask": mask[start:stop, :width]}
            embed, hid = self.run("text", feeds | extra)
            embeds[start:stop] = embed
            hidden[start:stop, :width] = hid
        return embeds, hidden

    def encode_texts(
        self, texts: Sequence[str], batch_size: int = 64, names: NameTable | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Texts -> (embeds (N, D), hidden (N, max_tokens, H), mask (N, max_tokens) int64).

        A blank text (empty after ``pre_caption``) does not raise: its embedding is all zeros, so its
        cosine with every image is 0 and it adds nothing to a weighted query; its hidden states are the
        bare [CLS]'s, so ITM and box calls on it still run (their output means nothing). ``names``:
        taught names the texts may hold, and their learned embeddings (refused by an older bundle).
        """
        ids, mask, blank = self.tokenize(texts, names)
        table = names.embeddings if names else None
        embeds, hidden = self.encode_tokens(ids, mask, batch_size, name_embeddings=table)
        embeds[blank] = 0.0
        return embeds, hidden, mask

    # ----- fusion heads ----------------------------------------------------------------------------
    def _pairs(
        self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        # One text against many images (re-ranking) or many texts against one image (grounding):
        # a batch of 1 on either side is repeated to the other's length.
        n = max(len(hidden), len(tokens))
        if len(hidden) not in (1, n) or len(tokens) not in (1, n) or len(mask) != len(hidden):
            raise ValueError(f"cannot pair {len(hidden)} texts with {len(tokens)} images")
        if len(hidden) == 1 and n > 1:
            hidden, mask = np.repeat(hidden, n, axis=0), np.repeat(mask, n, axis=0)
        if len(tokens) == 1 and n > 1:
            tokens = np.repeat(tokens, n, axis=0)
        return hidden, np.asarray(mask, dtype=np.int64), tokens, n

    def itm_scores(
        self,
        hidden: np.ndarray,
        mask: np.ndarray,
        tokens: np.ndarray,
        image_mask: np.ndarray | None = None,
        batch_size: int = 32,
    ) -> np.ndarray:
        """Raw 'match' logits (B,) of text i with image i (X-VLM's retrieval score; higher is better).

        ``image_mask`` (B, 1+L) restricts the fusion layers to some patches (a region); default all."""
        hidden, mask, tokens, _ = self._pairs(hidden, mask, tokens)
        if image_mask is None:
            image_mask = np.ones(tokens.shape[:2], dtype=np.int64)
        image_mask = np.asarray(image_mask, dtype=np.int64)
        return self._run_pairs(
            "itm", (), hidden, mask, tokens, batch_size, lambda s: {"image_mask": image_mask[s]}
        )

    def predict_boxes(
        self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray, batch_size: int = 32
    ) -> np.ndarray:
        """Where text i is in image i: (B, 4) normalised (cx, cy, w, h) of the resized (square) image,
        which are also fractions of the original photo since the resize only stretches."""
        if not self.has_box_head:
            raise KnownError(f"model bundle {self.identity} has no box head: it cannot ground text")
        hidden, mask, tokens, _ = self._pairs(hidden, mask, tokens)
        return self._run_pairs("box", (4,), hidden, mask, tokens, batch_size)

    def _run_pairs(
        self,
        graph: str,
        tail: tuple[int, ...],
        hidden: np.ndarray,
        mask: np.ndarray,
        tokens: np.ndarray,
        batch_size: int,
        extra: Callable[[slice], dict[str, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """Run a fusion graph over aligned (text, image) pairs in batches, each cut to its used width;
        the output is (pairs, *tail)."""
        parts = [np.zeros((0, *tail), dtype=np.float32)]
        for start in range(0, len(hidden), batch_size):
            s = slice(start, start + batch_size)
            width = _used_width(mask[s])
            feeds = {
                "text_hidden": _f32(hidden[s, :width]),
                "text_mask": mask[s, :width],
                "image_tokens": _f32(tokens[s]),
            }
            if extra is not None:
                feeds.update(extra(s))
            parts.append(self.run(graph, feeds)[0])
        return np.concatenate(parts).astype(np.float32, copy=False)
