"""FHIR logical ids: [A-Za-z0-9-.]{1,64}."""

from __future__ import annotations

import re

from vardnav.errors import BadRequest

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def check_id(value: str) -> None:
    if not _ID.match(value):
        raise BadRequest(f"'{value[:80]}' is not a valid FHIR id (1-64 of A-Z a-z 0-9 - .)")
