"""Enforces the municipalities' options on their staff (see options.py), and keeps option
changes to the audited `$set-options` operation."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import ColumnElement, Table

from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.organisation.assignments import org_type
from vardnav.domains.identity.organisation.directory import OrganizationDirectory
from vardnav.domains.identity.organisation.options import MunicipalCaller, options_of, refusal
from vardnav.errors import Forbidden
from vardnav.fhir.hooks import AccessPolicy, AllowAllPolicy, RequestContext

# Set in the request context by $set-options while it writes the Organization.
SETTING_OPTIONS = "vardnav.setting-options"
_CALLER = "vardnav.municipal-caller"
_WITH_OPTIONS = ("municipality", "school-health")
_UNKNOWN = "unknown"
_UNKNOWN_SECONDS = 60.0


class OptionsPolicy:
    def __init__(self, directory: OrganizationDirectory,
                 inner: AccessPolicy | None = None) -> None:
        self.directory = directory
        self.inner = inner or AllowAllPolicy()
        # What kind of organisation a provider is does not change, and only municipalities
        # (and their school health) have options: every other caller skips the lookup.
        # Options themselves are read afresh on every request (they take effect at once).
        self._kinds: dict[str, tuple[str | None, float]] = {}

    def authorize(self, ctx: RequestContext, interaction: str, resource_type: str | None,
                  resource: dict[str, Any] | None = None) -> None:
        caller = self._municipal_caller(ctx)
        if caller is not None:
            why = refusal(caller, interaction, resource_type)
            if why:
                raise Forbidden(why)
        if (resource_type == "Organization" and resource is not None
                and interaction in ("create", "update", "patch")):
            self._guard_options(ctx, interaction, resource)
        self.inner.authorize(ctx, interaction, resource_type, resource)

    def _guard_options(self, ctx: RequestContext, interaction: str,
                       resource: dict[str, Any]) -> None:
        if ctx.attributes.get(SETTING_OPTIONS):
            return
        wanted = options_of(resource)
        if interaction == "create":
            p = ctx.principal
            if wanted and not (isinstance(p, Principal) and p.kind == "system"):
                raise Forbidden("Set a municipality's options with "
                                "Organization/{id}/$set-options (audited)")
            return
        current = self.directory.by_id(resource.get("id"))
        if wanted != (options_of(current) if current else []):
            raise Forbidden("A municipality's options are changed only with "
                            f"Organization/{resource.get('id')}/$set-options, which is audited")

    def _municipal_caller(self, ctx: RequestContext) -> MunicipalCaller | None:
        p = ctx.principal
        if not (isinstance(p, Principal) and p.kind == "staff" and p.provider):
            return None
        if _CALLER not in ctx.attributes:  # once per request: options may change between
            ctx.attributes[_CALLER] = self._lookup(p.provider)
        return ctx.attributes[_CALLER]

    def _lookup(self, provider_hsa: str) -> MunicipalCaller | None:
        known = self._kinds.get(provider_hsa)
        if known is not None and known[0] not in _WITH_OPTIONS and (
                known[0] != _UNKNOWN or known[1] > time.monotonic()):
            return None
        provider = self.directory.by_hsa(provider_hsa)
        if len(self._kinds) > 100_000:
            self._kinds.clear()
        if provider is None:  # not registered (yet): asked again after a while
            self._kinds[provider_hsa] = (_UNKNOWN, time.monotonic() + _UNKNOWN_SECONDS)
            return None
        kind = org_type(provider)
        self._kinds[provider_hsa] = (kind, 0.0)
        if kind == "municipality":
            return MunicipalCaller(provider.get("name", provider_hsa), options_of(provider),
                                   school_health=False)
        if kind == "school-health":
            parent = self.directory.by_reference((provider.get("partOf") or {}).get(
                "reference"))
            if parent is None:  # a school health service outside any municipality: none
                return MunicipalCaller(provider.get("name", provider_hsa), [], True)
            return MunicipalCaller(parent.get("name", ""), options_of(parent),
                                   school_health=True)
        return None

    def query_filter(self, ctx: RequestContext, resource_type: str | None,
                     table: Table, *, one_row: bool = False) -> ColumnElement[bool] | None:
        return self.inner.query_filter(ctx, resource_type, table, one_row=one_row)

    def redact(self, ctx: RequestContext, resource: dict[str, Any]) -> dict[str, Any]:
        return self.inner.redact(ctx, resource)
