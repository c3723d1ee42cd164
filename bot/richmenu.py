"""The default rich menu: its image, its LINE request and its idempotent deployment.

This module owns the menu residents see under the chat: one row of four tiles (the
``MAIN_MENU`` features) with a drawn pictogram, a large Japanese label and a small English
one. The image is rendered with Pillow from primitives and a Japanese font found on the
machine; nothing is read from disk but the font.

Deployment is idempotent. The menu's name carries a fingerprint of its content (areas,
actions, labels and pixels), so ``deploy_default_rich_menu`` can tell from LINE's list alone
whether the current design is already there. LINE cannot replace an uploaded image and
allows 100 creates an hour, so a menu is only created when the design changed or the
previous attempt left one without an image (which is then deleted, never reused).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from flask_babel import force_locale
from linebot.v3.messaging import (
    PostbackAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuResponse,
    RichMenuSize,
)
from PIL import Image, ImageDraw, ImageFont

from bot.line_api import LineApiError, LineGateway
from bot.messages import MAIN_MENU
from bot.postback import PostbackData

logger = logging.getLogger(__name__)

#: LINE's "compact" rich menu size (LINE_PLATFORM.md 6.2: 800-2500 wide, w/h >= 1.45).
WIDTH, HEIGHT = 2500, 843
#: LINE refuses rich menu images over 1 MB.
MAX_IMAGE_BYTES = 1024 * 1024
#: Every menu this module creates is named ``<prefix><fingerprint>``; older ones are deleted.
NAME_PREFIX = "madoguchi-default-"
#: Text on the chat bar that opens and closes the menu (LINE allows 14 characters).
CHAT_BAR_TEXT = "メニュー"
#: Tiles in the one row; more would not leave room for a readable Japanese label.
MAX_TILES = 4
#: LINE's limit on an action label (read out by screen readers).
MAX_ACTION_LABEL = 20

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

#: The Japanese label and pictogram of each main-menu action. They live here, not in the
#: translation catalogs, because the image is baked once for every resident: the deployed
#: design must not depend on which catalogs happen to be compiled on the deploying machine.
FEATURES: dict[str, tuple[str, str]] = {
    "menu.surveys": ("アンケート", "survey"),
    "menu.consultation": ("相談", "consultation"),
    "menu.coupons": ("クーポン", "coupon"),
    "menu.announcements": ("お知らせ", "news"),
}

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


@dataclass(frozen=True)
class MenuTile:
    """One area of the rich menu: what a tap does and what the tile shows."""

    action: str
    #: Large Japanese label; also what the tap writes in the chat.
    label: str
    #: Small English label under it.
    subtitle: str
    #: A key of ``PICTOGRAMS``.
    pictogram: str


@dataclass(frozen=True)
class DeployResult:
    """What ``deploy_default_rich_menu`` did."""

    rich_menu_id: str
    name: str
    #: True when a new menu was created and its image uploaded.
    created: bool
    #: True when the menu was made the default by this deploy.
    made_default: bool = False
    #: Older madoguchi menus (or half-made ones) that were deleted.
    deleted: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.created:
            text = f"created rich menu {self.rich_menu_id} ({self.name}) and made it the default"
        elif self.made_default:
            text = f"made the existing rich menu {self.rich_menu_id} ({self.name}) the default"
        else:
            text = f"rich menu {self.rich_menu_id} ({self.name}) is already the default"
        if self.deleted:
            text += f"; deleted {len(self.deleted)} old menu(s): {', '.join(self.deleted)}"
        elif not self.created and not self.made_default:
            text += "; nothing to do"
        return text


# -- content ---------------------------------------------------------------------------


def default_tiles() -> tuple[MenuTile, ...]:
    """The four main-menu features, with Japanese labels and English subtitles.

    :return: one tile per ``MAIN_MENU`` entry, in menu order.
    :raises RichMenuError: a main-menu action has no Japanese label or pictogram here.
    """
    tiles = []
    for entry in MAIN_MENU:
        if entry.action not in FEATURES:
            raise RichMenuError(f"no rich menu label for {entry.action!r}; add it to FEATURES")
        label, pictogram = FEATURES[entry.action]
        with force_locale("en"):
            subtitle = str(entry.label)
        tiles.append(MenuTile(entry.action, label, subtitle, pictogram))
    return tuple(tiles)


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


# -- the request -----------------------------------------------------------------------


def fingerprint(request: RichMenuRequest, image: bytes) -> str:
    """Twelve hex digits identifying a design: the request (without its name) and the pixels.

    The pixels are hashed rather than the PNG bytes so that a new zlib or Pillow that
    compresses differently does not count as a new design.
    """
    content = request.to_dict()
    content.pop("name", None)
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    with Image.open(io.BytesIO(image)) as decoded:
        digest.update(f"{decoded.mode}:{decoded.width}x{decoded.height}:".encode())
        palette = decoded.getpalette()
        if palette:
            digest.update(bytes(palette))
        digest.update(decoded.tobytes())
    return digest.hexdigest()[:12]


def build_rich_menu_request(image: bytes, tiles: Sequence[MenuTile]) -> RichMenuRequest:
    """The create request for a rendered image: areas, postback actions and a fingerprinted name.

    :param image: the PNG from ``render_rich_menu_image`` for the same tiles.
    :param tiles: the tiles, left to right, as drawn.
    :return: a request named ``madoguchi-default-<fingerprint>``, shown by default.
    :raises RichMenuError: the image is not 2500x843, or there are too many tiles.
    :raises bot.postback.PostbackError: a tile's action is not a valid postback action.
    """
    with Image.open(io.BytesIO(image)) as decoded:
        if decoded.size != (WIDTH, HEIGHT):
            raise RichMenuError(f"rich menu image is {decoded.size}, expected {(WIDTH, HEIGHT)}")
    areas = [
        RichMenuArea(
            bounds=bound,
            action=PostbackAction(
                data=PostbackData(tile.action).encode(),
                displayText=tile.label,
                label=tile.label[:MAX_ACTION_LABEL],
            ),
        )
        for bound, tile in zip(area_bounds(len(tiles)), tiles, strict=True)
    ]
    fields = {
        "size": RichMenuSize(width=WIDTH, height=HEIGHT),
        "selected": True,
        "chatBarText": CHAT_BAR_TEXT,
        "areas": areas,
    }
    unnamed = RichMenuRequest(name=NAME_PREFIX, **fields)
    return RichMenuRequest(name=NAME_PREFIX + fingerprint(unnamed, image), **fields)


# -- deployment ------------------------------------------------------------------------


def _list_menus(gateway: LineGateway) -> list[RichMenuResponse]:
    sent = gateway.call("richmenu.list", gateway.api.get_rich_menu_list_with_http_info)
    return list(sent.data.richmenus) if sent.data is not None else []


def _default_menu_id(gateway: LineGateway) -> str | None:
    """The default rich menu set through the API, or ``None`` (LINE answers 404)."""
    try:
        sent = gateway.call(
            "richmenu.default.get", gateway.api.get_default_rich_menu_id_with_http_info
        )
    except LineApiError as error:
        if error.status == 404:
            return None
        raise
    return str(sent.data.rich_menu_id) if sent.data is not None else None


def _has_image(gateway: LineGateway, rich_menu_id: str) -> bool:
    """Whether the menu's image was uploaded (downloading it answers 404 otherwise)."""
    try:
        gateway.call(
            "richmenu.download", gateway.blob.get_rich_menu_image_with_http_info, rich_menu_id
        )
    except LineApiError as error:
        if error.status == 404:
            return False
        raise
    return True


def _delete(gateway: LineGateway, rich_menu_id: str) -> None:
    gateway.call("richmenu.delete", gateway.api.delete_rich_menu_with_http_info, rich_menu_id)


def _create_with_image(gateway: LineGateway, request: RichMenuRequest, image: bytes) -> str:
    """Create the menu and upload its image; a menu whose upload failed is deleted again."""
    # A create is neither idempotent nor keyed: an unanswered attempt is not resent.
    sent = gateway.call(
        "richmenu.create",
        gateway.api.create_rich_menu_with_http_info,
        request,
        retry_when_unanswered=False,
    )
    rich_menu_id = str(sent.data.rich_menu_id)
    logger.info("created rich menu %s (%s)", rich_menu_id, request.name)
    try:
        gateway.call(
            "richmenu.upload",
            gateway.blob.set_rich_menu_image_with_http_info,
            rich_menu_id,
            body=image,
            _headers={"Content-Type": "image/png"},
        )
    except LineApiError:
        # A retry after an upload that did land is refused ("already uploaded").
        try:
            if _has_image(gateway, rich_menu_id):
                return rich_menu_id
            _delete(gateway, rich_menu_id)
            logger.warning("rich menu image upload failed; deleted menu %s", rich_menu_id)
        except LineApiError:
            logger.warning(
                "rich menu image upload failed and menu %s could not be deleted; "
                "the next deploy deletes it",
                rich_menu_id,
            )
        raise
    return rich_menu_id


def deploy_default_rich_menu(
    gateway: LineGateway,
    *,
    font_path: str | None = None,
    tiles: Sequence[MenuTile] | None = None,
) -> DeployResult:
    """Make the current design the default rich menu, creating it only if LINE lacks it.

    Re-running is safe: an existing complete menu with the same fingerprint is reused (and
    made the default if it is not), a menu left without an image is deleted and recreated,
    and older ``madoguchi-default-*`` menus are deleted once the new one is the default.

    :param gateway: the LINE gateway (``app.extensions["line"]``).
    :param font_path: a Japanese font file (``RICHMENU_FONT``); found on the machine if omitted.
    :param tiles: the tiles to show; the four main-menu features if omitted.
    :return: the default menu's id, and whether it was created or made the default.
    :raises RichMenuError: the image cannot be rendered (no Japanese font).
    :raises bot.line_api.LineApiError: LINE refused a call or did not answer.
    """
    tiles = tuple(tiles) if tiles is not None else default_tiles()
    image = render_rich_menu_image(
        [tile.label for tile in tiles],
        subtitles=[tile.subtitle for tile in tiles],
        pictograms=[tile.pictogram for tile in tiles],
        font_path=font_path,
    )
    request = build_rich_menu_request(image, tiles)
    name = str(request.name)

    menus = _list_menus(gateway)
    default_id = _default_menu_id(gateway)
    # The current default first: if it is complete, nothing needs to change.
    same = sorted(
        (menu for menu in menus if menu.name == name),
        key=lambda menu: menu.rich_menu_id != default_id,
    )
    keep = next(
        (menu.rich_menu_id for menu in same if _has_image(gateway, menu.rich_menu_id)), None
    )

    created = keep is None
    if keep is None:
        keep = _create_with_image(gateway, request, image)
    made_default = keep != default_id
    if made_default:
        gateway.call("richmenu.default.set", gateway.api.set_default_rich_menu_with_http_info, keep)
        logger.info("rich menu %s is now the default", keep)
    if created:
        # A create retried after a 5xx may have left a twin; list again to catch it.
        menus = _list_menus(gateway)

    deleted = []
    for menu in menus:
        if menu.name.startswith(NAME_PREFIX) and menu.rich_menu_id != keep:
            _delete(gateway, menu.rich_menu_id)
            deleted.append(menu.rich_menu_id)
            logger.info("deleted rich menu %s (%s)", menu.rich_menu_id, menu.name)
    return DeployResult(keep, name, created, made_default, tuple(deleted))
