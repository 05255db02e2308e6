"""Opaque bearer secrets (authorization codes, launch values, refresh tokens).

They are random (256 bits from `secrets`) and stored only as their sha256: high entropy makes
a plain hash safe, and a leaked database cannot be replayed as codes or tokens.
"""

from __future__ import annotations

import hashlib
import secrets


def new_opaque() -> str:
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
