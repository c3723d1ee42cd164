"""Resident attributes: set, update, delete, no lost updates, segments, concurrent writers,
refused input (service and schema), and the segment query's use of its index."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import selectinload

from bot.attributes import (
    MAX_SEGMENT_VALUES,
    read_attributes,
    select_segment,
    set_attribute,
)
from bot.db import Database
from models import Resident, ResidentAttribute
from tests.conftest import ResidentRowFactory


def attributes_of(db: Database, resident_id: int) -> dict[str, str]:
    with db.sessions() as session:
        return read_attributes(session, session.get_one(Resident, resident_id))


def segment(db: Database, conditions: dict[str, Any]) -> set[int]:
    with db.sessions() as session:
        return set(session.scalars(select_segment(conditions)))


def test_set_update_and_delete(db: Database, resident_row: ResidentRowFactory) -> None:
    resident_id = resident_row().id
    assert attributes_of(db, resident_id) == {}
    with db.unit_of_work() as session:
        resident = session.get_one(Resident, resident_id)
        set_attribute(session, resident, "municipality", "10201")
        set_attribute(session, resident, "age_band", "30-39")
    with db.unit_of_work() as session:
        resident = session.get_one(Resident, resident_id)
        set_attribute(session, resident, "municipality", "前橋市")  # overwrites
        set_attribute(session, resident, "age_band", None)  # deletes
        set_attribute(session, resident, "household", None)  # deleting nothing is fine
    assert attributes_of(db, resident_id) == {"municipality": "前橋市"}
    with db.sessions() as session:
        [row] = session.scalars(select(ResidentAttribute)).all()
        assert row.updated_at.tzinfo is not None


def test_two_changes_in_one_unit_of_work_are_both_kept(
    db: Database, resident_row: ResidentRowFactory
) -> None:
    """The JSON column lost in-place edits; rows keep every change, and a list loaded in
    the same session follows them."""
    resident_id = resident_row(attributes={"municipality": "10201", "note": "old"}).id
    with db.unit_of_work() as session:
        resident = session.scalars(
            select(Resident)
            .where(Resident.id == resident_id)
            .options(selectinload(Resident.attributes))
        ).one()
        municipality, _note = resident.attributes  # objects a page might still hold
        assert (municipality.name, municipality.value) == ("municipality", "10201")
        set_attribute(session, resident, "municipality", "10202")
        assert municipality.value == "10202"
        set_attribute(session, resident, "age_band", "30-39")
        set_attribute(session, resident, "note", None)
        assert read_attributes(session, resident) == {"municipality": "10202", "age_band": "30-39"}
        assert [(a.name, a.value) for a in resident.attributes] == [
            ("age_band", "30-39"),
            ("municipality", "10202"),
        ]
    assert attributes_of(db, resident_id) == {"municipality": "10202", "age_band": "30-39"}


def test_segments_and_across_names_or_within_a_name(
    db: Database, resident_row: ResidentRowFactory
) -> None:
    a = resident_row(attributes={"municipality": "10201", "age_band": "30-39"}).id
    b = resident_row(attributes={"municipality": "10202", "age_band": "40-49"}).id
    c = resident_row(attributes={"municipality": "10201", "age_band": "40-49"}).id
    resident_row(attributes={"municipality": "10203"})
    resident_row()
    assert segment(db, {"municipality": ["10201", "10202"]}) == {a, b, c}
    assert segment(db, {"municipality": ["10201", "10202"], "age_band": ["30-39"]}) == {a}
    assert segment(db, {"municipality": ["10201"], "age_band": ["30-39", "40-49"]}) == {a, c}
    assert segment(db, {"municipality": ["10201", "10201"], "age_band": ("40-49",)}) == {c}
    assert segment(db, {"municipality": ["99999"]}) == set()  # no match
    assert segment(db, {"age_band": ["30-39"], "municipality": ["10202"]}) == set()
    assert segment(db, {"household": ["2"]}) == set()  # a name nobody has yet
    assert segment(db, {"municipality": ["10201"], "household": ["2"]}) == set()
    with db.sessions() as session:  # usable as a subquery, e.g. to join reachable residents
        chosen = select(Resident.id).where(Resident.id.in_(select_segment({"age_band": ["40-49"]})))
        assert set(session.scalars(chosen)) == {b, c}


def test_attributes_go_with_the_resident(db: Database, resident_row: ResidentRowFactory) -> None:
    gone = resident_row(attributes={"municipality": "10201", "age_band": "30-39"}).id
    kept = resident_row(attributes={"municipality": "10201"}).id
    with db.unit_of_work() as session:
        session.execute(delete(Resident).where(Resident.id == gone))
    with db.sessions() as session:
        assert session.scalars(select(ResidentAttribute.resident_id)).all() == [kept]


BAD_NAMES = [
    "",
    "Municipality",
    "1st_choice",
    "_private",
    "age band",
    "age-band",
    "年代",
    "municipality\n",
    "a" * 41,
    None,
    5,
]
BAD_VALUES = [
    "",
    " 10201",
    "10201 ",
    "\u300010201",  # an ideographic space
    "a" * 101,
    "10\x0001",
    "10\x1f01",
    "10\x7f01",
    "10\x8501",  # a C1 control character
    "10\ud80001",  # a lone surrogate
    "line\nbreak",
    10201,
    ["10201"],
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_and_change_nothing(
    db: Database, resident_row: ResidentRowFactory, name: Any
) -> None:
    resident_id = resident_row(attributes={"municipality": "10201"}).id
    with db.unit_of_work() as session:
        resident = session.get_one(Resident, resident_id)
        with pytest.raises(ValueError, match="attribute name"):
            set_attribute(session, resident, name, "x")
        with pytest.raises(ValueError, match="attribute name"):
            set_attribute(session, resident, name, None)
        with pytest.raises(ValueError, match="attribute name"):
            select_segment({name: ["x"]})
    assert attributes_of(db, resident_id) == {"municipality": "10201"}


@pytest.mark.parametrize("value", BAD_VALUES)
def test_bad_values_are_refused_change_nothing_and_are_not_quoted(
    db: Database, resident_row: ResidentRowFactory, value: Any
) -> None:
    resident_id = resident_row(attributes={"municipality": "10201"}).id
    with db.unit_of_work() as session:
        resident = session.get_one(Resident, resident_id)
        with pytest.raises(ValueError, match="'municipality'") as refused:
            set_attribute(session, resident, "municipality", value)
        with pytest.raises(ValueError, match="'municipality'"):
            select_segment({"municipality": ["10201", value]})
    if isinstance(value, str) and len(value) > 2:
        assert value not in str(refused.value)  # values are personal data; errors reach logs
    assert attributes_of(db, resident_id) == {"municipality": "10201"}


def test_the_longest_name_and_value_are_accepted(
    db: Database, resident_row: ResidentRowFactory
) -> None:
    name, value = "a" + "_9" * 19 + "z", "県" * 100
    resident_id = resident_row(attributes={name: value}).id
    assert attributes_of(db, resident_id) == {name: value}
    assert segment(db, {name: [value]}) == {resident_id}


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({}, "at least one condition"),
        ({"age_band": "30-39"}, "non-empty list"),  # a bare string, not a list of values
        ({"age_band": []}, "non-empty list"),
        ({"municipality": [str(n) for n in range(MAX_SEGMENT_VALUES + 1)]}, "more than"),
    ],
)
def test_malformed_segments_are_refused(conditions: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select_segment(conditions)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Municipality", "x"),
        ("1st", "x"),
        ("_x", "x"),
        ("age band", "x"),
        ("a" * 41, "x"),
        ("municipality", ""),
        ("municipality", "x" * 101),
    ],
)
def test_the_schema_refuses_what_the_service_refuses(
    db: Database, resident_row: ResidentRowFactory, name: str, value: str
) -> None:
    """Rows written around the service still obey the rules, on both databases."""
    resident_id = resident_row().id
    with pytest.raises((IntegrityError, DataError)), db.unit_of_work() as session:
        session.execute(
            insert(ResidentAttribute).values(resident_id=resident_id, name=name, value=value)
        )
    assert attributes_of(db, resident_id) == {}


def test_concurrent_writers_of_one_attribute_last_write_wins(
    db: Database, resident_row: ResidentRowFactory
) -> None:
    """The second writer arrives while the first one's new row is not yet committed: it
    waits and overwrites (a read-then-insert would see no row and fail on the key)."""
    resident_id = resident_row().id
    first_wrote = threading.Event()
    errors: list[Exception] = []

    def write(value: str, hold: float) -> None:
        try:
            with db.unit_of_work() as session:
                resident = session.get_one(Resident, resident_id)
                set_attribute(session, resident, "municipality", value)
                first_wrote.set()
                threading.Event().wait(hold)  # keep the transaction open meanwhile
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    first = threading.Thread(target=write, args=("10201", 0.3))
    first.start()
    assert first_wrote.wait(10)
    second = threading.Thread(target=write, args=("10202", 0.0))
    second.start()
    first.join(10)
    second.join(10)
    assert errors == []
    with db.sessions() as session:
        rows = session.execute(select(ResidentAttribute.name, ResidentAttribute.value)).all()
    assert [tuple(row) for row in rows] == [("municipality", "10202")]


def test_many_concurrent_writers_never_fail_or_duplicate(
    db: Database, resident_row: ResidentRowFactory
) -> None:
    resident_id = resident_row().id
    start = threading.Barrier(2)
    errors: list[Exception] = []

    def write(prefix: str) -> None:
        try:
            start.wait(10)
            for n in range(20):
                with db.unit_of_work() as session:
                    resident = session.get_one(Resident, resident_id)
                    set_attribute(session, resident, "age_band", f"{prefix}{n}")
                    set_attribute(session, resident, f"seen_by_{prefix}", str(n))
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(p,)) for p in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    stored = attributes_of(db, resident_id)
    assert stored["age_band"] in {"a19", "b19"}  # one writer's last value, whole
    assert (stored["seen_by_a"], stored["seen_by_b"]) == ("19", "19")  # neither lost
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ResidentAttribute)) == 3


def _index_lookups(db: Database, statement: Any) -> int:
    """How many (name, value) lookups in the segment index the database plans for a query."""
    with db.sessions() as session, session.begin():
        dialect = session.get_bind().dialect
        sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if dialect.name == "sqlite":
            plan = session.execute(text("EXPLAIN QUERY PLAN " + sql)).all()
            return sum(INDEX + " (name=? AND value=?)" in row[-1] for row in plan)
        # A test table is tiny and reading it whole is cheapest: what matters is that the
        # query's shape lets the planner look the index up once the table is not tiny.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        [[explained]] = session.execute(text("EXPLAIN (FORMAT JSON) " + sql)).all()
        nodes, lookups = [explained[0]["Plan"]], 0
        while nodes:
            node = nodes.pop()
            nodes += node.get("Plans", [])
            condition = node.get("Index Cond", "")
            lookups += (
                node.get("Index Name") == INDEX and "name" in condition and "value" in condition
            )
        return lookups


INDEX = "ix_resident_attributes_name_value"


def test_segment_queries_look_up_the_name_value_index(
    db: Database, resident_row: ResidentRowFactory
) -> None:
    for n in range(30):
        resident_row(attributes={"municipality": f"1020{n % 5}", "age_band": f"{n % 7}0-"})
    single = {"municipality": ["10201"]}
    assert _index_lookups(db, select_segment(single)) == 1
    double = {"municipality": ["10201", "10202"], "age_band": ["30-"]}
    assert _index_lookups(db, select_segment(double)) == 2
