"""The concept pack file (``Rex.mgthing``): taught names in one small zip, checked before it is trusted.

Layout (nothing else is allowed in the archive):
- ``pack.json``: what the pack says (``FORMAT``, ``VERSION``), one entry per name (name, kind, method,
  the bundle identity and checkpoint weights' sha256 it was learned on, its teaching photos' content
  hashes and boxes, a model card), and ``content_sha256``: the sha256 of this manifest written
  canonically without that field. Each entry names its embedding file and that file's sha256, so the
  one hash covers every byte of the pack.
- ``embeddings/<i>.npy``: the learned input embedding of entry ``i``, float32 little-endian, shape (H,).
- ``looks/<i>.npy`` (version 2, for a name that has one): its look (``core.name_look``), float32 (D,)
  of unit length: the mean embedding of its teaching boxes cropped, which is what search compares a
  photo's grounded box with. Like the embedding it holds no photo, only what the model made of them.
  A pack whose names have no look is written as version 1, which older copies of Multigrain read.

Why a zip of JSON and .npy rather than one JSON with base64: the embedding keeps its exact bytes in a
format numpy reads without any code of ours (``allow_pickle=False``), and the manifest is readable with
any unzip tool, so a person can see what they share. The price is the archive's own hazards, refused
here before anything is read: a file over ``MAX_PACK_BYTES`` (by its size on disk, before opening), a
member that is a link, a folder, outside the archive (absolute, ``..``), encrypted, unknown, duplicated
or bigger than its limit once inflated. Members are only ever read into memory, never extracted.

The content hash detects damage and careless edits; it is no signature (anyone can recompute it). What
makes a stranger's pack safe to use is the rest: strict types and limits, a finite float32 vector of the
right length and size, and the check that it was learned on the checkpoint the library uses
(``app.personal.sharing``).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.personal.teach import MAX_PHOTOS
from core.archive_members import escape_problem, is_symlink
from core.errors import KnownError
from core.name_look import LOOK_NORM_TOLERANCE, is_unit_length
from core.names import NAME_SLOTS, BadNameError, name_key
from core.text import EmptyTextError, pre_caption

FORMAT = "multigrain-concept-pack"
VERSION = 2  # the newest this code reads and writes; 1 has no looks
SUFFIX = ".mgthing"
MANIFEST = "pack.json"
# Limits, measured on the largest pack there can be (64 names of a 1024-wide model, 20 photos each, the
# demo checkpoint's card): 315 kB on disk, pack.json 425 kB inflated. They leave room, and no more.
MAX_PACK_BYTES = 1 << 20  # the file on disk, checked before it is opened
MAX_NAMES = NAME_SLOTS  # a library has no room for more
MAX_MANIFEST_BYTES = 1 << 20  # pack.json once inflated
MAX_HIDDEN = 4096  # the widest text model we would meet is 1024
MAX_EMBEDDING_BYTES = 256 + 4 * MAX_HIDDEN  # an .npy header is 64-128 bytes
MAX_TEXT = 100  # characters of a name, a kind, a method or a model identity
MAX_CARD_TEXT = 400  # characters of a model card's text (it may quote the command that measured it)
# A learned row starts at a word's embedding (|v| < 1) and Adam moves it by about lr = 0.02 a step; a
# value beyond this is no learned embedding, and would overflow the text graph's layer norm.
MAX_ABS = 1000.0
_EMBEDDING = re.compile(r"^(embeddings|looks)/(\d{1,2})\.npy$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class PackError(KnownError):
    """A file that is not a concept pack, or one that was damaged or edited."""


@dataclass(frozen=True)
class PackPhoto:
    content_hash: str  # sha256 of the photo's bytes, as the library keeps it
    box: tuple[float, float, float, float]  # x, y, w, h as fractions of the upright photo
    proposed: bool


@dataclass(frozen=True)
class PackName:
    name: str
    kind: str
    method: str
    model: str  # the bundle identity it was learned for
    checkpoint: str  # sha256 of the checkpoint's weights it was learned against
    token: np.ndarray  # (H,) float32
    photos: tuple[PackPhoto, ...]
    card: dict[str, Any] = field(default_factory=dict)  # photos, seconds, taught (date), benchmark
    look: np.ndarray | None = None  # (D,) float32 of unit length; None: the name has none


@dataclass(frozen=True)
class Pack:
    names: tuple[PackName, ...]
    content_sha256: str
    created: str


# ----- writing ---------------------------------------------------------------------------------------
def manifest_hash(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest written canonically (sorted keys, no spaces, UTF-8) without its own hash."""
    body = {k: v for k, v in manifest.items() if k != "content_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _npy(token: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(token, dtype="<f4"), allow_pickle=False)
    return buffer.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # the same names give the same bytes
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


def pack_bytes(names: list[PackName], created: str) -> tuple[bytes, str]:
    """The pack file's bytes and its content hash."""
    if not 1 <= len(names) <= MAX_NAMES:
        raise PackError(f"a pack holds 1 to {MAX_NAMES} names (got {len(names)})")
    entries, files = [], {}

    def vector(file: str, values: np.ndarray) -> dict[str, Any]:
        files[file] = data = _npy(values)
        return {"file": file, "dtype": "float32", "shape": [int(values.size)], "sha256": _sha(data)}

    for i, item in enumerate(names):
        entry = {
            "name": item.name,
            "kind": item.kind,
            "method": item.method,
            "model": item.model,
            "checkpoint": item.checkpoint,
            "embedding": vector(f"embeddings/{i}.npy", item.token),
            "photos": [
                {"content_hash": p.content_hash, "box": list(p.box), "proposed": p.proposed}
                for p in item.photos
            ],
            "card": item.card,
        }
        if item.look is not None:
            entry["look"] = vector(f"looks/{i}.npy", item.look)
        entries.append(entry)
    version = VERSION if any(item.look is not None for item in names) else 1
    manifest: dict[str, Any] = {"format": FORMAT, "version": version, "created": created, "names": entries}
    digest = manifest_hash(manifest)
    manifest["content_sha256"] = digest
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(_member(MANIFEST), json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        for file, data in files.items():
            archive.writestr(_member(file), data)
    data = out.getvalue()
    if len(data) > MAX_PACK_BYTES:
        raise PackError(f"the pack would be {len(data)} bytes, over the {MAX_PACK_BYTES} a pack may have")
    return data, digest


def write_pack(path: str | Path, names: list[PackName], created: str) -> tuple[int, str]:
    """Write the pack beside ``path``, read it back with every check an import makes, then rename it
    into place (so a pack that would be refused, e.g. a name typed with control characters, is never
    written, and an earlier file there is kept); returns its size in bytes and content hash."""
    data, digest = pack_bytes(names, created)
    target = Path(path)
    if target.is_dir():
        raise PackError(f"{target} is a folder: give the pack a file name, e.g. {target / ('Rex' + SUFFIX)}")
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_bytes(data)
        read_pack(tmp)
        os.replace(tmp, target)
    except OSError as err:
        raise PackError(f"cannot write {target}: {err.strerror or err}") from err
    except PackError as err:
        raise PackError(
            f"cannot export to {target.name}: the pack would be refused on import: {err}"
        ) from err
    finally:
        tmp.unlink(missing_ok=True)
    return len(data), digest


# ----- reading: the archive ----------------------------------------------------------------------------
def _not_a_pack(path: Path, why: str) -> PackError:
    return PackError(
        f"{path.name} is not a concept pack ({why}); a pack is a {SUFFIX} file from `names export`"
    )


def _tampered(path: Path, why: str) -> PackError:
    return PackError(f"{path.name} was damaged or edited after it was exported ({why}); nothing was imported")


def _check_member(path: Path, info: zipfile.ZipInfo) -> None:
    name = info.filename
    if escape_problem(name) is not None:
        raise _tampered(path, f"it holds {name!r}, a path outside the pack")
    if is_symlink(info):
        raise _tampered(path, f"it holds {name!r}, a symbolic link")
    if info.is_dir():
        raise _tampered(path, f"it holds the folder {name!r}")
    if info.flag_bits & 0x1:
        raise _tampered(path, f"{name!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _tampered(path, f"{name!r} is compressed in a way packs never are")


def _read_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """The member's bytes, inflating at most ``limit + 1`` of them whatever its header claims."""
    if info.file_size > limit:
        raise _tampered(path, f"{info.filename!r} would be {info.file_size} bytes, over its limit of {limit}")
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError) as err:
        raise _tampered(path, f"{info.filename!r} cannot be read: {err}") from err
    if len(data) > limit:
        raise _tampered(path, f"{info.filename!r} inflates past its limit of {limit} bytes")
    return data


def _members(path: Path, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > 1 + 2 * MAX_NAMES:
        raise _tampered(path, f"it holds {len(infos)} files; a pack holds at most {1 + 2 * MAX_NAMES}")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        _check_member(path, info)
        if info.filename in members:
            raise _tampered(path, f"it holds {info.filename!r} twice")
        members[info.filename] = info
    if MANIFEST not in members:
        raise _not_a_pack(path, f"it has no {MANIFEST}")
    for name in members:
        if name != MANIFEST and not _EMBEDDING.match(name):
            raise _tampered(path, f"it holds {name!r}, which no pack has")
    return members


def read_pack(path: str | Path) -> Pack:
    """The pack at ``path``, every check passed; else a ``PackError`` saying what is wrong."""
    path = Path(path)
    try:
        info = path.stat()  # the size is checked before a byte is read
    except OSError as err:
        raise PackError(f"cannot read {path}: {err.strerror or err}") from err
    if not stat.S_ISREG(info.st_mode):
        raise _not_a_pack(path, "it is not a file")
    if info.st_size > MAX_PACK_BYTES:
        raise PackError(
            f"{path.name} is {info.st_size / 1e6:.1f} MB; a concept pack is at most {MAX_PACK_BYTES // 1024} "
            "kB (64 names take at most about 320 kB), so this is not one: nothing was read"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = _members(path, archive)
            raw = _read_member(path, archive, members[MANIFEST], MAX_MANIFEST_BYTES)
            manifest = _parse_manifest(path, raw)
            files = {
                name: _read_member(path, archive, members[name], MAX_EMBEDDING_BYTES)
                for name in members
                if name != MANIFEST
            }
    except zipfile.BadZipFile as err:
        raise _not_a_pack(path, "it is not a zip archive") from err
    except OSError as err:
        raise PackError(f"cannot read {path}: {err.strerror or err}") from err
    return _check(path, manifest, files)


# ----- reading: the manifest ----------------------------------------------------------------------------
def _parse_manifest(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as err:
        raise _not_a_pack(path, f"its {MANIFEST} is not JSON") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _not_a_pack(path, f"its {MANIFEST} is not a concept pack's")
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _tampered(path, f"its version is {version!r}")
    if version > VERSION:
        raise PackError(
            f"{path.name} was made by a newer Multigrain (pack version {version}; this one reads up to "
            f"{VERSION}): update Multigrain to import it"
        )
    return manifest


def _no_constant(word: str) -> None:
    raise ValueError(f"{word} is not a number a pack may hold")


def _text(path: Path, value: object, what: str, longest: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= longest:
        raise _tampered(path, f"{what} is {value!r}")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise _tampered(path, f"{what} holds control characters")
    return value


def _hex64(path: Path, value: object, what: str) -> str:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise _tampered(path, f"{what} is not a sha256")
    return value


def _number(path: Path, value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _tampered(path, f"{what} is {value!r}")
    return float(value)


def _photo(path: Path, value: object, what: str) -> PackPhoto:
    if not isinstance(value, dict) or set(value) != {"content_hash", "box", "proposed"}:
        raise _tampered(path, f"{what} is not a photo's hash and box")
    box = value["box"]
    if not isinstance(box, list) or len(box) != 4:
        raise _tampered(path, f"{what}'s box is {box!r}")
    x, y, w, h = (_number(path, v, f"{what}'s box") for v in box)
    eps = 1e-6
    if not (0 <= x < 1 and 0 <= y < 1 and w > 0 and h > 0 and x + w <= 1 + eps and y + h <= 1 + eps):
        raise _tampered(path, f"{what}'s box {box!r} is not inside the photo")
    if not isinstance(value["proposed"], bool):
        raise _tampered(path, f"{what}'s 'proposed' is {value['proposed']!r}")
    return PackPhoto(
        _hex64(path, value["content_hash"], f"{what}'s content hash"), (x, y, w, h), value["proposed"]
    )


def _card(path: Path, value: object, what: str) -> dict[str, Any]:
    """The model card: shown to the person, never used for anything else; still only small plain data."""
    if not isinstance(value, dict) or len(value) > 16:
        raise _tampered(path, f"{what} is not a model card")

    def check(item: object, depth: int) -> None:
        if isinstance(item, str):
            _text(path, item, what, MAX_CARD_TEXT)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            _number(path, item, what)
        elif item is None or isinstance(item, bool):
            pass
        elif isinstance(item, list) and depth < 4 and len(item) <= 16:
            for sub in item:
                check(sub, depth + 1)
        elif isinstance(item, dict) and depth < 4 and len(item) <= 32:
            for key, sub in item.items():
                _text(path, key, what)
                check(sub, depth + 1)
        else:
            raise _tampered(path, f"{what} holds more than a model card does")

    check(value, 0)
    return value


def _embedding(
    path: Path, spec: object, files: dict[str, bytes], what: str, largest: float = MAX_ABS
) -> tuple[str, np.ndarray]:
    """The float32 (H,) vector ``spec`` describes, checked against its hash and ``largest``."""
    if not isinstance(spec, dict) or set(spec) != {"file", "dtype", "shape", "sha256"}:
        raise _tampered(path, f"{what}'s embedding is not described")
    file = spec["file"]
    if not isinstance(file, str) or file not in files:
        raise _tampered(path, f"{what}'s embedding {file!r} is not in the pack")
    data = files[file]
    if hashlib.sha256(data).hexdigest() != _hex64(path, spec["sha256"], f"{what}'s embedding hash"):
        raise _tampered(path, f"{file} does not match its sha256 in {MANIFEST}")
    shape = spec["shape"]
    if spec["dtype"] != "float32" or not isinstance(shape, list) or len(shape) != 1:
        raise _tampered(
            path, f"{what}'s embedding is described as {spec['dtype']!r} {shape!r}, not float32 (H,)"
        )
    try:
        token = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise _tampered(path, f"{file} is not a numpy array: {err}") from err
    if not isinstance(token, np.ndarray) or token.dtype != np.dtype("<f4"):
        raise _tampered(path, f"{file} holds {getattr(token, 'dtype', type(token).__name__)}, not float32")
    if token.ndim != 1 or not 0 < token.shape[0] <= MAX_HIDDEN or list(token.shape) != shape:
        raise _tampered(path, f"{file} has shape {token.shape}, not ({shape[0] if shape else '?'},)")
    if not np.all(np.isfinite(token)):
        raise _tampered(path, f"{file} holds NaN or infinite values")
    if float(np.abs(token).max()) > largest:
        raise _tampered(path, f"{file} holds values beyond {largest:g}, which no {what} has")
    return file, np.ascontiguousarray(token)


def _look(path: Path, spec: object, files: dict[str, bytes], name: str) -> tuple[str, np.ndarray]:
    file, look = _embedding(path, spec, files, f"{name}'s look", 1.0 + LOOK_NORM_TOLERANCE)
    if not is_unit_length(look):
        raise _tampered(path, f"{file} is not of unit length, as a look is")
    return file, look


_ENTRY_KEYS = {"name", "kind", "method", "model", "checkpoint", "embedding", "photos", "card"}


def _entry(
    path: Path, value: object, i: int, files: dict[str, bytes], version: int
) -> tuple[list[str], PackName]:
    what = f"name {i + 1}"
    keys = set(value) if isinstance(value, dict) else set()
    if not isinstance(value, dict) or keys - {"look"} != _ENTRY_KEYS or ("look" in keys and version < 2):
        raise _tampered(path, f"{what} is not a taught name's entry")
    name = _text(path, value["name"], f"{what}'s name")
    kind = _text(path, value["kind"], f"{what}'s kind")
    try:
        name_key(name)
        pre_caption(kind, 10)
    except (BadNameError, EmptyTextError) as err:
        raise _tampered(path, f"{name!r} ({kind!r}) cannot be a name and its kind: {err}") from err
    photos = value["photos"]
    if not isinstance(photos, list) or len(photos) > MAX_PHOTOS:
        count = len(photos) if isinstance(photos, list) else "no list of"
        raise _tampered(path, f"{name} has {count} photos (a name has at most {MAX_PHOTOS})")
    file, token = _embedding(path, value["embedding"], files, f"{name}'s learned embedding")
    used = [file]
    look = None
    if "look" in value:
        look_file, look = _look(path, value["look"], files, name)
        used.append(look_file)
    item = PackName(
        name,
        kind,
        _text(path, value["method"], f"{name}'s method"),
        _text(path, value["model"], f"{name}'s model"),
        _hex64(path, value["checkpoint"], f"{name}'s checkpoint"),
        token,
        tuple(_photo(path, p, f"{name}'s photo {k + 1}") for k, p in enumerate(photos)),
        _card(path, value["card"], f"{name}'s card"),
        look,
    )
    return used, item


def _check(path: Path, manifest: dict[str, Any], files: dict[str, bytes]) -> Pack:
    if set(manifest) != {"format", "version", "created", "names", "content_sha256"}:
        raise _tampered(path, f"its {MANIFEST} has other fields than a pack's")
    expected = manifest_hash(manifest)
    if _hex64(path, manifest["content_sha256"], "its content hash") != expected:
        raise _tampered(path, "its content does not match its content hash")
    entries = manifest["names"]
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_NAMES:
        raise _tampered(path, f"it lists {len(entries) if isinstance(entries, list) else 'no'} names")
    names, used, keys = [], set(), set()
    for i, value in enumerate(entries):
        files_used, item = _entry(path, value, i, files, int(manifest["version"]))
        shared = used.intersection(files_used)
        if shared or len(set(files_used)) < len(files_used):
            raise _tampered(path, f"two vectors share {sorted(shared)[0] if shared else files_used[0]}")
        if name_key(item.name) in keys:
            raise _tampered(path, f"it lists {item.name!r} twice")
        used.update(files_used)
        keys.add(name_key(item.name))
        names.append(item)
    if unused := sorted(set(files) - used):
        raise _tampered(path, f"it holds {unused[0]!r}, which no name uses")
    created = _text(path, manifest["created"], "its date")
    return Pack(tuple(names), expected, created)
