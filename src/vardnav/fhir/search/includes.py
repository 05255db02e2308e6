"""_include and _revinclude (with :iterate), resolved through the repository's policy filter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from vardnav.fhir.search.request import Include, SearchRequest
from vardnav.fhir.storage.tables import INDEX_TABLES, resource

if TYPE_CHECKING:
    from vardnav.fhir.storage.repository import Repository

MAX_ITERATIONS = 4
MAX_INCLUDED = 2000


def resolve(repo: Repository, req: SearchRequest,
            matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not (req.includes or req.revincludes):
        return []
    repo.authorize("include", None)
    seen = {(m["resourceType"], m["id"]) for m in matches}
    included: list[dict[str, Any]] = []
    frontier = list(matches)
    for round_no in range(MAX_ITERATIONS):
        found: list[dict[str, Any]] = []
        for inc in req.includes:
            if round_no == 0 or inc.iterate:
                found.extend(_forward(repo, inc, frontier))
        for inc in req.revincludes:
            if round_no == 0 or inc.iterate:
                found.extend(_reverse(repo, inc, frontier))
        new = []
        for res in found:
            key = (res["resourceType"], res["id"])
            if key not in seen:
                seen.add(key)
                new.append(res)
        included.extend(new)
        if not new or len(included) >= MAX_INCLUDED:
            break
        frontier = new
    return included[:MAX_INCLUDED]


def _rids_of(repo: Repository, rtype: str, ids: list[str]) -> list[int]:
    stmt = select(resource.c.rid).where(resource.c.resource_type == rtype,
                                        resource.c.fhir_id.in_(ids))
    return [r.rid for r in repo.conn.execute(stmt)]


def _forward(repo: Repository, inc: Include, frontier: list[dict[str, Any]]) -> list[dict]:
    if inc.source_type == "*":
        types = sorted({r["resourceType"] for r in frontier})
        return [res for t in types
                for res in _forward(repo, Include(t, None, None, inc.iterate), frontier)]
    ids = [r["id"] for r in frontier if r["resourceType"] == inc.source_type]
    if not ids:
        return []
    rids = _rids_of(repo, inc.source_type, ids)
    ref = INDEX_TABLES["reference"]
    if inc.param is not None:
        hashes = [inc.param.param_hash]
    else:
        hashes = [p.param_hash for p in repo.s.registry.for_type(inc.source_type).values()
                  if p.type == "reference"]
    stmt = select(ref.c.target_type, ref.c.target_id).where(
        ref.c.rid.in_(rids), ref.c.param_hash.in_(hashes), ref.c.target_id.is_not(None))
    if inc.target_type:
        stmt = stmt.where(ref.c.target_type == inc.target_type)
    keys = sorted({(r.target_type, r.target_id) for r in repo.conn.execute(stmt)})
    return repo.fetch_many(keys)


def _reverse(repo: Repository, inc: Include, frontier: list[dict[str, Any]]) -> list[dict]:
    if inc.param is None:
        return []
    targets = [(r["resourceType"], r["id"]) for r in frontier
               if not inc.target_type or r["resourceType"] == inc.target_type]
    if not targets:
        return []
    ref = INDEX_TABLES["reference"]
    src = resource.alias()
    out: list[dict[str, Any]] = []
    by_type: dict[str, list[str]] = {}
    for t, i in targets:
        by_type.setdefault(t, []).append(i)
    for ttype, tids in by_type.items():
        referencing = select(ref.c.rid).where(
            ref.c.param_hash == inc.param.param_hash, ref.c.target_type == ttype,
            ref.c.target_id.in_(tids))
        stmt = (select(src.c.content)
                .where(src.c.rid.in_(referencing), repo.queries.visible(inc.source_type, src))
                .limit(MAX_INCLUDED))
        out.extend(r.content for r in repo.conn.execute(stmt))
    return out
