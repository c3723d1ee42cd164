"""XLSX downloads: workbooks of plain tables, one sheet per table (openpyxl, write-only).

Text is always written as text: a cell that starts like a formula (``=``, ``+``, ...) stays
what it says and is never run, the workbook counterpart of ``bot.csvexport.defuse``.
Integers and floats are written as numbers, so the figures can be summed in a spreadsheet.
The header row is bold and frozen, and each column is as wide as its header (within limits).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Response

from bot.csvexport import attachment

if TYPE_CHECKING:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

#: Characters a sheet title may not hold (Excel's rule), and its longest length.
_TITLE_REFUSED = frozenset("[]:*?/\\")
TITLE_LENGTH = 31
MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Sheet:
    """One table: the sheet's title, its header and its rows."""

    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[object]]


def _cell(sheet: WriteOnlyWorksheet, value: object, *, bold: bool = False) -> WriteOnlyCell:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    if isinstance(value, bool) or not isinstance(value, int | float):
        cell = WriteOnlyCell(sheet, value="" if value is None else str(value))
        cell.data_type = "s"  # text, never a formula
    else:
        cell = WriteOnlyCell(sheet, value=value)
    if bold:
        cell.font = Font(bold=True)
    return cell


def workbook_bytes(sheets: Iterable[Sheet]) -> bytes:
    """The workbook (``.xlsx``) of ``sheets``, in order.

    :raises ValueError: a title that is empty, too long, holds ``[]:*?/\\`` or repeats
        another (case-insensitively, as Excel compares them).
    """
    # openpyxl is imported when a workbook is made: processes that never make one (webhook
    # workers) do not carry its ~16 MB.
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    sheets = list(sheets)
    seen: set[str] = set()
    for sheet in sheets:  # all checked before a write-only sheet is opened
        title = sheet.title
        if not title or len(title) > TITLE_LENGTH or any(c in _TITLE_REFUSED for c in title):
            raise ValueError(f"not a sheet title: {title!r}")
        if title.casefold() in seen:
            raise ValueError(f"two sheets are titled {title!r}")
        seen.add(title.casefold())
    workbook = Workbook(write_only=True)
    for sheet in sheets:
        worksheet = workbook.create_sheet(sheet.title)
        worksheet.freeze_panes = "A2"
        for column, title in enumerate(sheet.header, start=1):
            # Wide enough for the header (Japanese characters take two widths), within limits.
            width = sum(2 if ord(c) > 0x2E80 else 1 for c in str(title)) + 4
            worksheet.column_dimensions[get_column_letter(column)].width = max(10, min(40, width))
        worksheet.append([_cell(worksheet, value, bold=True) for value in sheet.header])
        for row in sheet.rows:
            worksheet.append([_cell(worksheet, value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_response(filename: str, sheets: Iterable[Sheet]) -> Response:
    """A download of :func:`workbook_bytes` named ``filename`` (ASCII letters, digits,
    ``.-_``).

    :raises ValueError: the file name has other characters (it goes into a header).
    """
    return Response(workbook_bytes(sheets), mimetype=MIMETYPE, headers=attachment(filename))
