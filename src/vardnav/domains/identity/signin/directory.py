"""Looks up who a signed-in person is in the record: a staff member's current assignments
(Practitioner/PractitionerRole) or a resident's records. Runs as the server itself (SERVER
principal), so the lookups are audited like any other access."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine

from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.access.principal import SERVER
from vardnav.domains.identity.organisation.assignments import StaffAssignment, assignments_of
from vardnav.domains.identity.signin.records import ResidentRecords, resident_records
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.storage.repository import EngineServices, Repository

T = TypeVar("T")


class Directory:
    """Blocking lookups: call them from a worker thread (`run_in_threadpool`)."""

    def __init__(self, engine: Engine, services: EngineServices, settings: Settings) -> None:
        self.engine = engine
        self.services = services
        self.settings = settings

    def _read(self, work: Callable[[Repository], T]) -> T:
        ctx = RequestContext(principal=SERVER, base_url=self.settings.base_url.rstrip("/"))

        def run(conn: Connection) -> T:
            return work(Repository(conn, self.services, ctx))

        return run_in_transaction(self.engine, run, write=False)

    def assignments(self, hsa_id: str) -> list[StaffAssignment]:
        return self._read(lambda repo: assignments_of(repo, hsa_id))

    def records(self, personnummer: str) -> ResidentRecords:
        max_age = self.settings.guardian_access_max_age
        return self._read(lambda repo: resident_records(repo, personnummer,
                                                        max_child_age=max_age))
