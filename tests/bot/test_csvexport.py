"""The one CSV writer: formulas defused in every cell, quoted, UTF-8 with a BOM."""

from __future__ import annotations

import csv
import io

import pytest

from bot.csvexport import csv_chunks, csv_response, csv_stream_response, csv_text, defuse


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


@pytest.mark.parametrize(("value", "expected"), [(-5, "-5"), (-2.5, "-2.5"), (0, "0")])
def test_numbers_given_as_numbers_are_kept(value: object, expected: str) -> None:
    assert defuse(value) == expected


def test_a_negative_number_given_as_text_is_still_defused() -> None:
    assert defuse("-5") == "'-5"


def test_booleans_are_text_not_numbers() -> None:
    assert defuse(True) == "True"


def test_chunks_stream_a_few_rows_at_a_time() -> None:
    rows = ([str(n), "=cmd"] for n in range(7))
    chunks = list(csv_chunks(["n", "x"], rows, rows_per_chunk=3))
    assert chunks[0] == '\ufeff"n","x"\r\n'
    assert len(chunks) == 1 + 3  # header, 3 + 3 + 1 rows
    assert "".join(chunks) == csv_text(["n", "x"], ([str(n), "=cmd"] for n in range(7)))
    assert chunks[1].count("\r\n") == 3
    assert '"\'=cmd"' in chunks[3]


def test_a_streamed_download_names_its_file_and_is_not_cached() -> None:
    response = csv_stream_response("a.csv", csv_chunks(["a"], [["b"]]))
    assert response.is_streamed
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"] == 'attachment; filename="a.csv"'
    assert b"".join(response.response).startswith(b"\xef\xbb\xbf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="file name"):
        csv_stream_response("../a.csv", iter(()))
