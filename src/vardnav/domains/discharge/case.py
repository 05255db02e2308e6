"""The case Task of one inpatient stay and its notice Tasks: finding, reading and writing them.

A case is a FHIR Task (code `coordination`, intent `plan`) with `encounter` and `focus` the
stay, `owner` the ward's care unit and `requester` its hospital; what is known when it is
opened is in `Task.input`, and every step of the process appends a timed `Task.output`
(`ready`, `ready-withdrawn`, `discharged`, ...), so the case alone tells the process's
history (and its versions tell who changed what). One notice Task per receiving
organisation (`partOf` the case, `owner` the receiver) carries the 24-hour deadline in
`restriction.period.end`. See docs/discharge.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from vardnav.domains.access.custody import ON_BEHALF_OF
from vardnav.domains.access.profiles import CARE_PROVIDER_TAG, CARE_UNIT_TAG
from vardnav.domains.discharge import codes as c
from vardnav.domains.identity.access.principal import Principal
from vardnav.errors import BusinessRuleViolation, NotFound
from vardnav.fhir.datetimes import instant
from vardnav.fhir.hooks import Custody
from vardnav.fhir.storage.repository import Repository


def iso(moment: datetime) -> str:
    return instant(moment.timestamp())


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def ref_id(reference: Any, rtype: str) -> str | None:
    """The id in a `{"reference": "Type/id"}` of the given type, else None."""
    text = (reference or {}).get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str):
        return None
    kind, _, fhir_id = text.rpartition("/")
    return fhir_id if kind.rpartition("/")[2] == rtype and fhir_id else None


def fetch_many(repo: Repository, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Current resources the caller may see, as the caller may see them: through the access
    policy's filter and its redaction (a protected identity's address stays hidden from
    staff, also in the notices built from it)."""
    return [repo.s.policy.redact(repo.ctx, r) for r in repo.fetch_many(keys)]


def fetch(repo: Repository, rtype: str, fhir_id: str | None) -> dict[str, Any] | None:
    """A current resource the caller may see (see fetch_many), or None."""
    if not fhir_id:
        return None
    found = fetch_many(repo, [(rtype, fhir_id)])
    return found[0] if found else None


def content(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource without its meta, ready to be written back (the server stamps meta)."""
    return {k: v for k, v in resource.items() if k != "meta"}


# -- finding ----------------------------------------------------------------------------


def find_case(repo: Repository, encounter_id: str) -> dict[str, Any] | None:
    """The case of a stay, as far as the caller may see it (None if none or hidden).

    What `search_ids("Task", encounter=…&code=process|case)` (its lock included) and
    `fetch_many` find — the first two matches in storage order, the live one of them —
    through `Repository.referring`, with the code checked here on the stay's few Tasks:
    every A03 of an HL7 feed asks, and parsing and building a search each time cost about
    4 % of an inbound message."""
    repo.lock_criteria("Task", [("encounter", f"Encounter/{encounter_id}"),
                                ("code", f"{c.PROCESS}|{c.CASE}")])
    found = [t for t in repo.referring("Task", "encounter", "Encounter", encounter_id)
             if _is_case(t)][:2]  # search_ids' limit
    live = [repo.s.policy.redact(repo.ctx, t) for t in found
            if t.get("status") != "entered-in-error"]
    return live[0] if live else None


def _is_case(task: dict[str, Any]) -> bool:
    """What `code=process|case` matches: a coding of Task.code with that system and code."""
    code = task.get("code")
    return isinstance(code, dict) and any(
        isinstance(coding, dict) and coding.get("system") == c.PROCESS
        and coding.get("code") == c.CASE for coding in code.get("coding") or [])


def require_case(repo: Repository, encounter_id: str) -> dict[str, Any]:
    case = find_case(repo, encounter_id)
    if case is None:
        raise NotFound(f"Encounter/{encounter_id} has no discharge coordination case (mark "
                       "the patient with $discharge-mark-support first)")
    return case


def require_open(case: dict[str, Any]) -> None:
    if case.get("status") in ("cancelled", "completed", "entered-in-error"):
        raise BusinessRuleViolation(f"The discharge case Task/{case['id']} is "
                                    f"{case.get('status')}; no further steps")


def notices_of(repo: Repository, case_id: str) -> list[dict[str, Any]]:
    """The case's notice Tasks the caller may see, one per receiving organisation."""
    ids = repo.search_ids("Task", [("part-of", f"Task/{case_id}"),
                                   ("code", f"{c.PROCESS}|{c.ADMISSION_NOTICE}")], limit=50)
    return sorted(fetch_many(repo, [("Task", i) for i in ids]), key=lambda t: t["id"])


def receivers(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The receiving organisations of a case (municipality, primary care), as references."""
    return [ref for code in (c.MUNICIPALITY, c.PRIMARY_CARE)
            if (ref := value(case, code)) is not None]


# -- elements (Task.input / Task.output) ------------------------------------------------


def element(code: str, **value_x: Any) -> dict[str, Any]:
    return {"type": c.concept(c.ELEMENT, code), **value_x}


def _elements(task: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for part in (*task.get("input", []), *task.get("output", [])):
        code = c.code_of(part.get("type"), c.ELEMENT)
        if code:
            yield code, part


def _value(part: dict[str, Any]) -> Any:
    return next((v for k, v in part.items() if k.startswith("value")), None)


def value(task: dict[str, Any], code: str) -> Any:
    """The latest value of an element (outputs are appended in order)."""
    found = [_value(p) for k, p in _elements(task) if k == code]
    return found[-1] if found else None


def times(task: dict[str, Any], code: str) -> list[datetime]:
    return [t for k, p in _elements(task) if k == code
            and (t := parse_time(p.get("valueDateTime"))) is not None]


def add_output(task: dict[str, Any], code: str, **value_x: Any) -> None:
    task.setdefault("output", []).append(element(code, **value_x))


def drop_output(task: dict[str, Any], code: str) -> None:
    kept = [p for p in task.get("output", []) if c.code_of(p.get("type"), c.ELEMENT) != code]
    if kept:
        task["output"] = kept
    else:
        task.pop("output", None)


def set_status(task: dict[str, Any], business: str, at: datetime,
               status: str | None = None) -> None:
    task["businessStatus"] = c.concept(c.STATUS, business)
    task["lastModified"] = iso(at)
    if status is not None:
        task["status"] = status


def business_status(task: dict[str, Any]) -> str | None:
    return c.code_of(task.get("businessStatus"), c.STATUS)


# -- custody ----------------------------------------------------------------------------


def custody_of(resource: dict[str, Any]) -> Custody:
    tags = {t.get("system"): t.get("code") for t in (resource.get("meta") or {}).get("tag", [])
            if isinstance(t, dict)}
    return Custody(tags.get(CARE_PROVIDER_TAG), tags.get(CARE_UNIT_TAG))


@contextmanager
def recorded_as(repo: Repository, source: dict[str, Any]) -> Iterator[None]:
    """A system integration (an ADT message, a scheduler) records the case's resources on
    behalf of the unit that holds `source` (the stay or the case), as the ward's staff would:
    custody decides who may read them under PDL. Staff always record as themselves."""
    p = repo.ctx.principal
    custody = custody_of(source)
    if not (isinstance(p, Principal) and p.kind == "system") or not custody.owner \
            or ON_BEHALF_OF in repo.ctx.attributes:
        yield
        return
    repo.ctx.attributes[ON_BEHALF_OF] = custody
    try:
        yield
    finally:
        repo.ctx.attributes.pop(ON_BEHALF_OF, None)
