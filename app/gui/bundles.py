"""Model bundles for the window: which exist, which is active, the loaded runtime, and its speed.

``ModelHolder`` loads the active bundle's runtime on first use, on whichever worker thread asks first
(verifying a bundle hashes every graph: seconds for a large one, never on the GUI thread), and hands
the same runtime to every worker: onnxruntime sessions may be run from several threads at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.gui.settings import repo_bundles_dir, user_bundles_dir
from core.errors import KnownError
from export.bundle import NAMES_FILE, BundleError, read_manifest
from export.bundle_intake import Installed, install_bundle

# The variants a bundle can be exported in, as the dialogs offer them (key, what it is for).
VARIANTS = (("int8", "int8 — smallest, fast on CPU"), ("fp32", "fp32 — exact"), ("fp16", "fp16 — for CUDA"))


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    name: str  # the folder's name
    identity: str
    model: str
    variant: str
    where: str  # "app data", "repository" or "elsewhere"
    has_box_head: bool
    problem: str | None = None  # why it cannot be used (then the other facts may be blank)
    carries_names: bool = False  # exported with someone's taught names (bundle format 3)


def describe_bundle(path: Path, where: str = "elsewhere") -> BundleInfo:
    try:
        m = read_manifest(path)
    except BundleError as err:
        return BundleInfo(path, path.name, "", "", "", where, False, str(err))
    return BundleInfo(
        path,
        path.name,
        str(m["identity"]),
        str(m["model"]),
        str(m["variant"]),
        where,
        "box" in m["graphs"],
        carries_names=NAMES_FILE in m["files"],
    )


def list_bundles(extra: Path | None = None) -> list[BundleInfo]:
    """Bundles in the app data folder and the repository's ``bundles/``, plus ``extra`` (the active one,
    wherever it lives), each once."""
    found: list[BundleInfo] = []
    seen: set[Path] = set()
    for root, where in ((user_bundles_dir(), "app data"), (repo_bundles_dir(), "repository")):
        if not root.is_dir():
            continue
        for entry in sorted(root.iterdir()):
            if (entry / "manifest.json").is_file() and entry.resolve() not in seen:
                seen.add(entry.resolve())
                found.append(describe_bundle(entry, where))
    if extra is not None and extra.resolve() not in seen and (extra / "manifest.json").is_file():
        found.append(describe_bundle(extra))
    return found


def add_bundle(source: Path) -> Installed:
    """Worker thread: check and install a bundle folder or file into the app's bundles folder; one whose
    identity is there already, or among the repository's bundles, is reported instead (``added`` False)."""
    return install_bundle(source, user_bundles_dir(), also_in=[repo_bundles_dir()])


Loader = Callable[[Path], Any]


def load_runtime_auto(path: Path) -> Any:
    """The bundle's runtime on CUDA when this machine has it, else on the CPU."""
    from app.library.encoder import load_runtime

    return load_runtime(path, providers="auto")


class ModelHolder:
    """The active bundle and its runtime, loaded lazily by the first worker that needs it."""

    def __init__(self, bundle: Path | None, loader: Loader = load_runtime_auto) -> None:
        self._bundle = bundle
        self._loader = loader
        self._runtime: Any = None
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        self._version = 0  # bumped at each switch: workers holding an older runtime start over

    @classmethod
    def fixed(cls, runtime: Any, bundle: Path | None = None) -> ModelHolder:
        """A holder around an already-made runtime (tests, benchmarks)."""
        holder = cls(bundle or Path(str(runtime.identity)), loader=lambda _: runtime)
        holder._runtime = runtime
        return holder

    @property
    def bundle(self) -> Path | None:
        return self._bundle

    @property
    def version(self) -> int:
        return self._version

    def set_bundle(self, bundle: Path | None, loader: Loader | None = None) -> None:
        with self._lock:
            self._bundle, self._runtime = bundle, None
            if loader is not None:
                self._loader = loader
            self._version += 1

    def identity(self) -> str | None:
        """The active model's identity without loading it (read from the manifest); None: no bundle."""
        # No lock: a worker may hold it for seconds while loading, and this is called on the GUI thread.
        runtime, bundle = self._runtime, self._bundle
        if runtime is not None:
            return str(runtime.identity)
        if bundle is None:
            return None
        try:
            return str(read_manifest(bundle)["identity"])
        except BundleError:
            return None

    def get(self) -> Any:
        """The runtime (loading it on this thread if needed). Raises a KnownError without a bundle.

        ``_lock`` guards the fields and is held only for moments (the GUI thread takes it to switch
        bundles); loading happens under ``_loading``, so two workers never load the same bundle twice."""
        while True:
            with self._lock:
                if self._runtime is not None:
                    return self._runtime
                bundle, version = self._bundle, self._version
            if bundle is None:
                raise KnownError(
                    "no model bundle is chosen: open Models… to import or pick one (bundles are made "
                    "with `multigrain export`)"
                )
            with self._loading:
                with self._lock:
                    if self._runtime is not None and self._version == version:
                        return self._runtime
                runtime = self._loader(bundle)
                with self._lock:
                    if self._version == version:  # else the user switched meanwhile: load the new one
                        self._runtime = runtime
                        return runtime


@dataclass(frozen=True)
class Speed:
    identity: str
    providers: tuple[str, ...]
    images_per_s: float
    texts_per_s: float

    @property
    def device(self) -> str:
        return "CUDA (GPU)" if "CUDAExecutionProvider" in self.providers else "CPU"


def measure_speed(runtime: Any, batches: int = 3, batch: int = 4) -> Speed:
    """Time a few image and text encodes (after one warm-up call each). Worker thread."""
    size = int(runtime.image_size)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)) for _ in range(batch)]
    texts = [f"a photo of a red car number {i}" for i in range(batch * 4)]
    runtime.encode_images(images)
    runtime.encode_texts(texts[:1])
    started = time.perf_counter()
    for _ in range(batches):
        runtime.encode_images(images)
    image_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(batches):
        runtime.encode_texts(texts)
    text_s = time.perf_counter() - started
    providers = tuple(getattr(runtime, "providers", None) or ("CPUExecutionProvider",))
    return Speed(
        str(runtime.identity),
        providers,
        batches * len(images) / max(image_s, 1e-9),
        batches * len(texts) / max(text_s, 1e-9),
    )
