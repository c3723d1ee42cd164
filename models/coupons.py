"""E-coupons for verified My Number card holders: campaigns, card holders, entitlements,
redemptions and verification attempts.

How the pieces fit (docs/coupons.md has the operator's view):

* A :class:`Campaign` offers a benefit (free entry) at its participating facilities, so many
  uses per person, during its validity period, optionally to residents of a prefecture or an
  age range only, within an optional overall budget of uses.
* A :class:`CardHolder` is one person who proved they hold a My Number card, known only by a
  keyed hash of the identity provider's (issuer, subject): never a name, never the card's
  12-digit number. The LINE account they verified from is attached to them; verifying again
  from another account moves them there (the cap follows the person, not the account).
* An :class:`Entitlement` is what one holder may still use of one campaign: ``uses_left`` of
  ``uses_total``. A use is a conditional ``UPDATE ... SET uses_left = uses_left - 1 WHERE
  uses_left > 0`` and a :class:`Redemption` row, in one transaction; the budget is the same
  kind of update on :attr:`Campaign.uses_redeemed`. The CHECK constraints below state the
  invariants those updates rely on, so a bug cannot push a count past its bound.
* A :class:`Verification` is one attempt at proving card holding, from the one-time link
  sent in LINE to the outcome: the verification funnel, and the per-resident rate limit.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, Created, IntPK, Updated, str_enum
from models.facilities import CODE_LENGTH, NAME_LENGTH, Facility

#: Longest benefit text, in each language.
BENEFIT_LENGTH = 1000
#: Most uses a campaign may give one person.
MAX_USES_PER_PERSON = 100
#: Hex digits of a person key (HMAC-SHA-256).
PERSON_KEY_LENGTH = 64


class CampaignStatus(StrEnum):
    """Whether a campaign is offered to residents."""

    #: Being prepared: not offered, nothing granted.
    DRAFT = "draft"
    #: Offered during its validity period.
    PUBLISHED = "published"
    #: Stopped early by an admin: no new grants, and no uses (part B refuses them).
    WITHDRAWN = "withdrawn"


#: Which facilities take part in which campaign.
campaign_facilities = Table(
    "coupon_campaign_facilities",
    Base.metadata,
    Column(
        "campaign_id",
        ForeignKey("coupon_campaigns.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "facility_id",
        ForeignKey("facilities.id", ondelete="RESTRICT"),
        primary_key=True,
        index=True,
    ),
)


class Campaign(Base):
    """A coupon campaign: a benefit at some facilities, so many uses per verified person.

    Times are stored in UTC and shown in Asia/Tokyo. ``uses_per_day`` and
    ``uses_per_facility`` are per person (one Tokyo day; one facility); ``budget_uses`` caps
    the uses of everyone together, counted in ``uses_redeemed``.
    """

    __tablename__ = "coupon_campaigns"
    __table_args__ = (
        CheckConstraint("code = lower(code) AND length(code) > 0", name="code_shape"),
        CheckConstraint("length(name_ja) > 0 AND length(name_en) > 0", name="names_not_empty"),
        CheckConstraint(
            "length(benefit_ja) > 0 AND length(benefit_en) > 0", name="benefits_not_empty"
        ),
        CheckConstraint(
            f"uses_per_person BETWEEN 1 AND {MAX_USES_PER_PERSON}", name="uses_per_person_range"
        ),
        CheckConstraint(
            "uses_per_day IS NULL OR uses_per_day BETWEEN 1 AND uses_per_person",
            name="uses_per_day_range",
        ),
        CheckConstraint(
            "uses_per_facility IS NULL OR uses_per_facility BETWEEN 1 AND uses_per_person",
            name="uses_per_facility_range",
        ),
        CheckConstraint("starts_at < ends_at", name="starts_before_it_ends"),
        CheckConstraint("budget_uses IS NULL OR budget_uses >= 1", name="budget_positive"),
        # The budget is never overspent: the redemption's conditional UPDATE relies on it.
        CheckConstraint(
            "uses_redeemed >= 0 AND (budget_uses IS NULL OR uses_redeemed <= budget_uses)",
            name="budget_not_overspent",
        ),
        CheckConstraint(
            "prefecture IS NULL OR length(prefecture) > 0", name="prefecture_not_empty"
        ),
        CheckConstraint(
            "(min_age IS NULL OR min_age BETWEEN 0 AND 150)"
            " AND (max_age IS NULL OR max_age BETWEEN 0 AND 150)"
            " AND (min_age IS NULL OR max_age IS NULL OR min_age <= max_age)",
            name="age_range",
        ),
    )

    id: Mapped[IntPK]
    #: Short unique code (``a-z``, ``0-9``, ``-``): a campaign file updates the campaign of its
    #: code.
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    #: Name shown to residents and staff, in Japanese and in English.
    name_ja: Mapped[str] = mapped_column(String(NAME_LENGTH))
    name_en: Mapped[str] = mapped_column(String(NAME_LENGTH))
    #: What a use gives (``常設展の観覧料が無料``), in Japanese and in English.
    benefit_ja: Mapped[str] = mapped_column(String(BENEFIT_LENGTH))
    benefit_en: Mapped[str] = mapped_column(String(BENEFIT_LENGTH))
    #: Offered or not (only published campaigns are granted, within their period).
    status: Mapped[CampaignStatus] = mapped_column(
        str_enum(CampaignStatus), default=CampaignStatus.DRAFT
    )
    #: Uses each verified person gets (copied into each entitlement when granted).
    uses_per_person: Mapped[int] = mapped_column(default=3)
    #: At most this many uses by one person on one Tokyo day (``None``: no daily limit).
    uses_per_day: Mapped[int | None]
    #: At most this many uses by one person at one facility (``None``: no such limit).
    uses_per_facility: Mapped[int | None]
    #: Validity: coupons are granted and used from ``starts_at`` until before ``ends_at``.
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    #: Uses of everyone together after which coupons stop (``None``: no overall budget).
    budget_uses: Mapped[int | None]
    #: Uses so far, of everyone together (kept by the redemption's conditional UPDATE).
    uses_redeemed: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Eligibility: only residents of this prefecture (``群馬県``) by the verified address.
    prefecture: Mapped[str | None] = mapped_column(String(8))
    #: Eligibility: only people this old or older / younger, by the verified birth date, on
    #: the day they verify.
    min_age: Mapped[int | None]
    max_age: Mapped[int | None]
    created_at: Mapped[Created]
    updated_at: Mapped[Updated]

    #: Participating facilities, by code.
    facilities: Mapped[list[Facility]] = relationship(
        secondary=campaign_facilities, order_by=Facility.code
    )

    def name(self, language: str) -> str:
        """The name in ``language`` (Japanese unless English is asked for)."""
        return self.name_en if language == "en" else self.name_ja

    def benefit(self, language: str) -> str:
        """The benefit in ``language`` (Japanese unless English is asked for)."""
        return self.benefit_en if language == "en" else self.benefit_ja

    @property
    def checks_prefecture(self) -> bool:
        """True when the verified address decides eligibility."""
        return self.prefecture is not None

    @property
    def checks_age(self) -> bool:
        """True when the verified birth date decides eligibility."""
        return self.min_age is not None or self.max_age is not None

    def is_open(self, now: datetime) -> bool:
        """True when coupons of this campaign are granted (published, within its period)."""
        return self.status == CampaignStatus.PUBLISHED and self.starts_at <= now < self.ends_at


class CardHolder(Base):
    """A person who proved they hold a My Number card, known only by a keyed hash.

    ``person_key`` is HMAC-SHA-256, with the server's ``COUPONS_PERSON_SECRET``, of the
    identity provider's issuer and subject: the same person verifying again (from any LINE
    account) finds the same row, and nobody can go from the key back to a person without the
    secret. The 12-digit 個人番号 is never requested, received or stored. ``prefecture`` and
    ``birth_year`` are kept only when a campaign the person was checked for needs them.
    """

    __tablename__ = "coupon_holders"
    __table_args__ = (
        CheckConstraint(f"length(person_key) = {PERSON_KEY_LENGTH}", name="person_key_length"),
        CheckConstraint(
            "birth_year IS NULL OR birth_year BETWEEN 1880 AND 2200", name="birth_year_range"
        ),
    )

    id: Mapped[IntPK]
    #: HMAC-SHA-256 (hex) of the provider's issuer and subject: who the person is, to us.
    person_key: Mapped[str] = mapped_column(String(PERSON_KEY_LENGTH), unique=True)
    #: The LINE account the person last verified from, which receives their coupons; at most
    #: one person per account. ``None`` once the resident's records are deleted.
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="SET NULL"), unique=True
    )
    #: Prefecture of the verified address (``群馬県``), only if a campaign checked it.
    prefecture: Mapped[str | None] = mapped_column(String(8))
    #: Year of the verified birth date, only if a campaign checked the age.
    birth_year: Mapped[int | None]
    #: The last successful verification.
    verified_at: Mapped[datetime]
    created_at: Mapped[Created]
    updated_at: Mapped[Updated]

    entitlements: Mapped[list[Entitlement]] = relationship(
        back_populates="holder", order_by="Entitlement.id", passive_deletes=True
    )


class Entitlement(Base):
    """What one card holder may use of one campaign: ``uses_left`` of ``uses_total``.

    Granted once per (campaign, holder), at a successful verification. Using one (part B) is
    ``UPDATE coupon_entitlements SET uses_left = uses_left - 1 WHERE id = :id AND uses_left >
    0 AND revoked_at IS NULL`` plus a :class:`Redemption`, in one transaction; undoing one
    adds it back. The CHECK keeps ``0 <= uses_left <= uses_total`` whatever happens, and
    ``uses_total - uses_left`` equals the holder's redemptions of the campaign that were not
    undone.
    """

    __tablename__ = "coupon_entitlements"
    __table_args__ = (
        UniqueConstraint("campaign_id", "holder_id", name="uq_coupon_entitlements_campaign_holder"),
        CheckConstraint(f"uses_total BETWEEN 1 AND {MAX_USES_PER_PERSON}", name="uses_total_range"),
        CheckConstraint("uses_left >= 0 AND uses_left <= uses_total", name="uses_left_in_range"),
    )

    id: Mapped[IntPK]
    #: The campaign (a campaign with entitlements cannot be deleted).
    campaign_id: Mapped[int] = mapped_column(ForeignKey("coupon_campaigns.id", ondelete="RESTRICT"))
    #: The person (indexed: their coupons).
    holder_id: Mapped[int] = mapped_column(
        ForeignKey("coupon_holders.id", ondelete="CASCADE"), index=True
    )
    #: Uses granted (the campaign's ``uses_per_person`` at the time, raised with it).
    uses_total: Mapped[int]
    #: Uses still available.
    uses_left: Mapped[int]
    granted_at: Mapped[Created]
    #: Set when the coupons may no longer be used (the verification was revoked): refused.
    revoked_at: Mapped[datetime | None]
    updated_at: Mapped[Updated]

    campaign: Mapped[Campaign] = relationship()
    holder: Mapped[CardHolder] = relationship(back_populates="entitlements")


class Redemption(Base):
    """One use of an entitlement at a facility, confirmed by a facility staff member.

    ``idempotency_key`` is the key the facility page sends with one scan: a retried request
    finds the redemption it already made instead of using another (two staff scanning the
    same code at once make one). ``tokyo_day`` is the Asia/Tokyo date of the use, for the
    per-day limit and daily reports. An undone redemption keeps its row (``undone_at``) and
    gives its use back.
    """

    __tablename__ = "coupon_redemptions"
    __table_args__ = (
        CheckConstraint("length(idempotency_key) BETWEEN 16 AND 64", name="idempotency_key_length"),
        # A code shown to the facility is used once: two staff scanning it at once make one.
        UniqueConstraint("entitlement_id", "code_step", name="uq_coupon_redemptions_code"),
        CheckConstraint("undone_at IS NULL OR undone_at >= redeemed_at", name="undone_after"),
        Index("ix_coupon_redemptions_entitlement_day", "entitlement_id", "tokyo_day"),
        Index("ix_coupon_redemptions_facility_day", "facility_id", "tokyo_day"),
    )

    id: Mapped[IntPK]
    #: The entitlement used.
    entitlement_id: Mapped[int] = mapped_column(
        ForeignKey("coupon_entitlements.id", ondelete="CASCADE")
    )
    #: Where it was used.
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id", ondelete="RESTRICT"))
    #: Who confirmed it.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    #: The scan's key, unique: a retry of the same scan counts once.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    #: The time step of the code the resident showed (QR or 6 digits): one use per code.
    code_step: Mapped[int | None]
    redeemed_at: Mapped[datetime]
    #: The Asia/Tokyo date of ``redeemed_at``.
    tokyo_day: Mapped[date]
    #: Set when the use was undone (its use went back to the entitlement).
    undone_at: Mapped[datetime | None]
    #: Who undid it.
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))

    entitlement: Mapped[Entitlement] = relationship()
    facility: Mapped[Facility] = relationship()


class CouponCode(Base):
    """The 6-digit code one entitlement shows during one 30-second time step.

    The code is derived from the server's secret, the entitlement, its person and campaign
    and the step (``coupons.tokens``); it is stored when the resident's page shows it, so a
    clerk's typed code is found by an index, and it is unique among the codes of the
    neighbouring steps: a derived code that is taken is derived again with the next
    counter (``attempt``), so a typed code always names one entitlement.
    """

    __tablename__ = "coupon_codes"
    __table_args__ = (
        UniqueConstraint("step", "code", name="uq_coupon_codes_step_code"),
        UniqueConstraint("entitlement_id", "step", name="uq_coupon_codes_entitlement_step"),
        CheckConstraint("length(code) = 6", name="code_length"),
        Index("ix_coupon_codes_code", "code"),
    )

    id: Mapped[IntPK]
    #: Whose code it is.
    entitlement_id: Mapped[int] = mapped_column(
        ForeignKey("coupon_entitlements.id", ondelete="CASCADE")
    )
    #: The 30-second time step (Unix time // 30) it is shown in.
    step: Mapped[int]
    #: Six digits.
    code: Mapped[str] = mapped_column(String(6))
    #: Which derivation counter gave a code no neighbouring step had (0 almost always).
    attempt: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[Created]


class ScanVia(StrEnum):
    """How the clerk entered the resident's code."""

    QR = "qr"
    CODE = "code"


class RedemptionOutcome(StrEnum):
    """What became of one attempt at the facility."""

    REDEEMED = "redeemed"
    #: A retry of a scan that had redeemed already: counted once, nothing changed.
    REPLAYED = "replayed"
    REFUSED = "refused"


class RefusalReason(StrEnum):
    """Why a code was refused at the facility (the clerk's page says what to do)."""

    #: Not a code we made: altered, cut short, or from something else.
    TAMPERED = "tampered"
    #: A genuine code whose minute is over (an old screenshot).
    EXPIRED = "expired"
    #: Six digits no coupon shows now.
    UNKNOWN_CODE = "unknown_code"
    #: Six digits two coupons show (almost never: the clerk scans the QR instead).
    AMBIGUOUS_CODE = "ambiguous_code"
    #: This very code was redeemed already (a second scan of the same screen).
    CODE_USED = "code_used"
    #: The campaign does not include this facility (or the staff member does not work here).
    WRONG_FACILITY = "wrong_facility"
    #: The campaign has not started, is over, or was withdrawn.
    OUTSIDE_VALIDITY = "outside_validity"
    #: The person's coupons were revoked.
    REVOKED = "revoked"
    #: No uses left.
    OVER_CAP = "over_cap"
    #: The person used the day's uses already.
    DAY_LIMIT = "day_limit"
    #: The person used this facility's uses already.
    FACILITY_LIMIT = "facility_limit"
    #: The campaign's overall budget is spent.
    BUDGET_SPENT = "budget_spent"


class RedemptionAttempt(Base):
    """One attempt at the facility, refused or not: what was tried, where, by whom, outcome.

    No personal data: the entitlement (when the code named one), the facility, the staff
    member, how the code came in and why it was refused.
    """

    __tablename__ = "coupon_redemption_attempts"
    __table_args__ = (
        CheckConstraint("(outcome = 'refused') = (reason IS NOT NULL)", name="reason_iff_refused"),
        Index("ix_coupon_redemption_attempts_facility_at", "facility_id", "attempted_at"),
    )

    id: Mapped[IntPK]
    attempted_at: Mapped[datetime]
    #: Where.
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id", ondelete="RESTRICT"))
    #: Who (``None`` once the account is deleted).
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    #: The coupon the code named (``None``: a code that names none).
    entitlement_id: Mapped[int | None] = mapped_column(
        ForeignKey("coupon_entitlements.id", ondelete="SET NULL"), index=True
    )
    via: Mapped[ScanVia] = mapped_column(str_enum(ScanVia))
    outcome: Mapped[RedemptionOutcome] = mapped_column(str_enum(RedemptionOutcome))
    #: Why it was refused (exactly when refused).
    reason: Mapped[RefusalReason | None] = mapped_column(str_enum(RefusalReason))
    #: The use made (or found again, for a retry).
    redemption_id: Mapped[int | None] = mapped_column(
        ForeignKey("coupon_redemptions.id", ondelete="SET NULL")
    )


class VerificationStatus(StrEnum):
    """Where a verification attempt is."""

    #: The one-time link was sent in LINE; nobody has used it yet.
    LINK_SENT = "link_sent"
    #: The resident left for the identity provider (the link is spent).
    STARTED = "started"
    #: The provider sent them back; the code is being exchanged (once: a replay finds this).
    EXCHANGING = "exchanging"
    VERIFIED = "verified"
    FAILED = "failed"


class VerificationFailure(StrEnum):
    """Why a verification attempt failed (the funnel counts them; pages explain them)."""

    #: The resident declined at the provider.
    CONSENT_DENIED = "consent_denied"
    #: The provider's answer does not belong to this browser's attempt.
    STATE_MISMATCH = "state_mismatch"
    #: The provider's answer came a second time.
    STATE_REUSED = "state_reused"
    #: The provider refused the code (used before, or not ours).
    CODE_REJECTED = "code_rejected"
    #: The ID token answers another request.
    NONCE_MISMATCH = "nonce_mismatch"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a reason, not a password
    #: The ID token's signature does not verify with the provider's keys.
    BAD_SIGNATURE = "bad_signature"
    #: The ID token comes from an issuer we were not configured with.
    UNKNOWN_ISSUER = "unknown_issuer"
    #: The provider could not be reached, or answered with a server error.
    PROVIDER_DOWN = "provider_down"
    #: The provider answered something else we cannot use.
    PROVIDER_ERROR = "provider_error"
    #: Verified, but no open campaign is for this person (prefecture, age).
    NOT_ELIGIBLE = "not_eligible"


class Verification(Base):
    """One attempt at proving card holding, bound to the LINE account it was sent to.

    The one-time link (sent in LINE, short-lived) is spent when the resident leaves for the
    provider: ``link_sent`` → ``started`` is a conditional UPDATE, so a link works once. The
    provider's answer is taken once too (``started`` → ``exchanging``). ``state_hash`` is the
    SHA-256 of the OpenID Connect ``state`` (the state itself, the nonce and the PKCE
    verifier stay in the resident's browser session). Attempts per resident per hour are
    counted here, so the rate limit holds across processes.
    """

    __tablename__ = "coupon_verifications"
    __table_args__ = (
        CheckConstraint("(status = 'failed') = (failure IS NOT NULL)", name="failure_iff_failed"),
        CheckConstraint(
            "(status IN ('verified', 'failed')) = (finished_at IS NOT NULL)",
            name="finished_at_iff_finished",
        ),
        CheckConstraint("(started_at IS NULL) = (state_hash IS NULL)", name="started_has_state"),
        CheckConstraint(
            "status NOT IN ('started', 'exchanging', 'verified') OR started_at IS NOT NULL",
            name="started_at_when_started",
        ),
        Index("ix_coupon_verifications_resident_created", "resident_id", "created_at"),
    )

    id: Mapped[IntPK]
    #: The LINE account the link was sent to (the coupons go there).
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    status: Mapped[VerificationStatus] = mapped_column(
        str_enum(VerificationStatus), default=VerificationStatus.LINK_SENT
    )
    #: Why it failed (exactly when failed).
    failure: Mapped[VerificationFailure | None] = mapped_column(str_enum(VerificationFailure))
    #: The one-time link works until then.
    link_expires_at: Mapped[datetime]
    #: SHA-256 (hex) of the OpenID Connect ``state``, set when the resident leaves.
    state_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    #: The card holder it proved (a successful attempt).
    holder_id: Mapped[int | None] = mapped_column(
        ForeignKey("coupon_holders.id", ondelete="SET NULL")
    )
    created_at: Mapped[Created]
