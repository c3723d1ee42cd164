"""Verifying a My Number card holder, end to end against the local OpenID provider.

A resident taps クーポン in LINE, opens the one-time link in their browser (the test
client), goes to the provider (real HTTP), consents as a test card holder and comes back.
Then the page, the LINE messages and the rows are checked; every failure mode must show a
page, send a LINE message saying what to do, and grant nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import RSAKey
from sqlalchemy import func, select, update

from coupons.verification import OidcVerifier, Request, VerificationFailed, Wanted, state_hash
from models.base import utcnow
from models.coupons import (
    Campaign,
    CardHolder,
    Entitlement,
    Verification,
    VerificationFailure,
    VerificationStatus,
)
from simulator.oidc import RunningProvider
from tests.coupons.conftest import (
    CALLBACK,
    CLIENT_ID,
    CardHolderBrowser,
    at_once,
    components,
    form_token,
    local,
    query,
    uri_buttons,
)

Browser = Callable[..., CardHolderBrowser]


def rows(app: Flask, model: Any) -> list[Any]:
    with app.extensions["db"].sessions() as session:
        return list(session.scalars(select(model).order_by(model.id)))


def attempt(app: Flask) -> Verification:
    [found] = rows(app, Verification)
    return found


def flex_texts(message: dict[str, Any]) -> list[str]:
    """Every text of a Flex message, in order."""
    return [c["text"] for c in components(message.get("contents"), "text")]


# -- it works -------------------------------------------------------------------------------


def test_a_verified_card_holder_receives_the_coupons(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    phone = holder_browser()
    link = phone.link()
    explained = phone.open(link)
    page = explained.get_data(as_text=True)
    assert explained.status_code == 200
    assert "マイナンバーカードで本人確認" in page
    assert "マイナンバー（カードに書かれた12桁の番号）を受け取ることも" in page
    # The form may go to the provider: the page's policy names it, and only it.
    assert (
        explained.headers["Content-Security-Policy"].count("form-action 'self' http://127.0.0.1:")
        == 1
    )

    done = phone.come_back(phone.consent(phone.leave(link)))
    result = done.get_data(as_text=True)
    assert done.status_code == 200, result
    assert "本人確認ができました" in result
    assert "県有施設無料クーポン" in result
    assert "残り 3回（3回中）" in result

    # LINE: a note and the coupon card, with the facilities, the uses left and 表示.
    note, card = phone.resident.received()[-2:]
    assert note["text"] == "マイナンバーカードの本人確認ができました。クーポンをお送りします。"
    assert card["type"] == "flex"
    texts = flex_texts(card)
    assert "県有施設無料クーポン" in texts
    assert "残り 3回（3回中）" in texts
    assert "ぐんま昆虫の森、県立近代美術館" in texts  # by code
    [show] = uri_buttons(card)
    coupon = phone.client.get(local(show), follow_redirects=True)
    assert coupon.status_code == 200
    shown = coupon.get_data(as_text=True)
    assert "群馬県高崎市綿貫町992-1" in shown
    assert "9:30〜17:00（月曜休館）" in shown

    [holder] = rows(app, CardHolder)
    assert holder.resident_id is not None
    assert len(holder.person_key) == 64
    assert (holder.prefecture, holder.birth_year) == (None, None)  # no campaign checks them
    [entitlement] = rows(app, Entitlement)
    assert (entitlement.uses_total, entitlement.uses_left) == (3, 3)
    verified = attempt(app)
    assert verified.status == VerificationStatus.VERIFIED
    assert verified.holder_id == holder.id


def test_an_english_speaking_resident_is_answered_in_english(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    phone = holder_browser(language="en")
    link = phone.link()
    explained = phone.open(link).get_data(as_text=True)
    assert '<html lang="en">' in explained
    assert "Verify with your My Number card" in explained
    assert "We never receive or keep your My Number" in explained
    done = phone.come_back(phone.consent(phone.leave(link))).get_data(as_text=True)
    assert "Your card was verified" in done
    assert "Free entry to prefectural facilities" in done
    assert "3 of 3 uses left" in done
    note, card = phone.resident.received()[-2:]
    assert note["text"] == "Your My Number card was verified. Here are your coupons."
    assert "Gunma Insect World, Museum of Modern Art" in flex_texts(card)


def test_tapping_coupons_again_shows_the_card_instead_of_a_link(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    phone = holder_browser()
    phone.verify()
    reply = phone.tap_coupons()
    assert reply["type"] == "flex"
    assert "残り 3回（3回中）" in flex_texts(reply)
    assert [a["action"]["label"] for a in reply["quickReply"]["items"]] == ["もう一度確認する"]
    assert len(rows(app, Verification)) == 1  # no new attempt


def test_the_request_is_code_flow_with_pkce_state_nonce_and_only_the_scopes_needed(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    phone = holder_browser()
    asked = query(phone.leave(phone.link()))
    assert asked["response_type"] == "code"
    assert asked["scope"] == "openid"  # no campaign checks address or age
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["code_challenge"]) == 43
    assert len(asked["state"]) >= 43
    assert len(asked["nonce"]) >= 43
    assert "claims" not in asked
    assert attempt(app).state_hash == state_hash(asked["state"])


def test_a_prefecture_and_age_campaign_asks_for_address_and_birth_date_and_keeps_year(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign(extra='[campaign.eligibility]\nprefecture = "群馬県"\nmin_age = 18')
    phone = holder_browser()
    authorization = phone.leave(phone.link())
    assert query(authorization)["scope"] == "openid address birthdate"
    assert "sign" not in query(authorization)["scope"].split()  # never the signing certificate
    done = phone.come_back(phone.consent(authorization, holder="gunma-adult"))
    assert "本人確認ができました" in done.get_data(as_text=True)
    [holder] = rows(app, CardHolder)
    assert (holder.prefecture, holder.birth_year) == ("群馬県", 1985)


def test_claims_given_only_by_userinfo_are_read_there(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign(extra='[campaign.eligibility]\nprefecture = "群馬県"')
    phone = holder_browser()
    done = phone.verify(mode="claims_in_userinfo")
    assert "本人確認ができました" in done.get_data(as_text=True)
    assert rows(app, CardHolder)[0].prefecture == "群馬県"


@pytest.mark.parametrize(
    ("holder", "eligibility"),
    [
        ("saitama-adult", 'prefecture = "群馬県"'),
        ("gunma-child", "min_age = 18"),
        ("gunma-senior", "max_age = 64"),
    ],
)
def test_a_person_no_campaign_is_for_is_told_and_not_stored(
    app: Flask,
    campaign: Callable[..., Campaign],
    holder_browser: Browser,
    holder: str,
    eligibility: str,
) -> None:
    campaign(extra=f"[campaign.eligibility]\n{eligibility}")
    phone = holder_browser()
    page = phone.verify(holder=holder).get_data(as_text=True)
    assert "現在お受け取りいただけるクーポンはありません" in page
    assert rows(app, CardHolder) == []
    assert rows(app, Entitlement) == []
    assert attempt(app).failure == VerificationFailure.NOT_ELIGIBLE
    assert "現在お受け取りいただけるクーポンはありません" in phone.resident.texts()[-1]


# -- the one-time link ------------------------------------------------------------------------


def test_the_link_works_once(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    phone = holder_browser()
    link = phone.link()
    phone.leave(link)
    again = phone.open(link)
    assert again.status_code == 410
    assert "このリンクは使えません" in again.get_data(as_text=True)


def test_two_browsers_pressing_the_button_at_once_spend_the_link_once(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    phone = holder_browser()
    link = phone.link()
    browsers = [app.test_client() for _ in range(4)]
    tokens = [form_token(b.get(local(link)).get_data(as_text=True)) for b in browsers]

    def press(browser: FlaskClient, token: str) -> int:
        return browser.post(local(link), data={"csrf_token": token}).status_code

    pressing = [partial(press, b, t) for b, t in zip(browsers, tokens, strict=True)]
    assert sorted(at_once(pressing)) == [303, 410, 410, 410]


def test_an_expired_link_is_refused(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    phone = holder_browser()
    link = phone.link()
    with app.extensions["db"].unit_of_work() as session:
        session.execute(
            update(Verification).values(link_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert phone.open(link).status_code == 410


def test_the_start_button_needs_the_pages_csrf_token(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    phone = holder_browser()
    link = phone.link()
    phone.open(link)
    assert phone.client.post(local(link), data={}).status_code == 400
    assert attempt(app).status == VerificationStatus.LINK_SENT  # not spent


def test_links_are_rate_limited_per_resident(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    phone, other = holder_browser(), holder_browser(display_name="県民 花子")
    for _ in range(5):
        assert uri_buttons(phone.tap_coupons())
    refused = phone.tap_coupons()
    assert uri_buttons(refused) == []
    assert "短い間に何度も本人確認" in refused["text"]
    assert len(rows(app, Verification)) == 5
    assert uri_buttons(other.tap_coupons())  # the limit is per resident
    with app.extensions["db"].unit_of_work() as session:  # an hour later
        session.execute(update(Verification).values(created_at=utcnow() - timedelta(hours=1)))
    assert uri_buttons(phone.tap_coupons())


def test_no_link_without_an_open_campaign(app: Flask, holder_browser: Browser) -> None:
    phone = holder_browser()
    assert phone.tap_coupons()["text"] == "現在、クーポンのキャンペーンはありません。"
    assert rows(app, Verification) == []


# -- every failure: a page, a LINE message, nothing granted ------------------------------------


def assert_failed(
    app: Flask,
    phone: CardHolderBrowser,
    page: Any,
    reason: VerificationFailure,
    *,
    told: str,
) -> None:
    text = page.get_data(as_text=True)
    assert f"エラーコード: {reason.value}" in text, text
    assert told in phone.resident.texts()[-1]
    assert attempt(app).status == VerificationStatus.FAILED
    assert attempt(app).failure == reason
    assert rows(app, CardHolder) == []
    assert rows(app, Entitlement) == []


@pytest.mark.parametrize(
    ("mode", "reason", "told"),
    [
        ("wrong_nonce", VerificationFailure.NONCE_MISMATCH, "応答を確認できなかった"),
        ("expired_token", VerificationFailure.TOKEN_EXPIRED, "応答を確認できなかった"),
        ("bad_signature", VerificationFailure.BAD_SIGNATURE, "応答を確認できなかった"),
        ("unknown_issuer", VerificationFailure.UNKNOWN_ISSUER, "応答を確認できなかった"),
        ("provider_down", VerificationFailure.PROVIDER_DOWN, "本人確認サービスに接続できません"),
    ],
)
def test_a_provider_answer_that_cannot_be_trusted_grants_nothing(
    app: Flask,
    campaign: Callable[..., Campaign],
    holder_browser: Browser,
    mode: str,
    reason: VerificationFailure,
    told: str,
) -> None:
    campaign()
    phone = holder_browser()
    assert_failed(app, phone, phone.verify(mode=mode), reason, told=told)


def test_declining_consent_grants_nothing(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    phone = holder_browser()
    back = phone.consent(phone.leave(phone.link()), allow=False)
    assert query(back)["error"] == "access_denied"
    page = phone.come_back(back)
    assert "本人確認が取り消されました" in page.get_data(as_text=True)
    assert_failed(
        app, phone, page, VerificationFailure.CONSENT_DENIED, told="確認画面で同意してください"
    )


def test_a_tampered_state_is_refused(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    phone = holder_browser()
    back = phone.consent(phone.leave(phone.link()))
    tampered = back.replace(f"state={query(back)['state']}", "state=forged-state-value")
    page = phone.come_back(tampered)
    assert page.status_code == 400
    assert_failed(
        app, phone, page, VerificationFailure.STATE_MISMATCH, told="同じブラウザで最後まで"
    )


def test_coming_back_in_another_browser_is_refused(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    """The answer belongs to the browser that started (an attacker cannot hand a victim an
    authorization link of their own and collect the victim's card)."""
    campaign()
    phone = holder_browser()
    back = phone.consent(phone.leave(phone.link()))
    elsewhere = app.test_client().get(local(back), follow_redirects=True)
    assert elsewhere.status_code == 400
    assert_failed(
        app, phone, elsewhere, VerificationFailure.STATE_MISMATCH, told="同じブラウザで最後まで"
    )
    assert phone.come_back(back).status_code == 409  # and the right browser is too late now


def test_an_answer_is_taken_once(
    app: Flask,
    campaign: Callable[..., Campaign],
    holder_browser: Browser,
    provider: RunningProvider,
) -> None:
    campaign()
    phone = holder_browser()
    back = phone.consent(phone.leave(phone.link()))
    assert "本人確認ができました" in phone.come_back(back).get_data(as_text=True)
    messages = len(phone.resident.received())
    exchanges = provider.state.token_requests
    again = phone.come_back(back)  # a reload, or a replay of the whole answer
    assert again.status_code == 409
    assert "すでに処理されています" in again.get_data(as_text=True)
    assert provider.state.token_requests == exchanges  # the code is not even tried again
    assert len(phone.resident.received()) == messages  # the first answer's outcome stands
    assert [e.uses_left for e in rows(app, Entitlement)] == [3]


def test_parallel_answers_are_taken_once(
    app: Flask,
    campaign: Callable[..., Campaign],
    holder_browser: Browser,
    provider: RunningProvider,
) -> None:
    campaign()
    phone = holder_browser()
    back = phone.consent(phone.leave(phone.link()))
    cookie = phone.client.get_cookie("madoguchi_resident", path="/r")
    assert cookie is not None
    browsers = [app.test_client() for _ in range(4)]
    for browser in browsers:  # the same session cookie, copied
        browser.set_cookie("madoguchi_resident", cookie.value, path="/r")

    def come_back(browser: FlaskClient) -> int:
        return browser.get(local(back)).status_code

    assert sorted(at_once([partial(come_back, b) for b in browsers])) == [303, 409, 409, 409]
    assert provider.state.token_requests == 1
    assert len(rows(app, Entitlement)) == 1


def test_a_replayed_code_is_refused(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    """A code used once, presented again with a fresh state, is refused by the provider."""
    campaign()
    phone = holder_browser()
    first = phone.consent(phone.leave(phone.link()))
    phone.come_back(first)
    second = phone.consent(phone.leave(phone.link(again=True)))
    replayed = second.replace(f"code={query(second)['code']}", f"code={query(first)['code']}")
    page = phone.come_back(replayed)
    text = page.get_data(as_text=True)
    assert "エラーコード: code_rejected" in text
    assert "応答はすでに使われていました" in phone.resident.texts()[-1]
    [_first, latest] = rows(app, Verification)
    assert latest.failure == VerificationFailure.CODE_REJECTED
    assert [e.uses_left for e in rows(app, Entitlement)] == [3]  # only the first one's


def test_a_provider_that_is_down_when_the_resident_leaves(
    app: Flask,
    campaign: Callable[..., Campaign],
    holder_browser: Browser,
    provider: RunningProvider,
) -> None:
    campaign()
    phone = holder_browser()
    link = phone.link()
    page = phone.open(link)
    token = form_token(page.get_data(as_text=True))
    app.extensions["coupons"].verifier._cache.clear()  # the discovery document is fetched again
    provider.state.down = True
    left = phone.client.post(local(link), data={"csrf_token": token}, follow_redirects=True)
    assert_failed(
        app, phone, left, VerificationFailure.PROVIDER_DOWN, told="本人確認サービスに接続できません"
    )


def test_an_unreachable_provider_shows_a_page_before_anything_is_spent(
    app: Flask,
    campaign: Callable[..., Campaign],
    holder_browser: Browser,
    provider: RunningProvider,
) -> None:
    campaign()
    phone = holder_browser()
    link = phone.link()
    app.extensions["coupons"].verifier._cache.clear()
    provider.state.down = True
    page = phone.open(link)
    assert page.status_code == 503
    assert "本人確認サービスに接続できません" in page.get_data(as_text=True)
    assert attempt(app).status == VerificationStatus.LINK_SENT  # try the link again later
    provider.state.down = False
    assert phone.open(link).status_code == 200


def test_the_provider_authenticates_the_client_by_its_private_key(
    app: Flask, provider: RunningProvider
) -> None:
    """The local provider really checks ``private_key_jwt``: no assertion, or one signed
    with a key the client did not register, is refused."""
    bare = requests.post(
        f"{provider.state.issuer}/token",
        data={"grant_type": "authorization_code", "code": "x", "client_id": CLIENT_ID},
        timeout=5,
    )
    assert bare.json()["error"] == "invalid_client"
    impostor_key = RSAKey.generate_key(2048)
    impostor_key.ensure_kid()
    impostor = OidcVerifier(provider.state.issuer, CLIENT_ID, impostor_key)
    request = Request.new()
    wanted = Wanted()
    url = impostor.authorization_url(request, redirect_uri=CALLBACK, wanted=wanted)
    code = query(CardHolderBrowser.consent(url))["code"]
    with pytest.raises(VerificationFailed) as refused:
        impostor.finish(request, code=code, redirect_uri=CALLBACK, wanted=wanted)
    assert refused.value.reason == VerificationFailure.PROVIDER_ERROR
    assert "invalid_client" in str(refused.value)


def test_nothing_is_granted_without_a_verified_attempt(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    phone = holder_browser()
    assert phone.client.get("/r/coupons/callback?code=abc&state=def").status_code == 400
    assert phone.client.get("/r/coupons/callback").status_code == 400
    with app.extensions["db"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(CardHolder)) == 0
