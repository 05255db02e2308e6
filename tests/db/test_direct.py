"""db/direct.py: prebuilt statements on the SQLite driver, and those that opt in on psycopg,
behave as through SQLAlchemy."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, IntegrityError

from vardnav.db.direct import Direct, DirectResult
from vardnav.db.engine import PREPARED, make_engine
from vardnav.db.unit_of_work import run_in_transaction

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


# -- PostgreSQL (statements that opt in: Direct(..., postgresql=True)) ----------------------

pg_meta = MetaData()
pg_thing = Table("direct_pg_thing", pg_meta, Column("id", Integer, primary_key=True),
                 Column("name", String(20), unique=True), Column("flag", Boolean),
                 Column("data", JSON().with_variant(JSONB(), "postgresql")),
                 Column("at", Float))


@pytest.fixture()
def pg(db_url: str):  # type: ignore[no-untyped-def]
    """The suite's PostgreSQL database (the storage run in CI), with a table of its own."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: the SQLite path is tested above")
    engine = make_engine(db_url)
    pg_meta.drop_all(engine)
    pg_meta.create_all(engine)
    yield engine
    pg_meta.drop_all(engine)
    engine.dispose()


def test_postgresql_rows_and_errors_match_sqlalchemy(pg) -> None:  # type: ignore[no-untyped-def]
    add = Direct(insert(pg_thing), postgresql=True)
    by_name = Direct(select(pg_thing.c.id, pg_thing.c.flag, pg_thing.c.data, pg_thing.c.at)
                     .where(pg_thing.c.name == bindparam("n"))
                     .execution_options(**PREPARED), postgresql=True)
    with pg.begin() as conn:
        add(conn, {"name": "a", "flag": True, "data": {"x": [1, 2.5], "å": "ö"}, "at": 1.25})
        add.many(conn, [{"name": "b", "flag": False, "data": None, "at": 2.0},
                        {"name": "c", "flag": None, "data": [], "at": 3.0}])
        for _ in range(3):  # prepared after the first execution: the same rows every time
            for name in ("a", "b", "c"):
                mine = by_name(conn, {"n": name}).first()
                assert isinstance(by_name(conn, {"n": name}), DirectResult)
                theirs = conn.execute(by_name.stmt, {"n": name}).first()
                assert tuple(mine) == tuple(theirs)
                assert mine.flag is theirs.flag and mine.data == theirs.data
                assert type(mine.at) is float and type(mine.id) is int
        assert by_name(conn, {"n": "zz"}).first() is None
    with pytest.raises(IntegrityError), pg.begin() as conn:
        add(conn, {"name": "a", "flag": True, "data": {}, "at": 4.0})
    with pg.connect() as conn:
        assert conn.execute(select(func.count()).select_from(pg_thing)).scalar() == 3


def test_postgresql_statements_join_sqlalchemys_transaction(pg) -> None:  # type: ignore[no-untyped-def]
    add = Direct(insert(pg_thing), postgresql=True)
    with pg.connect() as conn:  # the first statement begins the transaction, as autobegin
        add(conn, {"name": "gone", "flag": True, "data": {}, "at": 1.0})
        assert conn.in_transaction()
        conn.rollback()
        add(conn, {"name": "kept", "flag": True, "data": {}, "at": 1.0})
        conn.commit()
        add(conn, {"name": "closed", "flag": True, "data": {}, "at": 1.0})
    # (closing without a commit rolls back)
    with pg.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        add(conn, {"name": "autocommitted", "flag": True, "data": {}, "at": 1.0})
    with pg.connect() as conn:
        names = set(conn.execute(select(pg_thing.c.name)).scalars())
    assert names == {"kept", "autocommitted"}


def test_a_lost_postgresql_connection_is_replaced_and_the_work_retried(pg) -> None:  # type: ignore[no-untyped-def]
    read = Direct(select(pg_thing.c.name).where(pg_thing.c.id == bindparam("i")),
                  postgresql=True)
    with pg.begin() as conn:
        conn.execute(insert(pg_thing), {"id": 1, "name": "a", "flag": True, "data": {},
                                        "at": 1.0})
    with pg.connect() as conn:  # as SQLAlchemy would: the error says the connection is gone
        conn.execute(text("SELECT 1"))
        with pg.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"),
                          {"pid": conn.connection.driver_connection.info.backend_pid})
        with pytest.raises(DBAPIError) as lost:
            read(conn, {"i": 1})
        assert lost.value.connection_invalidated and conn.invalidated
    attempts = []

    def work(conn: Connection) -> str:
        attempts.append(conn.connection.driver_connection.info.backend_pid)
        if len(attempts) == 1:  # the database drops this connection under the statement
            with pg.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"),
                              {"pid": attempts[0]})
        return str(read(conn, {"i": 1}).scalar())

    assert run_in_transaction(pg, work, write=False) == "a"
    assert len(attempts) == 2 and attempts[0] != attempts[1]


def test_without_opting_in_postgresql_runs_it_through_sqlalchemy(pg) -> None:  # type: ignore[no-untyped-def]
    with pg.begin() as conn:
        assert not isinstance(Direct(select(pg_thing.c.id))(conn), DirectResult)
