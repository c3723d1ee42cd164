"""XLSForm files: madoguchi's only survey file format (docs/surveys.md, "XLSForm profile").

:func:`read_survey` (and :func:`read_workbook`, its definition alone) turns an ``.xlsx``
workbook into a :class:`~surveys.definition.Definition`; :func:`write_workbook` writes one
back. Export then import gives the same definition.

Reading uses pyxform, the reference implementation of XLSForm, twice: its spreadsheet reader
turns the sheets into rows of text (``xls2json_backends``), and its converter
(``workbook_to_json``) must accept the workbook too. pyxform stops at its first error and keeps
no row numbers, so the rows are also read here, with each question, group and choice kept
with its sheet row and each field with its column: everything outside the supported profile
is refused by name, the project's own checks run (``surveys.definition.check``, the kinds'
``check_config``) and every problem found is given with its cell, e.g. ``survey!D7
(relevant): ${age} is not an earlier question``. When there is any problem, nothing is
imported (:class:`XlsFormError` carries them all).

Writing uses openpyxl; every value is written as text, so a label that starts with ``=``
stays a label and never becomes a formula.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import openpyxl
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from pyxform import aliases
from pyxform.errors import PyXFormError
from pyxform.xls2json import RE_SELECT, workbook_to_json
from pyxform.xls2json_backends import DefinitionData, get_xlsform

from models.surveys import Survey, SurveyVersion
from surveys.definition import (
    Definition,
    Problem,
    Question,
    Section,
    check,
    definition_of,
)
from surveys.kinds import DEFAULT_TEXT, KINDS, FreeText

#: Largest file accepted, and the most its parts may hold uncompressed (a survey of 200
#: questions is well under 1 MB; the limits keep a crafted file from filling memory).
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 20 * 1024 * 1024
#: The column of extensions: ``madoguchi::min``, ``madoguchi::attribute``...
PREFIX = "madoguchi"

#: Source of a workbook: a path, its bytes, or an open binary file.
Source = str | Path | bytes | IO[bytes]

# -- the profile ---------------------------------------------------------------------------------

#: XLSForm type words madoguchi reads, by kind (``select_one`` and ``select_multiple`` apart).
TYPES: Mapping[str, str] = {
    "text": "text",
    "string": "text",
    "integer": "integer",
    "int": "integer",
    "decimal": "decimal",
    "range": "range",
    "date": "date",
    "time": "time",
    "datetime": "datetime",
    "note": "note",
    "acknowledge": "acknowledge",
    "image": "photo",
    "photo": "photo",
    "geopoint": "location",
    "location": "location",
    "gps": "location",
}
#: The type each kind is written as.
TYPE_OF_KIND: Mapping[str, str] = {
    "text": "text",
    "integer": "integer",
    "decimal": "decimal",
    "range": "range",
    "date": "date",
    "time": "time",
    "datetime": "dateTime",
    "note": "note",
    "acknowledge": "acknowledge",
    "photo": "image",
    "location": "geopoint",
    "single_choice": "select_one",
    "yes_no": "select_one",
    "multiple_choice": "select_multiple",
}
#: XLSForm types outside the profile, with what they are (the refusal names both).
REFUSED_TYPES: Mapping[str, str] = {
    "calculate": "calculated values",
    "hidden": "hidden values",
    "geotrace": "lines drawn on a map",
    "geoshape": "shapes drawn on a map",
    "audio": "audio recordings",
    "video": "video recordings",
    "background-audio": "background audio recording",
    "background-geopoint": "background location tracking",
    "start-geopoint": "the location at the start",
    "file": "file uploads",
    "barcode": "barcode scans",
    "rank": "ranking",
    "osm": "OpenStreetMap questions",
    "trigger": "triggers",
    "audit": "audit logs",
    "xml-external": "external data files",
    "csv-external": "external data files",
    "phone number": "phone number metadata",
    "phonenumber": "phone number metadata",
    "start": "start time metadata",
    "end": "end time metadata",
    "today": "today's date metadata",
    "deviceid": "device metadata",
    "imei": "device metadata",
    "subscriberid": "device metadata",
    "simserial": "device metadata",
    "username": "user metadata",
    "email": "user metadata",
}
#: The sheets pyxform reads (others are ignored, so staff may keep notes in a workbook).
_SHEETS = frozenset({"survey", "choices", "settings", "external_choices", "entities", "osm"})
#: Groups that repeat are refused (LINE asks one question at a time, once).
_BEGIN = re.compile(r"^begin[ _](?P<what>group|repeat|loop|looped[ _]group|lgroup)\b")
_END = re.compile(r"^end[ _](?P<what>group|repeat|loop|looped[ _]group|lgroup)\b")
#: Columns that change only how ODK lays a question out on a screen: LINE shows one question
#: at a time, so they are read and ignored (documented).
_IGNORED_SURVEY = frozenset({"appearance"})
_IGNORED_SETTINGS = frozenset({"form_id", "version", "style", "instance_name"})
#: Column spellings, after lower-casing and turning spaces into ``_``.
_SURVEY_ALIASES = {
    "relevance": "relevant",
    "caption": "label",
    "constraining_message": "constraint_message",
    "constraintmsg": "constraint_message",
    "jr:constraintmsg": "constraint_message",
    "command": "type",
}
_CHOICES_ALIASES = {"list name": "list_name", "caption": "label", "value": "name"}
#: Columns with texts by language.
_TRANSLATED = frozenset({"label", "hint", "constraint_message"})
#: The profile's columns of each sheet (``madoguchi::...`` extensions apart).
_SURVEY_COLUMNS = frozenset(
    {"type", "name", "label", "hint", "required", "relevant", "constraint"}
    | {"constraint_message", "parameters"}
)
_CHOICES_COLUMNS = frozenset({"list_name", "name", "label"})
#: ``madoguchi::`` columns of the survey sheet: kinds' settings and the resident attribute.
_EXTENSIONS = frozenset({"min", "max", "max_length", "unit", "attribute"})
_TRANSLATED_EXTENSIONS = frozenset({"unit"})
#: ``madoguchi::`` columns of the settings sheet.
_SETTINGS_EXTENSIONS = frozenset(
    {"title", "intro", "thanks", "anonymous", "one_answer", "estimated_minutes"}
)
_TRANSLATED_SETTINGS = frozenset({"title", "intro", "thanks"})
#: Parameters of the ``parameters`` column, by kind.
_PARAMETERS: Mapping[str, frozenset[str]] = {"range": frozenset({"start", "end", "step"})}
#: Parameters read and ignored: an image's size for ODK's camera (LINE sends its own).
_IGNORED_PARAMETERS: Mapping[str, frozenset[str]] = {"photo": frozenset({"max-pixels"})}
#: ``yes`` / ``no`` as XLSForm writes them (pyxform's spellings).
_YES_NO: Mapping[str, bool] = {k.lower(): v for k, v in aliases.yes_no.items()}

#: Language names accepted in column headers without a code, and names written for codes.
LANGUAGE_NAMES: Mapping[str, str] = {
    "japanese": "ja",
    "日本語": "ja",
    "english": "en",
    "chinese": "zh",
    "中文": "zh",
    "korean": "ko",
    "한국어": "ko",
    "vietnamese": "vi",
    "tiếng việt": "vi",
    "portuguese": "pt",
    "português": "pt",
    "spanish": "es",
    "español": "es",
    "french": "fr",
    "français": "fr",
    "german": "de",
    "deutsch": "de",
    "indonesian": "id",
    "thai": "th",
    "tagalog": "tl",
    "filipino": "fil",
    "nepali": "ne",
    "hindi": "hi",
    "russian": "ru",
    "arabic": "ar",
}
_DISPLAY_NAMES: Mapping[str, str] = {
    "ja": "日本語",
    "en": "English",
    "zh": "中文",
    "ko": "한국어",
    "vi": "Tiếng Việt",
    "pt": "Português",
    "es": "Español",
    "fr": "Français",
    "de": "Deutsch",
}
_IN_PARENTHESES = re.compile(r"\(\s*([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)\s*\)\s*$")
_OPTION_NUMBER = re.compile(r"\boption (\d+)\b")
_IN_LANGUAGE = re.compile(r"\(([a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)\)\s*$")
_BARE_CODE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?")
_HEADER_SPACES = re.compile(r"( )+")
_PARAMETER = re.compile(r"([A-Za-z_][\w-]*)\s*=\s*([^\s,;]+)")


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Where something is in a workbook: a sheet, perhaps a row, perhaps a column (A, B...)."""

    sheet: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        if self.sheet is None:
            return "file"
        if self.row is None:
            return f"{self.sheet}!{self.column}1" if self.column else self.sheet
        if self.column is None:
            return f"{self.sheet} row {self.row}"
        return f"{self.sheet}!{self.column}{self.row}"


@dataclass(frozen=True)
class FileProblem:
    """One problem of a workbook, at its cell: ``survey!D7 (relevant): ...``."""

    position: Position
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.position} ({self.field})" if self.field else str(self.position)
        return f"{where}: {self.message}"


class XlsFormError(ValueError):
    """A workbook with problems; nothing was imported. ``problems`` lists every one."""

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class SurveyOptions:
    """Survey settings a workbook may carry (the settings sheet's ``madoguchi::`` columns)."""

    anonymous: bool = False
    one_answer: bool = True
    estimated_minutes: int | None = None


@dataclass(frozen=True)
class SurveyFile:
    """What a workbook holds: the definition, and the settings of a survey created from it."""

    definition: Definition
    options: SurveyOptions = field(default_factory=SurveyOptions)


# -- reading: cells and columns -------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """A header cell: what it means (``field``, ``language``) and where it is (``letter``)."""

    header: str
    letter: str
    field: str
    #: The language code; ``""`` for a column without one (the survey's default language).
    language: str | None = None
    #: Set when the column is outside the profile or its language is unknown.
    refusal: str | None = None


@dataclass
class _Row:
    """A sheet row as text by column, with its number."""

    sheet: str
    number: int
    values: dict[str, str]
    columns: Mapping[str, _Column]

    def get(self, field_: str) -> str | None:
        for header, column in self.columns.items():
            if column.field == field_ and column.language is None and header in self.values:
                return self.values[header]
        return None

    def texts(self, field_: str) -> dict[str, tuple[str, str]]:
        """Texts of a translated column by language code (``""``: no language), with the
        header each came from."""
        found: dict[str, tuple[str, str]] = {}
        for header, column in self.columns.items():
            if column.field == field_ and column.language is not None and header in self.values:
                found[column.language] = (self.values[header], header)
        return found

    def letter(self, field_: str, language: str | None = None) -> str | None:
        """The column of a field (in a language, else the first)."""
        letters = [c for c in self.columns.values() if c.field == field_]
        for column in letters:
            if language is not None and column.language == language:
                return column.letter
        return letters[0].letter if letters else None

    def at(self, field_: str | None = None, language: str | None = None) -> Position:
        letter = self.letter(field_, language) if field_ else None
        return Position(self.sheet, self.number, letter)


def _snake(header: str) -> str:
    return " ".join(header.split()).lower()


def _language_code(name: str) -> str | None:
    """The code of a language written in a column header (``日本語 (ja)``, ``english``, ``EN``),
    or None if it names no language."""
    text = " ".join(name.split())
    found = _IN_PARENTHESES.search(text)
    if found:
        code = found.group(1)
    elif text.lower() in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[text.lower()]
    elif _BARE_CODE.fullmatch(text):
        code = text
    else:
        return None
    primary, _, region = code.partition("-")
    return primary.lower() + (f"-{region}" if region else "")


def _split(header: str, double_colon: bool) -> list[str]:
    if double_colon or "::" in header:
        return [part.strip() for part in header.split("::")]
    return [part.strip() for part in header.split(":")]


def _column(sheet: str, header: str, letter: str, double_colon: bool) -> _Column:
    """What a header means on its sheet (``survey``, ``choices`` or ``settings``)."""
    parts = _split(header, double_colon)
    first = _snake(parts[0]).replace(" ", "_")
    if first == PREFIX and len(parts) >= 2:
        name = _snake(parts[1]).replace(" ", "_")
        known, translated = {
            "survey": (_EXTENSIONS, _TRANSLATED_EXTENSIONS),
            "settings": (_SETTINGS_EXTENSIONS, _TRANSLATED_SETTINGS),
        }.get(sheet, (frozenset(), frozenset()))
        if name not in known:
            return _refused(header, letter)
        return _language(header, letter, f"{PREFIX}:{name}", parts[2:], name in translated)
    if sheet == "survey":
        first = _SURVEY_ALIASES.get(first, first)
        if first in _IGNORED_SURVEY:
            return _Column(header, letter, "ignored")
        if first in _SURVEY_COLUMNS:
            return _language(header, letter, first, parts[1:], first in _TRANSLATED)
    elif sheet == "choices":
        first = _CHOICES_ALIASES.get(first, first)
        if first in _CHOICES_COLUMNS:
            return _language(header, letter, first, parts[1:], first == "label")
    else:
        if first in _IGNORED_SETTINGS:
            return _Column(header, letter, "ignored")
        if first in ("form_title", "default_language"):
            return _language(header, letter, first, parts[1:], False)
    return _refused(header, letter)


def _refused(header: str, letter: str) -> _Column:
    return _Column(
        header,
        letter,
        header,
        refusal=f"the column {header!r} is outside madoguchi's XLSForm profile",
    )


def _language(
    header: str, letter: str, field_: str, rest: Sequence[str], translated: bool
) -> _Column:
    """A column of ``field_``; ``rest`` is what follows ``::`` (a language, for texts)."""
    if not rest:
        return _Column(header, letter, field_, "" if translated else None)
    if not translated or len(rest) > 1:
        return _refused(header, letter)
    if rest[0].lower() == "default":
        return _Column(header, letter, field_, "")
    code = _language_code(rest[0])
    if code is None:
        return _Column(
            header,
            letter,
            field_,
            refusal=(
                f"{rest[0]!r} is not a language madoguchi knows: write it as "
                f"Name (code), e.g. label::English (en)"
            ),
        )
    return _Column(header, letter, field_, code)


# -- reading: the workbook -------------------------------------------------------------------------


def _read_bytes(source: Source) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, str | Path):
        with open(source, "rb") as file:
            return file.read(MAX_FILE_BYTES + 1)
    return source.read(MAX_FILE_BYTES + 1)


def _opened(data: bytes) -> tuple[Any, DefinitionData]:
    """The workbook (openpyxl, for the header cells) and pyxform's reading of its rows.

    :raises XlsFormError: not an .xlsx workbook, or too large.
    """

    def refuse(message: str) -> XlsFormError:
        return XlsFormError([FileProblem(Position(), None, message)])

    if len(data) > MAX_FILE_BYTES:
        raise refuse(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except zipfile.BadZipFile:
        raise refuse("this is not an Excel workbook (.xlsx)") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise refuse("the workbook is too large once unpacked")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds on a broken file
        raise refuse("this is not an Excel workbook (.xlsx) openpyxl can read") from None
    twice = [
        FileProblem(Position(title, None, letter), None, f"the column {header!r} is there twice")
        for title in workbook.sheetnames
        if title.lower() in _SHEETS
        for header, letter in _duplicates(_headers(workbook[title]))
    ]
    if twice:
        workbook.close()
        raise XlsFormError(twice)
    try:
        book = get_xlsform(io.BytesIO(data), file_type=".xlsx")
    except Exception as error:  # pyxform's reader fails in many ways on odd cells
        workbook.close()
        raise refuse(f"pyxform cannot read it: {error}") from None
    return workbook, book


def _duplicates(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    twice = []
    for header, letter in headers:
        if header in seen:
            twice.append((header, letter))
        seen.add(header)
    return twice


def _clean_header(value: object) -> str:
    """A header as pyxform keys its rows by it (trimmed, runs of spaces made one)."""
    return _HEADER_SPACES.sub(" ", str(value).strip())


def _headers(worksheet: Worksheet) -> list[tuple[str, str]]:
    """(header, column letter) of a sheet's first row, as pyxform cleans headers."""
    first = next(worksheet.iter_rows(min_row=1, max_row=1, values_only=True), ())
    found = []
    for index, value in enumerate(first, start=1):
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        found.append((_clean_header(value), get_column_letter(index)))
    return found


class _Reader:
    """One workbook being read: the problems found so far, and where each thing is."""

    def __init__(self, workbook: Any, book: DefinitionData, filename: str | None) -> None:
        self.workbook = workbook
        self.book = book
        self.filename = filename
        self.problems: list[FileProblem] = []
        self.sheet_titles = {title.lower(): title for title in workbook.sheetnames}
        #: Where each question and section is, by name (a name used twice: every row).
        self.rows_by_name: dict[str, list[_Row]] = {}
        #: The choices of each question, with their rows (for "option 3" problems).
        self.choice_rows: dict[str, list[_Row]] = {}
        #: Names of rows refused, so problems about references to them are not repeated.
        self.refused_names: set[str] = set()
        self.settings_row: _Row | None = None
        self.default_language = "ja"
        self._columns: dict[str, dict[str, _Column]] = {}

    def order(self, problem: FileProblem) -> tuple[int, int, int, str]:
        """Problems in reading order: by sheet as the workbook has them, row, column."""
        position = problem.position
        titles = list(self.sheet_titles.values())
        sheet = titles.index(position.sheet) + 1 if position.sheet in titles else 0
        column = position.column or ""
        return sheet, position.row or 0, len(column), column

    def add(self, position: Position, field_: str | None, message: str) -> None:
        problem = FileProblem(position, field_, message)
        if problem not in self.problems:
            self.problems.append(problem)

    def read(self) -> SurveyFile:
        """The workbook's survey, or every problem found in it.

        :raises XlsFormError: any problem; nothing read.
        """
        self.sheets()
        texts, options = self.settings()
        lists = self.choices()
        sections, questions = self.survey(lists)
        language = self.default_language
        title = _by_language(texts["title"], language)
        if not title.get(language) and self.filename:
            title[language] = Path(self.filename).stem[:100]
        definition = Definition(
            title=title,
            intro=_by_language(texts["intro"], language),
            thanks=_by_language(texts["thanks"], language),
            default_language=language,
            sections=tuple(sections),
            questions=tuple(questions),
        )
        for problem in check(definition, anonymous=options.anonymous):
            if not self.about_refused(problem):
                placed = self.place(problem)
                self.add(placed.position, placed.field, placed.message)
        _fill_generated_names(self.book, lists)
        self.pyxform()
        if self.problems:
            raise XlsFormError(sorted(self.problems, key=self.order))
        return SurveyFile(_normalised(definition), options)

    # sheets and columns

    def columns(self, sheet: str) -> dict[str, _Column]:
        """A sheet's columns by header (read once)."""
        if sheet not in self._columns:
            title = self.sheet_titles.get(sheet)
            headers = _headers(self.workbook[title]) if title is not None else []
            double_colon = any("::" in header for header, _ in headers)
            self._columns[sheet] = {
                header: _column(sheet, header, letter, double_colon) for header, letter in headers
            }
        return self._columns[sheet]

    def rows(self, sheet: str) -> Iterator[_Row]:
        """The sheet's non-empty rows; columns outside the profile are refused once, at the
        first row that fills them, and an unknown language once, at its header."""
        columns = self.columns(sheet)
        data: Sequence[dict[str, str]] = getattr(self.book, sheet) or ()
        refused: set[str] = set()
        for index, values in enumerate(data):
            cleaned = {
                k: v.replace("\r\n", "\n").replace("\r", "\n").strip()
                for k, v in values.items()
                if isinstance(v, str) and v.strip()
            }
            if not cleaned:
                continue
            row = _Row(self.sheet_titles.get(sheet, sheet), index + 2, cleaned, columns)
            for header in cleaned:
                column = columns.get(header)
                if column is not None and column.refusal and header not in refused:
                    refused.add(header)
                    self.add(Position(row.sheet, row.number, column.letter), None, column.refusal)
            yield row

    def sheets(self) -> None:
        for name, what in (
            ("external_choices", "external selects (the external_choices sheet)"),
            ("entities", "entities (the entities sheet)"),
            ("osm", "OpenStreetMap questions (the osm sheet)"),
        ):
            if name in self.sheet_titles:
                self.add(
                    Position(self.sheet_titles[name]),
                    None,
                    f"{what} are outside madoguchi's XLSForm profile",
                )
        if "survey" not in self.sheet_titles and len(self.sheet_titles) != 1:
            self.add(Position(), None, "the workbook has no sheet named survey")

    # settings

    def settings(self) -> tuple[dict[str, dict[str, str]], SurveyOptions]:
        """The settings sheet: texts by name (title, intro, thanks) and the survey options."""
        texts: dict[str, dict[str, str]] = {"title": {}, "intro": {}, "thanks": {}}
        self.default_language = self.label_language()
        rows = list(self.rows("settings"))
        if not rows:
            return texts, SurveyOptions()
        row = self.settings_row = rows[0]
        for extra in rows[1:]:
            self.add(extra.at(), None, "the settings sheet has one row of values (row 2)")
        language = row.get("default_language")
        if language is not None:
            code = _language_code(language)
            if code is None:
                self.add(
                    row.at("default_language"),
                    "default_language",
                    f"{language!r} is not a language: write e.g. 日本語 (ja)",
                )
            else:
                self.default_language = code
        title = row.get("form_title")
        if title is not None:
            texts["title"][""] = title
        for name in ("title", "intro", "thanks"):
            for language_, (value, _header) in row.texts(f"{PREFIX}:{name}").items():
                if language_ in texts[name] and texts[name][language_] != value:
                    self.add(
                        row.at(f"{PREFIX}:{name}", language_),
                        name,
                        f"gives the {language_ or self.default_language} title twice: "
                        "in form_title and here",
                    )
                texts[name][language_] = value
        options = SurveyOptions(
            anonymous=self.yes_no(row, f"{PREFIX}:anonymous", False),
            one_answer=self.yes_no(row, f"{PREFIX}:one_answer", True),
            estimated_minutes=self.whole(row, f"{PREFIX}:estimated_minutes"),
        )
        return texts, options

    def label_language(self) -> str:
        """The default language when the settings sheet names none: Japanese, unless the
        survey sheet's labels are all in languages given by name and none is Japanese (then
        the first of them), as pyxform takes the first translation."""
        labels = [c.language for c in self.columns("survey").values() if c.field == "label"]
        if "" in labels or "ja" in labels or not labels:
            return "ja"
        return next((language for language in labels if language), "ja")

    def yes_no(self, row: _Row, field_: str, default: bool) -> bool:
        value = row.get(field_)
        if value is None:
            return default
        if value.lower() not in _YES_NO:
            self.add(row.at(field_), field_.split(":")[-1], "must be yes or no")
            return default
        return _YES_NO[value.lower()]

    def whole(self, row: _Row, field_: str) -> int | None:
        value = row.get(field_)
        if value is None:
            return None
        if not value.isdigit() or not 0 < int(value) <= 24 * 60:
            self.add(row.at(field_), field_.split(":")[-1], "must be minutes, from 1 to 1440")
            return None
        return int(value)

    def language_texts(self, row: _Row, field_: str) -> dict[str, str]:
        """A translated field's texts by language code; a text given twice for the default
        language (plain column and its language column) is a problem."""
        texts: dict[str, str] = {}
        found = row.texts(field_)
        plain = found.pop("", None)
        for language, (value, _header) in found.items():
            texts[language] = value
        if plain is not None:
            language = self.default_language
            if language in texts and texts[language] != plain[0]:
                self.add(
                    row.at(field_, ""),
                    field_,
                    f"gives the {language} text twice: in {plain[1]!r} and its language column",
                )
            else:
                texts[language] = plain[0]
        return texts

    # choices

    def choices(self) -> dict[str, list[_Row]]:
        lists: dict[str, list[_Row]] = {}
        for row in self.rows("choices"):
            list_name = row.get("list_name")
            if list_name is None:
                self.add(row.at("list_name"), "list_name", "the option has no list name")
                continue
            lists.setdefault(list_name, []).append(row)
        return lists

    def options_of(self, list_rows: Sequence[_Row]) -> list[dict[str, Any]]:
        """A list's options as a kind's ``choices``; an option without a name gets its place
        in the list (1, 2, ...), so staff need not invent codes."""
        options = []
        for number, row in enumerate(list_rows, start=1):
            code = row.get("name") or str(number)
            options.append({"code": code, "label": self.language_texts(row, "label")})
        return options

    # the survey sheet

    def survey(self, lists: Mapping[str, list[_Row]]) -> tuple[list[Section], list[Question]]:
        sections: list[Section] = []
        questions: list[Question] = []
        #: Open groups: (name or None for a refused repeat, row).
        stack: list[tuple[str | None, _Row]] = []
        for row in self.rows("survey"):
            type_ = " ".join((row.get("type") or "").split())
            if not type_:
                self.add(row.at("type"), "type", "the row has no type")
                continue
            lowered = type_.lower()
            begin, end = _BEGIN.match(lowered), _END.match(lowered)
            if begin:
                stack.append((self.begin(row, begin.group("what"), stack, sections), row))
            elif end:
                if not stack:
                    self.add(row.at("type"), "type", f"{type_} without a begin")
                    continue
                stack.pop()
            else:
                section = next((name for name, _ in reversed(stack) if name), None)
                question = self.question(row, type_, lists, section)
                if question is not None:
                    questions.append(question)
        for name, row in stack:
            if name is not None:  # a refused repeat or a nameless group is reported already
                self.add(row.at("type"), "type", f"the group {name} has no end group")
        return sections, questions

    def begin(
        self,
        row: _Row,
        what: str,
        stack: Sequence[tuple[str | None, _Row]],
        sections: list[Section],
    ) -> str | None:
        name = row.get("name")
        if what != "group":
            kind = "loops" if "loop" in what else "repeats"
            self.add(
                row.at("type"),
                "type",
                f"{kind} (begin {what}) are outside madoguchi's XLSForm profile",
            )
            if name:
                self.refused_names.add(name)
            return None
        if name is None:
            self.add(row.at("name"), "name", "the group has no name")
            return None
        for field_ in ("required", "constraint", "parameters", "hint"):
            if row.get(field_) is not None or row.texts(field_):
                self.add(row.at(field_), field_, "a group has no such setting")
        parent = next((n for n, _ in reversed(stack) if n), None)
        sections.append(
            Section(name, self.language_texts(row, "label"), row.get("relevant"), parent)
        )
        self.rows_by_name.setdefault(name, []).append(row)
        return name

    def question(
        self, row: _Row, type_: str, lists: Mapping[str, list[_Row]], section: str | None
    ) -> Question | None:
        name = row.get("name")
        kind, config = self.kind(row, type_, lists, name)
        if kind is None:
            if name:
                self.refused_names.add(name)
            return None
        if name is None:
            self.add(row.at("name"), "name", "the question has no name")
            return None
        self.rows_by_name.setdefault(name, []).append(row)
        config.update(self.settings_of(row, kind))
        return Question(
            name=name,
            kind=kind,
            label=self.language_texts(row, "label"),
            hint=self.language_texts(row, "hint"),
            required=self.yes_no(row, "required", False),
            relevant=row.get("relevant"),
            constraint=row.get("constraint"),
            constraint_message=self.language_texts(row, "constraint_message"),
            config=config,
            section=section,
            attribute=row.get(f"{PREFIX}:attribute"),
        )

    def kind(
        self, row: _Row, type_: str, lists: Mapping[str, list[_Row]], name: str | None
    ) -> tuple[str | None, dict[str, Any]]:
        """The kind of a row's type and its choices; ``None`` (and a problem) if refused."""
        where = row.at("type")
        select = RE_SELECT.match(type_)
        if select:
            command = select.group("select_command")
            list_name = select.group("list_name")
            if command in aliases.select_from_file:
                self.add(
                    where,
                    "type",
                    f"{command} (choices from a file) is outside madoguchi's XLSForm profile",
                )
                return None, {}
            chosen = aliases.select[command]
            if chosen not in ("select one", "select all that apply"):
                what = REFUSED_TYPES.get(chosen, "external selects")
                self.add(
                    where, "type", f"{command} ({what}) is outside madoguchi's XLSForm profile"
                )
                return None, {}
            if select.group("specify_other"):
                self.add(
                    where,
                    "type",
                    f"{select.group('specify_other')} (specify other) is "
                    "outside madoguchi's XLSForm profile",
                )
                return None, {}
            if list_name not in lists:
                self.add(where, "type", f"the list {list_name!r} is not on the choices sheet")
                return None, {}
            if name:
                self.choice_rows[name] = lists[list_name]
            choices = self.options_of(lists[list_name])
            if chosen == "select all that apply":
                return "multiple_choice", {"choices": choices}
            if [choice["code"] for choice in choices] == ["yes", "no"]:
                return "yes_no", {"choices": choices}
            return "single_choice", {"choices": choices}
        word = type_.lower()
        if word.split(" ")[0] in ("select_one", "select_multiple") or word.startswith("select "):
            self.add(where, "type", f"{type_!r}: write select_one LIST or select_multiple LIST")
            return None, {}
        found = TYPES.get(word) or TYPES.get(aliases._type_alias_map.get(word, ""))
        if found is not None:
            return found, {}
        first = word.split(" ")[0]
        refused = REFUSED_TYPES.get(word.removeprefix("uri:")) or REFUSED_TYPES.get(first)
        if refused is not None:
            self.add(where, "type", f"{type_} ({refused}) is outside madoguchi's XLSForm profile")
        else:
            self.add(
                where, "type", f"{type_!r} is not a question type of madoguchi's XLSForm profile"
            )
        return None, {}

    def settings_of(self, row: _Row, kind: str) -> dict[str, Any]:
        """The kind's settings from the parameters and ``madoguchi::`` columns (as written:
        the kind checks them)."""
        config: dict[str, Any] = {}
        for field_ in ("min", "max", "max_length"):
            value = row.get(f"{PREFIX}:{field_}")
            if value is not None:
                config[field_] = _moment(kind, value)
        unit = row.texts(f"{PREFIX}:unit")
        if unit:
            config["unit"] = self.language_texts(row, f"{PREFIX}:unit")
        raw = row.get("parameters")
        if raw is not None:
            accepted = _PARAMETERS.get(kind, frozenset())
            ignored = _IGNORED_PARAMETERS.get(kind, frozenset())
            leftover = _PARAMETER.sub("", raw).strip(" ,;")
            if leftover:
                self.add(row.at("parameters"), "parameters", f"{leftover!r} is not name=value")
            for key, value in _PARAMETER.findall(raw):
                if key in accepted:
                    config[key] = value
                elif key not in ignored:
                    self.add(
                        row.at("parameters"),
                        "parameters",
                        f"{key} is not a parameter of {kind} questions",
                    )
        return config

    # problems of the definition, back at their cells

    def place(self, problem: Problem) -> FileProblem:
        if problem.subject is None:
            return self.place_survey(problem)
        rows = self.rows_by_name.get(problem.subject) or []
        if not rows:
            return FileProblem(Position("survey"), problem.field, str(problem))
        row = rows[-1] if problem.message == "is used twice" else rows[0]
        field_ = problem.field
        if field_ == "choices":
            option = _OPTION_NUMBER.search(problem.message)
            choice_rows = self.choice_rows.get(problem.subject, [])
            if option and int(option.group(1)) <= len(choice_rows):
                choice = choice_rows[int(option.group(1)) - 1]
                column = "name" if "code" in problem.message else "label"
                return FileProblem(
                    choice.at(column), "choices", f"{problem.message} (list of {problem.subject})"
                )
            return FileProblem(row.at("type"), field_, problem.message)
        language = _message_language(problem.message)
        column = {
            "kind": "type",
            "section": "type",
            "questions": "type",
            "parent": "type",
            "start": "parameters",
            "end": "parameters",
            "step": "parameters",
            "min": f"{PREFIX}:min",
            "max": f"{PREFIX}:max",
            "max_length": f"{PREFIX}:max_length",
            "unit": f"{PREFIX}:unit",
            "attribute": f"{PREFIX}:attribute",
        }.get(field_, field_)
        if language is not None and row.letter(column, language) is None:
            language = ""
        return FileProblem(row.at(column, language), field_, problem.message)

    def place_survey(self, problem: Problem) -> FileProblem:
        row = self.settings_row
        column = {"title": "form_title"}.get(problem.field, f"{PREFIX}:{problem.field}")
        if problem.field == "default_language":
            column = "default_language"
        if problem.field == "questions":
            return FileProblem(
                Position(self.sheet_titles.get("survey", "survey")), None, problem.message
            )
        if row is None:
            return FileProblem(Position("settings"), problem.field, problem.message)
        language = _message_language(problem.message)
        if (
            problem.field == "title"
            and row.letter("form_title")
            and language in (None, self.default_language)
        ):
            return FileProblem(row.at("form_title"), problem.field, problem.message)
        return FileProblem(row.at(column, language), problem.field, problem.message)

    def about_refused(self, problem: Problem) -> bool:
        """A problem that only follows from a refusal: a reference to a refused question,
        or no question left to answer once the refused ones are left out."""
        if self.refused_names and problem.subject is None and problem.field == "questions":
            return True
        return any(f"${{{name}}}" in problem.message for name in self.refused_names)

    # pyxform's own reading

    def pyxform(self) -> None:
        """Let pyxform convert the workbook too. It stops at its first error; that error is
        added unless a problem was already found on the same sheet (it would most likely be
        the same one, said twice)."""
        try:
            workbook_to_json(self.book, form_name="data", fallback_form_name="data", warnings=[])
        except PyXFormError as error:
            message = " ".join(str(error).split())
            found = re.search(r"\[row : (\d+)\]", message)
            sheet = re.search(r"On the '(\w+)' sheet", message)
            row = int(found.group(1)) if found else None
            name = sheet.group(1) if sheet else ("survey" if row else None)
            title = self.sheet_titles.get(name, name) if name else None
            if any(p.position.sheet == title or title is None for p in self.problems):
                return
            text = re.sub(r"^\[row : \d+\]\s*", "", message)
            named = re.search(r"the '(\w+)' value", text)
            columns = self.columns(name) if name and row else {}
            letter = next(
                (c.letter for c in columns.values() if named and c.field == named.group(1)), None
            )
            self.add(
                Position(title, row, letter),
                named.group(1) if letter and named else None,
                f"pyxform: {text}",
            )
        except Exception as error:  # pyxform fails in other ways on forms it cannot read
            if not self.problems:
                self.add(Position(), None, f"pyxform cannot convert the workbook ({error})")


def _message_language(message: str) -> str | None:
    found = _IN_LANGUAGE.search(message)
    return found.group(1) if found else None


def _moment(kind: str, value: str) -> str:
    """A date or time bound as pyxform writes a cell Excel keeps as a date, in ISO form."""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}):\d{2}", value)
    if kind == "date" and match and match.group(2) == "00:00":
        return match.group(1)
    if kind == "datetime" and match:
        return f"{match.group(1)}T{match.group(2)}"
    time_ = re.fullmatch(r"(\d{2}:\d{2}):00", value)
    if kind == "time" and time_:
        return time_.group(1)
    return value


def _fill_generated_names(book: DefinitionData, lists: Mapping[str, list[_Row]]) -> None:
    """Give pyxform the option codes generated for options without a name."""
    for list_rows in lists.values():
        for number, row in enumerate(list_rows, start=1):
            if row.get("name") is None and book.choices is not None:
                values = book.choices[row.number - 2]
                header = next((h for h, c in row.columns.items() if c.field == "name"), "name")
                values[header] = str(number)
                if book.choices_header and header not in book.choices_header[0]:
                    book.choices_header[0][header] = None


def read_survey(source: Source, *, filename: str | None = None) -> SurveyFile:
    """Read an XLSForm workbook.

    :param source: a path, the file's bytes or an open binary file.
    :param filename: the file's name, for the title when the settings sheet gives none.
    :raises XlsFormError: every problem, each at its sheet, row and column; nothing read.
    """
    if filename is None and isinstance(source, str | Path):
        filename = Path(source).name
    workbook, book = _opened(_read_bytes(source))
    try:
        return _Reader(workbook, book, filename).read()
    finally:
        workbook.close()


def _by_language(texts: Mapping[str, str], default: str) -> dict[str, str]:
    return {(default if k == "" else k): v for k, v in texts.items()}


def _normalised(definition: Definition) -> Definition:
    """Each question's settings as its kind normalises them (as a stored version has them)."""
    return replace(
        definition,
        questions=tuple(
            replace(q, config=KINDS[q.kind].check_config(q.config)) for q in definition.questions
        ),
    )


def read_workbook(source: Source, *, filename: str | None = None) -> Definition:
    """The definition of an XLSForm workbook (see :func:`read_survey`).

    :raises XlsFormError: every problem with its position; nothing read.
    """
    return read_survey(source, filename=filename).definition


# -- writing -------------------------------------------------------------------------------------


def language_header(field_: str, language: str) -> str:
    """A translated column's header: ``label::日本語 (ja)``."""
    return f"{field_}::{_DISPLAY_NAMES.get(language, language)} ({language})"


class _Sheet:
    """Rows of a sheet being written, by header.

    :param always: the columns written first, in order, even when empty.
    :param optional: the columns written next, in order, only when a row fills them; any
        other header comes last, in first use.
    """

    def __init__(self, always: Iterable[str], optional: Iterable[str] = ()) -> None:
        self.always = list(always)
        self.optional = list(optional)
        self.rows: list[dict[str, str]] = []

    def add(self, values: Mapping[str, object]) -> None:
        row: dict[str, str] = {}
        for header, value in values.items():
            if value is None or value == "" or value == {}:
                continue
            if header not in self.always and header not in self.optional:
                self.optional.append(header)
            row[header] = str(value)
        self.rows.append(row)

    def write(self, worksheet: Worksheet) -> None:
        used = self.always + [h for h in self.optional if any(h in row for row in self.rows)]
        for column, header in enumerate(used, start=1):
            cell = worksheet.cell(row=1, column=column)
            _set_text(cell, header)
            cell.font = Font(bold=True)
            worksheet.column_dimensions[get_column_letter(column)].width = max(
                12, min(40, len(header) + 4)
            )
        for number, row in enumerate(self.rows, start=2):
            for column, header in enumerate(used, start=1):
                if header in row:
                    _set_text(worksheet.cell(row=number, column=column), row[header])
        worksheet.freeze_panes = "A2"


def _set_text(cell: Any, value: str) -> None:
    """Write ``value`` as text, never as a formula (``=...`` stays what it says)."""
    cell.value = value
    cell.data_type = "s"


def _number(value: Any) -> str | None:
    if value is None:
        return None
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _translated(field_: str, texts: Mapping[str, str], prefix: str = "") -> dict[str, str]:
    return {language_header(prefix + field_, lang): text for lang, text in texts.items()}


def write_workbook(definition: Definition, options: SurveyOptions | None = None) -> bytes:
    """An XLSForm workbook of ``definition`` (pyxform accepts it; reading it back with
    :func:`read_survey` gives the same definition and options)."""
    options = options or SurveyOptions()
    languages = definition.languages
    labels = [language_header("label", lang) for lang in languages]
    survey = _Sheet(
        ["type", "name", *labels],
        [language_header("hint", lang) for lang in languages]
        + ["required", "relevant", "constraint"]
        + [language_header("constraint_message", lang) for lang in languages]
        + ["parameters", f"{PREFIX}::min", f"{PREFIX}::max", f"{PREFIX}::max_length"]
        + [language_header(f"{PREFIX}::unit", lang) for lang in languages]
        + [f"{PREFIX}::attribute"],
    )
    choices = _Sheet(["list_name", "name", *labels])
    sections = {section.name: section for section in definition.sections}
    open_path: list[str] = []
    for question in definition.questions:
        path = _path(question.section, sections)
        common = 0
        while common < min(len(path), len(open_path)) and path[common] == open_path[common]:
            common += 1
        for _ in open_path[common:]:
            survey.add({"type": "end_group"})
        for name in path[common:]:
            section = sections[name]
            group: dict[str, object] = {"type": "begin_group", "name": name}
            group["relevant"] = section.relevant
            survey.add(group | _translated("label", section.label))
        open_path = path
        survey.add(_question_row(question, choices))
    for _ in open_path:
        survey.add({"type": "end_group"})
    settings = _Sheet(["form_title", "default_language"])
    default = definition.default_language
    values: dict[str, object] = {
        "form_title": definition.title.get(default),
        "default_language": f"{_DISPLAY_NAMES.get(default, default)} ({default})",
        f"{PREFIX}::anonymous": "yes" if options.anonymous else "no",
        f"{PREFIX}::one_answer": "yes" if options.one_answer else "no",
        f"{PREFIX}::estimated_minutes": options.estimated_minutes,
    }
    other_titles = {k: v for k, v in definition.title.items() if k != default}
    values |= _translated("title", other_titles, f"{PREFIX}::")
    values |= _translated("intro", definition.intro, f"{PREFIX}::")
    values |= _translated("thanks", definition.thanks, f"{PREFIX}::")
    settings.add(values)
    workbook = openpyxl.Workbook()
    first = workbook.active
    assert first is not None  # noqa: S101 - a new workbook has its sheet
    first.title = "survey"
    survey.write(first)
    choices.write(workbook.create_sheet("choices"))
    settings.write(workbook.create_sheet("settings"))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _path(name: str | None, sections: Mapping[str, Section]) -> list[str]:
    path: list[str] = []
    while name is not None and name in sections and name not in path:
        path.insert(0, name)
        name = sections[name].parent
    return path


def _question_row(question: Question, choices: _Sheet) -> dict[str, object]:
    config = question.config
    type_ = TYPE_OF_KIND[question.kind]
    row: dict[str, object] = {
        "name": question.name,
        "required": "yes" if question.required else None,
        "relevant": question.relevant,
        "constraint": question.constraint,
        f"{PREFIX}::attribute": question.attribute,
    }
    row |= _translated("label", question.label)
    row |= _translated("hint", question.hint)
    row |= _translated("constraint_message", question.constraint_message)
    if config.get("choices") is not None:
        type_ = f"{type_} {question.name}"
        for choice in config["choices"]:
            choices.add(
                {"list_name": question.name, "name": choice["code"]}
                | _translated("label", choice["label"])
            )
    if question.kind == "range":
        row["parameters"] = " ".join(
            f"{key}={_number(config[key])}" for key in ("start", "end", "step") if key in config
        )
    for key in ("min", "max"):
        value = config.get(key)
        row[f"{PREFIX}::{key}"] = value if isinstance(value, str) else _number(value)
    if question.kind == FreeText.name and config.get("max_length") not in (None, DEFAULT_TEXT):
        row[f"{PREFIX}::max_length"] = config["max_length"]
    row |= _translated("unit", config.get("unit") or {}, f"{PREFIX}::")
    return {"type": type_} | row


def options_of(survey: Survey) -> SurveyOptions:
    """The settings of a survey a workbook carries."""
    return SurveyOptions(
        anonymous=survey.anonymous,
        one_answer=survey.one_answer,
        estimated_minutes=survey.estimated_minutes,
    )


def export_version(survey: Survey, version: SurveyVersion) -> bytes:
    """A version of a survey as an XLSForm workbook, with the survey's settings."""
    return write_workbook(definition_of(version, survey.default_language), options_of(survey))


def version_to_export(survey: Survey, number: int | None = None) -> SurveyVersion:
    """The version a download gives: the one numbered ``number``, else the draft being
    edited, else the published one.

    :raises LookupError: the survey has no version of that number.
    """
    if number is not None:
        found = next((v for v in survey.versions if v.number == number), None)
        if found is None:
            raise LookupError(f"survey {survey.id} has no version {number}")
        return found
    chosen = survey.draft or survey.current_version or survey.versions[-1]
    return chosen
