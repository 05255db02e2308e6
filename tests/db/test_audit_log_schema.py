"""The access log's read-path schema (migration 0011a): what each read writes stays lean."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, inspect, text

from vardnav.db.migrate import downgrade, upgrade


def test_patient_index_has_no_foreign_key_and_recorded_is_brin_on_postgres(
        engine: Engine) -> None:
    # The key made PostgreSQL lock the just-written log row once per patient of every read;
    # `vardnav audit verify` is what checks the index against the sealed records.
    assert inspect(engine).get_foreign_keys("audit_log_patient") == []
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            method = conn.execute(text(
                "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
                "WHERE c.relname = 'ix_audit_recorded'")).scalar_one()
        assert method == "brin"


def test_migration_0011a_goes_down_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    upgrade(url)
    downgrade(url, "0010")
    old = create_engine(url)
    assert [fk["referred_table"] for fk in inspect(old).get_foreign_keys(
        "audit_log_patient")] == ["audit_log"]
    old.dispose()
    upgrade(url)
    new = create_engine(url)
    assert inspect(new).get_foreign_keys("audit_log_patient") == []
    assert {i["name"] for i in inspect(new).get_indexes("audit_log_patient")} == {
        "ix_audit_patient_seq"}
    new.dispose()
