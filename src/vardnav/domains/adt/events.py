"""What an ADT step tells the rest of the system (HL7 v2 outbox, later subscriptions).

The workflow calls every `AdtListener` inside the step's own transaction, after the FHIR
state is written, so a listener's outbox rows commit (or roll back) with the step itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from vardnav.fhir.storage.repository import Repository

# HL7 v2.5 trigger events, named after the step that raises them.
REGISTER = "A04"        # outpatient or emergency visit registered
PRE_ADMIT = "A05"       # planned admission
ADMIT = "A01"
TRANSFER = "A02"
DISCHARGE = "A03"
UPDATE = "A08"          # patient or visit information changed (e.g. responsible staff)
CANCEL_ADMIT = "A11"
CANCEL_TRANSFER = "A12"
CANCEL_DISCHARGE = "A13"
CANCEL_PRE_ADMIT = "A38"  # the planned admission will not happen
LEAVE = "A21"           # leave of absence begins
RETURN = "A22"          # back from leave of absence


@dataclass(frozen=True)
class AdtEvent:
    """One ADT step, with the resources as they stand after it (snapshots, not references,
    so an outbound message renders what was true when the step committed)."""

    trigger: str
    patient: dict[str, Any]
    encounter: dict[str, Any]
    occurred: str  # FHIR instant of the step (the time it took effect, not the time logged)
    # Assigned location after the step, outermost first: (ward, room, bed) as far as known.
    location: tuple[dict[str, Any], ...] = ()
    # Location before the step (transfer, cancelled transfer, discharge, cancel discharge).
    prior_location: tuple[dict[str, Any], ...] = ()
    # Responsible staff by role: "attending" (physician), "nurse"; Practitioner resources.
    practitioners: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Discharge disposition code (see docs/adt.md) for A03, else None.
    disposition: str | None = None
    # Set when the step came in over HL7 v2: the sending system's name (MSH-3) and MSH-10.
    origin: str | None = None
    origin_control_id: str | None = None


class AdtListener(Protocol):
    def adt_event(self, repo: Repository, event: AdtEvent) -> None: ...
