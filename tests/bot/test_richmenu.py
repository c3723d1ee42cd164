"""The default rich menu: its image, its create request, and deploying it to the fake platform."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from linebot.v3.messaging import RichMenuRequest
from PIL import Image

from bot.config import LineSettings
from bot.line_api import LineApiError, LineGateway
from bot.menu import MAIN_MENU
from bot.postback import decode
from bot.richmenu import (
    HEIGHT,
    MAX_IMAGE_BYTES,
    NAME_PREFIX,
    TILE_COLORS,
    WIDTH,
    MenuTile,
    RichMenuError,
    build_rich_menu_request,
    default_tiles,
    deploy_default_rich_menu,
    find_japanese_font,
    render_rich_menu_image,
)
from bot.richmenu import image as richmenu_image
from simulator.server import RunningPlatform
from simulator.validation import validate_request
from tests.support import ACCESS_TOKEN

WHITE = (255, 255, 255)
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def render(tiles: tuple[MenuTile, ...]) -> bytes:
    return render_rich_menu_image(
        [tile.label for tile in tiles],
        subtitles=[tile.subtitle for tile in tiles],
        pictograms=[tile.pictogram for tile in tiles],
    )


@pytest.fixture(scope="module")
def tiles() -> tuple[MenuTile, ...]:
    return default_tiles()


@pytest.fixture(scope="module")
def png(tiles: tuple[MenuTile, ...]) -> bytes:
    """The default design, rendered once for the module (needs fonts-ipaexfont-gothic)."""
    try:
        return render(tiles)
    except RichMenuError as error:  # pragma: no cover - a machine without a Japanese font
        pytest.fail(f"{error}")


@pytest.fixture(scope="module")
def picture(png: bytes) -> Image.Image:
    with Image.open(io.BytesIO(png)) as image:
        return image.convert("RGB")


@pytest.fixture(scope="module")
def request_(png: bytes, tiles: tuple[MenuTile, ...]) -> RichMenuRequest:
    return build_rich_menu_request(png, tiles)


@pytest.fixture
def gateway(platform: RunningPlatform) -> Iterator[LineGateway]:
    platform.state.reset()
    settings = LineSettings(
        channel_secret="s",
        access_token=ACCESS_TOKEN,
        api_base_url=platform.url,
        data_base_url=platform.url,
        timeout=2.0,
        max_attempts=3,
        retry_wait=0.01,
    )
    gateway = LineGateway(settings)
    yield gateway
    gateway.close()
    platform.state.reset()


def _luminance(color: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(v) for v in color)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Pixels in ``box`` close to white (text and pictograms are white on the tile)."""
    return sum(image.crop(box).convert("L").histogram()[201:])


def _columns() -> list[tuple[int, int]]:
    return [(i * WIDTH // 4, (i + 1) * WIDTH // 4) for i in range(4)]


# -- the tiles --------------------------------------------------------------------------


def test_default_tiles_follow_the_main_menu(tiles: tuple[MenuTile, ...]) -> None:
    assert [tile.action for tile in tiles] == [entry.action for entry in MAIN_MENU]
    assert [tile.label for tile in tiles] == ["アンケート", "相談", "クーポン", "お知らせ"]
    assert [tile.subtitle for tile in tiles] == ["Surveys", "Consultation", "Coupons", "News"]
    assert {tile.pictogram for tile in tiles} <= richmenu_image.PICTOGRAMS.keys()


def test_tile_colours_have_accessible_contrast_with_white_text() -> None:
    for color in TILE_COLORS:
        ratio = (_luminance(WHITE) + 0.05) / (_luminance(color) + 0.05)
        assert ratio >= 4.5, color


# -- the image --------------------------------------------------------------------------


def test_image_is_a_compact_png_under_one_megabyte(png: bytes) -> None:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) < MAX_IMAGE_BYTES
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.size == (WIDTH, HEIGHT) == (2500, 843)


def test_each_area_is_its_own_colour(picture: Image.Image) -> None:
    corners = [picture.getpixel((left + 60, 60)) for left, _ in _columns()]
    assert corners == list(TILE_COLORS)
    assert len(set(corners)) == 4


def test_areas_differ_and_show_pictogram_and_labels(picture: Image.Image) -> None:
    crops = []
    for left, right in _columns():
        inside = (left + 30, right - 30)  # clear of the white gutters between tiles
        icon = _ink(picture, (inside[0], 100, inside[1], 440))
        label = _ink(picture, (inside[0], 470, inside[1], 630))
        subtitle = _ink(picture, (inside[0], 650, inside[1], 740))
        assert icon > 20_000, "pictogram missing"
        assert label > 5_000, "Japanese label missing"
        assert subtitle > 2_000, "English label missing"
        crops.append(picture.crop((left + 20, 100, left + 600, 740)).convert("L").tobytes())
    assert len(set(crops)) == 4


def test_labels_are_drawn_with_japanese_glyphs(tiles: tuple[MenuTile, ...]) -> None:
    font = richmenu_image._load_font(find_japanese_font("アンケート相談クーポンお知らせ"), 100)
    for tile in tiles:
        assert richmenu_image._missing_glyphs(font, tile.label) == []
        assert font.getmask(tile.label).getbbox() is not None


@pytest.mark.skipif(not DEJAVU.exists(), reason="needs a font without Japanese (DejaVu)")
def test_a_font_without_japanese_is_refused() -> None:
    with pytest.raises(RichMenuError, match="no glyph for") as raised:
        render_rich_menu_image(["アンケート"], font_path=str(DEJAVU))
    assert "fonts-ipaexfont-gothic" in str(raised.value)


def test_a_missing_font_file_names_the_package_to_install() -> None:
    with pytest.raises(RichMenuError, match="cannot be opened") as raised:
        render_rich_menu_image(["アンケート"], font_path="/nonexistent/font.ttf")
    assert "apt-get install fonts-ipaexfont-gothic" in str(raised.value)
    assert "RICHMENU_FONT" in str(raised.value)


def test_no_japanese_font_on_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(richmenu_image, "font_candidates", lambda: ["/nonexistent/ipaexg.ttf"])
    with pytest.raises(RichMenuError, match="fonts-ipaexfont-gothic"):
        render_rich_menu_image(["アンケート"])
    monkeypatch.setattr(richmenu_image, "font_candidates", list)
    with pytest.raises(RichMenuError, match="no font files found"):
        render_rich_menu_image(["アンケート"])


def test_font_lookup_survives_a_broken_fontconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    def hang(*args: object, **kwargs: object) -> None:
        raise subprocess.TimeoutExpired("fc-match", 5)

    monkeypatch.setattr(richmenu_image.subprocess, "run", hang)
    assert richmenu_image.font_candidates() == list(richmenu_image.KNOWN_FONT_PATHS)
    monkeypatch.setattr(richmenu_image.shutil, "which", lambda name: None)
    assert richmenu_image.font_candidates() == list(richmenu_image.KNOWN_FONT_PATHS)


def test_render_refuses_bad_shapes() -> None:
    with pytest.raises(RichMenuError, match="1 to 4 tiles"):
        render_rich_menu_image(["a"] * 5)
    with pytest.raises(RichMenuError, match="2 labels but 1 subtitles"):
        render_rich_menu_image(["相談", "クーポン"], subtitles=["x"])
    with pytest.raises(RichMenuError, match="unknown pictogram"):
        render_rich_menu_image(["相談"], pictograms=["rocket"])
    with pytest.raises(RichMenuError, match="too long"):
        render_rich_menu_image(["とても長いラベルです"] * 4)


# -- the request ------------------------------------------------------------------------


def test_request_passes_sdk_and_platform_validation(request_: RichMenuRequest) -> None:
    body = request_.to_dict()
    assert RichMenuRequest.from_dict(body) == request_
    assert validate_request("richmenu.create", body) == body
    assert body["size"] == {"width": WIDTH, "height": HEIGHT}
    assert body["selected"] is True
    assert body["chatBarText"] == "メニュー"
    assert len(body["chatBarText"]) <= 14
    assert len(body["areas"]) == len(MAIN_MENU) <= 20


def test_name_carries_a_fingerprint(request_: RichMenuRequest) -> None:
    name = str(request_.name)
    assert name.startswith(NAME_PREFIX)
    digest = name.removeprefix(NAME_PREFIX)
    assert len(digest) == 12
    assert int(digest, 16) >= 0
    assert len(name) <= 300


def test_areas_cover_the_image_without_overlap(request_: RichMenuRequest) -> None:
    boxes = []
    for area in request_.areas or []:
        b = area.bounds
        box = (b.x or 0, b.y or 0, (b.x or 0) + (b.width or 0), (b.y or 0) + (b.height or 0))
        assert box[0] >= 0
        assert box[1] >= 0
        assert box[2] <= WIDTH
        assert box[3] <= HEIGHT
        assert box[0] < box[2]
        assert box[1] < box[3]
        boxes.append(box)
    for (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) in combinations(boxes, 2):
        assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, "areas overlap"
    assert sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes) == WIDTH * HEIGHT


def test_areas_match_the_drawn_tiles(request_: RichMenuRequest, picture: Image.Image) -> None:
    for area, color in zip(request_.areas or [], TILE_COLORS, strict=True):
        centre = (area.bounds.x + area.bounds.width // 2, 60)
        assert picture.getpixel(centre) == color


def test_area_actions_are_main_menu_postbacks(
    request_: RichMenuRequest, tiles: tuple[MenuTile, ...]
) -> None:
    for area, tile in zip(request_.areas or [], tiles, strict=True):
        action = area.action
        assert action.type == "postback"
        data = decode(action.data)
        assert data is not None
        assert data.action == tile.action
        assert data.dialog_id is None
        assert action.display_text == tile.label == action.label


def test_fingerprint_is_stable_and_follows_the_design(
    png: bytes, tiles: tuple[MenuTile, ...], request_: RichMenuRequest
) -> None:
    assert build_rich_menu_request(png, tiles).name == request_.name
    # Compressed differently, same pixels: the same design.
    with Image.open(io.BytesIO(png)) as image:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
    assert buffer.getvalue() != png
    assert build_rich_menu_request(buffer.getvalue(), tiles).name == request_.name
    # Another action on the same picture: a different menu.
    changed = (replace(tiles[0], action="menu.other"), *tiles[1:])
    assert build_rich_menu_request(png, changed).name != request_.name


def test_request_refuses_an_image_of_the_wrong_size(tiles: tuple[MenuTile, ...]) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (2500, 1686)).save(buffer, format="PNG")
    with pytest.raises(RichMenuError, match="expected"):
        build_rich_menu_request(buffer.getvalue(), tiles)


# -- deploying ------------------------------------------------------------------------


def _menus(platform: RunningPlatform) -> list[str]:
    return [menu["richMenuId"] for menu in platform.state.rich_menus()]


def _writes(platform: RunningPlatform, since: int = 0) -> list[str]:
    return [
        f"{r.method} {r.endpoint}" for r in platform.state.requests()[since:] if r.method != "GET"
    ]


def test_first_deploy_creates_uploads_and_sets_default(
    gateway: LineGateway, platform: RunningPlatform, png: bytes, request_: RichMenuRequest
) -> None:
    result = deploy_default_rich_menu(gateway)

    assert result.created
    assert result.made_default
    assert result.deleted == ()
    assert result.name == request_.name
    assert _menus(platform) == [result.rich_menu_id]
    assert platform.state.default_rich_menu_id() == result.rich_menu_id
    assert platform.state.rich_menu_image(result.rich_menu_id) == (png, "image/png")
    [menu] = platform.state.rich_menus()
    assert menu["name"] == request_.name
    assert _writes(platform) == [
        "POST richmenu.create",
        "POST richmenu.upload",
        "POST richmenu.default",
    ]
    assert "created rich menu" in str(result)


def test_second_deploy_changes_nothing(gateway: LineGateway, platform: RunningPlatform) -> None:
    first = deploy_default_rich_menu(gateway)
    seen = len(platform.state.requests())

    second = deploy_default_rich_menu(gateway)

    assert second.rich_menu_id == first.rich_menu_id
    assert not second.created
    assert not second.made_default
    assert second.deleted == ()
    assert _writes(platform, seen) == []
    assert _menus(platform) == [first.rich_menu_id]
    assert "nothing to do" in str(second)


def test_an_existing_menu_that_is_not_the_default_is_reused(
    gateway: LineGateway, platform: RunningPlatform
) -> None:
    first = deploy_default_rich_menu(gateway)
    platform.state.set_default_rich_menu(None)
    seen = len(platform.state.requests())

    again = deploy_default_rich_menu(gateway)

    assert again.rich_menu_id == first.rich_menu_id
    assert not again.created
    assert again.made_default
    assert _writes(platform, seen) == ["POST richmenu.default"]
    assert platform.state.default_rich_menu_id() == first.rich_menu_id


def test_a_failed_upload_leaves_no_half_made_menu(
    gateway: LineGateway, platform: RunningPlatform
) -> None:
    platform.state.inject_fault("richmenu.upload", status=500, times=3)
    with pytest.raises(LineApiError) as raised:
        deploy_default_rich_menu(gateway)
    assert raised.value.endpoint == "richmenu.upload"
    assert _menus(platform) == []
    assert platform.state.default_rich_menu_id() is None

    result = deploy_default_rich_menu(gateway)

    assert result.created
    assert _menus(platform) == [result.rich_menu_id]
    assert platform.state.rich_menu_image(result.rich_menu_id) is not None
    assert platform.state.default_rich_menu_id() == result.rich_menu_id


def test_a_half_made_menu_that_could_not_be_deleted_is_replaced_next_time(
    gateway: LineGateway, platform: RunningPlatform
) -> None:
    platform.state.inject_fault("richmenu.upload", status=500, times=3)
    platform.state.inject_fault("richmenu.delete", status=500, times=3)
    with pytest.raises(LineApiError):
        deploy_default_rich_menu(gateway)
    [half_made] = _menus(platform)
    assert platform.state.rich_menu_image(half_made) is None

    result = deploy_default_rich_menu(gateway)

    assert result.created
    assert result.deleted == (half_made,)
    assert _menus(platform) == [result.rich_menu_id]
    assert platform.state.rich_menu_image(result.rich_menu_id) is not None
    assert platform.state.default_rich_menu_id() == result.rich_menu_id


def test_a_menu_left_without_image_by_a_crash_is_deleted_and_recreated(
    gateway: LineGateway, platform: RunningPlatform, request_: RichMenuRequest
) -> None:
    # The process died between create and upload: same name, no image.
    crashed = platform.state.create_rich_menu(request_.to_dict())

    result = deploy_default_rich_menu(gateway)

    assert result.created
    assert result.rich_menu_id != crashed
    assert result.deleted == (crashed,)
    assert _menus(platform) == [result.rich_menu_id]


def test_an_upload_answered_with_an_error_after_it_landed_is_kept(
    gateway: LineGateway, platform: RunningPlatform
) -> None:
    platform.state.inject_fault("richmenu.upload", status=500, after_delivery=True)

    result = deploy_default_rich_menu(gateway)

    assert result.created
    assert _menus(platform) == [result.rich_menu_id]
    assert platform.state.default_rich_menu_id() == result.rich_menu_id


def test_a_create_retried_after_it_landed_leaves_one_menu(
    gateway: LineGateway, platform: RunningPlatform
) -> None:
    platform.state.inject_fault("richmenu.create", status=500, after_delivery=True)

    result = deploy_default_rich_menu(gateway)

    assert len(result.deleted) == 1
    assert _menus(platform) == [result.rich_menu_id]
    assert platform.state.default_rich_menu_id() == result.rich_menu_id


def test_a_new_design_replaces_and_deletes_the_old_one(
    gateway: LineGateway,
    platform: RunningPlatform,
    tiles: tuple[MenuTile, ...],
    request_: RichMenuRequest,
) -> None:
    by_hand = RichMenuRequest.from_dict({**request_.to_dict(), "name": "set up by hand"})
    theirs = platform.state.create_rich_menu(by_hand.to_dict())
    old = deploy_default_rich_menu(gateway, tiles=tiles[:3])

    new = deploy_default_rich_menu(gateway)

    assert new.created
    assert new.rich_menu_id != old.rich_menu_id
    assert new.name != old.name
    assert new.deleted == (old.rich_menu_id,)
    assert _menus(platform) == [theirs, new.rich_menu_id]
    assert platform.state.default_rich_menu_id() == new.rich_menu_id
    assert "deleted 1 old menu" in str(new)


def test_deploy_without_a_japanese_font_calls_no_api(
    gateway: LineGateway, platform: RunningPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(richmenu_image, "font_candidates", list)
    with pytest.raises(RichMenuError, match="fonts-ipaexfont-gothic"):
        deploy_default_rich_menu(gateway)
    with pytest.raises(RichMenuError, match="RICHMENU_FONT"):
        deploy_default_rich_menu(gateway, font_path="/nonexistent/font.ttf")
    assert platform.state.requests() == []


def test_cli_deploys_then_reports_nothing_to_do(app: Flask) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["richmenu", "deploy"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["richmenu", "deploy"])
    assert second.exit_code == 0
    assert "nothing to do" in second.output


def test_cli_reports_a_bad_font_setting_without_a_traceback(make_app: Any) -> None:
    app = make_app(RICHMENU_FONT="/nonexistent/font.ttf")
    result = app.test_cli_runner().invoke(args=["richmenu", "deploy"])
    assert result.exit_code == 1
    assert "Error:" in result.output
    assert "fonts-ipaexfont-gothic" in result.output
