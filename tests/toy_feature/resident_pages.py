"""Test-only resident pages, built with the shell's factory (never part of the product).

They exercise every kind of access (public, signed-in resident, signed link, undeclared),
a form, and failures, for tests/residentweb and the browser tests.
"""

from __future__ import annotations

from flask import abort, redirect, render_template_string, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from bot.residentweb import (
    current_resident,
    public,
    resident_blueprint,
    resident_required,
    sign_out_resident,
)
from bot.residentweb.links import signed_link

bp = resident_blueprint("resident_test", __name__, "/r/test")

#: The purpose of the test pages' links, and another one.
PURPOSE = "test-page"
OTHER_PURPOSE = "other-page"

PAGE = """{% extends "resident/layout.html" %}
{% block title %}{{ title }}{% endblock %}
{% block content %}
<section class="card">
  <h1>{{ title }}</h1>
  <p id="who">{{ who }}</p>
  {% if form %}
  <form method="post">
    {{ form.csrf_token }}
    <label for="nickname">ニックネーム / Nickname</label>{{ form.nickname(id="nickname") }}
    <button type="submit">送信 / Send</button>
  </form>
  {% endif %}
</section>
{% endblock %}"""


class NicknameForm(FlaskForm):
    nickname = StringField("Nickname", validators=[DataRequired(), Length(max=20)])


def _who() -> str:
    resident = current_resident()
    return f"resident {resident.id}" if resident else "nobody"


@bp.get("/me")
@resident_required
def me() -> str:
    """A page for the signed-in resident only."""
    return render_template_string(PAGE, title="あなたのページ", who=_who(), form=None)


@bp.get("/open")
@public
def open_page() -> str:
    """A page anyone may open; it says who is signed in."""
    return render_template_string(PAGE, title="お知らせ", who=_who(), form=None)


@bp.get("/link/<token>")
@signed_link(PURPOSE)
def link(number: int) -> str:
    """A page behind a signed link."""
    return render_template_string(PAGE, title="リンク", who=f"number {number}", form=None)


@bp.get("/other/<token>")
@signed_link(OTHER_PURPOSE)
def other(number: int) -> str:
    """A signed-link page for another purpose."""
    return render_template_string(PAGE, title="別のリンク", who=f"other {number}", form=None)


@bp.get("/misrouted")
@signed_link(PURPOSE)
def misrouted(number: int) -> str:  # pragma: no cover - links to it are refused
    """A signed-link view whose route forgot the token."""
    return str(number)


@bp.route("/form", methods=["GET", "POST"])
@resident_required
def form() -> ResponseReturnValue:
    """A form (CSRF-protected like every form)."""
    nickname = NicknameForm()
    if nickname.validate_on_submit():
        return redirect(url_for(".open_page"))
    return render_template_string(PAGE, title="フォーム", who=_who(), form=nickname)


@bp.get("/signout")
@public
def sign_out() -> ResponseReturnValue:
    """Ends the resident session."""
    sign_out_resident()
    return redirect(url_for(".open_page"))


@bp.get("/undeclared")
def undeclared() -> str:  # pragma: no cover - refused before it runs
    """A view that forgot to say who may open it."""
    return "nobody should see this"


@bp.get("/boom")
@public
def boom() -> str:
    """Fails: ``?raise`` raises an exception, otherwise it aborts with 500."""
    if "raise" in request.args:
        raise RuntimeError("a bug in a resident page")
    abort(500)
