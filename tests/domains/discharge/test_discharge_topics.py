"""A municipality's own system subscribes to "notices for our residents" (a topic of the
subscriptions engine, filtered on the notice's owner) and gets its residents' notices only."""

from __future__ import annotations

from discharge_support import BORAS, GBG, World
from sqlalchemy import select

from conftest import FHIR_JSON
from vardnav.domains.discharge.topics import MESSAGES, NOTICES
from vardnav.integrations.subscriptions.models import outbox
from vardnav.integrations.subscriptions.spec import FILTER_CRITERIA, PAYLOAD_CONTENT

pytest_plugins = ("discharge_fixtures",)


def _subscribe(w: World, topic: str, criteria: str) -> str:
    r = w.c.post("/fhir/Subscription", headers=FHIR_JSON, json={
        "resourceType": "Subscription", "status": "requested", "reason": "Våra invånare",
        "criteria": topic,
        "_criteria": {"extension": [{"url": FILTER_CRITERIA, "valueString": criteria}]},
        "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook",
                    "payload": "application/fhir+json",
                    "_payload": {"extension": [{"url": PAYLOAD_CONTENT,
                                                "valueCode": "id-only"}]}}})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _events(w: World, sid: str) -> list[tuple[str, str]]:
    with w.engine.connect() as conn:
        return [(r.resource_id, r.action) for r in conn.execute(
            select(outbox).where(outbox.c.subscription_id == sid)
            .order_by(outbox.c.event_number))]


def test_notices_for_our_residents(world: World) -> None:
    w = world
    notices = _subscribe(w, NOTICES, f"Task?owner=Organization/{w.orgs[GBG]}")
    messages = _subscribe(w, MESSAGES, f"Communication?recipient=Organization/{w.orgs[GBG]}")
    gbg_enc, boras_enc = w.admit("Göransson"), w.admit("Borg")
    nurse = w.staff["nurse"]
    nurse.ok(f"Encounter/{gbg_enc}/$discharge-mark-support", 201, send=False, consent=True)
    assert _events(w, notices) == []  # drafts are not notices yet
    nurse.ok(f"Encounter/{gbg_enc}/$discharge-send-notices")
    nurse.ok(f"Encounter/{boras_enc}/$discharge-mark-support", 201, consent=True)
    ours = w.notices(gbg_enc)[GBG]["id"]
    assert _events(w, notices) == [(ours, "update")]
    sent = [m["id"] for m in w.messages(gbg_enc, "admission-notice")
            if m["recipient"][0]["identifier"]["value"] == GBG]
    assert _events(w, messages) == [(sent[0], "create")]
    assert BORAS not in {e for e, _ in _events(w, notices)}
