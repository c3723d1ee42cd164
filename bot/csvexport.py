"""CSV downloads: the one writer every export uses.

A spreadsheet runs a cell that starts like a formula, and what the console exports holds
text anyone could type: the e-mail typed on the sign-in page lands in the audit log. So
every cell of every export goes through :func:`defuse` (OWASP, CSV injection): a cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, also after leading
spaces, gets a ``'`` in front, which spreadsheets show as text and do not run. The
full-width ``＝ ＋ － ＠`` are treated the same: Excel in Japanese input mode turns them into
formula signs as they are typed, and a cell is cheaper to quote than to reason about (the
cost is a visible ``'`` before a full-width sign, or before a negative number given as
text). Numbers given as numbers (``int``, ``float``) are written as they are: a numeric
literal is no formula, and survey results need their negative figures for arithmetic.
Every cell is quoted, and the file is UTF-8 with a byte order mark, which Excel needs to
read Japanese correctly.

Large exports stream: :func:`csv_chunks` yields the file a few hundred rows at a time and
:func:`csv_stream_response` sends it as it is made, so memory stays flat whatever the size.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from flask import Response

#: First characters that make a spreadsheet cell a formula (or can start one).
FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")
#: The byte order mark that makes Excel read the file as UTF-8.
BOM = "\ufeff"
#: Rows written per chunk of a streamed file.
ROWS_PER_CHUNK = 500


def defuse(value: object) -> str:
    """The cell's text, prefixed with ``'`` when a spreadsheet would read it as a formula.

    :param value: any value; ``None`` is an empty cell.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a numeric literal: never a formula
    text = "" if value is None else str(value)
    if text[:1] in FORMULA_STARTS or text.lstrip()[:1] in FORMULA_STARTS:
        return "'" + text
    return text


def csv_chunks(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, rows_per_chunk: int = ROWS_PER_CHUNK
) -> Iterator[str]:
    """The file in pieces: BOM and header first, then rows; every cell defused and quoted,
    CRLF line ends. Rows are read one chunk ahead at most."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([defuse(cell) for cell in header])
    yield BOM + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    written = 0
    for row in rows:
        writer.writerow([defuse(cell) for cell in row])
        written += 1
        if written == rows_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            written = 0
    if written:
        yield buffer.getvalue()


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The whole file at once (:func:`csv_chunks` joined)."""
    return "".join(csv_chunks(header, rows))


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Response:
    """A download of :func:`csv_text` named ``filename`` (ASCII letters, digits, ``.-_``).

    :raises ValueError: the file name has other characters (it goes into a header).
    """
    return Response(csv_text(header, rows), mimetype="text/csv", headers=attachment(filename))


def attachment(filename: str) -> dict[str, str]:
    """The headers of a download named ``filename`` (every export uses them).

    :raises ValueError: the name is empty or has other characters than ASCII letters,
        digits and ``.-_`` (it goes into a header).
    """
    if not filename or not all(c.isascii() and (c.isalnum() or c in ".-_") for c in filename):
        raise ValueError(f"not a plain file name: {filename!r}")
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def csv_stream_response(filename: str, chunks: Iterable[str]) -> Response:
    """A download streamed from :func:`csv_chunks` (the rows are read while it is sent, so
    they must not need the request's session: open a session of their own).

    :raises ValueError: the file name has other characters (it goes into a header).
    """
    headers = attachment(filename)
    headers["Cache-Control"] = "no-store"
    encoded = (chunk.encode("utf-8") for chunk in chunks)
    return Response(encoded, mimetype="text/csv", headers=headers, direct_passthrough=True)
