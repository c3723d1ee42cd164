"""What a campaign is made of, checked: the one set of rules for campaign files and the console.

A campaign file (TOML, ``madoguchi coupons import-campaign FILE.toml``) has a ``[campaign]``
table and optional ``[[facilities]]``; the console's form is turned into the same shape
(:func:`read_campaign`). Reading never touches the database and reports *every* problem at
once, each with its key path (``campaign.uses_per_day``, ``facilities[2].name.en``);
``coupons.services`` adds the checks that need stored rows, then stores everything or
nothing. examples/coupons/ has a complete file.

Times are Japan's: a local date-time (``2023-07-01T09:00:00``) is Asia/Tokyo, an offset one
is taken as written, and a date means the whole day (``starts = 2023-07-01`` from midnight,
``ends = 2023-09-30`` until the end of that day). They are stored in UTC.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from coupons.prefectures import PREFECTURES
from models.coupons import BENEFIT_LENGTH, MAX_USES_PER_PERSON, CampaignStatus
from models.facilities import ADDRESS_LENGTH, CODE_LENGTH, HOURS_LENGTH, NAME_LENGTH

TOKYO = ZoneInfo("Asia/Tokyo")
#: Lower-case letters, digits and inner hyphens (the same shape as facility codes).
CODE = re.compile(rf"^[a-z0-9](?:[a-z0-9-]{{0,{CODE_LENGTH - 2}}}[a-z0-9])?$")
#: Largest budget a campaign may state, in uses.
MAX_BUDGET = 10_000_000
#: Most facilities one campaign may name.
MAX_FACILITIES = 200
LANGUAGES = ("ja", "en")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a campaign: where (a key path) and what (translated when shown:
    English in the CLI, the staff member's language in the console)."""

    path: str
    message: str | LazyString

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class CampaignInvalid(ValueError):
    """A campaign (file or form) was refused; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class FacilitySpec:
    """A facility as a campaign file describes it (created, or updated by its code)."""

    code: str
    name_ja: str
    name_en: str
    address_ja: str | None = None
    address_en: str | None = None
    opening_hours_ja: str | None = None
    opening_hours_en: str | None = None


@dataclass(frozen=True)
class CampaignSpec:
    """A checked campaign, ready to be stored (times in UTC)."""

    code: str
    name_ja: str
    name_en: str
    benefit_ja: str
    benefit_en: str
    status: CampaignStatus
    uses_per_person: int
    uses_per_day: int | None
    uses_per_facility: int | None
    starts_at: datetime
    ends_at: datetime
    budget_uses: int | None
    prefecture: str | None
    min_age: int | None
    max_age: int | None
    #: Participating facilities, by code (known already, or described in the same file).
    facility_codes: tuple[str, ...]


@dataclass(frozen=True)
class CampaignFile:
    """A whole campaign file: the campaign and the facilities it describes."""

    campaign: CampaignSpec
    facilities: tuple[FacilitySpec, ...]


_MISSING = object()


class _Reader:
    """Reads values out of nested tables, noting every problem instead of stopping."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str | LazyString) -> None:
        self.problems.append(Problem(path, message))

    def table(self, value: Any, path: str, allowed: Sequence[str]) -> Mapping[str, Any]:
        """A table with only the allowed keys (an unknown key is a problem: a typo)."""
        if not isinstance(value, Mapping):
            self.problem(path, _l("must be a table"))
            return {}
        for key in value:
            if key not in allowed:
                self.problem(f"{path}.{key}", _l("is not a known key"))
        return value

    def text(
        self, table: Mapping[str, Any], key: str, path: str, limit: int, *, required: bool
    ) -> str | None:
        value = table.get(key, _MISSING)
        if value is _MISSING or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(f"{path}.{key}", _l("is required"))
            return None
        if not isinstance(value, str):
            self.problem(f"{path}.{key}", _l("must be text"))
            return None
        value = value.strip()
        if len(value) > limit:
            self.problem(f"{path}.{key}", _l("must be at most %(limit)s characters", limit=limit))
            return None
        return value

    def texts(
        self, table: Mapping[str, Any], key: str, path: str, limit: int, *, required: bool
    ) -> tuple[str | None, str | None]:
        """``key = { ja = "...", en = "..." }``: both languages when ``required``."""
        value = table.get(key, _MISSING)
        if value is _MISSING:
            if required:
                self.problem(f"{path}.{key}", _l("is required (a table with ja and en)"))
            return None, None
        inner = self.table(value, f"{path}.{key}", LANGUAGES)
        ja = self.text(inner, "ja", f"{path}.{key}", limit, required=required or bool(inner))
        en = self.text(inner, "en", f"{path}.{key}", limit, required=required)
        return ja, en

    def integer(
        self,
        table: Mapping[str, Any],
        key: str,
        path: str,
        low: int,
        high: int,
        default: int | None = None,
    ) -> int | None:
        value = table.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if type(value) is not int:
            self.problem(f"{path}.{key}", _l("must be a whole number"))
            return None
        if not low <= value <= high:
            self.problem(
                f"{path}.{key}", _l("must be from %(low)s to %(high)s", low=low, high=high)
            )
            return None
        return value

    def moment(
        self, table: Mapping[str, Any], key: str, path: str, *, end: bool
    ) -> datetime | None:
        """A date or date-time in UTC (a date's end is the next midnight, Tokyo)."""
        value = table.get(key, _MISSING)
        if value is _MISSING or value is None:
            self.problem(f"{path}.{key}", _l("is required (a date or a date and time)"))
            return None
        if isinstance(value, datetime):
            local = value if value.tzinfo else value.replace(tzinfo=TOKYO)
            return local.astimezone(UTC)
        if isinstance(value, date):
            day = value + timedelta(days=1) if end else value
            return datetime.combine(day, time(), TOKYO).astimezone(UTC)
        self.problem(f"{path}.{key}", _l("must be a date (2023-07-01) or a date and time"))
        return None

    def code(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str) or not CODE.match(value.strip().lower()):
            self.problem(
                path,
                _l(
                    "must be 1 to %(length)s lower-case letters, digits and inner hyphens",
                    length=CODE_LENGTH,
                ),
            )
            return None
        return value.strip().lower()


CAMPAIGN_KEYS = (
    "code",
    "name",
    "benefit",
    "status",
    "uses_per_person",
    "uses_per_day",
    "uses_per_facility",
    "starts",
    "ends",
    "budget_uses",
    "facilities",
    "eligibility",
)
ELIGIBILITY_KEYS = ("prefecture", "min_age", "max_age")
FACILITY_KEYS = ("code", "name", "address", "opening_hours")


def read_campaign(raw: Mapping[str, Any], *, path: str = "campaign") -> CampaignSpec:
    """Check a campaign table (a file's ``[campaign]``, or the console's form).

    Whether the facilities it names exist is checked when it is stored.

    :raises CampaignInvalid: with every problem found.
    """
    reader = _Reader()
    spec = _campaign(reader, raw, path)
    if reader.problems or spec is None:
        raise CampaignInvalid(reader.problems)
    return spec


def _campaign(reader: _Reader, raw: Any, path: str) -> CampaignSpec | None:
    if not isinstance(raw, Mapping):
        reader.problem(path, _l("must be a table"))
        return None
    table = reader.table(raw, path, CAMPAIGN_KEYS)
    code = reader.code(table.get("code"), f"{path}.code") if "code" in table else None
    if "code" not in table:
        reader.problem(f"{path}.code", _l("is required"))
    name_ja, name_en = reader.texts(table, "name", path, NAME_LENGTH, required=True)
    benefit_ja, benefit_en = reader.texts(table, "benefit", path, BENEFIT_LENGTH, required=True)

    status = table.get("status", CampaignStatus.DRAFT.value)
    if status not in {s.value for s in CampaignStatus}:
        reader.problem(f"{path}.status", _l("must be draft, published or withdrawn"))
        status = CampaignStatus.DRAFT.value

    uses = reader.integer(table, "uses_per_person", path, 1, MAX_USES_PER_PERSON, default=3)
    per_day = reader.integer(table, "uses_per_day", path, 1, MAX_USES_PER_PERSON)
    per_facility = reader.integer(table, "uses_per_facility", path, 1, MAX_USES_PER_PERSON)
    for key, limit in (("uses_per_day", per_day), ("uses_per_facility", per_facility)):
        if uses is not None and limit is not None and limit > uses:
            reader.problem(
                f"{path}.{key}", _l("must not be more than uses_per_person (%(uses)s)", uses=uses)
            )

    starts = reader.moment(table, "starts", path, end=False)
    ends = reader.moment(table, "ends", path, end=True)
    if starts is not None and ends is not None and starts >= ends:
        reader.problem(f"{path}.ends", _l("must be after starts"))
    budget = reader.integer(table, "budget_uses", path, 1, MAX_BUDGET)

    codes = _facility_codes(reader, table.get("facilities", _MISSING), f"{path}.facilities")

    eligible = f"{path}.eligibility"
    eligibility = reader.table(table.get("eligibility", {}), eligible, ELIGIBILITY_KEYS)
    prefecture = eligibility.get("prefecture")
    if prefecture is not None and prefecture not in PREFECTURES:
        reader.problem(f"{eligible}.prefecture", _l("must be a prefecture such as 群馬県"))
        prefecture = None
    min_age = reader.integer(eligibility, "min_age", eligible, 0, 150)
    max_age = reader.integer(eligibility, "max_age", eligible, 0, 150)
    if min_age is not None and max_age is not None and min_age > max_age:
        reader.problem(f"{eligible}.max_age", _l("must not be less than min_age"))

    if reader.problems or not (
        code and name_ja and name_en and benefit_ja and benefit_en and uses and starts and ends
    ):
        return None
    return CampaignSpec(
        code=code,
        name_ja=name_ja,
        name_en=name_en,
        benefit_ja=benefit_ja,
        benefit_en=benefit_en,
        status=CampaignStatus(status),
        uses_per_person=uses,
        uses_per_day=per_day,
        uses_per_facility=per_facility,
        starts_at=starts,
        ends_at=ends,
        budget_uses=budget,
        prefecture=prefecture,
        min_age=min_age,
        max_age=max_age,
        facility_codes=codes,
    )


def _facility_codes(reader: _Reader, value: Any, path: str) -> tuple[str, ...]:
    if value is _MISSING or value == []:
        reader.problem(path, _l("must name at least one facility"))
        return ()
    if not isinstance(value, list) or len(value) > MAX_FACILITIES:
        reader.problem(
            path, _l("must be a list of 1 to %(count)s facility codes", count=MAX_FACILITIES)
        )
        return ()
    codes: list[str] = []
    for index, item in enumerate(value):
        code = reader.code(item, f"{path}[{index}]")
        if code is not None and code in codes:
            reader.problem(f"{path}[{index}]", _l("names %(code)s twice", code=code))
        elif code is not None:
            codes.append(code)
    return tuple(codes)


def _facility(reader: _Reader, raw: Any, path: str) -> FacilitySpec | None:
    if not isinstance(raw, Mapping):
        reader.problem(path, _l("must be a table"))
        return None
    table = reader.table(raw, path, FACILITY_KEYS)
    code = reader.code(table.get("code"), f"{path}.code")
    name_ja, name_en = reader.texts(table, "name", path, NAME_LENGTH, required=True)
    address_ja, address_en = reader.texts(table, "address", path, ADDRESS_LENGTH, required=False)
    hours_ja, hours_en = reader.texts(table, "opening_hours", path, HOURS_LENGTH, required=False)
    if not (code and name_ja and name_en):
        return None
    return FacilitySpec(code, name_ja, name_en, address_ja, address_en, hours_ja, hours_en)


def read_campaign_file(text: str) -> CampaignFile:
    """Parse and check a campaign file (TOML).

    Facility codes the campaign names but the file does not describe must already exist;
    ``coupons.services.import_campaign`` checks that.

    :raises CampaignInvalid: with every problem found (a TOML syntax error is one problem).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        problem = Problem("(file)", _l("is not valid TOML: %(error)s", error=str(error)))
        raise CampaignInvalid([problem]) from error
    reader = _Reader()
    reader.table(data, "(file)", ("campaign", "facilities"))
    facilities: list[FacilitySpec] = []
    raw_facilities = data.get("facilities", [])
    if not isinstance(raw_facilities, list):
        reader.problem("facilities", _l("must be an array of tables ([[facilities]])"))
        raw_facilities = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_facilities):
        facility = _facility(reader, raw, f"facilities[{index}]")
        if facility is not None and facility.code in seen:
            reader.problem(
                f"facilities[{index}].code", _l("describes %(code)s twice", code=facility.code)
            )
        elif facility is not None:
            seen.add(facility.code)
            facilities.append(facility)
    if "campaign" not in data:
        reader.problem("campaign", _l("is required (a [campaign] table)"))
        campaign = None
    else:
        campaign = _campaign(reader, data["campaign"], "campaign")
    if reader.problems or campaign is None:
        raise CampaignInvalid(reader.problems)
    return CampaignFile(campaign, tuple(facilities))
