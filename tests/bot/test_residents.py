"""Residents: follow with profile, re-follow keeps history, unfollow, language, groups."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from models import FollowState, Resident
from tests.support import Resident as SimResident


def stored(app: Flask, sim: SimResident) -> Resident:
    with app.extensions["db"].sessions() as session:
        return session.scalars(select(Resident).where(Resident.line_user_id == sim.user_id)).one()


def test_follow_creates_the_resident_from_the_profile_and_welcomes(
    app: Flask, resident: SimResident
) -> None:
    assert resident.follow().status_code == 200
    row = stored(app, resident)
    assert (row.display_name, row.language, row.follow_state) == (
        "県民 太郎",
        "ja",
        FollowState.FOLLOWING,
    )
    assert row.first_followed_at == row.followed_at
    assert row.refollow_count == 0
    [welcome] = resident.texts()
    assert "友だち追加ありがとうございます" in welcome
    labels = [a["label"] for a in resident.last_quick_replies()]
    assert labels == ["アンケート", "相談", "クーポン", "お知らせ"]


def test_unfollow_marks_unreachable_and_refollow_keeps_history(
    app: Flask, resident: SimResident
) -> None:
    resident.follow()
    first = stored(app, resident)
    resident.unfollow()
    blocked = stored(app, resident)
    assert blocked.follow_state == FollowState.UNFOLLOWED
    assert not blocked.reachable
    assert blocked.unfollowed_at is not None
    resident.follow(is_unblocked=True)
    back = stored(app, resident)
    assert back.id == first.id
    assert back.first_followed_at == first.first_followed_at
    assert back.refollow_count == 1
    assert back.unfollowed_at is None
    assert back.reachable
    assert "おかえりなさい" in resident.texts()[-1]


def test_english_profile_gets_english_and_unknown_languages_japanese(
    app: Flask, resident_factory: Callable[..., SimResident]
) -> None:
    english = resident_factory(display_name="Alex", language="en")
    english.follow()
    assert english.texts()[0].startswith("Thank you for adding us as a friend!")
    assert [a["label"] for a in english.last_quick_replies()] == [
        "Surveys",
        "Consultation",
        "Coupons",
        "News",
    ]
    for language in ("th", "zh-Hant", None):
        other = resident_factory(language=language)
        other.follow()
        assert "友だち追加" in other.texts()[0]
        assert stored(app, other).language == "ja"


def test_profile_outage_still_welcomes_the_resident(app: Flask, resident: SimResident) -> None:
    resident.platform.state.inject_fault("profile", status=500, times=10)
    assert resident.follow().status_code == 200
    assert stored(app, resident).display_name is None
    assert "友だち追加" in resident.texts()[0]


def test_message_from_a_resident_we_never_saw_follow(app: Flask, resident: SimResident) -> None:
    resident.platform.state.set_friend(resident.user_id, True)
    resident.say("メニュー")
    assert stored(app, resident).follow_state == FollowState.UNKNOWN
    assert "メニュー" in resident.texts()[0]
