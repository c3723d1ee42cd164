"""Campaign files: the rules, every problem at once with its key path, all or nothing, and
``madoguchi coupons import-campaign``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update

from coupons.campaigns import CampaignInvalid, read_campaign_file
from coupons.services import import_campaign
from models import AuditEntry, Facility
from models.coupons import Campaign, CampaignStatus, CardHolder, Entitlement
from tests.coupons.conftest import stored_campaign

EXAMPLE = Path(__file__).parents[2] / "examples" / "coupons" / "gunma-mynumber-2023.toml"

GOOD = """
[campaign]
code = "summer"
name = { ja = "夏のクーポン", en = "Summer coupons" }
benefit = { ja = "入館無料", en = "Free entry" }
status = "published"
starts = 2023-07-01
ends = 2023-09-30
facilities = ["museum"]

[[facilities]]
code = "museum"
name = { ja = "県立近代美術館", en = "Museum of Modern Art" }
"""


def problems(text: str) -> list[str]:
    with pytest.raises(CampaignInvalid) as refused:
        read_campaign_file(text)
    return [str(p) for p in refused.value.problems]


def test_a_good_file_is_read_with_japans_dates() -> None:
    read = read_campaign_file(GOOD)
    campaign = read.campaign
    assert campaign.uses_per_person == 3  # the default
    assert campaign.status == CampaignStatus.PUBLISHED
    # 2023-07-01 from midnight in Tokyo; 2023-09-30 until the end of that day in Tokyo.
    assert campaign.starts_at == datetime(2023, 6, 30, 15, tzinfo=UTC)
    assert campaign.ends_at == datetime(2023, 9, 30, 15, tzinfo=UTC)
    assert campaign.facility_codes == ("museum",)
    assert [f.code for f in read.facilities] == ["museum"]


def test_times_of_day_are_japans_unless_an_offset_is_given() -> None:
    local = GOOD.replace("starts = 2023-07-01", "starts = 2023-07-01T09:30:00")
    assert read_campaign_file(local).campaign.starts_at == datetime(2023, 7, 1, 0, 30, tzinfo=UTC)
    offset = GOOD.replace("starts = 2023-07-01", "starts = 2023-07-01T09:30:00Z")
    assert read_campaign_file(offset).campaign.starts_at == datetime(2023, 7, 1, 9, 30, tzinfo=UTC)


def test_every_problem_is_reported_with_its_key_path() -> None:
    found = problems(
        """
        [campaign]
        code = "Bad Code!"
        name = { ja = "", en = "Only English", fr = "Non" }
        status = "open"
        uses_per_person = 2
        uses_per_day = 5
        uses_per_facility = "one"
        starts = 2023-09-30
        ends = 2023-07-01
        budget_uses = 0
        facilities = ["museum", "museum", "NOT OK"]
        colour = "red"

        [campaign.eligibility]
        prefecture = "Gunma"
        min_age = 65
        max_age = 18

        [[facilities]]
        code = "hall"
        name = { ja = "会館" }
        address = { en = "no Japanese" }
        """
    )
    assert found == [
        "facilities[0].name.en: is required",
        "facilities[0].address.ja: is required",
        "campaign.colour: is not a known key",
        "campaign.code: must be 1 to 32 lower-case letters, digits and inner hyphens",
        "campaign.name.fr: is not a known key",
        "campaign.name.ja: is required",
        "campaign.benefit: is required (a table with ja and en)",
        "campaign.status: must be draft, published or withdrawn",
        "campaign.uses_per_facility: must be a whole number",
        "campaign.uses_per_day: must not be more than uses_per_person (2)",
        "campaign.ends: must be after starts",
        "campaign.budget_uses: must be from 1 to 10000000",
        "campaign.facilities[1]: names museum twice",
        "campaign.facilities[2]: must be 1 to 32 lower-case letters, digits and inner hyphens",
        "campaign.eligibility.prefecture: must be a prefecture such as 群馬県",
        "campaign.eligibility.max_age: must not be less than min_age",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("campaign = 1", ["campaign: must be a table"]),
        (
            "[other]\nx = 1",
            ["(file).other: is not a known key", "campaign: is required (a [campaign] table)"],
        ),
        ("[campaign\n", None),
        (
            GOOD.replace('facilities = ["museum"]', "facilities = []"),
            ["campaign.facilities: must name at least one facility"],
        ),
        (
            GOOD.replace("starts = 2023-07-01\n", ""),
            ["campaign.starts: is required (a date or a date and time)"],
        ),
        (
            GOOD.replace("starts = 2023-07-01", 'starts = "soon"'),
            ["campaign.starts: must be a date (2023-07-01) or a date and time"],
        ),
        (
            GOOD.replace('code = "summer"', "code = 7"),
            ["campaign.code: must be 1 to 32 lower-case letters, digits and inner hyphens"],
        ),
        (
            GOOD + '\n[[facilities]]\ncode = "museum"\nname = { ja = "a", en = "b" }\n',
            ["facilities[1].code: describes museum twice"],
        ),
    ],
)
def test_malformed_files_are_refused(text: str, expected: list[str] | None) -> None:
    found = problems(text)
    if expected is None:  # a TOML syntax error: one problem naming the file and the line
        [problem] = found
        assert problem.startswith("(file): is not valid TOML")
        assert "line 1" in problem
    else:
        assert found == expected


# -- storing --------------------------------------------------------------------------------


def test_the_pilot_example_imports(app: Flask) -> None:
    with app.extensions["db"].unit_of_work() as session:
        result = import_campaign(session, read_campaign_file(EXAMPLE.read_text(encoding="utf-8")))
    assert result.created
    assert len(result.facilities_created) == 8
    campaign = stored_campaign(app, "gunma-mynumber-2023")
    assert campaign.uses_per_person == 3
    with app.extensions["db"].sessions() as session:
        museum = session.scalars(select(Facility).where(Facility.code == "kindai-bijutsukan")).one()
        assert museum.name_ja == "群馬県立近代美術館"
        assert museum.address_ja is not None
        assert "高崎市綿貫町992-1" in museum.address_ja
        assert museum.opening_hours("en") is not None


def test_importing_again_updates_by_code(app: Flask) -> None:
    with app.extensions["db"].unit_of_work() as session:
        import_campaign(session, read_campaign_file(GOOD))
    changed = GOOD.replace("夏のクーポン", "夏の無料クーポン").replace(
        'name = { ja = "県立近代美術館", en = "Museum of Modern Art" }',
        'name = { ja = "群馬県立近代美術館", en = "Museum of Modern Art" }\n'
        'address = { ja = "群馬県高崎市綿貫町992-1" }',
    )
    with app.extensions["db"].unit_of_work() as session:
        result = import_campaign(session, read_campaign_file(changed))
    assert not result.created
    assert result.facilities_updated == ["museum"]
    assert stored_campaign(app, "summer").name_ja == "夏の無料クーポン"
    with app.extensions["db"].sessions() as session:
        [museum] = session.scalars(select(Facility)).all()
        assert (museum.name_ja, museum.address_ja) == (
            "群馬県立近代美術館",
            "群馬県高崎市綿貫町992-1",
        )
        assert len(session.scalars(select(Campaign)).all()) == 1


def test_a_refused_import_stores_nothing(app: Flask) -> None:
    text = GOOD.replace('facilities = ["museum"]', 'facilities = ["museum", "unknown-hall"]')
    with pytest.raises(CampaignInvalid) as refused, app.extensions["db"].unit_of_work() as session:
        import_campaign(session, read_campaign_file(text))
    assert [str(p) for p in refused.value.problems] == [
        "campaign.facilities[1]: there is no facility unknown-hall"
    ]
    with app.extensions["db"].sessions() as session:
        assert session.scalars(select(Facility)).all() == []  # the file's museum neither
        assert session.scalars(select(Campaign)).all() == []


def _grant(app: Flask) -> None:
    """One person granted the campaign ``summer`` (as a verification would)."""
    with app.extensions["db"].unit_of_work() as session:
        campaign = session.scalars(select(Campaign).where(Campaign.code == "summer")).one()
        holder = CardHolder(person_key="k" * 64, verified_at=datetime.now(UTC))
        session.add(holder)
        session.flush()
        session.add(
            Entitlement(campaign_id=campaign.id, holder_id=holder.id, uses_total=3, uses_left=1)
        )


def test_more_uses_reach_those_granted_already_and_fewer_are_refused(app: Flask) -> None:
    with app.extensions["db"].unit_of_work() as session:
        import_campaign(session, read_campaign_file(GOOD))
    _grant(app)
    with app.extensions["db"].unit_of_work() as session:
        import_campaign(
            session,
            read_campaign_file(GOOD.replace("[campaign]", "[campaign]\nuses_per_person = 5")),
        )
    with app.extensions["db"].sessions() as session:
        [entitlement] = session.scalars(select(Entitlement)).all()
        assert (entitlement.uses_total, entitlement.uses_left) == (5, 3)
    with pytest.raises(CampaignInvalid) as refused, app.extensions["db"].unit_of_work() as session:
        import_campaign(
            session,
            read_campaign_file(GOOD.replace("[campaign]", "[campaign]\nuses_per_person = 2")),
        )
    assert [str(p) for p in refused.value.problems] == [
        "campaign.uses_per_person: cannot go below 5: 1 people have the coupons already"
    ]


def test_a_budget_below_the_uses_made_is_refused(app: Flask) -> None:
    with app.extensions["db"].unit_of_work() as session:
        import_campaign(session, read_campaign_file(GOOD))
    with app.extensions["db"].unit_of_work() as session:
        session.execute(update(Campaign).values(uses_redeemed=10))
    with pytest.raises(CampaignInvalid) as refused, app.extensions["db"].unit_of_work() as session:
        import_campaign(
            session, read_campaign_file(GOOD.replace("[campaign]", "[campaign]\nbudget_uses = 9"))
        )
    assert [str(p) for p in refused.value.problems] == [
        "campaign.budget_uses: cannot be below the 10 uses already made"
    ]


# -- the command ----------------------------------------------------------------------------


def test_the_command_imports_and_audits(app: Flask, tmp_path: Path) -> None:
    result = app.test_cli_runner().invoke(args=["coupons", "import-campaign", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "campaign gunma-mynumber-2023 created (published); facilities: 8 created, 0 updated\n"
    )
    with app.extensions["db"].sessions() as session:
        [entry] = session.scalars(select(AuditEntry)).all()
    assert (entry.action, entry.actor_label) == ("coupons.campaign.import", "system")
    assert entry.detail["code"] == "gunma-mynumber-2023"


def test_the_command_lists_every_problem_and_stores_nothing(
    app: Flask, tmp_path: Path, campaign: Callable[..., Campaign]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        GOOD.replace('status = "published"', 'status = "open"').replace(
            "ends = 2023-09-30", "ends = 2023-06-01"
        ),
        encoding="utf-8",
    )
    result = app.test_cli_runner().invoke(args=["coupons", "import-campaign", str(bad)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {bad} was not imported (2 problems; nothing was stored):\n"
        "  campaign.status: must be draft, published or withdrawn\n"
        "  campaign.ends: must be after starts\n"
    )
    with app.extensions["db"].sessions() as session:
        assert session.scalars(select(Campaign)).all() == []
        assert session.scalars(select(AuditEntry)).all() == []


def test_the_command_refuses_a_file_that_is_not_text(app: Flask, tmp_path: Path) -> None:
    binary = tmp_path / "campaign.toml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    result = app.test_cli_runner().invoke(args=["coupons", "import-campaign", str(binary)])
    assert result.exit_code == 1
    assert "not UTF-8 text" in result.output
