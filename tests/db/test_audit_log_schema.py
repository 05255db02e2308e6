"""The access log's read-path schema (migrations 0011a, 0012, 0014): what each read writes
stays lean."""

from __future__ import annotations

from pathlib import Path

import pytest
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


def test_migration_0012_moves_the_chain_to_seals_and_keeps_the_old_links(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    upgrade(url)
    downgrade(url, "0011a")
    old = create_engine(url)
    with old.begin() as conn:
        conn.execute(text(
            "INSERT INTO audit_log (seq, recorded, event, interaction, outcome, chain_pos, "
            "prev_hash, hash) VALUES (1, 1.0, '{}', 'read', 'success', 1, :g, :h), "
            "(2, 2.0, '{}', 'read', 'success', NULL, NULL, NULL)"),
            {"g": "0" * 64, "h": "a" * 64})
    old.dispose()
    upgrade(url)
    new = create_engine(url)
    columns = {c["name"] for c in inspect(new).get_columns("audit_log")}
    assert not columns & {"chain_pos", "prev_hash", "hash"}
    assert {i["name"] for i in inspect(new).get_indexes("audit_log")} == {
        "ix_audit_user_recorded", "ix_audit_recorded"}
    with new.connect() as conn:
        kept = conn.execute(text("SELECT seq, chain_pos, hash FROM audit_chain_0011")).all()
        assert [tuple(r) for r in kept] == [(1, 1, "a" * 64)]
        assert conn.execute(text("SELECT count(*) FROM audit_seal")).scalar_one() == 0
    new.dispose()
    # Down again: the old links are back where they were; the unsealed row stays unsealed.
    downgrade(url, "0011a")
    old = create_engine(url)
    with old.connect() as conn:
        rows = conn.execute(text("SELECT seq, chain_pos, hash FROM audit_log ORDER BY seq"))
        assert [tuple(r) for r in rows] == [(1, 1, "a" * 64), (2, None, None)]
    old.dispose()


def test_migration_0014_goes_down_only_while_no_entry_names_a_frame(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    upgrade(url)
    downgrade(url, "0013")  # nothing stored yet: the frames table goes
    gone = create_engine(url)
    assert "audit_frame" not in inspect(gone).get_table_names()
    gone.dispose()
    upgrade(url)
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text(
            "INSERT INTO audit_log (seq, recorded, event, interaction, outcome) "
            "VALUES (1, 1.0, :e, 'read', 'success')"), {"e": '{"frame":"' + "a" * 64 + '"}'})
    eng.dispose()
    with pytest.raises(RuntimeError, match="stored with frames"):
        downgrade(url, "0013")  # those entries could no longer be read
    still = create_engine(url)
    assert "audit_frame" in inspect(still).get_table_names()
    still.dispose()
