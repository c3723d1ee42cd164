"""The person behind the coupons: the cap follows them across LINE accounts, and only what
the pilot needs is kept (never the 12-digit 個人番号, in the database or the logs)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

import models
from coupons.identity import UnusableIdentity, holds_twelve_digits, person_key, read_facts
from models.coupons import Campaign, CardHolder, Entitlement, VerificationFailure
from simulator.oidc import TEST_CARD_HOLDERS, CardHolderProfile, RunningProvider
from tests.coupons.conftest import PERSON_SECRET, CardHolderBrowser
from tests.coupons.test_verification import attempt, flex_texts, rows

Browser = Callable[..., CardHolderBrowser]


def use_coupons(app: Flask, uses: int) -> None:
    """Stand-in for part B's redemption: take uses off every entitlement."""
    with app.extensions["db"].unit_of_work() as session:
        session.execute(update(Entitlement).values(uses_left=Entitlement.uses_left - uses))


def test_the_cap_follows_the_person_to_another_line_account(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    old_phone = holder_browser(display_name="県民 太郎")
    old_phone.verify()
    use_coupons(app, 2)

    new_phone = holder_browser(display_name="県民 太郎（新しいスマホ）")
    page = new_phone.verify().get_data(as_text=True)
    assert "残り 1回（3回中）" in page  # the remaining uses, not a fresh 3
    assert "残り 1回（3回中）" in flex_texts(new_phone.resident.received()[-1])

    [holder] = rows(app, CardHolder)
    [entitlement] = rows(app, Entitlement)
    assert entitlement.uses_left == 1
    with app.extensions["db"].sessions() as session:
        new_resident = session.scalar(
            select(models.Resident.id).where(
                models.Resident.line_user_id == new_phone.resident.user_id
            )
        )
    assert holder.resident_id == new_resident

    # The old account is told, and holds no coupons any more.
    assert "別のLINEアカウントから本人確認があった" in old_phone.resident.texts()[-1]
    reply = old_phone.tap_coupons()
    assert reply["type"] == "flex"
    [button] = reply["contents"]["footer"]["contents"]
    assert button["action"]["label"] == "マイナンバーカードで確認する"


def test_verifying_again_from_the_same_account_changes_nothing(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign()
    phone = holder_browser()
    phone.verify()
    use_coupons(app, 1)
    phone.come_back(phone.consent(phone.leave(phone.link(again=True))))
    assert [e.uses_left for e in rows(app, Entitlement)] == [2]
    assert len(rows(app, CardHolder)) == 1
    assert not any("別のLINEアカウント" in t for t in phone.resident.texts())


def test_a_shared_phone_holds_the_last_person_verified(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    """One LINE account, two family members verifying in turn: the account holds the
    coupons of the last one, and the first person's coupons wait for their own account."""
    campaign()
    phone = holder_browser()
    phone.verify(holder="gunma-adult")
    phone.come_back(phone.consent(phone.leave(phone.link(again=True)), holder="gunma-senior"))
    adult, senior = rows(app, CardHolder)
    assert adult.resident_id is None
    assert senior.resident_id is not None
    assert len(rows(app, Entitlement)) == 2


def test_a_new_campaign_is_granted_on_verifying_again(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign(code="first")
    phone = holder_browser()
    phone.verify()
    use_coupons(app, 3)
    campaign(code="second", uses=2)
    phone.come_back(phone.consent(phone.leave(phone.link(again=True))))
    assert sorted((e.uses_total, e.uses_left) for e in rows(app, Entitlement)) == [(2, 2), (3, 0)]


# -- what is kept --------------------------------------------------------------------------


NUMBER = "123456789018"
SPACED = "1234 5678 9018"


def database_text(app: Flask) -> str:
    """Every row of every table, as text."""
    dump = []
    with app.extensions["db"].sessions() as session:
        for table in models.Base.metadata.sorted_tables:
            dump += [repr(tuple(row)) for row in session.execute(select(table))]
    return "\n".join(dump)


def test_a_12_digit_number_in_any_claim_never_reaches_the_database_or_the_logs(
    app: Flask,
    campaign: Callable[..., Campaign],
    holder_browser: Browser,
    provider: RunningProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The "leaky" test card holder's provider sends the number in claims nobody asked for
    (``mynumber``, ``individual_number``) and inside the address."""
    campaign(extra="[campaign.eligibility]\nmin_age = 18")
    phone = holder_browser()
    caplog.set_level(logging.DEBUG)
    done = phone.verify(holder="leaky").get_data(as_text=True)
    assert "本人確認ができました" in done
    everything = database_text(app)
    assert NUMBER not in everything
    assert SPACED not in everything
    assert NUMBER not in caplog.text
    assert SPACED not in caplog.text
    assert (
        "identity claims discarded: they held a 12-digit number: ['individual_number', 'mynumber']"
        in caplog.text
    )
    # The birth year was needed and kept; nothing else of the identity was.
    [holder] = rows(app, CardHolder)
    assert (holder.prefecture, holder.birth_year) == (None, 1985)


def test_an_address_holding_the_number_is_dropped_whole(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    campaign(extra='[campaign.eligibility]\nprefecture = "群馬県"')
    phone = holder_browser()
    phone.verify(holder="leaky")
    assert NUMBER not in database_text(app)
    assert attempt(app).failure == VerificationFailure.NOT_ELIGIBLE  # no usable address


def test_a_provider_using_the_number_as_subject_is_refused(
    app: Flask,
    campaign: Callable[..., Campaign],
    holder_browser: Browser,
    provider: RunningProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    campaign()
    base = TEST_CARD_HOLDERS[0]
    provider.state.holders["numbered"] = CardHolderProfile(
        "numbered", "番号 主体", SPACED, base.address, base.birthdate, base.name
    )
    phone = holder_browser()
    caplog.set_level(logging.DEBUG)
    page = phone.verify(holder="numbered").get_data(as_text=True)
    assert "エラーコード: provider_error" in page
    assert rows(app, CardHolder) == []
    assert SPACED not in database_text(app)
    assert SPACED not in caplog.text


@pytest.mark.parametrize(
    "value",
    [
        NUMBER,
        SPACED,
        "1234-5678-9018",
        "個人番号：１２３４ではなく123456789018です",
        {"nested": [{"deeper": NUMBER}]},
        123456789018,
    ],
)
def test_twelve_digits_are_found_wherever_they_hide(value: object) -> None:
    assert holds_twelve_digits(value)


@pytest.mark.parametrize(
    "value",
    ["〒371-8570 群馬県前橋市大手町1-1-1", "1985-04-10", "12345678901", "1234567890123", None],
)
def test_other_numbers_are_not_taken_for_one(value: object) -> None:
    assert not holds_twelve_digits(value)


NOTHING_ELSE = {"want_prefecture": False, "want_birth_date": False}


def test_an_opaque_subject_containing_twelve_digits_is_only_hashed() -> None:
    """A UUID may hold twelve digits in a row; only a subject that *is* a number is refused."""
    uuid_like = "4f7c2a91-0b6e-4d0e-9a51-123456789012"
    facts = read_facts(
        "https://idp.example", {"sub": uuid_like}, want_prefecture=False, want_birth_date=False
    )
    assert facts.subject == uuid_like
    assert "<hidden>" in repr(facts)
    for subject in (NUMBER, SPACED, f" {NUMBER} "):
        with pytest.raises(UnusableIdentity):
            read_facts(
                "https://idp.example",
                {"sub": subject},
                want_prefecture=False,
                want_birth_date=False,
            )


def test_facts_are_read_only_when_wanted() -> None:
    claims = {
        "sub": "abc",
        "address": {"formatted": "〒371-0026 群馬県前橋市大手町一丁目1番1号"},
        "birthdate": "2000-02-29",
    }
    none = read_facts("i", claims, want_prefecture=False, want_birth_date=False)
    assert (none.prefecture, none.birth_date) == (None, None)
    both = read_facts("i", claims, want_prefecture=True, want_birth_date=True)
    assert (both.prefecture, both.birth_date) == ("群馬県", date(2000, 2, 29))
    assert both.age_on(date(2018, 2, 28)) == 17
    assert both.age_on(date(2018, 3, 1)) == 18
    string = read_facts(
        "i", {"sub": "x", "address": "東京都千代田区"}, want_prefecture=True, want_birth_date=False
    )
    assert string.prefecture == "東京都"


def test_the_person_key_is_keyed() -> None:
    one = person_key(PERSON_SECRET, "https://idp.example", "subject")
    assert one == person_key(PERSON_SECRET, "https://idp.example", "subject")
    assert one != person_key(
        "another secret of thirty-two chars!", "https://idp.example", "subject"
    )
    assert one != person_key(PERSON_SECRET, "https://other.example", "subject")
    assert "subject" not in one
    assert len(one) == 64


def test_the_person_key_is_all_the_database_knows_of_the_subject(
    app: Flask,
    campaign: Callable[..., Campaign],
    holder_browser: Browser,
    provider: RunningProvider,
) -> None:
    campaign()
    holder_browser().verify(holder="gunma-adult")
    subject = TEST_CARD_HOLDERS[0].subject
    everything = database_text(app)
    assert subject not in everything
    assert person_key(PERSON_SECRET, provider.state.issuer, subject) in everything
    assert "群馬 太郎" not in everything  # never asked for, never stored
    assert "前橋市" not in everything


def test_stored_rows_obey_the_invariants(
    app: Flask, campaign: Callable[..., Campaign], holder_browser: Browser
) -> None:
    """The CHECK constraints part B relies on refuse a use past the cap."""
    campaign()
    holder_browser().verify()
    for statement in (
        "UPDATE coupon_entitlements SET uses_left = -1",
        "UPDATE coupon_entitlements SET uses_left = uses_total + 1",
        "UPDATE coupon_campaigns SET budget_uses = 1, uses_redeemed = 2",
        "UPDATE coupon_campaigns SET uses_per_day = uses_per_person + 1",
    ):
        with pytest.raises(IntegrityError), app.extensions["db"].unit_of_work() as session:
            session.execute(text(statement))
    assert [e.uses_left for e in rows(app, Entitlement)] == [3]
