"""Logging: JSON lines in production, readable lines in development, both with the ids.

Each record's ``extra`` fields (event id and type, internal resident id, ...) are JSON keys,
or ``key=value`` pairs at the end of a text line.

Message text, LINE user ids and profile data are never logged at INFO or above; the code
logs only internal ids, and :class:`RedactFilter` is a second line of defence for LINE ids
that might slip into a message or an exception.
"""

from __future__ import annotations

import logging
import re
import sys

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

#: LINE user, group and room ids (``U``/``C``/``R`` + 32 hex).
_LINE_ID = re.compile(r"\b[UCR][0-9a-f]{32}\b")


class RedactFilter(logging.Filter):
    """Masks anything shaped like a LINE id in the rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _LINE_ID.search(message):
            record.msg, record.args = _LINE_ID.sub("[line-id]", message), None
        return True


class TextFormatter(logging.Formatter):
    """One line for a person: time, level, logger, message, then the extras as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        extras = [
            f"{key}={value}" for key, value in record.__dict__.items() if key not in RESERVED_ATTRS
        ]
        return " ".join([line, *extras])


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """Send logs to stderr as JSON lines (``fmt="json"``) or as readable lines (``"text"``)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    else:
        handler.setFormatter(TextFormatter())
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The SDK logs unknown event types at INFO with their content; keep it quiet.
    logging.getLogger("linebot").setLevel(logging.WARNING)
    # Flask-Limiter names the client's address at INFO; bot.console.throttle logs without it.
    logging.getLogger("flask-limiter").setLevel(logging.WARNING)
