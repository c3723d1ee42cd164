"""The ``madoguchi`` command: Flask's CLI on ``create_app`` plus madoguchi's own commands.

``madoguchi db upgrade`` applies migrations, ``madoguchi serve`` runs the embedded
development bot (with the fake LINE platform when no channel is configured),
``madoguchi richmenu deploy`` installs the default rich menu, ``madoguchi staff ...`` and
``madoguchi facility ...`` manage staff accounts and the facilities they work at.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from bot.config import ConfigError
from bot.db import get_db
from bot.migrate import upgrade_database
from models import Role

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from models import Staff


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Apply all migrations to DATABASE_URL."""
    upgrade_database(current_app.config["DATABASE_URL"])
    click.echo("database is up to date")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve(host: str, port: int) -> None:
    """Run the embedded development bot: web, clock jobs and (without LINE) the simulator."""
    from bot.devserver import run_embedded

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["MADOGUCHI_ENV"] != "development":
        raise click.UsageError("serve is for development; production runs gunicorn (Procfile)")
    run_embedded(app, host=host, port=port)


@click.group("richmenu")
def richmenu_group() -> None:
    """The default rich menu."""


@richmenu_group.command("deploy")
@with_appcontext
def richmenu_deploy() -> None:
    """Create, upload and set the default rich menu (does nothing if it is already set)."""
    from bot.line_api import LineApiError
    from bot.richmenu import RichMenuError, deploy_default_rich_menu

    try:
        result = deploy_default_rich_menu(
            current_app.extensions["line"], font_path=current_app.config["RICHMENU_FONT"]
        )
    except (RichMenuError, LineApiError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(result)


@click.group("staff")
def staff_group() -> None:
    """Staff accounts of the console."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(
        click.prompt("Password (12 characters or more)", hide_input=True, confirmation_prompt=True)
    )


@staff_group.command("create")
@click.option("--email", required=True)
@click.option("--name", default="", help="Display name (default: the email).")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="Repeat for several roles.",
)
@click.option(
    "--facility",
    "facilities",
    multiple=True,
    metavar="CODE",
    help="A facility the person works at (repeat for several; see `facility list`).",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def staff_create(
    email: str, name: str, roles: tuple[str, ...], facilities: tuple[str, ...], password_stdin: bool
) -> None:
    """Create a staff account (the first admin is made this way)."""
    from bot.console.audit import record
    from bot.console.facilities import find_facilities
    from bot.console.users import create_staff

    password = _read_password(password_stdin)
    try:
        with get_db().unit_of_work() as session:
            staff = create_staff(
                session,
                email=email,
                display_name=name or email,
                password=password,
                roles={Role(r) for r in roles},
                facilities=find_facilities(session, facilities),
            )
            codes = [f.code for f in staff.facilities]
            record(
                session,
                "staff.create",
                object_type="staff",
                object_id=staff.id,
                detail={"roles": sorted(roles), "facilities": codes, "via": "cli"},
            )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    at = f" at {', '.join(codes)}" if codes else ""
    click.echo(f"created {staff.email} ({', '.join(sorted(roles))}){at}")


@contextmanager
def _account(email: str) -> Iterator[tuple[Session, Staff]]:
    """A staff account found by email, in a unit of work of its own.

    :raises click.ClickException: there is no such account.
    """
    from bot.console.users import find_staff

    with get_db().unit_of_work() as session:
        staff = find_staff(session, email)
        if staff is None:
            raise click.ClickException(f"no account for {email}")
        yield session, staff


@staff_group.command("reset-password")
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def staff_reset_password(email: str, password_stdin: bool) -> None:
    """Set a new password, unlock the account and end its sessions."""
    from bot.console.audit import record
    from bot.console.users import set_password

    password = _read_password(password_stdin)
    try:
        with _account(email) as (session, staff):
            ended = set_password(staff, password)
            record(
                session,
                "staff.password_reset",
                object_type="staff",
                object_id=staff.id,
                detail={"via": "cli", "sessions_ended": ended},
            )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"password reset for {staff.email}; the account is unlocked")


@staff_group.command("reset-totp")
@click.option("--email", required=True)
@with_appcontext
def staff_reset_totp(email: str) -> None:
    """Turn TOTP off for someone who lost both their phone and their recovery codes, and
    end their sessions (they set it up again after their next sign-in)."""
    from bot.console import second_factor, sessions
    from bot.console.audit import record

    with _account(email) as (session, staff):
        second_factor.disable(session, staff)
        ended = sessions.end_all(session, staff.id)
        record(
            session,
            "staff.totp_disable",
            object_type="staff",
            object_id=staff.id,
            detail={"via": "cli", "sessions_ended": ended},
        )
    click.echo(f"two-step sign-in is off for {staff.email}; their sessions have ended")


@staff_group.command("end-sessions")
@click.option("--email", help="End this person's sessions.")
@click.option("--all", "everyone", is_flag=True, help="End every staff session.")
@with_appcontext
def staff_end_sessions(email: str | None, everyone: bool) -> None:
    """Sign staff out everywhere: one person (--email) or everybody (--all), e.g. after a
    leaked SECRET_KEY (docs/security.md)."""
    from bot.console import sessions
    from bot.console.audit import record

    if bool(email) == everyone:
        raise click.UsageError("give either --email or --all")
    if email:
        with _account(email) as (session, staff):
            ended = sessions.end_all(session, staff.id)
            record(
                session,
                "session.end_all",
                object_type="staff",
                object_id=staff.id,
                detail={"via": "cli", "sessions_ended": ended},
            )
    else:
        with get_db().unit_of_work() as session:
            ended = sessions.end_everyone(session)
            record(
                session,
                "session.end_all",
                detail={"via": "cli", "everyone": True, "sessions_ended": ended},
            )
    click.echo(f"{ended} session(s) ended")


@click.command("settings")
@with_appcontext
def settings_table() -> None:
    """Print every setting (the core's and the features') as README.md table rows."""
    from bot.config import SETTINGS

    for setting in (*SETTINGS, *current_app.extensions["seam"].settings):
        default = "(none)" if setting.default is None else f"`{setting.default}`"
        click.echo(f"| `{setting.name}` | {default} | {setting.doc} |")


@click.group("facility")
def facility_group() -> None:
    """Facilities, where facility staff work."""


@facility_group.command("add")
@click.option("--code", required=True, help="Short unique code: letters, digits, hyphens.")
@click.option("--name-ja", required=True, help="Japanese name.")
@click.option("--name-en", required=True, help="English name.")
@with_appcontext
def facility_add(code: str, name_ja: str, name_en: str) -> None:
    """Add a facility."""
    from bot.console.audit import record
    from bot.console.facilities import add_facility

    try:
        with get_db().unit_of_work() as session:
            facility = add_facility(session, code=code, name_ja=name_ja, name_en=name_en)
            record(
                session,
                "facility.create",
                object_type="facility",
                object_id=facility.id,
                detail={"code": facility.code, "via": "cli"},
            )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"added {facility.code}: {facility.name_ja} / {facility.name_en}")


@facility_group.command("list")
@with_appcontext
def facility_list() -> None:
    """List the facilities: code, state, Japanese and English names (tab-separated)."""
    from bot.console.facilities import list_facilities

    with get_db().reading() as session:
        facilities = list_facilities(session)
    if not facilities:
        click.echo("no facilities yet: add one with `madoguchi facility add`")
    for facility in facilities:
        state = "active" if facility.active else "inactive"
        click.echo(f"{facility.code}\t{state}\t{facility.name_ja}\t{facility.name_en}")


def register_commands(app: Flask) -> None:
    """Attach madoguchi's commands to the app's CLI."""
    for group in (db_group, serve, richmenu_group, staff_group, facility_group, settings_table):
        app.cli.add_command(group)


def _create_app() -> Flask:
    from bot import create_app

    return create_app()


def main() -> None:
    """Entry point of the ``madoguchi`` console script."""
    cli = FlaskGroup(
        name="madoguchi",
        create_app=_create_app,
        add_version_option=False,
        load_dotenv=False,
        set_debug_flag=False,
    )
    try:
        cli.main(prog_name="madoguchi")
    except ConfigError as error:  # a setting missing or wrong: say which, not a traceback
        click.echo(f"madoguchi: {error}", err=True)
        sys.exit(2)
