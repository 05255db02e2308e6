"""The Encounter as the ADT workflow writes it: pure functions from one state to the next.

- `status` and `statusHistory` (one entry per status, the current one open-ended);
- `location`: one entry each for the ward, room and bed, with periods; a transfer completes
  the entries it leaves and adds the new ones, so the stay keeps its location history;
  during leave of absence the entries are `reserved` (the bed is kept);
- `participant`: the attending physician (ATND) and the responsible nurse;
- `period`, `serviceProvider` (the ward's care unit), `hospitalization.dischargeDisposition`,
  and the planned start/end extensions (expected arrival, expected discharge).
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import orjson

from vardnav.domains.adt.codes import (
    class_coding,
    disposition_concept,
    participant_type,
    physical_type,
    role_of,
)
from vardnav.fhir.datetimes import DateFormatError, parse_range

CURRENT = ("active", "reserved", "planned")


def new_encounter(*, encounter_id: str, patient_id: str, kind: str, status: str,
                  service_provider: dict[str, Any], at: str) -> dict[str, Any]:
    enc: dict[str, Any] = {
        "resourceType": "Encounter", "id": encounter_id, "status": status,
        "statusHistory": [{"status": status, "period": {"start": at}}],
        "class": class_coding(kind), "subject": {"reference": f"Patient/{patient_id}"},
        "serviceProvider": service_provider}
    if status != "planned":
        enc["period"] = {"start": at}
    return enc


def clone(enc: dict[str, Any]) -> dict[str, Any]:
    """A copy without `meta`, to be written as the next version. (JSON data: a round trip
    through orjson copies it several times faster than copy.deepcopy.)"""
    copied: dict[str, Any] = orjson.loads(orjson.dumps(
        {k: v for k, v in enc.items() if k != "meta"}))
    return copied


def set_status(enc: dict[str, Any], status: str, at: str) -> None:
    history = enc.setdefault("statusHistory", [])
    if history and "end" not in history[-1].get("period", {}):
        history[-1]["period"]["end"] = at
    history.append({"status": status, "period": {"start": at}})
    enc["status"] = status


def current_refs(enc: dict[str, Any]) -> list[str]:
    return [e["location"]["reference"] for e in enc.get("location", [])
            if e.get("status") in CURRENT and (e.get("location") or {}).get("reference")]


def last_refs(enc: dict[str, Any]) -> list[str]:
    """Where the patient is, or — after discharge — was last (the latest completed entries)."""
    now = current_refs(enc)
    if now:
        return now
    done = [e for e in enc.get("location", []) if e.get("status") == "completed"]
    if not done:
        return []
    last = max(_end(e) for e in done)
    return [e["location"]["reference"] for e in done if _end(e) == last]


def _end(entry: dict[str, Any]) -> float:
    end = (entry.get("period") or {}).get("end")
    try:
        return parse_range(end)[0] if isinstance(end, str) else 0.0
    except DateFormatError:
        return 0.0


def entry(location: dict[str, Any], status: str, at: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "location": {"reference": f"Location/{location['id']}",
                     **({"display": location["name"]} if location.get("name") else {})},
        "status": status}
    if location.get("physicalType"):
        out["physicalType"] = copy.deepcopy(location["physicalType"])
    if at is not None:
        out["period"] = {"start": at}
    return out


def move(enc: dict[str, Any], chain: tuple[dict[str, Any], ...], at: str,
         status: str = "active") -> None:
    """Complete the current entries that are not part of `chain`; add the new ones. A planned
    entry (pre-admission) taken up at admission gets its period start."""
    wanted = {f"Location/{loc['id']}" for loc in chain}
    kept: set[str] = set()
    for e in enc.get("location", []):
        if e.get("status") not in CURRENT:
            continue
        ref = e["location"]["reference"]
        if ref in wanted:
            kept.add(ref)
            if e["status"] == "planned":
                e["status"] = status
                e["period"] = {"start": at}
        else:
            e["status"] = "completed"
            e.setdefault("period", {"start": at})["end"] = at
    entries = enc.setdefault("location", [])
    for loc in chain:
        if f"Location/{loc['id']}" not in kept:
            entries.append(entry(loc, status, at))


def hold(enc: dict[str, Any], old: str, new: str) -> None:
    """Leave of absence (active → reserved) and return (reserved → active)."""
    for e in enc.get("location", []):
        if e.get("status") == old:
            e["status"] = new


def close(enc: dict[str, Any], at: str) -> None:
    for e in enc.get("location", []):
        if e.get("status") in CURRENT:
            e["status"] = "completed"
            e.setdefault("period", {"start": at})["end"] = at
    enc.setdefault("period", {"start": at})["end"] = at


def discharge(enc: dict[str, Any], disposition: str, at: str) -> None:
    close(enc, at)
    set_status(enc, "finished", at)
    enc.setdefault("hospitalization", {})["dischargeDisposition"] = \
        disposition_concept(disposition)


def set_participant(enc: dict[str, Any], role: str, practitioner_id: str, at: str) -> None:
    """The responsible person in `role` from `at` on; the one replaced keeps their period."""
    participants = enc.setdefault("participant", [])
    for p in participants:
        if role_of(p) == role and "end" not in p.get("period", {}):
            if p.get("individual", {}).get("reference") == f"Practitioner/{practitioner_id}":
                return
            p.setdefault("period", {"start": at})["end"] = at
    participants.append({"type": participant_type(role),
                         "individual": {"reference": f"Practitioner/{practitioner_id}"},
                         "period": {"start": at}})


def practitioner_ids(enc: dict[str, Any]) -> dict[str, str]:
    """The current responsible staff by role: {"attending": id, "nurse": id}."""
    out: dict[str, str] = {}
    for p in enc.get("participant", []):
        role = role_of(p)
        ref = (p.get("individual") or {}).get("reference") or ""
        if role and ref.startswith("Practitioner/") and "end" not in p.get("period", {}):
            out[role] = ref.partition("/")[2]
    return out


def set_extension(enc: dict[str, Any], url: str, value: str | None) -> None:
    rest = [e for e in enc.get("extension", []) if e.get("url") != url]
    if value is not None:
        rest.append({"url": url, "valueDateTime": value})
    if rest:
        enc["extension"] = rest
    else:
        enc.pop("extension", None)


def extension_time(enc: dict[str, Any], url: str) -> float | None:
    value = next((e.get("valueDateTime") for e in enc.get("extension", [])
                  if e.get("url") == url), None)
    try:
        return parse_range(value)[0] if isinstance(value, str) else None
    except DateFormatError:
        return None


def period_start(enc: dict[str, Any]) -> float | None:
    start = (enc.get("period") or {}).get("start")
    try:
        return parse_range(start)[0] if isinstance(start, str) else None
    except DateFormatError:
        return None


def latest_time(enc: dict[str, Any]) -> float:
    """The time of the encounter's latest recorded change (a later step may not precede it)."""
    times = [0.0]
    for e in [*enc.get("statusHistory", []), *enc.get("location", []),
              *enc.get("participant", []), enc]:
        for key in ("start", "end"):
            value = (e.get("period") or {}).get(key)
            if isinstance(value, str):
                with contextlib.suppress(DateFormatError):
                    times.append(parse_range(value)[0])
    return max(times)


def ward_and_bed(locations: tuple[dict[str, Any], ...]) -> tuple[str | None, str | None]:
    ward = next((loc["id"] for loc in locations if physical_type(loc) == "wa"), None)
    bed = next((loc["id"] for loc in locations if physical_type(loc) == "bd"), None)
    return ward, bed
