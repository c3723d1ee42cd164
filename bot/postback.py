"""Postback data: a small versioned query string, parsed once into a typed value.

``v=1&a=survey.answer&c=12&s=3&o=2``: ``v`` is the protocol version, ``a`` the action,
``c`` and ``s`` (optional) the dialog id and its version for the stale-button guard;
the rest are action parameters. Anything else (another version, a missing action, repeated
keys, over-long data) is not a postback this bot sent, and parses to ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

VERSION = "1"
#: LINE's limit for postback ``data``.
MAX_LENGTH = 300
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_RESERVED = frozenset({"v", "a", "c", "s"})


class PostbackError(ValueError):
    """Raised when postback data cannot be encoded within LINE's limits."""


@dataclass(frozen=True)
class PostbackData:
    """A decoded postback: action name, dialog guard and parameters."""

    action: str
    params: dict[str, str] = field(default_factory=dict)
    #: Id of the dialog the button belongs to, if a dialog sent it.
    dialog_id: int | None = None
    #: The dialog's version when the button was sent.
    dialog_version: int | None = None

    def encode(self) -> str:
        """Serialise to the query string sent as ``data``.

        :raises PostbackError: the action or a parameter is invalid, or it exceeds 300 chars.
        """
        if not _ACTION.match(self.action):
            raise PostbackError(f"invalid postback action {self.action!r}")
        if _RESERVED & self.params.keys():
            raise PostbackError("postback parameters may not use reserved keys v, a, c, s")
        pairs: list[tuple[str, str]] = [("v", VERSION), ("a", self.action)]
        if self.dialog_id is not None:
            pairs += [("c", str(self.dialog_id)), ("s", str(self.dialog_version))]
        pairs += sorted(self.params.items())
        data = urlencode(pairs)
        if len(data) > MAX_LENGTH:
            raise PostbackError(f"postback data is {len(data)} characters (max {MAX_LENGTH})")
        return data

    def get_int(self, name: str) -> int | None:
        """A parameter as an int, or ``None`` when absent or not a plain integer."""
        return _to_int(self.params.get(name))


def _to_int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 19 else None


def decode(data: str | None) -> PostbackData | None:
    """Parse postback data; ``None`` for anything this bot did not produce."""
    if not data or len(data) > MAX_LENGTH:
        return None
    try:
        pairs = parse_qsl(data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    fields = dict(pairs)
    if len(fields) != len(pairs) or fields.pop("v", None) != VERSION:
        return None
    action = fields.pop("a", "")
    if not _ACTION.match(action):
        return None
    raw_c, raw_s = fields.pop("c", None), fields.pop("s", None)
    dialog_id, version = _to_int(raw_c), _to_int(raw_s)
    if (raw_c is None) != (raw_s is None):
        return None
    if raw_c is not None and (dialog_id is None or version is None):
        return None
    return PostbackData(action, fields, dialog_id, version)
