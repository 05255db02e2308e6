"""SMART scopes: v2 letters, v1 read/write forms, wildcards, and fail-closed parsing."""

from __future__ import annotations

import pytest

from vardnav.domains.identity.access.scopes import allowed, parse_scope, parse_scopes


@pytest.mark.parametrize(("scope", "interaction", "rtype", "ok"), [
    ("patient/Observation.rs", "read", "Observation", True),
    ("patient/Observation.rs", "search", "Observation", True),
    ("patient/Observation.rs", "create", "Observation", False),
    ("patient/Observation.rs", "read", "Patient", False),
    ("user/*.cruds", "delete", "Encounter", True),
    ("user/*.cruds", "patch", "Patient", True),
    ("system/*.rs", "update", "Patient", False),
    ("system/*.rs", "history", "Patient", True),
    ("user/*.read", "search", "Condition", True),
    ("user/*.read", "create", "Condition", False),
    ("patient/*.write", "update", "Observation", True),
    ("patient/*.write", "read", "Observation", False),
    ("user/*.*", "delete", "Flag", True),
    ("user/Patient.rs", "operation:everything", "Patient", True),
    ("user/Patient.c", "operation:everything", "Patient", False),
])
def test_scope_grants(scope: str, interaction: str, rtype: str, ok: bool) -> None:
    assert allowed(parse_scopes(scope), interaction, rtype) is ok


@pytest.mark.parametrize("text", ["openid", "launch/patient", "offline_access", "user/*.rc",
                                  "user/*.x", "user/patient.rs", "admin/*.rs", "user/*.",
                                  "fhirUser", ""])
def test_non_resource_or_malformed_scopes_grant_nothing(text: str) -> None:
    assert parse_scope(text) is None
    assert not allowed(parse_scopes(text), "read", "Patient")


def test_scopes_with_search_parameters_fail_closed_for_now() -> None:
    scope = parse_scope("patient/Observation.rs?category=laboratory")
    assert scope is not None and scope.query == "category=laboratory"
    assert not allowed([scope], "read", "Observation")


def test_several_scopes_combine() -> None:
    scopes = parse_scopes("openid fhirUser patient/Patient.r patient/Observation.cs")
    assert allowed(scopes, "read", "Patient")
    assert allowed(scopes, "create", "Observation")
    assert not allowed(scopes, "read", "Observation")
