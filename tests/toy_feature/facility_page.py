"""The toy's facility page: something done at one facility (coupon redemption will look like it)."""

from __future__ import annotations

from bot.console import console_blueprint
from bot.console.roles import Permission, require_facility, requires

bp = console_blueprint("facility_test", __name__, "/admin/test-facility")


@bp.get("/<int:facility_id>")
@requires(Permission.COUPONS_REDEEM)
def at_facility(facility_id: int) -> str:
    """Something done at one facility (only by staff linked to it)."""
    require_facility(facility_id)
    return "done"
