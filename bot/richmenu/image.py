"""The default rich menu's image: fonts, pictograms and the PNG LINE receives.

This module owns the picture residents see under the chat: one row of tiles, each a
coloured rounded square with a drawn pictogram, a large Japanese label and a small English
one, and the geometry of the tappable areas that must match it (``area_bounds``). The image
is rendered with Pillow from primitives and a Japanese font found on the machine; nothing is
read from disk but the font.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise

from linebot.v3.messaging import RichMenuBounds
from PIL import Image, ImageDraw, ImageFont

logger = logging.getLogger(__name__)

#: LINE's "compact" rich menu size (LINE_PLATFORM.md 6.2: 800-2500 wide, w/h >= 1.45).
WIDTH, HEIGHT = 2500, 843
#: LINE refuses rich menu images over 1 MB.
MAX_IMAGE_BYTES = 1024 * 1024
#: Tiles in the one row; more would not leave room for a readable Japanese label.
MAX_TILES = 4
#: Install hint shown when no font can draw the Japanese labels.
FONT_HINT = (
    "install a Japanese font (Debian/Ubuntu: apt-get install fonts-ipaexfont-gothic) "
    "or set RICHMENU_FONT to a .ttf/.otf/.ttc file that has Japanese glyphs"
)
#: Where Debian's Japanese fonts live, tried after fontconfig's own answer.
KNOWN_FONT_PATHS = (
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
_FC_MATCH_TIMEOUT = 5.0
#: A code point no font draws (plane 16 private use): what a missing glyph looks like.
_MISSING_PROBE = "\U0010fffd"

_BACKGROUND = (255, 255, 255)
_INK = (255, 255, 255)
#: Tile colours by position, each at least 4.5:1 against white text (WCAG AA).
TILE_COLORS: tuple[tuple[int, int, int], ...] = (
    (0x1D, 0x4E, 0xD8),  # blue
    (0x04, 0x78, 0x57),  # green
    (0xB4, 0x53, 0x09),  # amber
    (0x6D, 0x28, 0xD9),  # violet
)
_GUTTER = 10  # half the visual gap between tiles (the tappable areas still touch)
_RADIUS = 36
_ICON = 300  # pictogram box, pixels
_ICON_TOP = 120
_SUPERSAMPLE = 4  # pictograms are drawn 4x and scaled down, for smooth edges
_LABEL_MAX_SIZE = 116
_LABEL_MIN_SIZE = 56
_LABEL_Y = 552
_SUBTITLE_SIZE = 64
_SUBTITLE_Y = 690
_TEXT_MARGIN = 34


class RichMenuError(RuntimeError):
    """Raised when the rich menu cannot be rendered (no Japanese font, bad labels)."""


# -- layout ----------------------------------------------------------------------------


def area_bounds(count: int) -> list[RichMenuBounds]:
    """Equal columns across the whole image, left to right, touching and not overlapping.

    :param count: number of tiles (1 to ``MAX_TILES``).
    :return: one bounds per tile; the last column absorbs any rounding remainder.
    :raises RichMenuError: ``count`` is out of range.
    """
    if not 1 <= count <= MAX_TILES:
        raise RichMenuError(f"the rich menu has room for 1 to {MAX_TILES} tiles, not {count}")
    edges = [i * WIDTH // count for i in range(count + 1)]
    return [
        RichMenuBounds(x=left, y=0, width=right - left, height=HEIGHT)
        for left, right in pairwise(edges)
    ]


# -- fonts -----------------------------------------------------------------------------


def _fontconfig_japanese_font() -> str | None:
    """Ask fontconfig for its preferred Japanese font (it answers even without one)."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        found = subprocess.run(  # noqa: S603 - fixed arguments, absolute path
            [fc_match, "-f", "%{file}", ":lang=ja"],
            capture_output=True,
            text=True,
            timeout=_FC_MATCH_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        logger.debug("fc-match failed", exc_info=True)
        return None
    path = found.stdout.strip()
    return path if found.returncode == 0 and path else None


def font_candidates() -> list[str]:
    """Font files to try for Japanese, best first: fontconfig's choice, then Debian's paths."""
    candidates = [_fontconfig_japanese_font(), *KNOWN_FONT_PATHS]
    return list(dict.fromkeys(path for path in candidates if path))


def _missing_glyphs(font: ImageFont.FreeTypeFont, text: Iterable[str]) -> list[str]:
    """Characters the font would draw as nothing or as its "missing glyph" box."""
    probe = font.getmask(_MISSING_PROBE)
    missing_box = (probe.size, bytes(probe))
    missing = []
    for char in sorted(set(text)):
        if char.isspace():
            continue
        mask = font.getmask(char)
        if mask.getbbox() is None or (mask.size, bytes(mask)) == missing_box:
            missing.append(char)
    return missing


def _load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=0)


def find_japanese_font(text: str, font_path: str | None = None) -> str:
    """Pick a font file that can draw every character of ``text``.

    :param text: everything that will be drawn (labels and subtitles).
    :param font_path: the operator's choice (``RICHMENU_FONT``); when given it is the only
        font tried, so a wrong setting fails loudly instead of changing the design.
    :return: the path of a usable font.
    :raises RichMenuError: no font can draw the text; the message says what to install.
    """
    candidates = [font_path] if font_path else font_candidates()
    tried = []
    for path in candidates:
        try:
            # Pillow would otherwise look a missing file's base name up in the system folders.
            if not os.path.isfile(path):
                raise FileNotFoundError(path)
            font = _load_font(path, 48)
        except OSError:
            tried.append(f"{path} (cannot be opened)")
            continue
        missing = _missing_glyphs(font, text)
        if not missing:
            return path
        tried.append(f"{path} (no glyph for {''.join(missing[:8])})")
    where = "; ".join(tried) if tried else "no font files found"
    raise RichMenuError(f"no font can draw the rich menu's Japanese labels ({where}): {FONT_HINT}")


# -- pictograms ------------------------------------------------------------------------

_Color = tuple[int, int, int, int]
_CLEAR: _Color = (0, 0, 0, 0)


class _Pen:
    """Draws on a square RGBA layer in a 0-100 unit grid; ``_CLEAR`` punches holes."""

    def __init__(self, size: int, ink: _Color) -> None:
        self.image = Image.new("RGBA", (size, size), _CLEAR)
        self.draw = ImageDraw.Draw(self.image)
        self.unit = size / 100
        self.ink = ink

    def _xy(self, *points: float) -> list[float]:
        return [p * self.unit for p in points]

    def stroke(self, points: Sequence[tuple[float, float]], width: float, fill: _Color) -> None:
        """A polyline with round joints and round caps."""
        flat = [c * self.unit for point in points for c in point]
        pixels = round(width * self.unit)
        self.draw.line(flat, fill=fill, width=pixels, joint="curve")
        for x, y in (points[0], points[-1]):
            self.disc(x, y, width / 2, fill)

    def disc(self, x: float, y: float, radius: float, fill: _Color) -> None:
        """A filled circle."""
        self.draw.ellipse(self._xy(x - radius, y - radius, x + radius, y + radius), fill=fill)

    def ring(self, x: float, y: float, radius: float, width: float, fill: _Color) -> None:
        """A circle outline."""
        box = self._xy(x - radius, y - radius, x + radius, y + radius)
        self.draw.ellipse(box, outline=fill, width=round(width * self.unit))

    def box(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        radius: float,
        *,
        fill: _Color | None = None,
        outline: _Color | None = None,
        width: float = 0,
    ) -> None:
        """A rounded rectangle, filled or outlined."""
        self.draw.rounded_rectangle(
            self._xy(x0, y0, x1, y1),
            radius=radius * self.unit,
            fill=fill,
            outline=outline,
            width=round(width * self.unit),
        )

    def polygon(self, points: Sequence[tuple[float, float]], fill: _Color) -> None:
        """A filled polygon."""
        self.draw.polygon([c * self.unit for point in points for c in point], fill=fill)

    def arc(
        self, x: float, y: float, radius: float, start: float, end: float, width: float
    ) -> None:
        """An arc of a circle (degrees clockwise from 3 o'clock)."""
        box = self._xy(x - radius, y - radius, x + radius, y + radius)
        self.draw.arc(box, start, end, fill=self.ink, width=round(width * self.unit))


def _draw_survey(pen: _Pen) -> None:
    """A clipboard with a checklist: two rows ticked, one open."""
    ink = pen.ink
    pen.box(16, 12, 84, 95, 9, outline=ink, width=7)
    pen.box(34, 3, 66, 21, 6, fill=ink)
    for row, y in enumerate((40, 60, 80)):
        if row < 2:
            pen.stroke([(28, y), (33, y + 5), (42, y - 6)], 5, ink)
        else:
            pen.box(28, y - 6, 40, y + 6, 2, outline=ink, width=4)
        pen.stroke([(50, y), (72, y)], 6, ink)


def _draw_consultation(pen: _Pen) -> None:
    """Two speech bubbles in conversation; the front one shows a typing ellipsis."""
    ink = pen.ink
    pen.box(36, 4, 96, 52, 13, fill=ink)
    pen.polygon([(82, 50), (94, 50), (96, 66)], ink)
    # A gap around the front bubble keeps the two shapes apart.
    pen.box(0, 23, 79, 83, 19, fill=_CLEAR)
    pen.polygon([(10, 80), (40, 80), (4, 101)], _CLEAR)
    pen.box(5, 29, 73, 77, 14, fill=ink)
    pen.polygon([(16, 75), (34, 75), (10, 96)], ink)
    for x in (23, 39, 55):
        pen.disc(x, 53, 5.5, _CLEAR)


def _draw_coupon(pen: _Pen) -> None:
    """A ticket with side notches, a perforation and a percent sign."""
    ink = pen.ink
    pen.box(4, 22, 96, 78, 8, fill=ink)
    pen.disc(4, 50, 10, _CLEAR)
    pen.disc(96, 50, 10, _CLEAR)
    for y in range(27, 74, 9):
        pen.box(66.5, y, 70.5, y + 5, 1, fill=_CLEAR)
    pen.stroke([(24, 66), (48, 34)], 5, _CLEAR)
    pen.ring(26, 38, 6, 4, _CLEAR)
    pen.ring(46, 62, 6, 4, _CLEAR)


def _draw_news(pen: _Pen) -> None:
    """A megaphone with sound waves."""
    ink = pen.ink
    pen.box(6, 38, 24, 62, 4, fill=ink)
    pen.polygon([(20, 38), (62, 16), (66, 16), (66, 84), (62, 84), (20, 62)], ink)
    pen.stroke([(30, 62), (36, 84)], 8, ink)
    pen.arc(66, 50, 17, -40, 40, 6)
    pen.arc(66, 50, 30, -40, 40, 6)


#: Pictograms by name, each drawn white on the tile colour.
PICTOGRAMS: dict[str, Callable[[_Pen], None]] = {
    "survey": _draw_survey,
    "consultation": _draw_consultation,
    "coupon": _draw_coupon,
    "news": _draw_news,
}


def _pictogram(name: str) -> Image.Image:
    """Render one pictogram at its final size, anti-aliased by supersampling."""
    if name not in PICTOGRAMS:
        raise RichMenuError(f"unknown pictogram {name!r} (known: {', '.join(PICTOGRAMS)})")
    pen = _Pen(_ICON * _SUPERSAMPLE, (*_INK, 255))
    PICTOGRAMS[name](pen)
    return pen.image.resize((_ICON, _ICON), Image.Resampling.LANCZOS)


# -- the image -------------------------------------------------------------------------


def _fit_size(font_file: str, texts: Sequence[str], width: int, largest: int) -> int:
    """The largest font size (one for all tiles, for a calm row) at which every text fits."""
    size = largest
    while size > _LABEL_MIN_SIZE:
        font = _load_font(font_file, size)
        if max(font.getlength(text) for text in texts) <= width:
            return size
        size -= 4
    raise RichMenuError(f"rich menu labels are too long to fit: {', '.join(texts)}")


def _encode_png(image: Image.Image) -> bytes:
    """PNG bytes under LINE's 1 MB limit (a 256-colour palette if the full colour is too big)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    if buffer.tell() > MAX_IMAGE_BYTES:
        buffer = io.BytesIO()
        image.quantize(256, dither=Image.Dither.NONE).save(buffer, format="PNG", optimize=True)
    if buffer.tell() > MAX_IMAGE_BYTES:
        raise RichMenuError(f"rich menu image is {buffer.tell()} bytes (LINE allows 1 MB)")
    return buffer.getvalue()


def render_rich_menu_image(
    labels: Sequence[str],
    *,
    subtitles: Sequence[str] = (),
    pictograms: Sequence[str] = (),
    font_path: str | None = None,
) -> bytes:
    """Draw the rich menu: one coloured tile per label, in one row, as a 2500x843 PNG.

    :param labels: the large (Japanese) label of each tile, left to right.
    :param subtitles: an optional small (English) line under each label.
    :param pictograms: an optional ``PICTOGRAMS`` name for each tile.
    :param font_path: a font file to use (``RICHMENU_FONT``); found on the machine if omitted.
    :return: PNG bytes, under 1 MB.
    :raises RichMenuError: no usable Japanese font, labels too long, or mismatched lengths.
    """
    bounds = area_bounds(len(labels))
    for name, values in (("subtitles", subtitles), ("pictograms", pictograms)):
        if values and len(values) != len(labels):
            raise RichMenuError(f"{len(labels)} labels but {len(values)} {name}")
    font_file = find_japanese_font("".join(labels) + "".join(subtitles), font_path)
    text_width = min(b.width for b in bounds) - 2 * (_GUTTER + _TEXT_MARGIN)
    label_font = _load_font(font_file, _fit_size(font_file, labels, text_width, _LABEL_MAX_SIZE))
    subtitle_font = (
        _load_font(font_file, _fit_size(font_file, subtitles, text_width, _SUBTITLE_SIZE))
        if subtitles
        else None
    )

    canvas = Image.new("RGBA", (WIDTH, HEIGHT), (*_BACKGROUND, 255))
    draw = ImageDraw.Draw(canvas)
    for index, (bound, label) in enumerate(zip(bounds, labels, strict=True)):
        left, width = int(bound.x or 0), int(bound.width or 0)
        color = TILE_COLORS[index % len(TILE_COLORS)]
        draw.rounded_rectangle(
            (left + _GUTTER, _GUTTER, left + width - _GUTTER - 1, HEIGHT - _GUTTER - 1),
            radius=_RADIUS,
            fill=(*color, 255),
        )
        centre = left + width // 2
        if pictograms:
            canvas.alpha_composite(_pictogram(pictograms[index]), (centre - _ICON // 2, _ICON_TOP))
        # A stroke in the text colour thickens the single-weight Japanese font for legibility.
        draw.text(
            (centre, _LABEL_Y),
            label,
            font=label_font,
            fill=_INK,
            anchor="mm",
            stroke_width=2,
            stroke_fill=_INK,
        )
        if subtitle_font is not None:
            draw.text(
                (centre, _SUBTITLE_Y),
                subtitles[index],
                font=subtitle_font,
                fill=_INK,
                anchor="mm",
                stroke_width=1,
                stroke_fill=_INK,
            )
    return _encode_png(canvas.convert("RGB"))
