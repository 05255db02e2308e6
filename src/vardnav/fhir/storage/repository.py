"""The repository: the single gateway to stored resources.

Every interaction (read, vread, search, include, history, create, update, patch, delete)
passes `AccessPolicy.authorize`, reads through the policy's in-query filter, and is recorded
with `AuditSink.record`. Writes store a new version, the history row and the index rows in the
caller's transaction; the repository never commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
from sqlalchemy import (
    Connection,
    Row,
    bindparam,
    delete,
    false,
    func,
    insert,
    select,
    text,
    update,
)

from vardnav.db.bulk import insert_rows
from vardnav.db.direct import Direct
from vardnav.db.engine import PREPARED
from vardnav.errors import (
    BadRequest,
    Conflict,
    Gone,
    MultipleMatches,
    NotFound,
    PreconditionFailed,
    VardnavError,
)
from vardnav.fhir import definitions
from vardnav.fhir.compartment import anchored_to_patients, patients_named, patients_of
from vardnav.fhir.datetimes import instant, now, parse_range
from vardnav.fhir.hooks import (
    AccessPolicy,
    AuditRecord,
    AuditSink,
    Custodian,
    Custody,
    KeepCustody,
    NoticeSource,
    RequestContext,
    WriteListener,
)
from vardnav.fhir.ids import check_id
from vardnav.fhir.ids import new_id as make_id
from vardnav.fhir.search import includes as include_mod
from vardnav.fhir.search.extract import extract
from vardnav.fhir.search.query import QueryBuilder
from vardnav.fhir.search.registry import SearchRegistry
from vardnav.fhir.search.request import SearchRequest, parse_search
from vardnav.fhir.storage.index_memo import IndexMemo, Keys, apply_changes, row_keys
from vardnav.fhir.storage.tables import INDEX_TABLES, resource, resource_version
from vardnav.fhir.validation import ResourceValidator


@dataclass
class EngineServices:
    """What the repository needs besides a connection; built once per application."""

    registry: SearchRegistry
    validator: ResourceValidator
    policy: AccessPolicy
    audit: AuditSink
    default_page_size: int = 50
    max_page_size: int = 1000
    custodian: Custodian = field(default_factory=KeepCustody)
    listeners: tuple[WriteListener, ...] = ()
    notices: tuple[NoticeSource, ...] = ()
    # What of a resource its search index may hold (None: all of it). Index rows serve every
    # caller, so data no caller may find a resource by (a protected address) stays out.
    searchable: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # Index rows of resources written recently, so an update rewrites only those it changes
    # (SQLite; index_memo.py).
    index_memo: IndexMemo = field(default_factory=IndexMemo)


@dataclass
class WriteResult:
    resource: dict[str, Any] | None
    outcome: str  # created, updated, unchanged, existing, deleted
    resource_type: str
    id: str
    version_id: int


@dataclass
class SearchResult:
    matches: list[dict[str, Any]]
    included: list[dict[str, Any]]
    total: int | None
    request: SearchRequest
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # data withheld from the caller


@dataclass
class HistoryEntry:
    resource_type: str
    id: str
    version_id: int
    last_updated: float
    deleted: bool
    method: str
    content: dict[str, Any] | None


class Repository:
    def __init__(self, conn: Connection, services: EngineServices, ctx: RequestContext) -> None:
        self.conn = conn
        self.s = services
        self.ctx = ctx
        self.queries = QueryBuilder(self._policy_filter, base_url=ctx.base_url,
                                    estimate=lambda stmt: conn.execute(stmt).scalar_one())
        self._pending: dict[str, list[dict[str, Any]]] = {}
        # Transaction bundles defer index writes to batch them; flushed before any search.
        self.defer_index = False
        self._fetched: dict[tuple[str, str], dict[str, Any] | None] = {}  # see fetch_one
        self._sqlite = conn.dialect.name == "sqlite"

    # -- hooks ----------------------------------------------------------------------------

    def _policy_filter(self, rtype: str | None, table: Any, *, one_row: bool = False) -> Any:
        return self.s.policy.query_filter(self.ctx, rtype, table, one_row=one_row)

    def authorize(self, interaction: str, rtype: str | None,
                   content: dict[str, Any] | None = None) -> None:
        self.s.policy.authorize(self.ctx, interaction, rtype, content)

    def patients_in(self, resources: list[dict[str, Any]]) -> list[str]:
        patients: list[str] = []
        for res in resources:
            for pid in patients_of(self.s.registry, res):
                if pid not in patients:
                    patients.append(pid)
        return patients

    def notices_for(self, resources: list[dict[str, Any]],
                    named: list[str] | None = None) -> list[str]:
        patients = self.patients_in(resources)
        named = [p for p in named or () if p not in patients]
        if named:  # only patients the caller may see at all (never, say, their own record)
            patients += self.conn.execute(select(resource.c.fhir_id).where(
                self.queries.visible("Patient", resource),
                resource.c.fhir_id.in_(named))).scalars().all()
        if not patients:
            return []
        return [n for source in self.s.notices
                for n in source.notices(self.conn, self.ctx, patients)]

    def record_audit(self, interaction: str, rtype: str | None, ids: list[str], *,
                     resources: list[dict[str, Any]] | None = None, **detail: Any) -> None:
        """Audit an interaction; `resources` (the data it touched) name the patients."""
        patients = self.patients_in(resources or [])
        self.s.audit.record(self.conn, self.ctx, AuditRecord(
            interaction, rtype, ids, detail=detail, patients=patients))

    def _visible(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.s.policy.redact(self.ctx, r) for r in rows]

    # -- reads ----------------------------------------------------------------------------

    def read(self, rtype: str, fhir_id: str) -> dict[str, Any]:
        check_type(rtype)
        self.authorize("read", rtype)
        row = self._current(rtype, fhir_id, filtered=True)
        if row is None:
            raise NotFound(f"{rtype}/{fhir_id} is not known")
        if row.deleted:
            raise Gone(f"{rtype}/{fhir_id} was deleted (version {row.version_id})")
        self.record_audit("read", rtype, [fhir_id], resources=[row.content])
        return self.s.policy.redact(self.ctx, row.content)

    def vread(self, rtype: str, fhir_id: str, version_id: str) -> dict[str, Any]:
        check_type(rtype)
        self.authorize("vread", rtype)
        # Versions are 32-bit in the database; a larger number is simply not a version here.
        if not (version_id.isascii() and version_id.isdigit()) or int(version_id) > 2**31 - 1:
            raise NotFound(f"Version '{version_id}' of {rtype}/{fhir_id} is not known")
        cur = self._current(rtype, fhir_id, filtered=True)
        if cur is None:
            raise NotFound(f"{rtype}/{fhir_id} is not known")
        version = select(resource_version.c.deleted, resource_version.c.content).where(
            resource_version.c.rid == cur.rid, resource_version.c.version_id == int(version_id))
        if self._policy_filter(rtype, resource) is not None:
            version = version.where(self._same_compartment(cur.patient_id))
        row = self.conn.execute(version).first()
        if row is None:
            raise NotFound(f"Version {version_id} of {rtype}/{fhir_id} is not known")
        if row.deleted:
            raise Gone(f"Version {version_id} of {rtype}/{fhir_id} is a deletion")
        self.record_audit("vread", rtype, [fhir_id], resources=[row.content],
                          version=version_id)
        return self.s.policy.redact(self.ctx, row.content)

    @staticmethod
    def _same_compartment(current_patient: Any) -> Any:
        """A version filed under another patient than the resource is now (a wrongly
        attributed entry, moved) lies in that patient's record: a caller the access policy
        filters does not get it through this resource's history (documented in docs/pdl.md)."""
        return resource_version.c.patient_id.is_not_distinct_from(current_patient)

    def _current(self, rtype: str, fhir_id: str, *, filtered: bool,
                 for_update: bool = False) -> Row[Any] | None:
        extra = self._policy_filter(rtype, resource, one_row=True) if filtered else None
        key = (for_update, extra)
        stmt = _CURRENT.get(key)
        if stmt is None:
            # Kept per policy condition (policies keep theirs per caller), so SQLAlchemy's
            # cache key for a large condition is computed once, not on every read.
            stmt = select(resource.c.rid, resource.c.version_id, resource.c.deleted,
                          resource.c.content, resource.c.last_updated, resource.c.owner,
                          resource.c.owner_unit, resource.c.recorded,
                          resource.c.patient_id).where(
                resource.c.resource_type == bindparam("cur_type"),
                resource.c.fhir_id == bindparam("cur_id"))
            if extra is not None:
                stmt = stmt.where(extra)
            if for_update:
                stmt = stmt.with_for_update()
            # One unique-index lookup whatever the values: its plan can be reused.
            stmt = Direct(stmt.execution_options(**PREPARED), postgresql=True)
            if len(_CURRENT) > 512:  # conditions made per request (patient scopes) churn
                _CURRENT.clear()
            _CURRENT[key] = stmt
        return stmt(self.conn, {"cur_type": rtype, "cur_id": fhir_id}).first()

    # -- search ---------------------------------------------------------------------------

    def parse(self, rtype: str | None, pairs: list[tuple[str, str]],
              strict: bool = False) -> SearchRequest:
        if rtype is not None:
            check_type(rtype)
        return parse_search(rtype, pairs, self.s.registry, strict=strict,
                            default_count=self.s.default_page_size,
                            max_count=self.s.max_page_size)

    def search(self, req: SearchRequest) -> SearchResult:
        self.authorize("search", req.resource_type)
        self.flush()
        matches: list[dict[str, Any]] = []
        paged = req.summary != "count" and req.count != 0
        # A search anchored to named patients (their compartment) has the same good plan
        # whatever its values: PostgreSQL may reuse it instead of planning the search and
        # its access conditions again. Other searches keep a plan made for their values.
        reuse = PREPARED if anchored_to_patients(self.s.registry, req.resource_type,
                                                 req.criteria) else {}
        if paged:
            page = self.queries.select_page(req).execution_options(**reuse)
            matches = [row.content for row in self.conn.execute(page)]
        total = None
        if req.total != "none" or req.summary == "count":
            # A page that is not full is the last one: it already tells the total, and the
            # count (a second statement, planned with every access rule again) is saved.
            total = _total_told_by(req, len(matches)) if paged else None
            if total is None:
                total = self.conn.execute(
                    self.queries.select_count(req).execution_options(**reuse)).scalar_one()
        included = include_mod.resolve(self, req, matches) if matches else []
        self.record_audit("search", req.resource_type,
                          [f"{m['resourceType']}/{m['id']}" for m in matches],
                          resources=[*matches, *included],
                          included=[f"{i['resourceType']}/{i['id']}" for i in included])
        return SearchResult(self._visible(matches), self._visible(included), total, req,
                            list(req.warnings), self.notices_for(
                                [*matches, *included],
                                patients_named(self.s.registry, req.resource_type,
                                               req.criteria)))

    def search_ids(self, rtype: str, pairs: list[tuple[str, str]],
                   limit: int = 2) -> list[str]:
        """Logical ids matching a conditional query (If-None-Exist, conditional update...)."""
        if not pairs:
            raise BadRequest("A conditional interaction needs search criteria")
        req = self.parse(rtype, pairs, strict=True)
        req.count, req.sort, req.offset = limit, [], 0
        self._lock_condition(rtype, pairs)
        self.flush()
        return [r.fhir_id for r in self.conn.execute(self.queries.select_page(req))]

    def lock_criteria(self, rtype: str, pairs: list[tuple[str, str]]) -> bool:
        """Take the lock `search_ids` takes on these criteria, without searching; True if a
        lock was taken (PostgreSQL), False where writers are serialised anyway (SQLite), so
        a caller knows whether what it read before may have changed since."""
        self._lock_condition(rtype, pairs)
        return self.conn.dialect.name == "postgresql"

    def _lock_condition(self, rtype: str, pairs: list[tuple[str, str]]) -> None:
        """Serialise conditional writes on the same criteria until this transaction ends.

        On PostgreSQL (READ COMMITTED) two racing If-None-Exist creates would both find
        nothing and both create; with this lock the later one waits, then its search (a new
        snapshot) finds the first one's resource. SQLite writers already hold the database's
        write lock from BEGIN IMMEDIATE. Criteria are compared as written, sorted.
        """
        if self.conn.dialect.name != "postgresql":
            return
        canonical = rtype + "?" + "&".join(f"{k}={v}" for k, v in sorted(pairs))
        digest = hashlib.blake2b(canonical.encode(), digest_size=8).digest()
        self.conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                          {"key": int.from_bytes(digest, "big", signed=True)})

    # -- history --------------------------------------------------------------------------

    def history(self, rtype: str | None = None, fhir_id: str | None = None, *,
                since: str | None = None, count: int = 50,
                offset: int = 0) -> tuple[list[HistoryEntry], int]:
        if rtype is not None:
            check_type(rtype)
        self.authorize("history", rtype)
        v = resource_version
        cur = resource.alias()
        conds: list[Any] = []
        if rtype is not None:
            conds.append(v.c.resource_type == rtype)
        if fhir_id is not None:
            conds.append(v.c.fhir_id == fhir_id)
            if self._current(rtype or "", fhir_id, filtered=True) is None:
                raise NotFound(f"{rtype}/{fhir_id} is not known")
        if since:
            try:
                conds.append(v.c.last_updated >= parse_range(since)[0])
            except ValueError as exc:
                raise BadRequest(f"_since: {exc}") from exc
        # The policy sees the resource through its current row (who recorded it, etc.).
        policy = self._policy_filter(rtype, cur)
        if policy is not None:
            conds += [policy, self._same_compartment(cur.c.patient_id)]
        base = select(v).join(cur, cur.c.rid == v.c.rid).where(*conds)
        total = self.conn.execute(select(func.count()).select_from(base.subquery())).scalar_one()
        rows = self.conn.execute(
            base.order_by(v.c.last_updated.desc(), v.c.rid.desc(), v.c.version_id.desc())
            .limit(count).offset(offset)
        ).all()
        entries = [HistoryEntry(r.resource_type, r.fhir_id, r.version_id, r.last_updated,
                                r.deleted, r.method,
                                self.s.policy.redact(self.ctx, r.content) if r.content
                                else None) for r in rows]
        self.record_audit("history", rtype, [f"{e.resource_type}/{e.id}" for e in entries],
                          resources=[r.content for r in rows if r.content])
        return entries, total

    # -- writes ---------------------------------------------------------------------------

    def create(self, rtype: str, content: dict[str, Any], *,
               if_none_exist: list[tuple[str, str]] | None = None,
               fhir_id: str | None = None) -> WriteResult:
        check_type(rtype)
        self._check_body(rtype, content)
        self.authorize("create", rtype, content)
        if if_none_exist is not None:
            found = self.search_ids(rtype, if_none_exist)
            if len(found) > 1:
                raise MultipleMatches(f"If-None-Exist matched {len(found)} {rtype} resources")
            if found:
                existing = self._current(rtype, found[0], filtered=True)
                assert existing is not None
                self.record_audit("create", rtype, [found[0]], resources=[existing.content],
                                  conditional="existing")
                return WriteResult(existing.content, "existing", rtype, found[0],
                                   existing.version_id)
        new_id = fhir_id or make_id()
        stored = self._store(rtype, new_id, content, None, "POST")
        self.record_audit("create", rtype, [new_id], resources=[stored])
        return WriteResult(stored, "created", rtype, new_id, 1)

    def create_many(self, items: list[tuple[str, str, dict[str, Any]]],
                    labels: list[str] | None = None) -> list[WriteResult]:
        """Create (type, new id, content) items with one batched insert per table: the
        transaction-bundle path, where round trips to the database dominate. An error names
        the failing item by its label (e.g. its bundle entry)."""
        prepared = []
        for n, (rtype, fhir_id, content) in enumerate(items):
            try:
                check_type(rtype)
                check_id(fhir_id)
                self._check_body(rtype, content)
                self.authorize("create", rtype, content)
            except VardnavError as exc:
                if labels:
                    exc.message = f"{labels[n]}: {exc.message}"
                raise
            content, custody = self.s.custodian.stamp(self.ctx, rtype, content, None)
            prepared.append((rtype, fhir_id, self._stamp(rtype, fhir_id, content, 1), custody))
        if not prepared:
            return []
        rows = [{"resource_type": t, "fhir_id": i, "version_id": 1,
                 "last_updated": ts, "deleted": False, "content": c,
                 **self._custody_columns(c, custody, ts)}
                for t, i, (c, ts), custody in prepared]
        rids = self.conn.execute(
            insert(resource).returning(resource.c.rid, sort_by_parameter_order=True), rows
        ).scalars().all()
        self.conn.execute(_INSERT_VERSION, [
            {k: row[k] for k in _VERSION_KEYS} | {"rid": rid, "method": "POST"}
            for row, rid in zip(rows, rids, strict=True)])
        results = []
        for (rtype, fhir_id, (stored, _ts), custody), rid in zip(prepared, rids, strict=True):
            self._fetched.pop((rtype, fhir_id), None)
            self._index(rid, stored)
            self._tell_listeners(rtype, fhir_id, stored, custody)
            self.record_audit("create", rtype, [fhir_id], resources=[stored])
            results.append(WriteResult(stored, "created", rtype, fhir_id, 1))
        if not self.defer_index:
            self.flush()
        return results

    def update(self, rtype: str, fhir_id: str, content: dict[str, Any], *,
               if_match: str | None = None, method: str = "PUT") -> WriteResult:
        check_type(rtype)
        check_id(fhir_id)
        self._check_body(rtype, content)
        if content.get("id") != fhir_id:
            raise BadRequest(f"The resource id '{content.get('id')}' does not match the URL "
                             f"id '{fhir_id}'", expression=[f"{rtype}.id"])
        self.authorize("update", rtype, content)
        existing = self._current(rtype, fhir_id, filtered=False, for_update=True)
        # Without a policy condition for the type the filtered read is the same statement:
        # the row just read is readable, and a second read would only repeat it.
        if existing is not None and self._policy_filter(rtype, resource) is not None \
                and not self._readable(rtype, fhir_id):
            raise NotFound(f"{rtype}/{fhir_id} is not known")
        _check_if_match(if_match, existing)
        stored = self._store(rtype, fhir_id, content, existing, method)
        created = existing is None or existing.deleted
        version = 1 if existing is None else existing.version_id + 1
        self.record_audit("update", rtype, [fhir_id], resources=[stored], created=created)
        return WriteResult(stored, "created" if created else "updated", rtype, fhir_id, version)

    def conditional_update(self, rtype: str, pairs: list[tuple[str, str]],
                           content: dict[str, Any], *, if_match: str | None = None) -> WriteResult:
        found = self.search_ids(rtype, pairs)
        if len(found) > 1:
            raise MultipleMatches(f"Conditional update matched {len(found)} {rtype} resources")
        if not found:
            if content.get("id"):
                return self.update(rtype, content["id"], content, if_match=if_match)
            return self.create(rtype, content)
        if content.get("id") not in (None, found[0]):
            raise BadRequest(f"The resource id '{content['id']}' differs from the matched "
                             f"{rtype}/{found[0]}", expression=[f"{rtype}.id"])
        return self.update(rtype, found[0], {**content, "id": found[0]}, if_match=if_match)

    def patch(self, rtype: str, fhir_id: str, operations: Any, *,
              if_match: str | None = None) -> WriteResult:
        check_type(rtype)
        current = self._current(rtype, fhir_id, filtered=True, for_update=True)
        if current is None:
            raise NotFound(f"{rtype}/{fhir_id} is not known")
        if current.deleted:
            raise Gone(f"{rtype}/{fhir_id} was deleted")
        _check_if_match(if_match, current)
        if not isinstance(operations, list):
            raise BadRequest("A JSON Patch body must be an array of operations")
        try:
            patched = jsonpatch.JsonPatch(operations).apply(current.content)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException,
                TypeError, ValueError, KeyError, IndexError) as exc:
            raise BadRequest(f"The JSON Patch could not be applied: {exc}") from exc
        if not isinstance(patched, dict):
            raise BadRequest("The JSON Patch must leave a resource object")
        if patched.get("resourceType") != rtype or patched.get("id") != fhir_id:
            raise BadRequest("A patch may not change resourceType or id")
        return self.update(rtype, fhir_id, patched, method="PATCH")

    def delete(self, rtype: str, fhir_id: str) -> WriteResult:
        check_type(rtype)
        self.authorize("delete", rtype)
        existing = self._current(rtype, fhir_id, filtered=True, for_update=True)
        if existing is None:
            raise NotFound(f"{rtype}/{fhir_id} is not known")
        if existing.deleted:
            return WriteResult(None, "unchanged", rtype, fhir_id, existing.version_id)
        version = existing.version_id + 1
        ts = now()
        self._fetched.pop((rtype, fhir_id), None)
        self._replace_current(existing, version, ts, True, None)
        self.s.index_memo.forget(existing.rid)
        self.conn.execute(insert(resource_version).values(
            rid=existing.rid, version_id=version, resource_type=rtype, fhir_id=fhir_id,
            last_updated=ts, deleted=True, method="DELETE", content=None,
            patient_id=existing.patient_id))
        self._clear_index(existing.rid)
        self._tell_listeners(rtype, fhir_id, None, Custody(existing.owner, existing.owner_unit))
        self.record_audit("delete", rtype, [fhir_id], resources=[existing.content])
        return WriteResult(None, "deleted", rtype, fhir_id, version)

    def conditional_delete(self, rtype: str, pairs: list[tuple[str, str]]) -> WriteResult | None:
        found = self.search_ids(rtype, pairs)
        if len(found) > 1:
            raise MultipleMatches(f"Conditional delete matched {len(found)} {rtype} resources")
        return self.delete(rtype, found[0]) if found else None

    # -- write internals ------------------------------------------------------------------

    def _readable(self, rtype: str, fhir_id: str) -> bool:
        return self._current(rtype, fhir_id, filtered=True) is not None

    def _check_body(self, rtype: str, content: Any) -> None:
        if not isinstance(content, dict):
            raise BadRequest("The body must be a JSON object holding one resource")
        if content.get("resourceType") != rtype:
            raise BadRequest(f"The body holds a {content.get('resourceType')!r}, but the URL "
                             f"names {rtype}", expression=["resourceType"])
        self.s.validator.validate(content)

    @staticmethod
    def _stamp(rtype: str, fhir_id: str, content: dict[str, Any],
               version: int) -> tuple[dict[str, Any], float]:
        """The stored form: server-set id, versionId and lastUpdated; client meta kept."""
        ts = now()
        meta = dict(content.get("meta") or {})
        meta["versionId"] = str(version)
        meta["lastUpdated"] = instant(ts)
        stored = {"resourceType": rtype, "id": fhir_id,
                  **{k: v for k, v in content.items() if k not in ("resourceType", "id",
                                                                   "meta")},
                  "meta": meta}
        return stored, ts

    def _index(self, rid: int, stored: dict[str, Any], before: Keys | None = None,
               remember: bool = False) -> None:
        """Queue the index rows of `stored`; with `before` (the rows stored now, from the
        memo) only the rows that change, after deleting those that go."""
        indexed = self.s.searchable(stored) if self.s.searchable else stored
        extracted = extract(self.s.registry, indexed)
        if remember or before is not None:
            keys = row_keys(extracted)
            if before is not None:
                extracted = apply_changes(self.conn, rid, before, keys)
            self.s.index_memo.remember(rid, stored, keys)
        for kind, rows in extracted.items():
            if rows:
                for row in rows:
                    row["rid"] = rid
                self._pending.setdefault(kind, []).extend(rows)

    def _store(self, rtype: str, fhir_id: str, content: dict[str, Any],
               existing: Row[Any] | None, method: str) -> dict[str, Any]:
        version = 1 if existing is None else existing.version_id + 1
        self._fetched.pop((rtype, fhir_id), None)
        previous = None if existing is None else Custody(existing.owner, existing.owner_unit)
        content, custody = self.s.custodian.stamp(self.ctx, rtype, content, previous)
        stored, ts = self._stamp(rtype, fhir_id, content, version)
        columns = self._custody_columns(stored, custody,
                                        existing.recorded if existing is not None
                                        and existing.recorded else ts)
        before: Keys | None = None  # the index rows stored now, if known (see _stored_rows)
        # Statements without inline .values() are compiled once and cached by SQLAlchemy.
        if existing is None:
            rid = _INSERT_RESOURCE(
                self.conn,
                {"resource_type": rtype, "fhir_id": fhir_id, "version_id": version,
                 "last_updated": ts, "deleted": False, "content": stored, **columns},
            ).scalar_one()
        else:
            rid = existing.rid
            self._replace_current(existing, version, ts, False, stored, columns)
            before = self._stored_rows(existing)
            if before is None:
                self._clear_index(rid)
        _INSERT_VERSION_DIRECT(self.conn, {
            "rid": rid, "version_id": version, "resource_type": rtype, "fhir_id": fhir_id,
            "last_updated": ts, "deleted": False, "method": method, "content": stored,
            "patient_id": columns["patient_id"]})
        self._index(rid, stored, before, remember=self._sqlite)
        if not self.defer_index:
            self.flush()
        self._tell_listeners(rtype, fhir_id, stored, custody)
        return stored

    def _stored_rows(self, existing: Row[Any]) -> Keys | None:
        """The index rows stored for the current version, if this process wrote it and
        remembers them (SQLite; index_memo.py). Pending rows are written first, so the rows
        remembered are the rows in the table."""
        if not self._sqlite or existing.deleted:
            return None
        before = self.s.index_memo.rows_of(existing.rid, existing.content)
        if before is not None:
            self.flush()
        return before

    def _custody_columns(self, stored: dict[str, Any], custody: Custody,
                         recorded: float) -> dict[str, Any]:
        patients = patients_of(self.s.registry, stored)
        return {"patient_id": patients[0] if patients else None, "owner": custody.owner,
                "owner_unit": custody.unit, "recorded": recorded}

    def _tell_listeners(self, rtype: str, fhir_id: str, stored: dict[str, Any] | None,
                        custody: Custody) -> None:
        for listener in self.s.listeners:
            # A listener that searches the changed resource (subscriptions) needs its index
            # rows, which transaction bundles batch; asked per type, so bulk loads of types
            # nobody listens to stay batched.
            wants = getattr(listener, "wants_index", None)
            if self._pending and wants is not None and wants(self.conn, rtype):
                self.flush()
            listener.written(self.conn, self.ctx, rtype, fhir_id, stored, custody)

    def _replace_current(self, existing: Row[Any], version: int, ts: float, deleted: bool,
                         content: dict[str, Any] | None,
                         columns: dict[str, Any] | None = None) -> None:
        # Guarded by the version we read: a concurrent writer that got there first makes
        # this update hit no row, and the transaction is retried instead of losing a version.
        values = {"version_id": version, "last_updated": ts, "deleted": deleted,
                  "content": content, **(columns or {})}
        result = _replace_statement(tuple(values))(
            self.conn, {**values, "cur_rid": existing.rid, "cur_version": existing.version_id})
        if result.rowcount != 1:
            raise Conflict("The resource was changed by someone else meanwhile; try again")

    def _clear_index(self, rid: int) -> None:
        self.flush()
        dialect = self.conn.dialect.name
        if dialect == "sqlite":
            # Nine deletes on every update: through the driver directly, since SQLAlchemy's
            # per-statement overhead was most of their cost (no conversions are involved).
            cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                for sql in _CLEAR_INDEX_SQLITE:
                    cursor.execute(sql, (rid,))
            finally:
                cursor.close()
        elif dialect == "postgresql":
            self.conn.execute(_CLEAR_INDEX_POSTGRES, {"rid": rid})  # one round trip
        else:
            for stmt in _CLEAR_INDEX:
                self.conn.execute(stmt, {"rid": rid})

    def flush(self) -> None:
        """Write buffered index rows (batched per table for bulk ingest)."""
        for kind, rows in self._pending.items():
            insert_rows(self.conn, INDEX_TABLES[kind], rows)
        self._pending = {}

    # -- helpers for includes and operations ----------------------------------------------

    def fetch_many(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Current, visible resources for (type, id) pairs, through the policy filter."""
        out: list[dict[str, Any]] = []
        by_type: dict[str, list[str]] = {}
        for t, i in keys:
            by_type.setdefault(t, []).append(i)
        for t, ids in by_type.items():
            if not definitions.is_resource_type(t):
                continue
            if len(ids) == 1:  # the common case (fetch_one): no expanding IN
                row = self._fetch_statement(t, single=True)(
                    self.conn, {"fetch_id": ids[0]}).first()
                if row is not None:
                    out.append(row.content)
                continue
            stmt = self._fetch_statement(t)
            for chunk_start in range(0, len(ids), 500):
                chunk = ids[chunk_start:chunk_start + 500]
                out.extend(r.content for r in self.conn.execute(stmt, {"fetch_ids": chunk}))
        return out

    def fetch_one(self, rtype: str, fhir_id: str) -> dict[str, Any] | None:
        """`fetch_many` for one resource, remembered for the rest of this repository's
        transaction: a workflow step reads the same Location, Practitioner or Patient from
        several places. This repository's own writes forget what they replace; the result is
        shared, so callers copy before they change it."""
        key = (rtype, fhir_id)
        if key not in self._fetched:
            found = self.fetch_many([key])
            self._fetched[key] = found[0] if found else None
        return self._fetched[key]

    def token_ids(self, rtype: str, name: str, systems: list[str], code: str,
                  limit: int = 2) -> list[str]:
        """Logical ids of current, visible resources whose token parameter `name` has `code`
        in one of `systems` — what `name=s1|code,s2|code` finds — at most `limit`, without an
        access-log entry: for a step that finds its subject by an identifier and is logged
        itself (as fetch_many). One statement, built once per shape, driven by the token index
        (a join from it: SQLite without statistics would otherwise scan the type)."""
        param = self.s.registry.get(rtype, name)
        if param is None or param.type != "token":
            raise BadRequest(f"{rtype} has no token search parameter '{name}'")
        self.authorize("search", rtype)
        if not systems:
            return []
        self.flush()  # the index rows of this transaction's own writes
        extra = self._policy_filter(rtype, resource)
        key = ("token", rtype, extra, len(systems))
        stmt = _FETCH.get(key)
        if stmt is None:
            t = INDEX_TABLES["token"]
            # One parameter per system (not an expanding IN), so the statement compiles once.
            stmt = Direct(select(resource.c.fhir_id).distinct().select_from(
                t.join(resource, resource.c.rid == t.c.rid)).where(
                t.c.param_hash == bindparam("t_hash"), t.c.code == bindparam("t_code"),
                t.c.system.in_([bindparam(f"t_system{n}") for n in range(len(systems))]),
                resource.c.deleted == false(), resource.c.resource_type == rtype,
                *([] if extra is None else [extra])).limit(bindparam("t_limit")))
            if len(_FETCH) > 512:
                _FETCH.clear()
            _FETCH[key] = stmt
        return list(stmt(self.conn, {"t_hash": param.param_hash, "t_code": code,
                                     "t_limit": limit,
                                     **{f"t_system{n}": s for n, s in enumerate(systems)}}
                         ).scalars())

    def referring(self, rtype: str, name: str, target_type: str,
                  target_id: str) -> list[dict[str, Any]]:
        """Current, visible resources of `rtype` whose reference parameter `name` points at
        `target_type/target_id` — what `name=target_type/target_id` finds — each once, in
        storage (rid) order, as stored (the caller redacts, as after fetch_many). Without a
        lock and without an access-log entry, as search_ids and fetch_many: a caller that
        writes takes the lock (`lock_criteria`), a step that is logged logs itself.

        For hot workflow steps (an ADT message looks up its stay's case and care plan): one
        prepared statement, built once per type and policy condition and driven by the
        reference index, instead of parsing and building a search every time."""
        param = self.s.registry.get(rtype, name)
        if param is None or param.type != "reference":
            raise BadRequest(f"{rtype} has no reference search parameter '{name}'")
        self.flush()  # the index rows of this transaction's own writes
        extra = self._policy_filter(rtype, resource)
        key = ("reference", rtype, target_type, extra)
        stmt = _FETCH.get(key)
        if stmt is None:
            r = INDEX_TABLES["reference"]
            stmt = Direct(select(resource.c.rid, resource.c.content).select_from(
                r.join(resource, resource.c.rid == r.c.rid)).where(
                r.c.param_hash == bindparam("r_hash"), r.c.target_id == bindparam("r_id"),
                r.c.target_type == target_type, resource.c.resource_type == rtype,
                resource.c.deleted == false(), *([] if extra is None else [extra])
            ).order_by(resource.c.rid).execution_options(**PREPARED))
            if len(_FETCH) > 512:  # conditions made per request (patient scopes) churn
                _FETCH.clear()
            _FETCH[key] = stmt
        found: dict[int, dict[str, Any]] = {}  # a resource naming the target twice: two rows
        for row in stmt(self.conn, {"r_hash": param.param_hash, "r_id": target_id}):
            found.setdefault(row.rid, row.content)
        return list(found.values())

    def _fetch_statement(self, rtype: str, single: bool = False) -> Any:
        extra = self._policy_filter(rtype, resource)
        key = (rtype, extra, single)
        stmt = _FETCH.get(key)
        if stmt is None:
            # Kept like _CURRENT's statements: built and cache-keyed once, not per call.
            stmt = select(resource.c.content).where(
                resource.c.deleted == false(), resource.c.resource_type == rtype,
                resource.c.fhir_id == bindparam("fetch_id") if single else
                resource.c.fhir_id.in_(bindparam("fetch_ids", expanding=True)))
            if extra is not None:
                stmt = stmt.where(extra)
            if single:
                stmt = Direct(stmt)
            if len(_FETCH) > 512:
                _FETCH.clear()
            _FETCH[key] = stmt
        return stmt


_INSERT_RESOURCE = Direct(insert(resource).returning(resource.c.rid))
# (type, policy condition) → the statement of fetch_many; also token_ids' and referring's.
_FETCH: dict[tuple[Any, ...], Any] = {}
_CLEAR_INDEX = tuple(delete(table).where(table.c.rid == bindparam("rid"))
                     for table in INDEX_TABLES.values())
_CLEAR_INDEX_SQLITE = tuple(f'DELETE FROM "{table.name}" WHERE rid = ?'
                            for table in INDEX_TABLES.values())
# All nine deletes as one statement: data-modifying WITH queries (PostgreSQL).
_CLEAR_INDEX_POSTGRES = text(
    "WITH " + ", ".join(f"d{n} AS (DELETE FROM {table.name} WHERE rid = :rid)"
                        for n, table in enumerate(list(INDEX_TABLES.values())[:-1]))
    + f" DELETE FROM {list(INDEX_TABLES.values())[-1].name} WHERE rid = :rid"
).execution_options(**PREPARED)
_REPLACE: dict[tuple[str, ...], Direct] = {}


def _replace_statement(columns: tuple[str, ...]) -> Direct:
    """UPDATE of the current row, guarded by the version read (see _replace_current)."""
    stmt = _REPLACE.get(columns)
    if stmt is None:
        stmt = _REPLACE[columns] = Direct(update(resource).where(
            resource.c.rid == bindparam("cur_rid"),
            resource.c.version_id == bindparam("cur_version")).values(
            {c: bindparam(c) for c in columns}))
    return stmt
# (for update, policy condition) → the statement reading a current row; see _current.
_CURRENT: dict[tuple[bool, Any], Any] = {}
_INSERT_VERSION = insert(resource_version)
_INSERT_VERSION_DIRECT = Direct(_INSERT_VERSION)
_VERSION_KEYS = ("resource_type", "fhir_id", "version_id", "last_updated", "deleted", "content",
                 "patient_id")


def check_type(rtype: str) -> None:
    if not definitions.is_resource_type(rtype):
        raise NotFound(f"Unknown resource type '{rtype}'")


def _check_if_match(if_match: str | None, existing: Row[Any] | None) -> None:
    if if_match is None:
        return
    wanted = if_match.strip()
    if wanted.startswith("W/"):
        wanted = wanted[2:]
    wanted = wanted.strip('"')
    if existing is None or existing.deleted:
        raise PreconditionFailed(f"If-Match {if_match} given, but the resource does not exist")
    if wanted != str(existing.version_id):
        raise PreconditionFailed(f"If-Match {if_match} does not match the current version "
                                 f"W/\"{existing.version_id}\"")


__all__ = ["EngineServices", "Repository", "SearchResult", "VardnavError", "WriteResult"]


def _total_told_by(req: SearchRequest, returned: int) -> int | None:
    """The total of a search whose page holds `returned` matches, when the page alone tells
    it: not full, and not past the end (an empty page after the last one tells nothing)."""
    if req.count is not None and returned >= req.count:
        return None
    if returned == 0 and req.offset:
        return None
    return req.offset + returned
