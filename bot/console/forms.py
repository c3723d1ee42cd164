"""Console forms (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, Regexp

from bot.console.users import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from models import Role


class SignInForm(FlaskForm):
    """Email and password."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class TotpForm(FlaskForm):
    """A six-digit code from the authenticator app."""

    code = StringField(_l("Code"), validators=[DataRequired(), Regexp(r"^\s*\d{6}\s*$")])


#: Longest second-factor entry read (a recovery code with spaces and hyphens fits).
CODE_LENGTH = 32


class CodeForm(FlaskForm):
    """The second step of a sign-in: a code from the app, or a recovery code."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=CODE_LENGTH)])


class ConfirmForm(FlaskForm):
    """The password and a current code, before a change to the second factor."""

    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    code = StringField(
        _l("Code from the app, or a recovery code"),
        validators=[DataRequired(), Length(max=CODE_LENGTH)],
    )


class SecurityForm(FlaskForm):
    """The console's security settings (admins)."""

    totp_required = BooleanField(_l("Require two-step sign-in for admin and approver accounts"))


def new_password_field() -> PasswordField:
    return PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)],
    )


class PasswordForm(FlaskForm):
    """Change one's own password."""

    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)])
    new = new_password_field()
    confirm = PasswordField(_l("New password again"), validators=[DataRequired(), EqualTo("new")])


class LanguageForm(FlaskForm):
    """The console's language for this person."""

    language = SelectField(
        _l("Language"), choices=[SelectChoice("ja", "日本語"), SelectChoice("en", "English")]
    )


class StaffForm(FlaskForm):
    """A new staff member (admins)."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    roles = SelectMultipleField(
        _l("Roles"), choices=[SelectChoice(r.value) for r in Role], validators=[DataRequired()]
    )
    password = new_password_field()


class FacilitiesForm(FlaskForm):
    """The facilities a staff member works at (admins); the choices are set by the view."""

    facilities = SelectMultipleField(_l("Facilities"), coerce=int)


class EmptyForm(FlaskForm):
    """A form with only its CSRF token (sign-out, deactivate, ...)."""
