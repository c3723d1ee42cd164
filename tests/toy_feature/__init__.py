"""A toy feature used only by the tests: it plugs into every part of the seam.

It shows, in one small package, what a real feature's ``init_app`` registers (docs/features.md):

* a setting (``TOY_GREETING``, checked when read);
* LINE routes (``おもちゃ`` answers with the greeting, in the resident's language; an image
  is fetched from LINE, outside the transaction, and its size told back);
* two dialog flows (``flow.py``: a code-declared booking and a data-driven quiz);
* two interceptors: one observes every event, one claims ``ひみつ`` before the dialogs;
* a clock job that pushes a reminder (after its unit of work commits);
* a console page with its menu entry and dashboard tile, and a staff action whose push and
  notification run only after the request's unit of work commits;
* a page done at one facility (``facility_page.py``) and resident pages of every kind of
  access (``resident_pages.py``);
* its own translation catalog;
* a ``madoguchi toy count`` CLI command and a development service (``make run`` only).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, abort, redirect, render_template, url_for
from flask.cli import with_appcontext
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from bot.config import Setting
from bot.console import NavItem, Tile, console_blueprint
from bot.console.audit import record
from bot.console.roles import Permission, requires
from bot.context import EventContext
from bot.db import get_db
from bot.features import DevService, seam
from bot.incoming import MediaUnavailable
from bot.jobs import Job
from bot.messages import text, with_main_menu
from bot.routing import MessageType, Text
from bot.work import Work, request_session, request_work
from models import Dialog, DialogStatus, Resident
from models.base import utcnow
from tests.toy_feature import facility_page, resident_pages
from tests.toy_feature.flow import QUIZ_FLOW, TOY_FLOW

#: Kinds of the events the observing interceptor saw (the tests read it).
SEEN: list[str] = []
#: Notifications sent after a staff action committed (standing in for e-mail).
NOTIFIED: list[int] = []
#: How long a booking may sit unfinished before the clock job nudges the resident.
NUDGE_AFTER = timedelta(minutes=5)

bp = console_blueprint("toy_admin", __name__, "/admin/toy", template_folder="templates")


def _greeting_is_short(value: str) -> str | None:
    return None if 0 < len(value) <= 100 else "must have 1 to 100 characters"


def hello(ctx: EventContext) -> None:
    """Greets the resident with the configured greeting."""
    ctx.reply(with_main_menu(_("Toy says: %(greeting)s", greeting=ctx.config["TOY_GREETING"])))


def receive_image(ctx: EventContext) -> None:
    """Tells the resident how large their image was (its bytes come from LINE)."""
    try:
        image = ctx.incoming.require_media()
    except MediaUnavailable as problem:
        ctx.reply(text(f"画像を受け取れませんでした（{problem.reason}）"))
        return
    ctx.reply(text(f"画像を受け取りました（{len(image.data)} バイト、{image.content_type}）"))


def observe(ctx: EventContext) -> bool:
    """Sees every event and lets it go on."""
    SEEN.append(ctx.incoming.kind)
    return False


def keep_secret(ctx: EventContext) -> bool:
    """Claims the word ひみつ before any dialog or route can see it."""
    if Text("ひみつ")(ctx.incoming):
        ctx.reply(text("ないしょです"))
        return True
    return False


def nudge(app: Flask, work: Work) -> int:
    """Pushes a reminder to residents whose booking has waited too long."""
    waiting = work.session.scalars(
        select(Resident)
        .join(Dialog, Dialog.resident_id == Resident.id)
        .where(
            Dialog.flow == "toy",
            Dialog.status == DialogStatus.ACTIVE,
            Dialog.updated_at < utcnow() - NUDGE_AFTER,
        )
    ).all()
    for resident in waiting:
        work.outbox.push(work.session, resident, [text("予約の途中です")], purpose="toy.nudge")
    return len(waiting)


def count_bookings() -> str:
    """The tile's figure: completed bookings."""
    found = request_session().scalar(
        select(func.count())
        .select_from(Dialog)
        .where(Dialog.flow == "toy", Dialog.status == DialogStatus.COMPLETED)
    )
    return str(found or 0)


@bp.get("/")
@requires(Permission.RESULTS)
def index() -> str:
    """Completed toy bookings."""
    bookings = request_session().scalars(
        select(Dialog)
        .where(Dialog.flow == "toy", Dialog.status == DialogStatus.COMPLETED)
        .order_by(Dialog.id)
    )
    return render_template("toy/index.html", bookings=list(bookings))


@bp.post("/<int:dialog_id>/nudge")
@requires(Permission.SURVEYS_EDIT)
def nudge_one(dialog_id: int) -> ResponseReturnValue:
    """Pushes a reminder to the resident of a booking, and notifies the office, after commit.

    The push is queued before the booking is checked, so a refused nudge shows that what a
    rolled-back request queued is never sent.
    """
    work = request_work()
    dialog = work.session.get(Dialog, dialog_id)
    if dialog is None:
        abort(404)
    work.outbox.push(work.session, dialog.resident, [text("予約の途中です")], purpose="toy.nudge")
    work.after_commit(lambda: NOTIFIED.append(dialog_id))
    record(work.session, "toy.nudge", object_type="dialog", object_id=dialog_id)
    if dialog.status != DialogStatus.ACTIVE:
        abort(409)
    return redirect(url_for(".index"))


@click.group("toy")
def toy_commands() -> None:
    """The toy's commands."""


@toy_commands.command("count")
@with_appcontext
def count_command() -> None:
    """Print how many toy bookings were completed."""
    with get_db().reading() as session:
        found = session.scalar(
            select(func.count())
            .select_from(Dialog)
            .where(Dialog.flow == "toy", Dialog.status == DialogStatus.COMPLETED)
        )
    click.echo(f"{found} toy bookings")


class ToyService:
    """A development service that only remembers it was started (``make run`` starts it)."""

    def __init__(self, app: Flask) -> None:
        self.greeting = app.config["TOY_GREETING"]
        self.stopped = False

    def shutdown(self) -> None:
        self.stopped = True


def init_app(app: Flask) -> None:
    """Plug the toy into every part of the seam."""
    features = seam(app)
    features.add_setting(
        Setting("TOY_GREETING", "こんにちは", str, "What the toy says.", _greeting_is_short)
    )
    features.add_route("toy.hello", Text("おもちゃ"), hello)
    features.add_route("toy.image", MessageType("image"), receive_image)
    features.add_flow(TOY_FLOW)
    features.add_flow(QUIZ_FLOW)
    features.add_interceptor("toy.observe", observe, order=10)
    features.add_interceptor("toy.secret", keep_secret, order=100)
    features.add_job(Job("toy.nudge", nudge, timedelta(minutes=10)))
    features.add_blueprint(bp)
    features.add_blueprint(facility_page.bp)
    features.add_blueprint(resident_pages.bp)
    features.add_nav(NavItem("toy_admin.index", _l("Toy bookings"), Permission.RESULTS, 50))
    features.add_tile(Tile(_l("Toy bookings"), Permission.RESULTS, count_bookings))
    features.add_translations(Path(__file__).parent / "translations")
    features.add_command(toy_commands)
    features.add_dev_service(DevService("toy", ToyService, lambda s: "toy service running"))
