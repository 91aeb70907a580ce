"""Embedded colour profiles -> sRGB, so that the model sees the colours the photo was meant to show.

The model was trained on sRGB pixels. Many photos are not sRGB: phones write Display P3, cameras
Adobe RGB, and print files are CMYK, where Pillow's plain ``convert("RGB")`` ignores the profile and
gets colours visibly wrong. When a photo embeds an ICC profile, its RGB or CMYK pixels are transformed
to sRGB with LittleCMS (Pillow's ``ImageCms``), perceptual intent.

- Profiles that already say sRGB are left alone: most camera JPEGs embed one, and a transform would
  cost time for nothing.
- A profile LittleCMS cannot read, or a transform that fails, falls back to the plain conversion. The
  photo is never lost over its colour profile.
- Transforms are built once per distinct profile and mode and shared between the indexer's threads.
  They are built without LittleCMS's one-pixel cache, which is not safe to share.
"""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageCms

_MODES = ("RGB", "CMYK")  # what a photo's profile is commonly written for; others convert plainly


@functools.lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@functools.lru_cache(maxsize=32)
def _transform(icc_profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The transform of one profile and mode to sRGB; None: leave the pixels as they are."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if "srgb" in ImageCms.getProfileDescription(profile).lower():
            return None
        return ImageCms.buildTransform(
            profile,
            _srgb(),
            mode,
            "RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            flags=ImageCms.Flags.NOCACHE,
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def embedded_to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image | None:
    """``image`` converted to sRGB through its embedded profile; None when there is nothing to do (no
    profile, an sRGB one, a mode profiles are not applied to) or the profile cannot be used."""
    if not icc_profile or image.mode not in _MODES:
        return None
    transform = _transform(bytes(icc_profile), image.mode)
    if transform is None:
        return None
    try:
        return ImageCms.applyTransform(image, transform)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
