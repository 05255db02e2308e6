"""Batch and transaction bundles.

A transaction is atomic: it runs in the caller's database transaction and any failing entry
raises, so nothing is written. Entries run in FHIR order (DELETE, POST, PUT/PATCH, GET);
`urn:uuid:` full URLs and conditional references (`Patient?identifier=...`) are resolved
before any entry is written. A batch runs each entry in its own savepoint and reports each
entry's own outcome.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from vardnav.errors import BadRequest, NotFound, VardnavError
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.ids import new_id as make_id
from vardnav.fhir.storage.repository import Repository

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
MAX_ENTRIES = 10_000


def process(repo: Repository, req: FhirRequest) -> FhirResponse:
    bundle = req.body
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadRequest("POST to the base URL takes a Bundle of type batch or transaction")
    btype = bundle.get("type")
    if btype not in ("batch", "transaction"):
        raise BadRequest(f"Bundle.type must be batch or transaction, not {btype!r}",
                         expression=["Bundle.type"])
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise BadRequest("Bundle.entry must be an array", expression=["Bundle.entry"])
    if len(entries) > MAX_ENTRIES:
        raise BadRequest(f"A bundle may hold at most {MAX_ENTRIES} entries")
    parsed = [_parse_entry(i, e) for i, e in enumerate(entries)]
    if btype == "transaction":
        responses = _transaction(repo, req, parsed)
    else:
        responses = _batch(repo, req, parsed)
    return FhirResponse(200, {"resourceType": "Bundle", "type": f"{btype}-response",
                              "entry": responses})


class _Entry:
    def __init__(self, index: int, full_url: str | None, method: str, url: str,
                 resource: Any, headers: dict[str, str]) -> None:
        self.index = index
        self.full_url = full_url
        self.method = method
        self.url = url
        self.resource = resource
        self.headers = headers

    def request(self, prefer: str | None) -> FhirRequest:
        split = urlsplit(self.url)
        headers = dict(self.headers)
        if prefer:
            headers["prefer"] = prefer
        return FhirRequest(self.method, split.path.strip("/"),
                           parse_qsl(split.query, keep_blank_values=True), headers,
                           self.resource)


def _parse_entry(i: int, entry: Any) -> _Entry:
    where = f"Bundle.entry[{i}]"
    if not isinstance(entry, dict):
        raise BadRequest(f"{where} must be an object", expression=[where])
    request = entry.get("request")
    if not isinstance(request, dict):
        raise BadRequest(f"{where}.request is required", expression=[f"{where}.request"])
    method = str(request.get("method", "")).upper()
    url = request.get("url")
    if method not in _ORDER:
        raise BadRequest(f"{where}.request.method {method!r} is not supported",
                         expression=[f"{where}.request.method"])
    if not isinstance(url, str) or not url:
        raise BadRequest(f"{where}.request.url is required", expression=[f"{where}.request.url"])
    headers = {}
    for key, header in (("ifNoneExist", "if-none-exist"), ("ifMatch", "if-match"),
                        ("ifNoneMatch", "if-none-match")):
        if isinstance(request.get(key), str):
            headers[header] = request[key]
    resource = entry.get("resource")
    if method in ("POST", "PUT") and not isinstance(resource, dict):
        raise BadRequest(f"{where}.resource is required for {method}",
                         expression=[f"{where}.resource"])
    if method == "PATCH" and resource is not None:
        resource = _patch_body(resource, where)
    full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
    return _Entry(i, full_url, method, url, resource, headers)


def _patch_body(resource: Any, where: str) -> Any:
    # In a bundle a JSON Patch travels as a Binary with base64 data (FHIR R4 3.1.0.8.2).
    if isinstance(resource, dict) and resource.get("resourceType") == "Binary":
        import base64
        import json
        try:
            return json.loads(base64.b64decode(resource.get("data", "")))
        except (ValueError, TypeError) as exc:
            raise BadRequest(f"{where}.resource: Binary data is not a JSON Patch") from exc
    return resource


def _transaction(repo: Repository, req: FhirRequest, entries: list[_Entry]) -> list[dict]:
    prefer = req.header("prefer")
    mapping = _assign_ids(repo, entries)
    for e in entries:
        if e.resource is not None:
            e.resource = _rewrite_references(repo, e.resource, mapping, e.index)
        if e.url in mapping and e.method in ("PUT", "PATCH", "DELETE", "GET"):
            e.url = mapping[e.url]
    results: dict[int, dict[str, Any]] = {}
    repo.defer_index = True
    try:
        for e in sorted(entries, key=lambda x: (_ORDER[x.method], x.index)):
            if e.index in results:
                continue
            if e.method == "POST" and "x-assigned-id" in e.headers:
                # All plain creates go in one batch when the first is reached (FHIR order).
                results.update(_create_batch(repo, entries, prefer))
                continue
            try:
                results[e.index] = _run(repo, e, prefer, mapping)
            except VardnavError as exc:
                exc.message = f"Bundle.entry[{e.index}] ({e.method} {e.url}): {exc.message}"
                raise
        repo.flush()
    finally:
        repo.defer_index = False
    return [results[i] for i in range(len(entries))]


def _create_batch(repo: Repository, entries: list[_Entry],
                  prefer: str | None) -> dict[int, dict[str, Any]]:
    from vardnav.fhir.router import etag

    creates = [e for e in entries if e.method == "POST" and "x-assigned-id" in e.headers]
    items = [(urlsplit(e.url).path.strip("/"), e.headers["x-assigned-id"], e.resource)
             for e in creates]
    written = repo.create_many(items, [f"Bundle.entry[{e.index}] (POST {e.url})"
                                       for e in creates])
    out: dict[int, dict[str, Any]] = {}
    minimal = "return=minimal" in (prefer or "")
    for e, result in zip(creates, written, strict=True):
        entry: dict[str, Any] = {"response": {
            "status": "201",
            "location": f"{result.resource_type}/{result.id}/_history/{result.version_id}",
            "etag": etag(result.version_id),
            "lastModified": (result.resource or {}).get("meta", {}).get("lastUpdated")}}
        if e.full_url:
            entry["fullUrl"] = e.full_url
        if not minimal:
            entry["resource"] = result.resource
        out[e.index] = entry
    return out


def _batch(repo: Repository, req: FhirRequest, entries: list[_Entry]) -> list[dict]:
    prefer = req.header("prefer")
    out = []
    for e in entries:
        savepoint = repo.conn.begin_nested()
        try:
            out.append(_run(repo, e, prefer, {}))
            repo.flush()
            savepoint.commit()
        except VardnavError as exc:
            savepoint.rollback()
            repo._pending = {}
            out.append({"response": {"status": str(exc.status), "outcome": exc.outcome()}})
    return out


def _assign_ids(repo: Repository, entries: list[_Entry]) -> dict[str, str]:
    """fullUrl → 'Type/id' for every entry that others may reference."""
    mapping: dict[str, str] = {}
    for e in entries:
        path = urlsplit(e.url).path.strip("/")
        if e.method == "POST" and isinstance(e.resource, dict):
            rtype = path
            target: str | None = None
            if "if-none-exist" in e.headers:
                pairs = parse_qsl(e.headers["if-none-exist"].split("?")[-1],
                                  keep_blank_values=True)
                found = repo.search_ids(rtype, pairs)
                if len(found) > 1:
                    raise BadRequest(f"Bundle.entry[{e.index}]: ifNoneExist matched "
                                     f"{len(found)} resources")
                if found:
                    target = f"{rtype}/{found[0]}"
                    e.headers["x-existing-id"] = found[0]
            if target is None:
                new_id = make_id()
                e.headers["x-assigned-id"] = new_id
                target = f"{rtype}/{new_id}"
            if e.full_url:
                mapping[e.full_url] = target
        elif e.method == "PUT" and e.full_url and "?" not in path:
            mapping[e.full_url] = path
    return mapping


def _rewrite_references(repo: Repository, node: Any, mapping: dict[str, str],
                        index: int) -> Any:
    """Rewrite references in place: the parsed body belongs to this request alone."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            for key, child in value.items():
                if key == "reference" and isinstance(child, str):
                    value[key] = _resolve_reference(repo, child, mapping, index)
                else:
                    walk(child)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        return value

    return walk(node)


def _resolve_reference(repo: Repository, ref: str, mapping: dict[str, str], index: int) -> str:
    if ref in mapping:
        return mapping[ref]
    if ref.startswith("urn:uuid:") or ref.startswith("urn:oid:"):
        raise NotFound(f"Bundle.entry[{index}]: reference {ref} names no entry in the bundle")
    if "?" in ref and not ref.startswith(("http://", "https://")):
        rtype, _, query = ref.partition("?")
        found = repo.search_ids(rtype, parse_qsl(query, keep_blank_values=True))
        if len(found) != 1:
            raise BadRequest(f"Bundle.entry[{index}]: conditional reference {ref} matched "
                             f"{len(found)} resources (exactly one is required)")
        return f"{rtype}/{found[0]}"
    return ref


def _run(repo: Repository, e: _Entry, prefer: str | None,
         mapping: dict[str, str]) -> dict[str, Any]:
    from vardnav.fhir.router import dispatch

    if e.method == "POST" and "x-existing-id" in e.headers:
        rtype = urlsplit(e.url).path.strip("/")
        return {"response": {"status": "200",
                             "location": f"{rtype}/{e.headers['x-existing-id']}"}}
    response = dispatch(repo, e.request(prefer))
    entry = {"response": {"status": str(response.status)}}
    if "Location" in response.headers:
        entry["response"]["location"] = response.headers["Location"]
    if "ETag" in response.headers:
        entry["response"]["etag"] = response.headers["ETag"]
    if "Last-Modified" in response.headers:
        entry["response"]["lastModified"] = response.headers["Last-Modified"]
    if response.body is not None:
        entry["resource"] = response.body
    return entry
