"""KeyedCondition: a kept condition's cache key is taken once, and its own values are used."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, and_, create_engine, select

from vardnav.db.keyed_condition import KeyedCondition

md = MetaData()
item = Table("item", md, Column("id", Integer, primary_key=True), Column("unit", String),
             Column("kind", String))


def test_two_kept_conditions_of_one_shape_share_a_compiled_form_but_not_their_values() -> None:
    engine = create_engine("sqlite://")
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(item.insert(), [{"id": 1, "unit": "A", "kind": "x"},
                                     {"id": 2, "unit": "B", "kind": "x"},
                                     {"id": 3, "unit": "A", "kind": "y"}])
    mine = KeyedCondition(and_(item.c.unit == "A", item.c.kind == "x"))
    theirs = KeyedCondition(and_(item.c.unit == "B", item.c.kind == "x"))
    cache: dict = {}
    with engine.connect().execution_options(compiled_cache=cache) as conn:
        for _ in range(2):
            assert conn.execute(select(item.c.id).where(mine)).scalars().all() == [1]
            assert conn.execute(select(item.c.id).where(theirs)).scalars().all() == [2]
            # Beside other criteria with values of their own, order kept.
            assert conn.execute(select(item.c.id).where(item.c.id > 1, theirs)
                                ).scalars().all() == [2]
    assert len(cache) == 2  # one shape alone, and with the extra criterion
