"""db/direct.py: prebuilt statements on the SQLite driver behave as through SQLAlchemy."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from vardnav.db.direct import Direct, DirectResult
from vardnav.db.engine import make_engine

meta = MetaData()
thing = Table("thing", meta, Column("id", Integer, primary_key=True),
              Column("name", String(20), unique=True), Column("flag", Boolean),
              Column("data", JSON), Column("at", Float))
_ticks = itertools.count(1)
_NOW = bindparam("now", callable_=lambda: float(next(_ticks)), type_=Float)


@pytest.fixture()
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    meta.create_all(engine)
    yield engine
    engine.dispose()


def test_rows_types_and_errors_match_sqlalchemy(engine) -> None:  # type: ignore[no-untyped-def]
    add = Direct(insert(thing))
    by_name = Direct(select(thing.c.id, thing.c.flag, thing.c.data).where(
        thing.c.name == bindparam("n")))
    with engine.begin() as conn:
        result = add(conn, {"name": "a", "flag": True, "data": {"x": [1, 2]}, "at": 1.0})
        assert isinstance(result, DirectResult)
        assert result.inserted_primary_key == (1,)
        add.many(conn, [{"name": "b", "flag": False, "data": None, "at": 2.0},
                        {"name": "c", "flag": None, "data": [], "at": 3.0}])
        for name in ("a", "b", "c"):
            mine = by_name(conn, {"n": name}).first()
            theirs = conn.execute(by_name.stmt, {"n": name}).first()
            assert tuple(mine) == tuple(theirs)
            assert mine.flag is theirs.flag and mine.data == theirs.data
        # JSON None is stored as SQLAlchemy stores it (the text 'null').
        raw = conn.exec_driver_sql("SELECT data FROM thing WHERE name = 'b'").scalar()
        assert raw == "null"
        assert by_name(conn, {"n": "zz"}).first() is None
        with pytest.raises(IntegrityError):
            add(conn, {"name": "a", "flag": True, "data": {}, "at": 4.0})
        changed = Direct(update(thing).where(thing.c.name == bindparam("n")).values(
            at=bindparam("at")))(conn, {"n": "c", "at": 9.0})
        assert changed.rowcount == 1


def test_callable_parameters_are_read_at_each_execution(engine) -> None:  # type: ignore[no-untyped-def]
    newer = Direct(select(thing.c.name).where(thing.c.at < _NOW, thing.c.at > _NOW - 100))
    with engine.begin() as conn:
        Direct(insert(thing))(conn, {"name": "a", "flag": True, "data": {}, "at": 5.0})
        seen = [newer(conn).scalar() for _ in range(10)]
    # The clock advances with every execution: never frozen when the statement is compiled.
    assert seen.count(None) >= 2 and "a" in seen


def test_outside_a_transaction_sqlalchemy_runs_it(engine) -> None:  # type: ignore[no-untyped-def]
    stmt = Direct(select(thing.c.id))
    with engine.connect() as conn:
        assert not isinstance(stmt(conn), DirectResult)
