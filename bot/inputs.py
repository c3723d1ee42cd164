"""What people type, checked where it enters: control characters and e-mail addresses.

Control characters (C0 such as NUL, newline and ESC; DEL; C1) have no place in a query
string or a one-line form field. Left in, they break things far from where they came in:
PostgreSQL refuses NUL in text (a 500 after other work was done), a newline in a redirect
target is a header injection, an escape sequence rewrites a terminal showing the logs. So
they are refused at the boundary, in one place each:

- query strings, for every request: :func:`refuse_control_characters_in_query` (a
  ``before_request`` hook; the answer is 400 with the part of the site's error page);
- forms: :class:`NoControlCharacters`, which the console's base form puts first on every
  field (only multi-line fields may hold tab, line feed and carriage return).

Sign-in e-mail addresses are normalised (:func:`normalise_email`) wherever one is looked
up or written down, so ``ＡＤＭＩＮ@Pref.example.jp `` and ``admin@pref.example.jp`` are
one person in the audit log and its filter.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import Flask, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import BadRequest
from wtforms.validators import StopValidation

#: C0 controls, DEL and C1 controls.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: The same, less tab, line feed and carriage return (allowed in multi-line text).
CONTROL_CHARACTERS_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Longest e-mail address (RFC 5321 path limit) kept in the audit log.
MAX_EMAIL = 254


def has_control_characters(text: str, *, multiline: bool = False) -> bool:
    """True when ``text`` holds a control character (tab and line breaks allowed if
    ``multiline``)."""
    pattern = CONTROL_CHARACTERS_BUT_LINE_BREAKS if multiline else CONTROL_CHARACTERS
    return pattern.search(text) is not None


def escape_control_characters(text: str) -> str:
    """``text`` with each control character written as ``\\xNN`` (safe to store and show)."""
    return CONTROL_CHARACTERS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def normalise_email(text: str) -> str:
    """An e-mail address as stored and compared: NFKC (full-width letters become ASCII),
    lower case, without surrounding spaces; control characters escaped, at most 254
    characters. Text that is not an address is normalised the same way."""
    normalised = unicodedata.normalize("NFKC", text).strip().lower()
    return escape_control_characters(normalised)[:MAX_EMAIL]


def is_email(text: str) -> bool:
    """True when ``text`` is shaped like an e-mail address (no DNS lookup)."""
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


class ControlCharactersRefused(BadRequest):
    """A query string with control characters (400)."""

    #: What the error page says (translated when shown).
    page_message = _l(
        "The address contains control characters (such as line breaks), which are not "
        "allowed. Check the link and try again."
    )


def refuse_control_characters_in_query() -> None:
    """Refuse a request whose query string holds a control character, in a name or a value.

    :raises ControlCharactersRefused: there is one.
    """
    for name, value in request.args.items(multi=True):
        if has_control_characters(name) or has_control_characters(value):
            raise ControlCharactersRefused()


class NoControlCharacters:
    """A WTForms validator refusing control characters in what was typed (``raw_data``);
    it stops the field's other validators, which may query the database."""

    def __init__(self, *, multiline: bool = False) -> None:
        self.multiline = multiline

    #: The field's error (translated when shown).
    message = _l("Control characters (such as line breaks) are not allowed here.")

    def __call__(self, form: Any, field: Any) -> None:
        typed = [value for value in field.raw_data or () if isinstance(value, str)]
        if any(has_control_characters(value, multiline=self.multiline) for value in typed):
            field.refused_control_characters = True
            raise StopValidation(str(self.message))


def init_app(app: Flask) -> None:
    """Check every request's query string before anything else reads it."""
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_control_characters_in_query)
