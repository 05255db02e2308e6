"""Run every benchmark on SQLite and PostgreSQL and print the numbers (see bench/README.md)."""

from __future__ import annotations

from bench import (
    adt_steps,
    hl7_inbound,
    hl7_outbound,
    ingest,
    read_by_id,
    search_1m,
    subscriptions,
    token_overhead,
)


def main() -> None:
    for db in ("sqlite", "postgres"):
        ingest.run(db, patients=2000, per_bundle=10, clients=2)
        read_by_id.run(db, patients=2000, connections=8, seconds=15, workers=2)
        search_1m.run(db, seconds=10, connections=4)
        adt_steps.run(db, patients=300)
    token_overhead.run(patients=500, seconds=10)
    hl7_inbound.run(patients=400, connections=4)  # SQLite in a temporary directory
    hl7_outbound.run(patients=300)
    subscriptions.run(fan_out_writes=100, selective_writes=1000)  # SQLite, 100 rest-hooks


if __name__ == "__main__":
    main()
