"""Console forms: each is a :class:`ConsoleForm` (Flask-WTF: a CSRF token; and no control
characters in any field, checked before the field's own validators)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, Regexp

from bot.console.users import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from bot.inputs import NoControlCharacters
from models import Role


class ConsoleForm(FlaskForm):
    """The base of every form madoguchi serves (the console's and resident pages'): control
    characters are refused in every field (tab and line breaks are allowed in multi-line
    ones), before any other validator runs."""

    class Meta(FlaskForm.Meta):
        def bind_field(self, form: Any, unbound_field: Any, options: dict[str, Any]) -> Field:
            field: Field = super().bind_field(form, unbound_field, options)
            multiline = isinstance(field, TextAreaField)
            field.validators = [NoControlCharacters(multiline=multiline), *field.validators]
            return field

    def control_error(self) -> str | None:
        """The error to show when a field held control characters (after ``validate``)."""
        refused = any(getattr(field, "refused_control_characters", False) for field in self)
        return str(NoControlCharacters.message) if refused else None


class SignInForm(ConsoleForm):
    """Email and password."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class TotpForm(ConsoleForm):
    """A six-digit code from the authenticator app."""

    code = StringField(_l("Code"), validators=[DataRequired(), Regexp(r"^\s*\d{6}\s*$")])


#: Longest second-factor entry read (a recovery code with spaces and hyphens fits).
CODE_LENGTH = 32


class CodeForm(ConsoleForm):
    """The second step of a sign-in: a code from the app, or a recovery code."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=CODE_LENGTH)])


class ConfirmForm(ConsoleForm):
    """The password and a current code, before a change to the second factor."""

    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    code = StringField(
        _l("Code from the app, or a recovery code"),
        validators=[DataRequired(), Length(max=CODE_LENGTH)],
    )


class SecurityForm(ConsoleForm):
    """The console's security settings (admins)."""

    totp_required = BooleanField(_l("Require two-step sign-in for admin and approver accounts"))


def new_password_field() -> PasswordField:
    return PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)],
    )


class PasswordForm(ConsoleForm):
    """Change one's own password."""

    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)])
    new = new_password_field()
    confirm = PasswordField(_l("New password again"), validators=[DataRequired(), EqualTo("new")])


class LanguageForm(ConsoleForm):
    """The console's language for this person."""

    language = SelectField(
        _l("Language"), choices=[SelectChoice("ja", "日本語"), SelectChoice("en", "English")]
    )


class StaffForm(ConsoleForm):
    """A new staff member (admins)."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    roles = SelectMultipleField(
        _l("Roles"), choices=[SelectChoice(r.value) for r in Role], validators=[DataRequired()]
    )
    password = new_password_field()


class FacilitiesForm(ConsoleForm):
    """The facilities a staff member works at (admins); the choices are set by the view."""

    facilities = SelectMultipleField(_l("Facilities"), coerce=int)


class EmptyForm(ConsoleForm):
    """A form with only its CSRF token (sign-out, deactivate, ...)."""
