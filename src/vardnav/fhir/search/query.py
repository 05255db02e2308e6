"""SearchRequest → SQL over the index tables. Enforcement of the access policy happens here,
inside the query, for the matched resources and for every chained or `_has` subquery.

Shape of a query: the resource table filtered by type, one criterion used as the *driver*
(`rid IN (index lookup)`, chosen for selectivity) and every other criterion as a correlated
`EXISTS` on its index table, so each is one narrow index seek per candidate row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
)

from vardnav.errors import BadRequest
from vardnav.fhir import definitions
from vardnav.fhir.search.extract import identifier_hash
from vardnav.fhir.search.predicates import (
    composite,
    number,
    quantity,
    reference,
    string,
    token,
    uri,
)
from vardnav.fhir.search.predicates import date as date_pred
from vardnav.fhir.search.registry import SearchParam, param_hash
from vardnav.fhir.search.request import Criterion, SearchRequest, SortKey
from vardnav.fhir.storage.tables import INDEX_TABLES, resource

# (resource type or None for any type, table alias) → policy condition on it, or None.
PolicyFilter = Callable[[str | None, Table], ColumnElement[bool] | None]

_PREDICATES: dict[str, Callable[..., ColumnElement[bool]]] = {
    "string": string.condition,
    "token": token.condition,
    "date": date_pred.condition,
    "number": number.condition,
    "quantity": quantity.condition,
    "uri": uri.condition,
}

# Lower is more selective; the most selective positive criterion drives the query.
_DRIVER_RANK = {"reference": 0, "token": 2, "string": 1, "uri": 2, "date": 4, "number": 5,
                "quantity": 5}


# Candidate drivers are compared by counting at most this many of their index rows.
ESTIMATE_CAP = 1000
# A driver with at most this many rows is kept without counting the others: they could save
# at most these few index seeks, and each count is a statement of its own (a search of an
# encounter's care plan by encounter, category and status paid two counts for nothing).
GOOD_ENOUGH = 8


@dataclass
class QueryBuilder:
    policy_filter: PolicyFilter
    base_url: str = ""
    # Runs a COUNT statement; lets the builder pick the most selective driver from the data.
    estimate: Callable[[Select], int] | None = None
    _drivers: dict[int, int | None] = field(default_factory=dict)
    # Aliases taken per table since the statement being built began (see _alias).
    _taken: dict[str, int] = field(default_factory=dict)

    def _alias(self, table: str) -> Any:
        """A table alias no other part of the statement being built uses. Aliases come from
        a shared pool rather than `.alias()` each time: a new alias builds its column
        collection (a proxy Column per column) on first use, which cost more than the rest
        of building a search. Anonymous, so SQLAlchemy's cache key is the same either way.
        Numbering starts again with each statement (select_page, select_count); a builder
        used for one composite statement (subscriptions) takes fresh numbers throughout."""
        n = self._taken.get(table, 0)
        self._taken[table] = n + 1
        return _pooled_alias(table, n)

    def visible(self, rtype: str | None, alias: Table) -> ColumnElement[bool]:
        """Not deleted, of the type, and readable by the caller."""
        clauses = [alias.c.deleted == false()]
        if rtype:
            clauses.append(alias.c.resource_type == rtype)
        extra = self.policy_filter(rtype, alias)
        if extra is not None:
            clauses.append(extra)
        return and_(*clauses)

    # -- criteria -------------------------------------------------------------------------

    def criterion(self, crit: Criterion, outer: Table, rtype: str | None,
                  *, driver: bool = False) -> ColumnElement[bool]:
        if crit.has is not None:
            return self._has(crit, outer, rtype)
        if crit.param is None:
            return self._resource_column(crit, outer)
        param = crit.param
        hashes = self._hashes(param, rtype)
        rids = self.driver_rids(crit, rtype) if driver else None
        if rids is not None:
            return outer.c.rid.in_(rids)
        if crit.chain:
            return or_(*[self._chain(target, inner, outer, hashes)
                         for target, inner in crit.chain])
        if crit.modifier == "missing":
            t = self._alias("present")
            present = exists().where(t.c.rid == outer.c.rid, hashes(t))
            return not_(present) if crit.values[0] == "true" else present
        if param.type == "reference" and crit.modifier == "identifier":
            t = self._alias("token")
            h = identifier_hash(param)
            cond = or_(*[token.condition(t, None, v) for v in crit.values])
            return exists().where(t.c.rid == outer.c.rid, t.c.param_hash == h, cond)
        t = self._alias(param.type)
        cond = or_(*[self._value(param, crit.modifier, t, v) for v in crit.values])
        if crit.modifier == "not":
            # Resources with no matching value, including those without the element at all.
            return not_(exists().where(t.c.rid == outer.c.rid, hashes(t), cond))
        return exists().where(t.c.rid == outer.c.rid, hashes(t), cond)

    def driver_rids(self, crit: Criterion, rtype: str | None) -> Select | None:
        """The rids a criterion matches, as one index lookup, if it can drive a query."""
        if crit.param is None or crit.has is not None:
            return None
        hashes = self._hashes(crit.param, rtype)
        if crit.chain:
            ref = self._alias("reference")
            alternatives = []
            for target_type, inner in crit.chain:
                target = self._alias("resource")
                targets = select(target.c.fhir_id).where(
                    self.visible(target_type, target),
                    self.criterion(inner, target, target_type, driver=True))
                alternatives.append(and_(ref.c.target_type == target_type,
                                         ref.c.target_id.in_(targets)))
            return select(ref.c.rid).where(hashes(ref), or_(*alternatives))
        if crit.modifier in _NOT_DRIVING:
            return None
        t = self._alias(crit.param.type)
        cond = or_(*[self._value(crit.param, crit.modifier, t, v) for v in crit.values])
        return select(t.c.rid).where(hashes(t), cond)

    def _value(self, param: SearchParam, modifier: str | None, t: Table,
               value: str) -> ColumnElement[bool]:
        if value == "":
            raise BadRequest(f"Search parameter '{param.name}' has an empty value")
        if param.type == "reference":
            return reference.condition(t, modifier, value, targets=param.targets,
                                       base_url=self.base_url)
        if param.type == "composite":
            types = (param.components[0][0], param.components[1][0])
            return composite.condition(t, value, types, base_url=self.base_url)
        return _PREDICATES[param.type](t, modifier, value)

    @staticmethod
    def _hashes(param: SearchParam, rtype: str | None) -> Callable[[Table], Any]:
        if rtype is not None:
            return lambda t: t.c.param_hash == param.param_hash
        # System-level search: the same parameter on every resource type.
        all_hashes = [param_hash(t, param.name) for t in definitions.resource_types()]
        return lambda t: t.c.param_hash.in_(all_hashes)

    def _resource_column(self, crit: Criterion, outer: Table) -> ColumnElement[bool]:
        if crit.name == "_id":
            if crit.modifier == "missing":
                return false() if crit.values[0] == "true" else true()
            return outer.c.fhir_id.in_(crit.values)
        if crit.modifier == "missing":
            return false() if crit.values[0] == "true" else true()
        return or_(*[date_pred.column_condition(outer.c.last_updated, outer.c.last_updated, v)
                     for v in crit.values])

    def _chain(self, target_type: str, inner: Criterion, outer: Table,
               hashes: Callable[[Table], Any]) -> ColumnElement[bool]:
        target = self._alias("resource")
        targets = select(target.c.fhir_id).where(
            self.visible(target_type, target),
            self.criterion(inner, target, target_type, driver=True),
        )
        ref = self._alias("reference")
        return exists().where(ref.c.rid == outer.c.rid, hashes(ref),
                              ref.c.target_type == target_type,
                              ref.c.target_id.in_(targets))

    def _has(self, crit: Criterion, outer: Table, rtype: str | None) -> ColumnElement[bool]:
        assert crit.has is not None
        has = crit.has
        src = self._alias("resource")
        ref = self._alias("reference")
        conds = [ref.c.param_hash == has.reference_param.param_hash,
                 self.visible(has.source_type, src),
                 self.criterion(has.inner, src, has.source_type)]
        if rtype:
            conds.append(ref.c.target_type == rtype)
        referencing = select(ref.c.target_id).join(src, src.c.rid == ref.c.rid).where(*conds)
        return outer.c.fhir_id.in_(referencing)

    # -- whole query ----------------------------------------------------------------------

    def where(self, req: SearchRequest, outer: Table) -> list[ColumnElement[bool]]:
        clauses = [self.visible(req.resource_type, outer)]
        if id(req) not in self._drivers:
            self._drivers[id(req)] = self._pick_driver(req)
        driver = self._drivers[id(req)]
        for n, crit in enumerate(req.criteria):
            clauses.append(self.criterion(crit, outer, req.resource_type, driver=n == driver))
        return clauses

    def _pick_driver(self, req: SearchRequest) -> int | None:
        """Index of the criterion to drive the query: the one with fewest index rows when
        several can, else the first by parameter type."""
        candidates = [(n, rids) for n, crit in enumerate(req.criteria)
                      if (rids := self.driver_rids(crit, req.resource_type)) is not None]
        if not candidates:
            return None
        candidates.sort(key=lambda c: _static_rank(req.criteria[c[0]]))
        if len(candidates) == 1 or self.estimate is None:
            return candidates[0][0]
        # Count each candidate's rows, capped at the best so far: a selective first
        # candidate (usually a reference) makes the others cost a handful of index rows.
        best, best_size = candidates[0][0], ESTIMATE_CAP
        for n, rids in candidates:
            cap = best_size if n != best else ESTIMATE_CAP
            size = self.estimate(select(func.count()).select_from(rids.limit(cap).subquery()))
            if size < best_size or n == best:
                best, best_size = n, size
            if best_size <= GOOD_ENOUGH:  # no other driver could save more than this
                break
        return best

    def select_page(self, req: SearchRequest) -> Select:
        self._taken.clear()  # a new statement
        outer = resource
        stmt = select(outer.c.rid, outer.c.resource_type, outer.c.fhir_id, outer.c.content)
        stmt = stmt.where(*self.where(req, outer))
        stmt = stmt.order_by(*self.order_by(req.sort, outer, req.resource_type), outer.c.rid)
        if req.count is not None:
            stmt = stmt.limit(req.count)
        if req.offset:
            stmt = stmt.offset(req.offset)
        return stmt

    def select_count(self, req: SearchRequest) -> Select:
        self._taken.clear()  # a new statement
        inner = select(resource.c.rid).where(*self.where(req, resource)).subquery()
        return select(func.count()).select_from(inner)

    def order_by(self, keys: list[SortKey], outer: Table, rtype: str | None) -> list[Any]:
        out = []
        for key in keys:
            expr = _sort_expression(
                key, outer, self._alias(key.param.type) if key.param is not None else None)
            out.append(expr.desc().nulls_last() if key.descending else expr.asc().nulls_last())
        return out


_NOT_DRIVING = ("missing", "not", "contains", "identifier", "text")


def _static_rank(crit: Criterion) -> int:
    if crit.chain:
        return 1
    assert crit.param is not None
    return _DRIVER_RANK.get(crit.param.type, 9)


_SORT_COLUMN = {"string": "value_norm", "token": "code", "number": "value",
                "quantity": "value", "uri": "value", "reference": "target_id"}


def _sort_expression(key: SortKey, outer: Table, t: Any) -> Any:
    if key.param is None:
        return outer.c.fhir_id if key.name == "_id" else outer.c.last_updated
    if key.param.type == "date":
        col = func.max(t.c.high) if key.descending else func.min(t.c.low)
    else:
        c = t.c[_SORT_COLUMN[key.param.type]]
        col = func.max(c) if key.descending else func.min(c)
    return (select(col).where(t.c.rid == outer.c.rid, t.c.param_hash == key.param.param_hash)
            .scalar_subquery())


# table name ("resource" or an index kind) → anonymous aliases of it, their columns built.
_POOL: dict[str, list[Any]] = {}
_POOL_LOCK = threading.Lock()


def _pooled_alias(table: str, n: int) -> Any:
    aliases = _POOL.get(table)
    if aliases is None or len(aliases) <= n:
        with _POOL_LOCK:
            aliases = _POOL.setdefault(table, [])
            base = resource if table == "resource" else INDEX_TABLES[table]
            while len(aliases) <= n:
                alias = base.alias()
                _ = alias.c  # built here, once, rather than by the first statement using it
                aliases.append(alias)
    return aliases[n]
