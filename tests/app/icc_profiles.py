"""ICC profiles made in the test, for photos whose embedded profile must change their colours.

LittleCMS reads a version-2 matrix/TRC RGB profile from a header, a tag table and eight tags
(description, white point, three primaries, three tone curves). Swapping the red and green primaries
of sRGB gives a profile under which stored red means green: a photo tagged with it must decode green.
"""

from __future__ import annotations

import struct

D50 = (0.9642, 1.0, 0.8249)
SRGB_D50 = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + _s15(x) + _s15(y) + _s15(z)


def _gamma(value: float) -> bytes:
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(value * 256)) + bytes(2)


def _description(text: str) -> bytes:
    ascii_text = text.encode() + b"\0"
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(12 + 67)


def matrix_profile(
    red: tuple[float, float, float],
    green: tuple[float, float, float],
    blue: tuple[float, float, float],
    name: str,
    gamma: float = 2.2,
) -> bytes:
    """ICC v2 RGB display profile bytes with these D50 primaries and one gamma for all channels."""
    tags = [
        (b"desc", _description(name)),
        (b"wtpt", _xyz(*D50)),
        (b"rXYZ", _xyz(*red)),
        (b"gXYZ", _xyz(*green)),
        (b"bXYZ", _xyz(*blue)),
        (b"rTRC", _gamma(gamma)),
        (b"gTRC", _gamma(gamma)),
        (b"bTRC", _gamma(gamma)),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += bytes(-len(body) % 4)  # tags start on 4-byte boundaries
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    header = (
        struct.pack(">I", offset + len(data))
        + b"lcms"
        + bytes([2, 0x10, 0, 0])  # version 2.1
        + b"mntrRGB XYZ "
        + bytes(12)  # creation date
        + b"acsp"
        + bytes(24)  # platform, flags, manufacturer, model, attributes
        + bytes(4)  # rendering intent
        + _s15(D50[0])
        + _s15(D50[1])
        + _s15(D50[2])
        + bytes(4 + 16 + 28)  # creator, profile id, reserved
    )
    return header + struct.pack(">I", len(tags)) + table + data


def red_green_swapped() -> bytes:
    red, green, blue = SRGB_D50
    return matrix_profile(green, red, blue, "red and green swapped")
