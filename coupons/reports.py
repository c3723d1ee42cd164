"""Reports of a coupon campaign for the pilot's evaluation: every figure, aggregated in SQL.

What is counted (docs/coupons.md, Reports):

* A use is a :class:`~models.coupons.Redemption` of one of the campaign's entitlements that
  was not undone, on a Tokyo day in the chosen range, at the chosen facility (or any).
  :func:`counted_uses` is the one place that says so; every table starts from it.
* A person is a :class:`~models.coupons.CardHolder` (the keyed hash of who verified), so
  two LINE accounts of one person count once.
* Age band: from the verified birth year (kept only when the campaign checks the age), as
  the age reached in the year of each use; prefecture: the verified one (kept only when the
  campaign checks it); municipality: the resident's ``municipality`` attribute (what they
  answered in a survey, not verified) of the LINE account the person last verified from.
  Whatever is not known is counted in an "unknown" row, never guessed.
* The verification funnel counts attempts started in the range (a verification is not tied
  to one campaign: it is the same funnel for every campaign), and LINE accounts.

Small cells are hidden (k-anonymity): a row counting fewer than ``k`` people (but some) has
all its figures hidden, here, on the page and in every export. When a table would have
exactly one hidden row, the smallest other row is hidden too, because the table's total is
published and would give the hidden row away.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import (
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    distinct,
    extract,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from bot.municipalities import municipality_name
from coupons.campaigns import TOKYO
from coupons.prefectures import PREFECTURES
from models import Facility, ResidentAttribute
from models.coupons import (
    Campaign,
    CardHolder,
    Entitlement,
    Redemption,
    Verification,
    VerificationFailure,
    VerificationStatus,
)

#: Smallest number of people a shown cell may count, unless configured otherwise
#: (``COUPONS_REPORT_K``).
DEFAULT_K = 5
#: The resident attribute that holds the municipality (set by the resident profile survey).
MUNICIPALITY_ATTRIBUTE = "municipality"
#: Age bands are decades; this one and older are one band.
OLDEST_BAND = 8


@dataclass(frozen=True)
class Filters:
    """What a report covers: Tokyo days ``first`` to ``last`` (both included), one facility
    or all of the campaign's."""

    first: date
    last: date
    facility_id: int | None = None

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise ValueError("the first day of a report comes after its last day")

    @property
    def start(self) -> datetime:
        """The first moment covered (midnight in Tokyo)."""
        return datetime.combine(self.first, time.min, TOKYO)

    @property
    def end(self) -> datetime:
        """The first moment after the range (midnight in Tokyo after the last day)."""
        return datetime.combine(self.last + timedelta(days=1), time.min, TOKYO)


#: Earliest and latest year a report's range may name (a typo such as 0202 is refused).
YEARS = (2000, 2100)


class FiltersInvalid(ValueError):
    """Filters that do not make sense: ``problems`` pairs a field (``first``, ``last``,
    ``facility``) with what is wrong, in the current language."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))
        self.problems = problems


def read_filters(
    campaign: Campaign, first: date | None, last: date | None, facility: str | None
) -> Filters:
    """The filters of a report of ``campaign``: the range defaults to its validity period.

    :param facility: a facility's code (``None`` or empty: all of the campaign's).
    :raises FiltersInvalid: a day outside :data:`YEARS`, the last day before the first, a
        facility that is not the campaign's.
    """
    default_first, default_last = campaign_days(campaign)
    first, last = first or default_first, last or default_last
    problems: list[tuple[str, str]] = []
    for field_name, day in (("first", first), ("last", last)):
        if not YEARS[0] <= day.year <= YEARS[1]:
            message = _("Choose a day between %(low)s and %(high)s.", low=YEARS[0], high=YEARS[1])
            problems.append((field_name, message))
    if not problems and first > last:
        problems.append(("last", _("The last day comes before the first day.")))
    facility_id = None
    if facility:
        facility_id = next((f.id for f in campaign.facilities if f.code == facility), None)
        if facility_id is None:
            problems.append(("facility", _("This facility does not take part in the campaign.")))
    if problems:
        raise FiltersInvalid(problems)
    return Filters(first, last, facility_id)


def campaign_days(campaign: Campaign) -> tuple[date, date]:
    """The Tokyo days of a campaign's validity period (the default range of its report)."""
    first = campaign.starts_at.astimezone(TOKYO).date()
    last = (campaign.ends_at - timedelta(microseconds=1)).astimezone(TOKYO).date()
    return first, max(first, last)


@dataclass(frozen=True)
class Row:
    """One row of a table: its labels, and its figures (``None`` everywhere when hidden)."""

    labels: tuple[str, ...]
    counts: tuple[int | None, ...]

    @property
    def hidden(self) -> bool:
        """True when the row counts too few people to be shown."""
        return all(count is None for count in self.counts)


@dataclass(frozen=True)
class Table:
    """One table of a report (a page section, a CSV file, a workbook sheet)."""

    #: Stable name (file and sheet names, the CLI's ``--table``).
    key: str
    title: str
    label_headers: tuple[str, ...]
    count_headers: tuple[str, ...]
    rows: list[Row]
    #: Which figure the chart shows.
    chart_count: int = 0

    @property
    def header(self) -> list[str]:
        """The column titles, labels first."""
        return [*self.label_headers, *self.count_headers]

    def cells(self, hidden: str) -> list[list[object]]:
        """The rows as cells; a hidden figure is the text ``hidden``."""
        return [
            [*row.labels, *(hidden if c is None else c for c in row.counts)] for row in self.rows
        ]


@dataclass(frozen=True)
class Summary:
    """The report's headline figures (``None`` when hidden)."""

    uses: int | None
    persons: int | None
    granted: int | None


@dataclass(frozen=True)
class Report:
    """Everything the page and the exports show of one campaign."""

    campaign: Campaign
    filters: Filters
    k: int
    summary: Summary
    tables: list[Table] = field(default_factory=list)

    def table(self, key: str) -> Table:
        """The table named ``key``.

        :raises KeyError: no such table.
        """
        for table in self.tables:
            if table.key == key:
                return table
        raise KeyError(key)


#: The tables of a report, in order (the CLI and the export URLs name them).
TABLE_KEYS = (
    "facility_days",
    "uses_per_person",
    "age_bands",
    "prefectures",
    "municipalities",
    "funnel",
    "failures",
)


def counted_uses(campaign_id: int, filters: Filters) -> Select[Any]:
    """The uses a report counts: ``FROM coupon_redemptions JOIN coupon_entitlements`` with
    its conditions; callers add their columns (``with_only_columns``) and groups.

    Redemptions that were undone are not uses (their use went back to the person).
    """
    conditions = [
        Entitlement.campaign_id == campaign_id,
        Redemption.undone_at.is_(None),
        Redemption.tokyo_day >= filters.first,
        Redemption.tokyo_day <= filters.last,
    ]
    if filters.facility_id is not None:
        conditions.append(Redemption.facility_id == filters.facility_id)
    return (
        select(Redemption.id)
        .select_from(Redemption)
        .join(Entitlement, Entitlement.id == Redemption.entitlement_id)
        .where(*conditions)
    )


def suppress(
    raw: Sequence[tuple[tuple[str, ...], tuple[int, ...]]],
    *,
    basis: int,
    k: int,
    complementary: bool = True,
) -> list[Row]:
    """Hide the rows counting fewer than ``k`` people (``counts[basis]``), but some.

    :param raw: (labels, counts) of each row.
    :param complementary: the rows add up to a published total: when only one row would be
        hidden, hide the smallest other (non-empty) row too, so the total cannot give it away.
    """
    people = [counts[basis] for _labels, counts in raw]
    hidden = {i for i, n in enumerate(people) if 0 < n < k}
    if complementary and len(hidden) == 1:
        others = [i for i, n in enumerate(people) if i not in hidden and n > 0]
        if others:
            hidden.add(min(others, key=lambda i: (people[i], sum(raw[i][1]), i)))
    return [
        Row(labels, tuple([None] * len(counts)) if i in hidden else tuple(counts))
        for i, (labels, counts) in enumerate(raw)
    ]


def _shown(count: int, k: int) -> int | None:
    return None if 0 < count < k else count


def age_band_label(decade: int | None) -> str:
    """How an age band reads (``None``: the age is not known)."""
    if decade is None:
        return _("Unknown")
    if decade == 0:
        return _("Under 10")
    if decade >= OLDEST_BAND:
        return _("%(age)s and over", age=OLDEST_BAND * 10)
    return _("%(low)s–%(high)s", low=decade * 10, high=decade * 10 + 9)


def _decade() -> Any:
    """The age band (decade, 0 to OLDEST_BAND) at the use, in SQL; NULL when not known."""
    age = cast(extract("year", Redemption.tokyo_day), Integer) - CardHolder.birth_year
    return case(
        (CardHolder.birth_year.is_(None), None),
        (age < 0, None),
        (age >= OLDEST_BAND * 10, OLDEST_BAND),
        else_=age // 10,
    )


def _use_figures(session: Session, uses: Select[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every figure about uses, in one statement: the counted uses with what is known of
    each person are joined once (a common table expression), then each table is a
    ``GROUP BY`` of it, all in one ``UNION ALL``.

    :return: rows ``(key1, key2, uses, people)`` by table (``totals`` too); keys are text.
    """
    counted = (
        uses.join(CardHolder, CardHolder.id == Entitlement.holder_id)
        .outerjoin(
            ResidentAttribute,
            and_(
                ResidentAttribute.resident_id == CardHolder.resident_id,
                ResidentAttribute.name == MUNICIPALITY_ATTRIBUTE,
            ),
        )
        .with_only_columns(
            Redemption.facility_id.label("facility"),
            Redemption.tokyo_day.label("day"),
            Entitlement.holder_id.label("holder"),
            _decade().label("decade"),
            CardHolder.prefecture.label("prefecture"),
            ResidentAttribute.value.label("municipality"),
        )
        .cte("counted_uses")
    )
    c = counted.c
    people = func.count(distinct(c.holder))
    none = literal(None, String)

    def text_of(column: Any) -> Any:
        return cast(column, String)

    def grouped(name: str, *keys: Any) -> Select[Any]:
        padded = [text_of(key) for key in keys] + [none] * (2 - len(keys))
        return select(literal(name), *padded, func.count(), people).group_by(*keys)

    per_person = select(c.holder, func.count().label("n")).group_by(c.holder).subquery("per_person")
    statement: Any = union_all(
        select(literal("totals"), none, none, func.count(), people),
        grouped("facility_days", c.facility, c.day),
        grouped("age_bands", c.decade),
        grouped("prefectures", c.prefecture),
        grouped("municipalities", c.municipality),
        select(
            literal("uses_per_person"),
            text_of(per_person.c.n),
            none,
            func.sum(per_person.c.n),
            func.count(),
        ).group_by(per_person.c.n),
    )
    figures: dict[str, list[tuple[Any, ...]]] = {}
    for name, key1, key2, n, p in session.execute(statement):
        figures.setdefault(name, []).append((key1, key2, int(n), int(p)))
    return figures


def _facility_days(session: Session, rows: list[tuple[Any, ...]], language: str, k: int) -> Table:
    rows = sorted(rows, key=lambda row: (row[1], int(row[0])))
    ids = sorted({int(facility) for facility, *_rest in rows})
    names = {
        facility.id: facility.name(language)
        for facility in session.scalars(select(Facility).where(Facility.id.in_(ids)))
    }
    raw = [
        ((str(day), names.get(int(facility), str(facility))), (n, p))
        for facility, day, n, p in rows
    ]
    return Table(
        "facility_days",
        _("Uses per facility per day"),
        (_("Day"), _("Facility")),
        (_("Uses"), _("People")),
        suppress(raw, basis=1, k=k),
    )


def _uses_per_person(rows: list[tuple[Any, ...]], k: int) -> Table:
    counts = sorted((int(n), p) for n, _key2, _uses, p in rows)
    raw = [((_("%(n)s uses", n=n),), (p,)) for n, p in counts]
    return Table(
        "uses_per_person",
        _("Distribution of uses per person"),
        (_("Uses in the range"),),
        (_("People"),),
        suppress(raw, basis=0, k=k),
    )


def _breakdown(
    rows: list[tuple[Any, ...]],
    k: int,
    *,
    key: str,
    title: str,
    header: str,
    label: Callable[[Any], str],
    order: Callable[[Any], Any] | None = None,
) -> Table:
    """Uses and people per value (a table of :func:`_use_figures`), known values in
    ``order`` (their own by default), then the unknown (NULL) row."""
    rank = order or (lambda value: value)
    rows = sorted(rows, key=lambda row: (row[0] is None, None if row[0] is None else rank(row[0])))
    raw = [((label(value),), (n, p)) for value, _key2, n, p in rows]
    return Table(key, title, (header,), (_("Uses"), _("People")), suppress(raw, basis=1, k=k))


def _or_unknown(value: str | None) -> str:
    return value if value is not None else _("Unknown")


def _municipality(code: str | None) -> str:
    """The municipality's name (Gunma's, bot.municipalities) with its code, or Unknown."""
    if code is None:
        return _or_unknown(None)
    name = municipality_name(code, str(get_locale() or "ja"))
    return code if name == code else f"{name} ({code})"


_PREFECTURE_ORDER = {name: number for number, name in enumerate(PREFECTURES)}


def _prefecture_rank(name: str) -> tuple[int, str]:
    """Prefectures in their official order (JIS X 0401), anything else after them."""
    return (_PREFECTURE_ORDER.get(name, len(_PREFECTURE_ORDER)), name)


def _use_tables(
    session: Session, figures: dict[str, list[tuple[Any, ...]]], language: str, k: int
) -> list[Table]:
    """The tables about uses, from :func:`_use_figures`."""
    return [
        _facility_days(session, figures.get("facility_days", []), language, k),
        _uses_per_person(figures.get("uses_per_person", []), k),
        _breakdown(
            figures.get("age_bands", []),
            k,
            key="age_bands",
            title=_("Age band at the use"),
            header=_("Age band"),
            label=lambda value: age_band_label(None if value is None else int(value)),
            order=int,
        ),
        _breakdown(
            figures.get("prefectures", []),
            k,
            key="prefectures",
            title=_("Prefecture (verified address)"),
            header=_("Prefecture"),
            label=_or_unknown,
            order=_prefecture_rank,
        ),
        _breakdown(
            figures.get("municipalities", []),
            k,
            key="municipalities",
            title=_("Municipality (the resident's answer)"),
            header=_("Municipality"),
            label=_municipality,
        ),
    ]


def _funnel(session: Session, filters: Filters, k: int) -> tuple[Table, Table]:
    in_range = and_(Verification.created_at >= filters.start, Verification.created_at < filters.end)
    stages: list[tuple[str, Any]] = [
        (_("Link sent"), True),
        (_("Started (left for the identity provider)"), Verification.started_at.is_not(None)),
        (_("Verified"), Verification.status == VerificationStatus.VERIFIED),
        (_("Failed"), Verification.status == VerificationStatus.FAILED),
    ]
    columns: list[Any] = []
    for _label, condition in stages:
        if condition is True:
            columns += [func.count(), func.count(distinct(Verification.resident_id))]
        else:
            columns += [
                func.coalesce(func.sum(case((condition, 1), else_=0)), 0),
                func.count(distinct(case((condition, Verification.resident_id), else_=None))),
            ]
    figures = session.execute(select(*columns).where(in_range)).one()
    raw = [
        ((label,), (int(figures[2 * i]), int(figures[2 * i + 1])))
        for i, (label, _condition) in enumerate(stages)
    ]
    funnel = Table(
        "funnel",
        _("Verification funnel"),
        (_("Stage"),),
        (_("Attempts"), _("LINE accounts")),
        # Stages are nested, not parts of a total: no complementary hiding.
        suppress(raw, basis=1, k=k, complementary=False),
    )
    rows = session.execute(
        select(Verification.failure, func.count(), func.count(distinct(Verification.resident_id)))
        .where(in_range, Verification.status == VerificationStatus.FAILED)
        .group_by(Verification.failure)
    ).all()
    order = list(VerificationFailure)
    failed = sorted(
        ((VerificationFailure(str(reason)), int(n), int(p)) for reason, n, p in rows),
        key=lambda row: order.index(row[0]),
    )
    failures = Table(
        "failures",
        _("Failed verifications by reason"),
        (_("Reason"),),
        (_("Attempts"), _("LINE accounts")),
        suppress([((failure_label(r),), (n, p)) for r, n, p in failed], basis=1, k=k),
    )
    return funnel, failures


def failure_label(reason: VerificationFailure) -> str:
    """What a verification failure reason means, for staff."""
    labels = {
        VerificationFailure.CONSENT_DENIED: _("Declined at the identity provider"),
        VerificationFailure.STATE_MISMATCH: _("Answer for another browser"),
        VerificationFailure.STATE_REUSED: _("Answer came twice"),
        VerificationFailure.CODE_REJECTED: _("Code refused by the provider"),
        VerificationFailure.NONCE_MISMATCH: _("ID token for another request"),
        VerificationFailure.TOKEN_EXPIRED: _("ID token expired"),
        VerificationFailure.BAD_SIGNATURE: _("ID token signature invalid"),
        VerificationFailure.UNKNOWN_ISSUER: _("Unknown issuer"),
        VerificationFailure.PROVIDER_DOWN: _("Identity provider unreachable"),
        VerificationFailure.PROVIDER_ERROR: _("Identity provider error"),
        VerificationFailure.NOT_ELIGIBLE: _("Not eligible (prefecture or age)"),
    }
    return f"{labels[reason]} ({reason.value})"


def build_report(
    session: Session, campaign: Campaign, filters: Filters, *, k: int, language: str
) -> Report:
    """Every figure of a campaign's report, small cells hidden.

    :param k: the smallest number of people a shown cell may count (2 or more).
    :param language: of the facilities' names (``ja`` or ``en``); other labels follow the
        current locale.
    :raises ValueError: ``k`` below 2.
    """
    if k < 2:
        raise ValueError("k must be at least 2")
    figures = _use_figures(session, counted_uses(campaign.id, filters))
    [(_key1, _key2, total_uses, total_people)] = figures["totals"]
    granted = session.scalar(
        select(func.count())
        .select_from(Entitlement)
        .where(Entitlement.campaign_id == campaign.id, Entitlement.granted_at < filters.end)
    )
    persons = _shown(total_people, k)
    summary = Summary(
        uses=None if persons is None else total_uses,
        persons=persons,
        granted=_shown(int(granted or 0), k),
    )
    funnel, failures = _funnel(session, filters, k)
    tables = [*_use_tables(session, figures, language, k), funnel, failures]
    return Report(campaign, filters, k, summary, tables)
