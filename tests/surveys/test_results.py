"""Survey results: counts, histograms, lists, cross-tabulation, the funnel, small cells, and
the exports (CSV, XLSX, aggregate), computed from submissions written through the models."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select

from bot.db import Database
from models import Dialog, DialogStatus, Resident
from models.base import utcnow
from models.surveys import Survey, SurveyAnswer, SurveyPhoto, SurveySubmission
from surveys.definition import Definition, Question
from surveys.exports import (
    AGGREGATE_HEADER,
    aggregate_rows,
    export_plan,
    export_rows,
    write_xlsx,
)
from surveys.kinds import AnswerRow, kind_of
from surveys.results import (
    ResultsError,
    compute_results,
    crosstab,
    crosstab_attributes,
    list_answers,
)
from surveys.services import create_survey, draft_version, publish

AREAS = {
    "choices": [
        {"code": "10201", "label": {"ja": "前橋市", "en": "Maebashi"}},
        {"code": "10202", "label": {"ja": "高崎市", "en": "Takasaki"}},
        {"code": "10203", "label": {"ja": "桐生市", "en": "Kiryu"}},
    ]
}
PETS = {
    "choices": [
        {"code": "dog", "label": {"ja": "犬", "en": "Dog"}},
        {"code": "cat", "label": {"ja": "猫", "en": "Cat"}},
        {"code": "fish", "label": {"ja": "魚", "en": "Fish"}},
    ]
}
#: A survey of every kind that results sum up.
DEFINITION = Definition(
    title={"ja": "県民調査", "en": "Residents' survey"},
    questions=(
        Question("intro", "note", {"ja": "ご協力ください"}),
        Question("area", "single_choice", {"ja": "お住まいは？", "en": "Where?"}, config=AREAS),
        Question("pets", "multiple_choice", {"ja": "ペットは？", "en": "Pets?"}, config=PETS),
        Question("age", "integer", {"ja": "年齢", "en": "Age"}, config={"min": 0, "max": 120}),
        Question("score", "range", {"ja": "満足度", "en": "Score"}),
        Question("height", "decimal", {"ja": "身長"}),
        Question("visit", "date", {"ja": "来庁日"}),
        Question("at", "time", {"ja": "時刻"}),
        Question("comment", "text", {"ja": "ご意見", "en": "Comment"}),
        Question("place", "location", {"ja": "場所"}),
        Question("picture", "photo", {"ja": "写真"}),
        Question("ok", "yes_no", {"ja": "同意", "en": "Agree?"}),
    ),
)

Submit = Callable[..., str]


def make_survey(db: Database, *, anonymous: bool = False, published: bool = True) -> int:
    with db.unit_of_work() as session:
        survey = create_survey(session, DEFINITION, anonymous=anonymous, one_answer=False)
        if published:
            publish(session, survey, now=utcnow())
        return survey.id


def write_submission(
    db: Database,
    survey_id: int,
    answers: Mapping[str, Any],
    *,
    test: bool = False,
    day: date | None = None,
    resident_id: int | None = None,
    duration: int | None = 60,
    version: int | None = None,
    at: datetime | None = None,
) -> str:
    """Write a submission and its answers as the answering flow would (through the kinds)."""
    with db.unit_of_work() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        chosen = survey.current_version or survey.versions[-1]
        if version is not None:
            chosen = next(v for v in survey.versions if v.number == version)
        submitted = day or date(2026, 11, 1)
        submission = SurveySubmission(
            survey_id=survey.id,
            version_id=chosen.id,
            anonymous=survey.anonymous,
            test=test,
            submitted_on=submitted,
            submitted_at=None if survey.anonymous else (at or utcnow()),
            duration_seconds=duration,
            resident_id=None if survey.anonymous else resident_id,
            language="ja",
        )
        session.add(submission)
        session.flush()
        by_name = {q.name: q for q in chosen.questions}
        for name, value in answers.items():
            question = by_name[name]
            if name == "picture":
                photo = SurveyPhoto(
                    survey_id=survey.id,
                    submission_id=submission.id,
                    content_type="image/png",
                    byte_size=len(PNG),
                    data=PNG,
                    received_on=submitted,
                )
                session.add(photo)
                session.flush()
                value = {"photo": photo.id}
            rows: list[AnswerRow] = kind_of(question).rows(value)
            for ordinal, row in enumerate(rows):
                session.add(
                    SurveyAnswer(
                        submission_id=submission.id,
                        question_id=question.id,
                        ordinal=ordinal,
                        option=row.option,
                        number=row.number,
                        text=row.text,
                        extra=row.extra,
                    )
                )
        return submission.id


@pytest.fixture
def submit(db: Database) -> Submit:
    """``write_submission`` on the test database, on one of three days in turn."""
    days = itertools.count()

    def write(survey_id: int, answers: Mapping[str, Any], **options: Any) -> str:
        options.setdefault("day", date(2026, 11, 1) + timedelta(days=next(days) % 3))
        return write_submission(db, survey_id, answers, **options)

    return write


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()


def _results(db: Database, survey_id: int, **options: Any) -> Any:
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        version = survey.current_version or survey.versions[-1]
        options.setdefault("language", "ja")
        return compute_results(session, survey, version, **options)


def _by_name(results: Any) -> dict[str, Any]:
    return {r.question.name: r for r in results.questions}


def _counts(result: Any) -> dict[str, int]:
    return {c.code: c.count for c in result.cells}


def seed_five(submit: Submit, survey_id: int) -> None:
    """Five counted submissions, one rehearsal."""
    submit(
        survey_id,
        {
            "area": "10201",
            "pets": ["dog", "cat"],
            "age": 30,
            "score": 5,
            "height": 160.5,
            "visit": "2026-11-01",
            "at": "09:15",
            "comment": "=1+1 公園を増やして",
            "ok": "yes",
        },
    )
    submit(
        survey_id,
        {
            "area": "10201",
            "pets": ["dog"],
            "age": 40,
            "score": 4,
            "height": 170.0,
            "visit": "2026-11-01",
            "at": "09:45",
            "comment": "駐車場",
            "place": {"latitude": 36.39, "longitude": 139.06, "address": "前橋市大手町"},
            "ok": "no",
        },
    )
    submit(
        survey_id,
        {
            "area": "10202",
            "pets": [],
            "age": 50,
            "score": 3,
            "visit": "2026-11-02",
            "at": "14:00",
            "picture": None,
            "ok": "yes",
        },
    )
    submit(survey_id, {"area": "10202", "age": 60, "score": 1, "comment": "図書館"})
    submit(survey_id, {"area": "10203", "pets": ["fish"], "age": 21, "score": 2, "ok": "yes"})
    submit(
        survey_id, {"area": "10203", "pets": ["cat"], "age": 99, "comment": "rehearsal"}, test=True
    )


def test_counts_per_question_leave_out_rehearsals(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db)
    seed_five(submit, survey_id)
    results = _results(db, survey_id)
    found = _by_name(results)
    assert results.responses == 5
    assert "intro" not in found  # a note sums up nothing
    area = found["area"]
    assert area.answered == 5
    assert _counts(area) == {"10201": 2, "10202": 2, "10203": 1}
    assert [c.label for c in area.cells] == ["前橋市", "高崎市", "桐生市"]
    assert [c.percent for c in area.cells] == [40.0, 40.0, 20.0]
    pets = found["pets"]
    assert pets.answered == 4  # the empty choice counts as answered
    assert _counts(pets) == {"dog": 2, "cat": 1, "fish": 1}
    assert [c.percent for c in pets.cells] == [50.0, 25.0, 25.0]
    assert _counts(found["ok"]) == {"yes": 3, "no": 1}


def test_numbers_have_mean_median_and_a_histogram(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db)
    seed_five(submit, survey_id)
    found = _by_name(_results(db, survey_id))
    age = found["age"]
    assert age.answered == 5
    assert age.mean == pytest.approx(40.2)
    assert age.median == 40
    assert (age.minimum, age.maximum) == (21, 60)
    assert sum(c.count for c in age.cells) == 5
    assert age.cells[0].label.startswith("21")
    score = found["score"]  # a 1-5 range: one bar per value
    assert [(c.label, c.count) for c in score.cells] == [
        ("1", 1),
        ("2", 1),
        ("3", 1),
        ("4", 1),
        ("5", 1),
    ]
    assert score.median == 3
    height = found["height"]
    assert height.median == pytest.approx(165.25)
    assert sum(c.count for c in height.cells) == 2
    assert len(height.cells) == 10


def test_dates_count_per_day_and_times_per_hour(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db)
    seed_five(submit, survey_id)
    found = _by_name(_results(db, survey_id))
    assert [(c.label, c.count) for c in found["visit"].cells] == [
        ("2026-11-01", 2),
        ("2026-11-02", 1),
    ]
    assert [(c.label, c.count) for c in found["at"].cells] == [("09:00", 2), ("14:00", 1)]


def test_texts_photos_and_locations_are_listed(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db)
    seed_five(submit, survey_id)
    found = _by_name(_results(db, survey_id))
    assert found["comment"].answered == 3
    assert sorted(found["comment"].samples) == sorted(["=1+1 公園を増やして", "駐車場", "図書館"])
    assert found["place"].samples == ["前橋市大手町"]
    assert len(found["picture"].photos) == 1
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        version = survey.versions[0]
        comment = next(q for q in version.questions if q.name == "comment")
        listing = list_answers(session, survey, version, comment, search="駐車")
        assert [v[0] for v in listing.values] == ["駐車場"]
        everything = list_answers(session, survey, version, comment, per_page=2)
        assert len(everything.values) == 2
        assert everything.more
        second = list_answers(session, survey, version, comment, per_page=2, page=2)
        assert len(second.values) == 1
        assert not second.more
        percent = list_answers(session, survey, version, comment, search="%")
        assert percent.values == []  # LIKE wildcards are searched as themselves


def test_results_keep_to_their_version(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db)
    submit(survey_id, {"area": "10201"})
    with db.unit_of_work() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        draft_version(session, survey)
        publish(session, survey, now=utcnow())
    submit(survey_id, {"area": "10202"}, version=2)
    submit(survey_id, {"area": "10202"}, version=2)
    results = _results(db, survey_id)
    assert results.version.number == 2
    assert _counts(_by_name(results)["area"]) == {"10201": 0, "10202": 2, "10203": 0}
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        first = compute_results(session, survey, survey.versions[0], language="ja")
        assert first.responses == 1


def test_anonymous_surveys_hide_small_cells(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db, anonymous=True)
    for _ in range(5):
        submit(survey_id, {"area": "10201", "comment": "多い"})
    submit(survey_id, {"area": "10202", "comment": "少ない"})
    results = _results(db, survey_id, min_cell=5)
    area = _by_name(results)["area"]
    shown = {c.code: (c.count, c.percent, c.hidden) for c in area.cells}
    assert shown["10201"] == (5, pytest.approx(83.33, 0.01), False)
    assert shown["10202"][1:] == (None, True)
    assert shown["10203"] == (0, 0.0, False)  # zero reveals nobody
    assert [c.count for c in results.by_day] == [2, 2, 2]
    assert all(c.hidden for c in results.by_day)  # 2 a day: each day is a small cell
    age = _by_name(results)["age"]
    assert age.answered == 0
    # k = 2: the single 10202 answer is still hidden, k = 1 shows it
    assert _by_name(_results(db, survey_id, min_cell=2))["area"].cells[1].hidden
    assert not _by_name(_results(db, survey_id, min_cell=1))["area"].cells[1].hidden


def test_an_anonymous_question_answered_by_few_lists_nothing(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db, anonymous=True)
    submit(survey_id, {"comment": "私だと分かる意見", "age": 33})
    found = _by_name(_results(db, survey_id))
    assert found["comment"].hidden
    assert found["comment"].samples == []
    assert found["age"].hidden
    assert found["age"].mean is None
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        version = survey.versions[0]
        comment = next(q for q in version.questions if q.name == "comment")
        assert list_answers(session, survey, version, comment).values == []


def test_identified_surveys_show_every_count(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db)
    submit(survey_id, {"area": "10202"})
    area = _by_name(_results(db, survey_id))["area"]
    assert area.cells[1].count == 1
    assert not area.cells[1].hidden


def test_funnel_from_the_answering_dialogs(
    db: Database,
    submit: Submit,
    resident_row: Callable[..., Resident],
    dialog_row: Callable[..., Dialog],
) -> None:
    survey_id = make_survey(db)
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        version_id = survey.versions[0].id
    for _n in range(4):
        dialog_row(
            resident_row(),
            flow="survey",
            subject_id=version_id,
            state="summary",
            status=DialogStatus.COMPLETED,
        )
    dialog_row(
        resident_row(),
        flow="survey",
        subject_id=version_id,
        state="q:2",
        status=DialogStatus.CANCELLED,
    )
    dialog_row(
        resident_row(),
        flow="survey",
        subject_id=version_id,
        state="q:2",
        status=DialogStatus.EXPIRED,
    )
    dialog_row(resident_row(), flow="survey", subject_id=version_id, state="q:3")
    dialog_row(
        resident_row(),
        flow="survey",
        subject_id=version_id,
        state="summary",
        status=DialogStatus.PARKED,
    )
    dialog_row(
        resident_row(),
        flow="survey",
        subject_id=version_id + 999,
        state="q:2",
        status=DialogStatus.CANCELLED,
    )  # another version
    dialog_row(resident_row(), flow="toy", subject_id=version_id, state="q:2")
    for status in (DialogStatus.COMPLETED, DialogStatus.ACTIVE):  # rehearsals: left out
        dialog_row(
            resident_row(),
            flow="survey",
            subject_id=version_id,
            state="summary",
            status=status,
            data={"@test": True},
        )
    dialog_row(  # a full quota ended it at the third question: stopped there, not completed
        resident_row(),
        flow="survey",
        subject_id=version_id,
        state="q:2",
        status=DialogStatus.COMPLETED,
        data={"@stopped": "quota"},
    )
    submit(survey_id, {"area": "10201"}, duration=30)
    submit(survey_id, {"area": "10201"}, duration=90)
    submit(survey_id, {"area": "10201"}, duration=200)
    results = _results(db, survey_id)
    funnel = results.funnel
    assert (funnel.started, funnel.completed) == (9, 4)
    assert funnel.completion_rate == pytest.approx(44.4, abs=0.1)
    stops = {(s.where, s.label.split(".")[0]): (s.stopped, s.answering) for s in funnel.stops}
    assert stops[("question", "3")] == (3, 0)  # position 2 is the third question
    assert stops[("question", "4")] == (0, 1)
    assert stops[("summary", "")] == (1, 0)
    assert results.median_seconds == 90


def test_crosstab_by_question_and_by_attribute(
    db: Database, submit: Submit, resident_row: Callable[..., Resident]
) -> None:
    survey_id = make_survey(db)
    north = resident_row(attributes={"municipality": "10201"})
    south = resident_row(attributes={"municipality": "10202", "age_band": "30-39"})
    nobody = resident_row()
    submit(survey_id, {"area": "10201", "pets": ["dog", "cat"]}, resident_id=north.id)
    submit(survey_id, {"area": "10201", "pets": ["dog"]}, resident_id=north.id)
    submit(survey_id, {"area": "10202", "pets": ["cat"]}, resident_id=south.id)
    submit(survey_id, {"area": "10202", "pets": ["fish"]}, resident_id=nobody.id)
    submit(survey_id, {"area": "10202", "pets": ["fish"]}, resident_id=south.id, test=True)
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        version = survey.versions[0]
        assert crosstab_attributes(session, version) == ["age_band", "municipality"]
        table = crosstab(session, survey, version, rows="q:area", columns="pets", language="ja")
        grid = {code: [c.count for c in cells] for code, _l, cells, _t in table.rows}
        assert [label for _c, label in table.columns] == ["犬", "猫", "魚"]
        assert grid == {"10201": [2, 1, 0], "10202": [0, 1, 1], "10203": [0, 0, 0]}
        assert [c.count for c in table.column_totals] == [2, 2, 1]
        by_place = crosstab(
            session, survey, version, rows="a:municipality", columns="area", language="en"
        )
        grid = {label: [c.count for c in cells] for _c, label, cells, _t in by_place.rows}
        assert grid == {"10201": [2, 0, 0], "10202": [0, 1, 0]}
        for rows, columns in [
            ("q:area", "area"),
            ("q:nothing", "area"),
            ("q:age", "area"),
            ("a:no_such", "area"),
            ("a:Bad Name", "area"),
            ("x:area", "pets"),
            ("q:area", "comment"),
        ]:
            with pytest.raises(ResultsError):
                crosstab(session, survey, version, rows=rows, columns=columns, language="ja")


def test_crosstab_of_an_anonymous_survey_hides_small_cells(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db, anonymous=True)
    for _ in range(6):
        submit(survey_id, {"area": "10201", "ok": "yes"})
    submit(survey_id, {"area": "10202", "ok": "no"})
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        version = survey.versions[0]
        table = crosstab(session, survey, version, rows="q:area", columns="ok", language="ja")
        cells = {code: cells for code, _l, cells, _t in table.rows}
        assert [c.hidden for c in cells["10201"]] == [False, False]
        assert [c.hidden for c in cells["10202"]] == [False, True]
        assert cells["10202"][1].percent is None
        assert crosstab_attributes(session, version) == []
        with pytest.raises(ResultsError, match="anonymous"):
            crosstab(session, survey, version, rows="a:municipality", columns="ok", language="ja")


# -- exports -------------------------------------------------------------------------------------


def _export(db: Database, survey_id: int, style: str = "codes", language: str = "ja") -> Any:
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        version = survey.current_version or survey.versions[-1]
        plan = export_plan(session, survey, version, style=style, language=language)
        return plan.header, list(export_rows(session, survey, version, plan))


def test_export_has_a_row_per_submission_and_columns_per_kind(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db)
    seed_five(submit, survey_id)
    header, rows = _export(db, survey_id)
    assert header[:7] == [
        "_id",
        "_version",
        "_submitted_on",
        "_submitted_at",
        "_duration_seconds",
        "_language",
        "_resident",
    ]
    assert header[7:] == [
        "area",
        "pets",
        "pets/dog",
        "pets/cat",
        "pets/fish",
        "age",
        "score",
        "height",
        "visit",
        "at",
        "comment",
        "place/latitude",
        "place/longitude",
        "place/address",
        "picture",
        "ok",
    ]
    assert len(rows) == 5  # the rehearsal is left out
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    by_comment = {row[header.index("comment")]: dict(zip(header, row, strict=True)) for row in rows}
    first = by_comment["=1+1 公園を増やして"]
    assert first["pets"] == "dog cat"
    assert (first["pets/dog"], first["pets/cat"], first["pets/fish"]) == (1, 1, 0)
    assert first["age"] == 30
    assert first["height"] == 160.5
    assert first["_version"] == 1
    second = by_comment["駐車場"]
    assert second["place/address"] == "前橋市大手町"
    assert second["place/latitude"] == 36.39
    no_pets = next(r for r in rows if r[header.index("age")] == 50)
    assert no_pets[header.index("pets")] == ""  # answered with nothing chosen: 0 0 0
    assert no_pets[header.index("pets/dog")] == 0
    assert no_pets[header.index("picture")]
    unanswered = next(r for r in rows if r[header.index("age")] == 60)
    assert unanswered[header.index("pets/dog")] is None  # not asked: empty, not 0


def test_export_headers_as_labels_in_a_language(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db)
    submit(survey_id, {"area": "10202", "pets": ["cat", "fish"]})
    header, rows = _export(db, survey_id, style="labels", language="en")
    assert header[0] == "Response ID"
    assert "Where?" in header
    assert "Pets?: Cat" in header
    assert "身長" in header  # no English text: the default language
    row = dict(zip(header, rows[0], strict=True))
    assert row["Where?"] == "Takasaki"
    assert row["Pets?"] == "Cat、Fish"
    ja_header, _rows = _export(db, survey_id, style="labels", language="ja")
    assert ja_header[0] == "回答ID"
    assert "ペットは？: 猫" in ja_header
    with pytest.raises(ValueError, match="headers"):
        _export(db, survey_id, style="fancy")


def test_anonymous_export_has_no_resident_and_no_time(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db, anonymous=True)
    submit(survey_id, {"area": "10202"})
    header, rows = _export(db, survey_id)
    assert "_resident" not in header
    assert "_submitted_at" not in header
    assert len(rows) == 1


def test_xlsx_export_reads_back(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db)
    seed_five(submit, survey_id)
    header, rows = _export(db, survey_id)
    out = io.BytesIO()
    assert write_xlsx(out, header, iter(rows)) == 5
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue()), read_only=True)["responses"]
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == header
    assert len(values) == 6
    comment = header.index("comment")
    texts = {row[comment] for row in values[1:]}
    assert "=1+1 公園を増やして" in texts  # a text cell, never a formula
    ages = sorted(row[header.index("age")] for row in values[1:])
    assert ages == [21, 30, 40, 50, 60]


def test_aggregate_export_holds_counts_only(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db)
    seed_five(submit, survey_id)
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        rows = list(aggregate_rows(session, survey, survey.versions[0], language="ja", min_cell=2))
    assert all(len(row) == len(AGGREGATE_HEADER) for row in rows)
    assert rows[0] == ["_responses", "", "", "", "", 5, ""]
    area = {row[3]: row[5] for row in rows if row[0] == "area"}
    assert area == {"_answered": 5, "10201": 2, "10202": 2, "10203": "<2"}
    flat = " ".join(str(cell) for row in rows for cell in row)
    assert "公園" not in flat
    assert "駐車場" not in flat
    assert "前橋市大手町" not in flat
    age = {row[3]: row[5] for row in rows if row[0] == "age"}
    assert age["_mean"] == pytest.approx(40.2)
    assert age["_median"] == 40


def test_exports_stream_rows_in_order_of_submission(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db)
    for n in range(30):
        submit(survey_id, {"age": n, "pets": ["dog"] if n % 2 else []})
    header, rows = _export(db, survey_id)
    assert len(rows) == 30
    assert sorted(row[header.index("age")] for row in rows) == list(range(30))
    assert len({row[0] for row in rows}) == 30


def test_a_survey_without_answers_has_empty_results(db: Database) -> None:
    survey_id = make_survey(db, published=False)
    results = _results(db, survey_id)
    assert results.responses == 0
    assert results.median_seconds is None
    assert results.funnel.completion_rate is None
    assert all(r.answered == 0 for r in results.questions)
    _header, rows = _export(db, survey_id)
    assert rows == []


def test_the_photo_rows_belong_to_the_survey(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db)
    submit(survey_id, {"picture": None})
    with db.reading() as session:
        assert session.scalar(select(SurveyPhoto.survey_id)) == survey_id


def test_export_times_are_japan_time(db: Database, submit: Submit) -> None:
    survey_id = make_survey(db)
    submit(survey_id, {"age": 1}, at=datetime(2026, 11, 30, 20, 5, 9, tzinfo=UTC))
    header, rows = _export(db, survey_id)
    row = dict(zip(header, rows[0], strict=True))
    assert row["_submitted_at"] == "2026-12-01 05:05:09"
    assert row["_duration_seconds"] == 60
    assert row["_language"] == "ja"
