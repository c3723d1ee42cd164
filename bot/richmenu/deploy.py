"""The default rich menu on LINE: its create request, fingerprint and idempotent deployment.

The menu shows ``bot.menu.MAIN_MENU``, one tile per feature, drawn by
``bot.richmenu.image``. Deployment is idempotent. The menu's name carries a fingerprint of
its content (areas, actions, labels and pixels), so ``deploy_default_rich_menu`` can tell
from LINE's list alone whether the current design is already there. LINE cannot replace an
uploaded image and allows 100 creates an hour, so a menu is only created when the design
changed or the previous attempt left one without an image (which is then deleted, never
reused).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import force_locale
from linebot.v3.messaging import (
    PostbackAction,
    RichMenuArea,
    RichMenuRequest,
    RichMenuResponse,
    RichMenuSize,
)
from PIL import Image

from bot.line_api import LineApiError, LineGateway
from bot.menu import MAIN_MENU
from bot.postback import PostbackData
from bot.richmenu.image import HEIGHT, WIDTH, RichMenuError, area_bounds, render_rich_menu_image

logger = logging.getLogger(__name__)

#: Every menu this module creates is named ``<prefix><fingerprint>``; older ones are deleted.
NAME_PREFIX = "madoguchi-default-"
#: Text on the chat bar that opens and closes the menu (LINE allows 14 characters).
CHAT_BAR_TEXT = "メニュー"
#: LINE's limit on an action label (read out by screen readers).
MAX_ACTION_LABEL = 20


@dataclass(frozen=True)
class MenuTile:
    """One area of the rich menu: what a tap does and what the tile shows."""

    action: str
    #: Large Japanese label; also what the tap writes in the chat.
    label: str
    #: Small English label under it.
    subtitle: str
    #: A key of ``bot.richmenu.image.PICTOGRAMS``.
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
    """The main-menu features, with their Japanese labels and English subtitles.

    :return: one tile per ``MAIN_MENU`` entry, in menu order.
    """
    tiles = []
    for entry in MAIN_MENU:
        with force_locale("en"):
            subtitle = str(entry.label)
        tiles.append(MenuTile(entry.action, entry.rich_menu_label, subtitle, entry.pictogram))
    return tuple(tiles)


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
