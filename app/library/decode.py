"""Safe photo decoding: any file a user has -> an upright RGB image, or a ``DecodeError`` in words.

What "safe" means here:
- Size limit. ``MAX_PIXELS`` is checked on the header alone, before any pixel is decoded, so a
  decompression bomb (a small file claiming 100000 x 100000 pixels) costs nothing and is an error, not
  a crash. Pillow's own ``Image.MAX_IMAGE_PIXELS`` is set to the same number; its warning between
  1x and 2x the limit is silenced because our check already refuses those images with an error.
- Truncated files are errors: ``ImageFile.LOAD_TRUNCATED_IMAGES`` stays False (a half-grey photo
  would be indexed as if it were whole).
- Pillow raises many exception types on malformed files (``SyntaxError``, ``struct.error``, ...), so
  anything raised while parsing or decoding a file is that file's problem and becomes a
  ``DecodeError``; metadata (EXIF) failures never lose the photo, they only lose the metadata.

Colour: a photo with an embedded ICC profile (Display P3, Adobe RGB, CMYK print files) is converted to
sRGB through it (``app.library.colour``), as the model expects; without one, Pillow's plain
conversion applies.

JPEG draft: ``decode_image(path, min_side)`` lets libjpeg decode at 1/2, 1/4 or 1/8 scale in the DCT,
which makes a 12-megapixel JPEG several times faster to decode. Pillow's draft keeps both sides at or
above the requested size; the indexer asks for at least 1.9 times the model's input side (and never
less than the thumbnail; ``indexer.DRAFT_FACTOR`` says why not 2), so the model's own bicubic resize
still downsamples by about 2x or more and sees nearly the same pixels as from a full decode.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from app.library.colour import embedded_to_srgb
from core.errors import KnownError

pillow_heif.register_heif_opener()

# 200 megapixels: above every camera sensor sold (150 MP medium format, 200 MP phone JPEGs) with room
# for stitched panoramas. This bounds the header; what is actually decoded is bounded by the next one.
MAX_PIXELS = 200_000_000
# The memory ceiling of one decode is 600 MB. A decode holds the pixels two or three times over (the
# decoded image, its RGB conversion, the EXIF-upright or ICC copy: up to 12 bytes a pixel with alpha),
# so at most 50 megapixels are decoded. A JPEG above that is decoded reduced (draft) when the caller
# allows it (``min_side``: the indexer, search by image); formats that cannot be reduced while
# decoding (PNG, TIFF, WebP, ...) are refused above it. Measured: a 196-megapixel PNG took 1.65 GB.
MAX_DECODED_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

_EXIF_IFD = 0x8769
_ORIENTATION = 0x0112
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_EXIF_DATE = re.compile(r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")
_JPEG_FORMATS = {"JPEG", "MPO"}  # MPO: the JPEG with extra frames many phones write
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


class DecodeError(KnownError):
    """A photo file that cannot be decoded; the message says why in words."""


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # RGB, upright; reduced by JPEG draft when asked (both sides >= min_side)
    width: int  # the full photo's size after EXIF orientation, not the draft's
    height: int
    taken_at: str | None  # EXIF DateTimeOriginal as ISO 8601 ("2024-05-01T14:03:22[+02:00]")
    format: str  # Pillow's format name, e.g. "JPEG", "HEIF"


def require_photo_file(path: str | Path) -> None:
    """Refuse ``path`` unless it is a regular file: reading a FIFO (or a device) named like a photo
    would wait forever, or never end."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise DecodeError(f"cannot read the file: {err.strerror or err}") from err
    if stat.S_ISDIR(mode):
        raise DecodeError("cannot read the file: it is a folder, not an image")
    if not stat.S_ISREG(mode):
        raise DecodeError("not a regular file (a pipe, device or socket), so it is not read")


def decode_image(path: str | Path, min_side: int | None = None) -> Decoded:
    """Decode ``path`` safely (see the module docstring). ``min_side``: allow a JPEG to be decoded at a
    reduced scale whose sides stay >= ``min_side``; None decodes at full size."""
    require_photo_file(path)
    try:
        image = Image.open(path)
    except UnidentifiedImageError as err:
        raise DecodeError(_unidentified(path)) from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        # Pillow refused the header (over twice its limit), or a caller's filter made its warning an error.
        claimed = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(claimed.group(1)):,} pixels, " if claimed else ""
        raise DecodeError(f"image too large ({size}limit {MAX_PIXELS:,})") from err
    except OSError as err:
        if err.errno is None:  # Pillow's own parse errors ("Truncated File Read") carry no errno
            raise DecodeError(f"damaged or unsupported image ({err})") from err
        raise DecodeError(f"cannot read the file: {err.strerror or err}") from err
    except Exception as err:  # a malformed header: the file's problem, not ours (module docstring)
        raise DecodeError(f"damaged or unsupported image ({type(err).__name__}: {err})") from err
    with image:
        return _decode_open(image, min_side)


@dataclass(frozen=True)
class StoredView:
    """A photo as a plain ``Image.open`` gives it, before any orientation is applied: what X-VLM's record
    loader (``core.records.open_image``) trains on."""

    width: int
    height: int
    orientation: int  # EXIF orientation, 1 (none) to 8; ``core.orientation`` maps boxes with it


def stored_view(path: str | Path) -> StoredView:
    """The stored size and EXIF orientation of ``path``, from its header alone (no pixel is decoded);
    a ``DecodeError`` in words for a file that is not a readable image."""
    require_photo_file(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            return StoredView(width, height, _orientation(_exif(image)))
    except UnidentifiedImageError as err:
        raise DecodeError(_unidentified(path)) from err
    except OSError as err:
        raise DecodeError(f"cannot read the file: {err.strerror or err}") from err
    except Exception as err:  # a malformed header: the file's problem (module docstring)
        raise DecodeError(f"damaged or unsupported image ({type(err).__name__}: {err})") from err


def _decode_open(image: Image.Image, min_side: int | None) -> Decoded:
    fmt = image.format or "unknown"
    width, height = image.size
    if width <= 0 or height <= 0:
        raise DecodeError(f"{fmt} image with no pixels ({width} x {height})")
    if width * height > MAX_PIXELS:
        raise DecodeError(
            f"image too large ({width} x {height} = {width * height:,} pixels, limit {MAX_PIXELS:,})"
        )
    try:
        if min_side and fmt in _JPEG_FORMATS:
            image.draft("RGB", (min_side, min_side))
    except Exception as err:  # a header the draft cannot use: the file's problem
        raise DecodeError(_load_failure(fmt, err)) from err
    # Before reading EXIF: Pillow decodes a whole PNG to look for an EXIF chunk after the pixels.
    _refuse_above_decode_ceiling(image, fmt)
    exif = _exif(image)
    try:
        image.load()  # a freshly opened file is at its first frame (GIF, WebP, multi-page TIFF)
    except Exception as err:  # truncated data, a corrupt stream, a decoder error
        raise DecodeError(_load_failure(fmt, err)) from err
    if _orientation(exif) >= 5:  # a quarter turn swaps the sides
        width, height = height, width
    upright = _upright(image, exif)
    rgb = embedded_to_srgb(upright, image.info.get("icc_profile")) or _to_rgb(upright)
    return Decoded(rgb, width, height, exif_taken_at(exif), fmt)


def _refuse_above_decode_ceiling(image: Image.Image, fmt: str) -> None:
    """``image.size`` is what ``load`` will decode (a JPEG draft has already reduced it)."""
    width, height = image.size
    if width * height > MAX_DECODED_PIXELS:
        raise DecodeError(
            f"image too large to decode ({fmt} {width} x {height} = {width * height:,} pixels; "
            f"Multigrain decodes at most {MAX_DECODED_PIXELS:,} pixels at once)"
        )


def _unidentified(path: str | Path) -> str:
    try:
        with open(path, "rb") as file:
            head = file.read(512)
    except OSError as err:
        return f"cannot read the file: {err.strerror or err}"
    suffix = Path(path).suffix or "photo"
    if not head:
        return "empty file (0 bytes)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and all(ch.isprintable() or ch.isspace() for ch in text):
        return f"not an image (a text file named {suffix})"
    return "not an image, or a format Multigrain cannot read"


def _load_failure(fmt: str, err: Exception) -> str:
    text = str(err)
    if "truncated" in text or "broken data stream" in text or isinstance(err, EOFError):
        return f"truncated {fmt} (the file ends before the image does)"
    return f"damaged {fmt} image ({type(err).__name__}: {text})"


def _exif(image: Image.Image) -> Image.Exif | None:
    try:
        return image.getexif()
    except Exception:  # damaged EXIF: keep the photo, lose the metadata (module docstring)
        return None


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB, with transparency composited over white and high bit depths scaled."""
    mode = image.mode
    if mode == "RGB":
        return image.copy()
    if mode == "P" and "transparency" in image.info:
        return _over_white(image.convert("RGBA"))
    if mode in _ALPHA_MODES:
        return _over_white(image.convert("RGBA"))
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image)), "L").convert("RGB")
    if mode in ("L", "1") and "transparency" in image.info:
        return _over_white(image.convert("RGBA"))
    return image.convert("RGB")  # L, 1, P, CMYK (Adobe-inverted handled by Pillow), YCbCr, LAB, HSV


def _over_white(rgba: Image.Image) -> Image.Image:
    # Transparent pixels often hold black or junk colour; white is what viewers show behind them.
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    background.alpha_composite(rgba)
    return background.convert("RGB")


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    """16-bit or 32-bit grey -> 8-bit. Pillow's own ``convert`` clips at 255, which turns a 16-bit photo
    white; 16-bit data is scaled by 1/256, floats in [0, 1] by 255."""
    if pixels.dtype.kind == "f":
        scale = 255.0 if float(np.nanmax(pixels, initial=0.0)) <= 1.0 else 1.0
        return np.clip(np.nan_to_num(pixels) * scale, 0, 255).astype(np.uint8)
    values = pixels.astype(np.int64)
    if values.max(initial=0) > 255:
        values = values >> 8
    return np.clip(values, 0, 255).astype(np.uint8)


def _orientation(exif: Image.Exif | None) -> int:
    if exif is None:
        return 1
    try:
        value = exif.get(_ORIENTATION, 1)
    except Exception:  # damaged EXIF (module docstring)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(image: Image.Image, exif: Image.Exif | None) -> Image.Image:
    """Apply the EXIF orientation; only a valid value (2..8) is acted on, anything else is ignored."""
    orientation = _orientation(exif)
    if orientation == 1:
        return image
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # exif_transpose rewrites the EXIF block; a damaged one must not lose the photo
        return image.transpose(_TRANSPOSE[orientation])


def exif_taken_at(exif: Image.Exif | None) -> str | None:
    """EXIF DateTimeOriginal ("2024:05:01 14:03:22") -> ISO 8601, with OffsetTimeOriginal if present."""
    if exif is None:
        return None
    try:
        ifd = exif.get_ifd(_EXIF_IFD)
        raw, offset = ifd.get(_DATETIME_ORIGINAL), ifd.get(_OFFSET_TIME_ORIGINAL)
    except Exception:  # damaged EXIF (module docstring)
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    match = _EXIF_DATE.match(raw) if isinstance(raw, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    valid_time = hour <= 23 and minute <= 59 and second <= 60
    if year < 1800 or not (1 <= month <= 12 and 1 <= day <= 31 and valid_time):
        return None  # "0000:00:00 00:00:00" and friends: the camera did not know
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if isinstance(offset, str) and _OFFSET.match(offset.strip()):
        text += offset.strip()
    return text
