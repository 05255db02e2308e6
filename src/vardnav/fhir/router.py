"""FHIR REST semantics without HTTP: (method, path, query, headers, body) → FhirResponse.

Used by the HTTP adapter (`vardnav.fhir.api`) and, unchanged, for each entry of a batch or
transaction bundle, so both paths share every rule.
"""

from __future__ import annotations

from typing import Any

from vardnav.errors import BadRequest, MethodNotAllowed, NotFound, VardnavError
from vardnav.fhir.datetimes import instant, now
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.search.paging import page_links
from vardnav.fhir.search.shaping import shape
from vardnav.fhir.storage.repository import (
    HistoryEntry,
    Repository,
    SearchResult,
    WriteResult,
    check_type,
)


def etag(version: int | str) -> str:
    return f'W/"{version}"'


def dispatch(repo: Repository, req: FhirRequest) -> FhirResponse:
    """Route one FHIR interaction. Bundles and operations are routed by the caller's layer."""
    from vardnav.fhir import bundles
    from vardnav.fhir.operations import registry as operations

    parts = [p for p in req.path.strip("/").split("/") if p]
    method = req.method.upper()
    if not parts:
        if method == "POST":
            return bundles.process(repo, req)
        if method == "GET":
            return _search(repo, req, None)
        raise MethodNotAllowed(f"{method} is not supported on the base URL")
    if parts == ["metadata"] and method == "GET":
        from vardnav.fhir.capability import capability_statement
        return FhirResponse(200, capability_statement(repo.s.registry, repo.ctx.base_url))
    if parts[0] == "_history" and len(parts) == 1 and method == "GET":
        return _history(repo, req, None, None)
    if parts[0].startswith("$") or any(p.startswith("$") for p in parts[1:]):
        return operations.invoke(repo, req, parts)
    rtype = parts[0]
    check_type(rtype)
    if len(parts) == 1:
        if method == "GET":
            return _search(repo, req, rtype)
        if method == "POST":
            return _create(repo, req, rtype)
        if method == "PUT":
            return _conditional_update(repo, req, rtype)
        if method == "DELETE":
            return _conditional_delete(repo, req, rtype)
        if method == "PATCH":
            raise MethodNotAllowed("Conditional patch is not supported; patch by id")
        raise MethodNotAllowed(f"{method} is not supported on /{rtype}")
    if parts[1] == "_search" and len(parts) == 2 and method == "POST":
        return _search(repo, req, rtype)
    if parts[1] == "_history" and len(parts) == 2 and method == "GET":
        return _history(repo, req, rtype, None)
    fhir_id = parts[1]
    if len(parts) == 2:
        if method == "GET":
            return _read(repo, req, rtype, fhir_id)
        if method == "PUT":
            return _update(repo, req, rtype, fhir_id)
        if method == "PATCH":
            return _patch(repo, req, rtype, fhir_id)
        if method == "DELETE":
            result = repo.delete(rtype, fhir_id)
            return FhirResponse(204 if result.outcome == "unchanged" else 200,
                                _info(f"{rtype}/{fhir_id} deleted"),
                                {"ETag": etag(result.version_id)})
        raise MethodNotAllowed(f"{method} is not supported on /{rtype}/{fhir_id}")
    if parts[2] == "_history" and method == "GET":
        if len(parts) == 3:
            return _history(repo, req, rtype, fhir_id)
        if len(parts) == 4:
            content = repo.vread(rtype, fhir_id, parts[3])
            return _resource_response(200, content)
    raise NotFound(f"No FHIR interaction at /{req.path}")


# -- reads -------------------------------------------------------------------------------

def _read(repo: Repository, req: FhirRequest, rtype: str, fhir_id: str) -> FhirResponse:
    content = repo.read(rtype, fhir_id)
    version = content.get("meta", {}).get("versionId")
    none_match = req.header("if-none-match")
    if none_match and version and none_match.strip() in (etag(version), f'"{version}"',
                                                         version):
        return FhirResponse(304, None, {"ETag": etag(version)})
    summary = dict(req.query).get("_summary")
    elements = [e for e in dict(req.query).get("_elements", "").split(",") if e]
    return _resource_response(200, shape(content, summary if summary != "false" else None,
                                         elements))


def _resource_response(status: int, content: dict[str, Any],
                       location: str | None = None) -> FhirResponse:
    meta = content.get("meta") or {}
    headers = {}
    if meta.get("versionId"):
        headers["ETag"] = etag(meta["versionId"])
    if meta.get("lastUpdated"):
        headers["Last-Modified"] = meta["lastUpdated"]
    if location:
        headers["Location"] = location
    return FhirResponse(status, content, headers)


def _info(message: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational",
                       "diagnostics": message}]}


# -- writes ------------------------------------------------------------------------------

def _body(req: FhirRequest) -> Any:
    if req.body is None:
        raise BadRequest("This interaction needs a resource in the body")
    return req.body


def _prefer_return(req: FhirRequest) -> str:
    prefer = req.header("prefer") or ""
    for part in prefer.split(";"):
        for item in part.split(","):
            key, _, value = item.strip().partition("=")
            if key == "return":
                return value.strip('"')
    return "representation"


def _write_response(repo: Repository, req: FhirRequest, result: WriteResult,
                    status: int) -> FhirResponse:
    location = f"{repo.ctx.base_url}/{result.resource_type}/{result.id}/_history/" \
               f"{result.version_id}"
    content = result.resource or {}
    response = _resource_response(status, content, location)
    pref = _prefer_return(req)
    if pref == "minimal":
        response.body = None
    elif pref == "OperationOutcome":
        response.body = _info(f"{result.resource_type}/{result.id} {result.outcome}, "
                              f"version {result.version_id}")
    return response


def _create(repo: Repository, req: FhirRequest, rtype: str) -> FhirResponse:
    condition = req.header("if-none-exist")
    pairs = _parse_condition(condition) if condition is not None else None
    url_criteria = [(k, v) for k, v in req.query if k not in ("_format", "_pretty")]
    if pairs is None and url_criteria:
        # Some clients (fhirpy's get_or_create) put the condition in the URL instead of
        # If-None-Exist; honouring it beats silently creating a duplicate.
        pairs = url_criteria
    result = repo.create(rtype, _body(req), if_none_exist=pairs)
    return _write_response(repo, req, result, 201 if result.outcome == "created" else 200)


def _parse_condition(text: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl
    query = text.split("?", 1)[1] if "?" in text else text
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        raise BadRequest(f"'{text}' is not a search query")
    return pairs


def _update(repo: Repository, req: FhirRequest, rtype: str, fhir_id: str) -> FhirResponse:
    result = repo.update(rtype, fhir_id, _body(req), if_match=req.header("if-match"))
    return _write_response(repo, req, result, 201 if result.outcome == "created" else 200)


def _conditional_update(repo: Repository, req: FhirRequest, rtype: str) -> FhirResponse:
    result = repo.conditional_update(rtype, _criteria(req), _body(req),
                                     if_match=req.header("if-match"))
    return _write_response(repo, req, result, 201 if result.outcome == "created" else 200)


def _conditional_delete(repo: Repository, req: FhirRequest, rtype: str) -> FhirResponse:
    result = repo.conditional_delete(rtype, _criteria(req))
    if result is None:
        return FhirResponse(204, None)
    return FhirResponse(200, _info(f"{rtype}/{result.id} deleted"))


def _criteria(req: FhirRequest) -> list[tuple[str, str]]:
    pairs = [(k, v) for k, v in req.query if k not in ("_format", "_pretty")]
    if not pairs:
        raise BadRequest("A conditional interaction needs search criteria in the URL")
    return pairs


def _patch(repo: Repository, req: FhirRequest, rtype: str, fhir_id: str) -> FhirResponse:
    result = repo.patch(rtype, fhir_id, _body(req), if_match=req.header("if-match"))
    return _write_response(repo, req, result, 200)


# -- search and history ------------------------------------------------------------------

def _strict(req: FhirRequest) -> bool:
    return "handling=strict" in (req.header("prefer") or "").replace(" ", "")


def _search(repo: Repository, req: FhirRequest, rtype: str | None) -> FhirResponse:
    pairs = [(k, v) for k, v in req.query if k not in ("_format", "_pretty")]
    if isinstance(req.body, list):  # POST _search with a form body, parsed by the adapter
        if not all(isinstance(p, tuple) and len(p) == 2 for p in req.body):
            # A JSON array (HTTP body or a bundle entry's resource) is not a form.
            raise BadRequest("A search takes its parameters in the URL or as an "
                             "application/x-www-form-urlencoded body")
        pairs.extend(req.body)
    search = repo.parse(rtype, pairs, strict=_strict(req))
    result = repo.search(search)
    return FhirResponse(200, search_bundle(repo, rtype, pairs, result))


def search_bundle(repo: Repository, rtype: str | None, pairs: list[tuple[str, str]],
                  result: SearchResult) -> dict[str, Any]:
    req = result.request
    base = repo.ctx.base_url
    entries: list[dict[str, Any]] = []
    for res in result.matches:
        entries.append({"fullUrl": f"{base}/{res['resourceType']}/{res['id']}",
                        "resource": shape(res, req.summary, req.elements),
                        "search": {"mode": "match"}})
    for res in result.included:
        entries.append({"fullUrl": f"{base}/{res['resourceType']}/{res['id']}",
                        "resource": shape(res, req.summary, req.elements),
                        "search": {"mode": "include"}})
    issues = [{"severity": "warning", "code": "not-supported", "diagnostics": w}
              for w in result.warnings]
    issues += [{"severity": "warning", "code": "suppressed", "diagnostics": n}
               for n in result.notices]
    if issues:
        entries.append({"resource": {"resourceType": "OperationOutcome", "issue": issues},
                        "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                              "meta": {"lastUpdated": instant(now())}}
    if result.total is not None:
        bundle["total"] = result.total
    links = page_links(base, rtype, pairs, req.count, req.offset, result.total,
                       len(result.matches))
    # A count has no pages to walk.
    bundle["link"] = links[:1] if req.summary == "count" else links
    bundle["entry"] = entries
    return bundle


def _history(repo: Repository, req: FhirRequest, rtype: str | None,
             fhir_id: str | None) -> FhirResponse:
    q = dict(req.query)
    from vardnav.fhir.search.request import parse_int

    count = parse_int("_count", q["_count"], 1, repo.s.max_page_size) if "_count" in q \
        else repo.s.default_page_size
    offset = parse_int("_offset", q["_offset"], 0, 10**9) if "_offset" in q else 0
    entries, total = repo.history(rtype, fhir_id, since=q.get("_since"), count=count,
                                  offset=offset)
    base = repo.ctx.base_url
    path = "/".join(p for p in (rtype, fhir_id) if p)
    pairs = [(k, v) for k, v in req.query if k not in ("_count", "_offset")]
    hist_path = f"{path}/_history" if path else "_history"
    links = page_links(base, hist_path, pairs, count, offset, total, len(entries))
    bundle = {"resourceType": "Bundle", "type": "history", "total": total, "link": links,
              "entry": [_history_entry(base, e) for e in entries]}
    return FhirResponse(200, bundle)


def _history_entry(base: str, e: HistoryEntry) -> dict[str, Any]:
    entry: dict[str, Any] = {"fullUrl": f"{base}/{e.resource_type}/{e.id}"}
    if e.content is not None:
        entry["resource"] = e.content
    entry["request"] = {"method": e.method,
                        "url": e.resource_type if e.method == "POST"
                        else f"{e.resource_type}/{e.id}"}
    entry["response"] = {"status": "204" if e.deleted else "201" if e.version_id == 1
                         else "200",
                         "etag": etag(e.version_id), "lastModified": instant(e.last_updated)}
    return entry


__all__ = ["VardnavError", "dispatch", "etag"]
