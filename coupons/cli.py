"""``madoguchi coupons ...``: import a campaign file, print the client's public keys."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale

from bot.console.audit import record
from bot.db import get_db
from coupons import services
from coupons.campaigns import CampaignInvalid, read_campaign_file
from coupons.config import coupons_settings
from coupons.verification import public_jwks


@click.group("coupons")
def coupons_group() -> None:
    """My Number card e-coupons: campaigns and the identity provider."""


@coupons_group.command("import-campaign")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_campaign_command(path: Path) -> None:
    """Create or update a campaign (and its facilities) from a TOML file.

    Refused as a whole, with every problem and its key path, when anything is wrong.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise click.ClickException(f"{path}: not UTF-8 text") from error
    try:
        file = read_campaign_file(text)
        with get_db().unit_of_work() as session:
            result = services.import_campaign(session, file)
            record(
                session,
                "coupons.campaign.import",
                object_type="campaign",
                object_id=result.campaign.id,
                detail={
                    "code": result.campaign.code,
                    "created": result.created,
                    "facilities_created": result.facilities_created,
                    "facilities_updated": result.facilities_updated,
                    "via": "cli",
                },
            )
    except CampaignInvalid as invalid:
        with force_locale("en"):  # for the operator at the terminal, beside the key paths
            lines = "\n".join(f"  {problem}" for problem in invalid.problems)
        raise click.ClickException(
            f"{path} was not imported ({len(invalid.problems)} problems; nothing was "
            f"stored):\n{lines}"
        ) from invalid
    verb = "created" if result.created else "updated"
    click.echo(
        f"campaign {result.campaign.code} {verb} ({result.campaign.status.value}); facilities: "
        f"{len(result.facilities_created)} created, {len(result.facilities_updated)} updated"
    )


@coupons_group.command("client-jwks")
@with_appcontext
def client_jwks_command() -> None:
    """Print the client's public key set (JWKS), to register with the identity provider."""
    settings = coupons_settings(current_app)
    if settings.client_key is None:
        raise click.ClickException(
            "no client key: set COUPONS_OIDC_ISSUER and COUPONS_OIDC_PRIVATE_KEY (docs/coupons.md)"
        )
    click.echo(json.dumps(public_jwks(settings.client_key), indent=2))
