"""A large condition kept and reused across statements, whose SQLAlchemy cache key is computed
once instead of on every statement that embeds it.

SQLAlchemy looks up a statement's compiled form by a cache key it computes by walking the
whole statement on every execution. A condition built once per caller and put in every
search (the patient data law's, pdl_policy.py) would be walked each time, at a cost measured
above the rest of building a search. Wrapped here, its key (the walk's result: structure,
with values left out) and its bound parameters (in walk order) are taken once; each
statement embedding it extends its own parameter list with them, so values still come from
the condition itself, and two conditions of the same structure share one compiled form
exactly as unwrapped ones would. It compiles as the condition it wraps.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement
from sqlalchemy.ext.compiler import compiles


class KeyedCondition(ColumnElement[bool]):
    __visit_name__ = "keyed_condition"
    inherit_cache = True  # the key is ours (below); nothing else to inherit
    type = Boolean()

    def __init__(self, condition: ColumnElement[bool]) -> None:
        self.condition = condition
        key = condition._generate_cache_key()
        if key is None:  # not cacheable: leave SQLAlchemy to say so for the statement
            raise ValueError("KeyedCondition needs a cacheable condition")
        self._key = key.key
        self._binds = list(key.bindparams)

    def _gen_cache_key(self, anon_map: Any, bindparams: Any) -> tuple[Any, ...]:
        if bindparams is not None:
            bindparams.extend(self._binds)
        return (KeyedCondition, self._key)

    @property
    def _from_objects(self) -> list[Any]:
        return self.condition._from_objects

    def self_group(self, against: Any = None) -> ColumnElement[Any]:
        return self  # compiled in parentheses (below), whatever it is put next to


@compiles(KeyedCondition)
def _compile(element: KeyedCondition, compiler: Any, **kw: Any) -> str:
    return "(" + compiler.process(element.condition, **kw) + ")"
