"""Alembic environment: runs migrations on the URL given by vardnav.db.migrate."""

from __future__ import annotations

from alembic import context

from vardnav.db.engine import make_engine
from vardnav.domains.access import models as _access_log_models  # noqa: F401 - registers tables
from vardnav.domains.access import pdl_tables as _pdl_tables  # noqa: F401 - registers tables
from vardnav.domains.identity import models as _identity_models  # noqa: F401 - registers tables
from vardnav.fhir.storage.tables import metadata

config = context.config


def run() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # A schema change or backfill of a large store outlasts the per-statement limit
            # the server sets for requests; migrations are an operator's deliberate step.
            connection.exec_driver_sql("SET statement_timeout = 0")
            # The SET began a transaction; end it, or Alembic would run inside it and never
            # commit (it only commits transactions it began itself).
            connection.commit()
        # SQLite: take the write lock at BEGIN (see db/engine.py), so a migration waits for a
        # running server's writers instead of failing when its read turns into a write.
        connection.info["write"] = True
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
