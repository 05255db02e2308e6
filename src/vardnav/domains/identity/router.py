"""HTTP routes of the identity domain. So far: the public signing keys (JWKS)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vardnav.domains.identity.keys import KeyStore


def build_identity_router(store: KeyStore) -> APIRouter:
    router = APIRouter()

    @router.get("/oauth/jwks", summary="Public keys that sign Vårdnav access tokens")
    def jwks() -> dict[str, Any]:
        return store.jwks()

    return router
