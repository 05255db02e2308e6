"""Notifications obey the patient data law: an event is notified only if the subscription's
owner may read the resource at the time of the event (judged in the write's transaction),
and a delivered notification naming a resource is in the access log as the owner's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sub_support import (
    Receiver,
    create,
    eventually,
    outbox_rows,
    running_app,
    state_of,
    status_of,
    subscription,
)

from conftest import FHIR_JSON, bearer, mint_token, observation, patient
from vardnav.config import Settings
from vardnav.domains.identity.organisation.region import HSA_SYSTEM, region_bundle
from vardnav.domains.identity.organisation.region_data import REGION_HSA
from vardnav.fhir.hooks import MemoryAuditSink
from vardnav.fhir.storage.repository import EngineServices

MED1 = "SE2321000131-SU-MED1"
GER2 = "SE2321000131-SU-GER2"


def staff(settings: Settings, subject: str, unit: str) -> dict[str, str]:
    return {**FHIR_JSON, **bearer(mint_token(settings, "user/*.cruds", kind="staff",
                                             subject=subject, unit=unit,
                                             provider=REGION_HSA, role="registered-nurse"))}


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    ours, theirs = Receiver().start(), Receiver().start()
    yield ours, theirs
    ours.stop()
    theirs.stop()


@pytest.fixture
def world(engine: Engine, settings: Settings, pdl_services: EngineServices,
          system_token: str) -> Iterator[dict[str, Any]]:
    with running_app(engine, settings, pdl_services, system_token) as c:
        assert c.post("/fhir", json=region_bundle(), headers=FHIR_JSON).status_code == 200
        med1 = c.get(f"/fhir/Organization?identifier={HSA_SYSTEM}|{MED1}").json()
        n1 = staff(settings, "SE2321000131-N1", MED1)
        n2 = staff(settings, "SE2321000131-N2", GER2)
        x = create(c, patient("Xenström", "Xena"))["id"]
        create(c, {"resourceType": "Encounter", "status": "in-progress",
                   "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                             "code": "IMP"},
                   "subject": {"reference": f"Patient/{x}"},
                   "serviceProvider": {"reference":
                                       f"Organization/{med1['entry'][0]['resource']['id']}"}},
               headers=n1)
        yield {"c": c, "n1": n1, "n2": n2, "x": x}


def test_no_notification_without_a_care_relationship(
        world: dict[str, Any], receivers: tuple[Receiver, Receiver], engine: Engine,
        audit: MemoryAuditSink) -> None:
    c, n1, n2, x = world["c"], world["n1"], world["n2"], world["x"]
    ward, other_unit = receivers
    criteria = f"Observation?subject=Patient/{x}"
    mine = create(c, subscription(criteria, ward.url), headers=n1)["id"]
    # Another unit of the same provider, no care relationship with the patient: not even
    # an id-only or empty notification may tell it that something was recorded.
    theirs = [create(c, subscription(criteria, other_unit.url, content=kind),
                     headers=n2)["id"] for kind in ("id-only", "empty")]
    eventually(lambda: len(other_unit.events("handshake")) == 2, what="handshakes")
    first = create(c, observation(f"Patient/{x}"), headers=n1)["id"]
    eventually(lambda: ward.events(), what="the ward's notification")
    assert [r.resource_id for r in outbox_rows(engine, mine)] == [first]
    for sid in theirs:
        assert outbox_rows(engine, sid) == [] and state_of(engine, sid).events == 0
    # The other unit takes part in the care (asserted, with a reason): from now on it is told.
    r = c.post(f"/fhir/Patient/{x}/$assert-care-relationship", headers=n2, json={
        "resourceType": "Parameters",
        "parameter": [{"name": "reason", "valueString": "Konsult från geriatriken"}]})
    assert r.status_code == 200, r.text
    second = create(c, observation(f"Patient/{x}"), headers=n1)["id"]
    eventually(lambda: len(other_unit.events()) == 2, what="the other unit's notifications")
    assert [r.resource_id for r in outbox_rows(engine, theirs[0])] == [second]
    assert sorted(other_unit.event_numbers()) == [1, 1]  # its first event, per subscription
    # Delivered notifications that name a resource are logged as read by the owner.
    eventually(lambda: state_of(engine, mine).delivered_upto == 2
               and state_of(engine, theirs[0]).delivered_upto == 1, what="recorded")
    logged = [(ctx.principal.subject, rec.resource_ids) for ctx, rec in audit.records
              if rec.interaction == "subscription-notification"]
    assert ("SE2321000131-N1", [f"Observation/{first}"]) in logged
    assert ("SE2321000131-N2", [f"Observation/{second}"]) in logged
    assert all(x in rec.patients for _ctx, rec in audit.records
               if rec.interaction == "subscription-notification")
    assert status_of(ward.events()[0])["events"][0]["event-number"] == "1"


def test_the_owner_is_who_last_wrote_the_subscription(
        world: dict[str, Any], receivers: tuple[Receiver, Receiver], engine: Engine) -> None:
    c, n1, n2, x = world["c"], world["n1"], world["n2"], world["x"]
    ward, _ = receivers
    sub = create(c, subscription(f"Observation?subject=Patient/{x}", ward.url), headers=n1)
    eventually(lambda: state_of(engine, sub["id"]).status == "active", what="active")
    current = c.get(f"/fhir/Subscription/{sub['id']}", headers=n1).json()
    # n2 (no care relationship) changes it: the notifications now follow n2's rights.
    r = c.put(f"/fhir/Subscription/{sub['id']}", json={**current, "reason": "mine now"},
              headers=n2)
    assert r.status_code == 200, r.text
    create(c, observation(f"Patient/{x}"), headers=n1)
    assert outbox_rows(engine, sub["id"]) == []
