"""The one CSV writer: formulas defused in every cell, quoted, UTF-8 with a BOM."""

from __future__ import annotations

import csv
import io

import pytest

from bot.csvexport import csv_response, csv_text, defuse


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("http://evil.example","x")',
        "@SUM(A1:A9)",
        "+1+1",
        "-2+3",
        "\t=1+1",
        "\r=1+1",
        "  =1+1",
        "\u3000@SUM(A1)",  # an ideographic space first
        "\n=1+1",
        "＝1+1",
        "＋1",
        "－1",
        "＠SUM(A1)",
    ],
)
def test_formula_starts_are_defused(cell: str) -> None:
    assert defuse(cell) == "'" + cell


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("admin@pref.example.jp", "admin@pref.example.jp"),
        ("山田 花子", "山田 花子"),
        ("a=b", "a=b"),
        (None, ""),
        (42, "42"),
        ("", ""),
    ],
)
def test_plain_cells_are_kept(value: object, expected: str) -> None:
    assert defuse(value) == expected


def test_the_file_is_quoted_utf8_with_a_bom() -> None:
    text = csv_text(["名前", "note"], [["山田", '=1+1, "quoted"\nnext line'], [None, "-5"]])
    assert text.startswith('\ufeff"名前","note"\r\n')
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows == [["名前", "note"], ["山田", '\'=1+1, "quoted"\nnext line'], ["", "'-5"]]


def test_a_download_names_its_file_and_refuses_odd_names() -> None:
    response = csv_response("audit-log.csv", ["a"], [["b"]])
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="audit-log.csv"'
    assert response.get_data().startswith(b"\xef\xbb\xbf")
    with pytest.raises(ValueError, match="file name"):
        csv_response('x";\r\nSet-Cookie: a=b', ["a"], [])
