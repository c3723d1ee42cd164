"""The default rich menu: ``image`` draws it, ``deploy`` puts it on LINE idempotently.

The names the CLI, the development server and the tests use are handed on from here.
"""

from bot.richmenu.deploy import (
    NAME_PREFIX,
    DeployResult,
    MenuTile,
    build_rich_menu_request,
    default_tiles,
    deploy_default_rich_menu,
)
from bot.richmenu.image import (
    HEIGHT,
    MAX_IMAGE_BYTES,
    TILE_COLORS,
    WIDTH,
    RichMenuError,
    find_japanese_font,
    render_rich_menu_image,
)

__all__ = [
    "HEIGHT",
    "MAX_IMAGE_BYTES",
    "NAME_PREFIX",
    "TILE_COLORS",
    "WIDTH",
    "DeployResult",
    "MenuTile",
    "RichMenuError",
    "build_rich_menu_request",
    "default_tiles",
    "deploy_default_rich_menu",
    "find_japanese_font",
    "render_rich_menu_image",
]
