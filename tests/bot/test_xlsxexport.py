"""XLSX exports: one sheet per table, text stays text (never a formula), numbers stay numbers."""

from __future__ import annotations

import io

import openpyxl
import pytest

from bot.xlsxexport import Sheet, workbook_bytes, xlsx_response


def test_a_sheet_per_table_text_as_text_numbers_as_numbers() -> None:
    data = workbook_bytes(
        [
            Sheet("概要", ["項目", "値"], [["=1+1", 3], ["+81", 2.5], [None, True]]),
            Sheet("表", ["日"], []),
        ]
    )
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["概要", "表"]
    sheet = book["概要"]
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [
        ["項目", "値"],
        ["=1+1", 3],
        ["+81", 2.5],
        [None, "True"],
    ]
    assert sheet["A2"].data_type == "s"  # not a formula
    assert sheet["B2"].data_type == "n"
    assert sheet["A1"].font.bold
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["A"].width == 10  # 項目: 4 + 4, at least 10
    wide = workbook_bytes([Sheet("x", ["1人あたりの利用回数の分布", "a" * 80], [])])
    columns = openpyxl.load_workbook(io.BytesIO(wide))["x"].column_dimensions
    assert (columns["A"].width, columns["B"].width) == (29, 40)


@pytest.mark.parametrize(
    ("titles", "message"),
    [
        (["a" * 32], "not a sheet title"),
        ([""], "not a sheet title"),
        (["a/b"], "not a sheet title"),
        (["Uses", "uses"], "two sheets are titled"),
    ],
)
def test_bad_sheet_titles_are_refused(titles: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        workbook_bytes([Sheet(title, ["x"], []) for title in titles])


def test_the_download_is_named_plainly() -> None:
    answer = xlsx_response("report-2030.xlsx", [Sheet("a", ["x"], [[1]])])
    assert answer.headers["Content-Disposition"] == 'attachment; filename="report-2030.xlsx"'
    assert answer.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    with pytest.raises(ValueError, match="not a plain file name"):
        xlsx_response('a".xlsx', [])
