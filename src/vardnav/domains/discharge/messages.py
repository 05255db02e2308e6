"""The messages of the process: one `Communication` per receiving organisation, all written in
the step's transaction ("notify all at once"), and their acknowledgement by the receiver.

A message has `category` (what it is), `partOf` the case Task, `basedOn` the receiver's
notice Task, `sender` the ward's unit (or the primary-care unit for a SIP call), `recipient`
the receiving organisation, `sent`, and a `payload`. The receiver acknowledges by setting
`received` on it (through `$discharge-acknowledge`). The acknowledgement is written into the
sender's message rather than as a Communication of the receiver's own: an update keeps the
recording provider's custody, so the hospital reads the acknowledgement under its own
custody without needing the patient's consent to read the municipality's data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vardnav.domains.discharge import codes as c
from vardnav.domains.discharge.case import content, fetch, fetch_many, iso, ref_id, set_status
from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.organisation.region import HSA_SYSTEM
from vardnav.errors import BadRequest, BusinessRuleViolation, Forbidden, NotFound
from vardnav.fhir.storage.repository import Repository


def text(value: str) -> dict[str, Any]:
    return {"contentString": value}


def send(repo: Repository, *, case: dict[str, Any], notices: list[dict[str, Any]],
         category: str, at: datetime, payload: list[dict[str, Any]],
         sender: dict[str, Any] | None = None, about: list[dict[str, Any]] | None = None,
         extra_recipients: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One message to the owner of each sent notice (and to `extra_recipients`)."""
    targets = [(n["owner"], [{"reference": f"Task/{n['id']}"}]) for n in notices
               if n.get("status") not in ("draft", "cancelled", "entered-in-error")]
    targets += [(r, [{"reference": f"Task/{case['id']}"}]) for r in extra_recipients or []]
    sent = []
    for recipient, based_on in targets:
        message: dict[str, Any] = {
            "resourceType": "Communication", "status": "completed",
            "basedOn": based_on, "partOf": [{"reference": f"Task/{case['id']}"}],
            "category": [c.concept(c.PROCESS, category, c.MESSAGES[category])],
            "subject": case["for"], "encounter": case["encounter"],
            "sent": iso(at), "recipient": [recipient],
            "sender": sender or case["owner"],
            "payload": [text(c.MESSAGES[category]), *payload]}
        if about:
            message["about"] = about
        sent.append(repo.create("Communication", message).resource)
    return [m for m in sent if m is not None]


def require_receiver(repo: Repository, notice: dict[str, Any]) -> None:
    """Only the receiving organisation's staff (or a system integration, e.g. the
    municipality's own system) acknowledge what was sent to it."""
    p = repo.ctx.principal
    if isinstance(p, Principal) and p.kind == "system":
        return
    owner = (notice.get("owner") or {}).get("identifier") or {}
    if not (isinstance(p, Principal) and p.kind == "staff" and owner.get("system") ==
            HSA_SYSTEM and owner.get("value") in (p.unit, p.provider)):
        raise Forbidden("Only the receiving organisation "
                        f"({(notice.get('owner') or {}).get('display', 'the notice owner')}) "
                        "acknowledges its notices")


def acknowledge(repo: Repository, *, notice: dict[str, Any], at: datetime,
                communication_id: str | None = None) -> list[dict[str, Any]]:
    """Mark the messages to this notice's receiver as received (one, or all not yet
    acknowledged); the notice follows: an acknowledged admission notice is `received`, an
    acknowledged discharge information ends the receiver's part (`completed`)."""
    require_receiver(repo, notice)
    if notice.get("status") in ("draft", "cancelled", "entered-in-error"):
        raise BusinessRuleViolation(f"Task/{notice['id']} is {notice.get('status')}: nothing "
                                    "was sent to acknowledge")
    pairs = [("based-on", f"Task/{notice['id']}")]
    ids = repo.search_ids("Communication", pairs, limit=1000)
    messages = fetch_many(repo, [("Communication", i) for i in ids])
    if not messages:  # the messages are patient data: hidden without consent (PDL)
        raise NotFound(f"No message of Task/{notice['id']} is visible to the caller")
    if communication_id is not None:
        messages = [m for m in messages if m["id"] == communication_id]
        if not messages:
            raise BadRequest(f"Communication/{communication_id} is not a message of "
                             f"Task/{notice['id']}")
    pending = [m for m in messages if not m.get("received")]
    if not pending:
        raise BusinessRuleViolation("Everything sent to this receiver is already "
                                    "acknowledged")
    done = []
    for message in sorted(pending, key=lambda m: (m.get("sent") or "", m["id"])):
        updated = {**content(message), "received": iso(at)}
        stored = repo.update("Communication", message["id"], updated).resource
        assert stored is not None
        done.append(stored)
    categories = {c.category_of(m) for m in done}
    task = content(notice)
    if c.MSG_DISCHARGE_INFO in categories:
        set_status(task, c.N_DONE, at, status="completed")
    elif task.get("status") == "requested":
        set_status(task, c.N_ACKNOWLEDGED, at, status="received")
    else:
        task["lastModified"] = iso(at)
    repo.update("Task", notice["id"], task)
    return done


def notice_of(repo: Repository, notice_id: str) -> dict[str, Any]:
    """A notice Task the caller may see (404 otherwise, as for any hidden resource)."""
    found = fetch(repo, "Task", notice_id)
    if found is None or c.code_of(found.get("code"), c.PROCESS) != c.ADMISSION_NOTICE:
        raise NotFound(f"Task/{notice_id} is not a discharge notice the caller may see")
    if ref_id((found.get("partOf") or [{}])[0], "Task") is None:
        raise BusinessRuleViolation(f"Task/{notice_id} belongs to no discharge case")
    return found
