"""Pictures for people: a photo with its grounded box drawn, and a contact sheet of search results."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

BOX_COLOUR = (255, 40, 40)
TEXT_COLOUR = (20, 20, 20)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow without a scalable built-in font
        return ImageFont.load_default()


def draw_box(
    image: Image.Image, box: tuple[int, int, int, int], label: str | None = None, width: int | None = None
) -> Image.Image:
    """A copy of ``image`` with ``box`` (x0, y0, x1, y1 pixels) outlined and ``label`` above it."""
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    line = width or max(2, round(min(out.size) / 150))
    draw.rectangle(box, outline=BOX_COLOUR, width=line)
    if label:
        font = _font(max(10, round(min(out.size) / 20)))
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        x = max(0, min(box[0], out.width - (right - left) - 4))
        y = box[1] - (bottom - top) - 6 if box[1] - (bottom - top) - 6 >= 0 else box[3] + 2
        draw.rectangle((x, y, x + right - left + 4, y + bottom - top + 4), fill=BOX_COLOUR)
        draw.text((x + 2 - left, y + 2 - top), label, fill=(255, 255, 255), font=font)
    return out


@dataclass(frozen=True)
class Tile:
    image: Image.Image  # already annotated if it should show a box
    lines: tuple[str, ...]  # caption lines under it


def contact_sheet(
    rows: list[tuple[str, list[Tile]]], tile: int = 200, columns: int | None = None
) -> Image.Image:
    """One row per (title, tiles): the title on the left, then the tiles fitted into ``tile`` squares."""
    columns = columns or max((len(tiles) for _, tiles in rows), default=1)
    font, small = _font(15), _font(12)
    title_w, caption_h, pad = 230, 34, 8
    row_h = tile + caption_h + pad
    sheet = Image.new(
        "RGB", (title_w + columns * (tile + pad) + pad, max(1, len(rows)) * row_h + pad), "white"
    )
    draw = ImageDraw.Draw(sheet)
    for r, (title, tiles) in enumerate(rows):
        top = pad + r * row_h
        draw.multiline_text((pad, top + 4), _wrap(title, 28), fill=TEXT_COLOUR, font=font, spacing=3)
        for c, t in enumerate(tiles[:columns]):
            thumb = t.image.convert("RGB").copy()
            thumb.thumbnail((tile, tile))
            left = title_w + c * (tile + pad)
            sheet.paste(thumb, (left + (tile - thumb.width) // 2, top + (tile - thumb.height) // 2))
            draw.multiline_text((left, top + tile + 2), "\n".join(t.lines[:2]), fill=TEXT_COLOUR, font=small)
    return sheet


def _wrap(text: str, width: int) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines[:6])
