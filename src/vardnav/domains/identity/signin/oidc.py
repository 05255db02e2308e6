"""Sign-in through an external OpenID Connect identity provider (SITHS eID in production).

`IdentityProvider` is the hook: `start` gives the URL to send the browser to and the values
to keep in the session (state, nonce, PKCE verifier); `finish` checks the callback, redeems
the code and returns the staff member's HSA-id from the validated id_token. `OidcProvider`
implements it with the authorization-code flow: discovery from
`<issuer>/.well-known/openid-configuration`, PKCE S256, client_secret_basic, and an id_token
checked against the provider's JWKS (signature, iss, aud/azp, exp, iat, nonce).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from vardnav.config import Settings

CLOCK_SKEW_SECONDS = 60
METADATA_TTL_SECONDS = 3600
# Asymmetric algorithms only: "none" and HMAC (keyed with the client secret) are refused.
SAFE_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "ES256", "ES384")
_HSA_ID = re.compile(r"^SE[0-9]{10}-[0-9A-Za-z]{1,31}$")


class OidcError(Exception):
    """The external sign-in failed; the message is safe to show."""


@dataclass(frozen=True)
class ExternalIdentity:
    hsa_id: str
    name: str | None


class IdentityProvider(Protocol):
    label: str

    async def start(self, redirect_uri: str) -> tuple[str, dict[str, str]]:
        """The authorization URL and the values to keep until the callback."""

    async def finish(self, params: Mapping[str, str], kept: Mapping[str, str],
                     redirect_uri: str) -> ExternalIdentity:
        """The person the callback `params` prove, or OidcError."""


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcProvider:
    label = "SITHS (extern IdP)"

    def __init__(self, *, issuer: str, client_id: str, client_secret: str | None,
                 hsa_claim: str = "hsa_id",
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.hsa_claim = hsa_claim
        self.transport = transport  # tests inject a fake IdP here
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, KeySet] | None = None
        self._keys_fetched = 0.0

    @classmethod
    def from_settings(cls, settings: Settings,
                      transport: httpx.AsyncBaseTransport | None = None) -> OidcProvider | None:
        if not (settings.oidc_issuer and settings.oidc_client_id):
            return None
        return cls(issuer=settings.oidc_issuer, client_id=settings.oidc_client_id,
                   client_secret=settings.oidc_client_secret,
                   hsa_claim=settings.oidc_hsa_claim, transport=transport)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport, timeout=10.0)

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._client() as client:
                response = await client.get(url, headers={"Accept": "application/json"})
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError("Identitetsleverantören svarar inte") from exc
        if response.status_code != 200 or not isinstance(body, dict):
            raise OidcError("Identitetsleverantören svarar inte som väntat")
        return body

    async def metadata(self) -> dict[str, Any]:
        if self._metadata and self._metadata[0] > time.time():
            return self._metadata[1]
        found = await self._get_json(
            self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        # OpenID Connect Discovery §4.3: the document must name the issuer we asked.
        if found.get("issuer") != self.issuer:
            raise OidcError("Identitetsleverantören uppger en annan utfärdare")
        needed = ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if not all(isinstance(found.get(k), str) for k in needed):
            raise OidcError("Identitetsleverantörens konfiguration är ofullständig")
        self._metadata = (time.time() + METADATA_TTL_SECONDS, found)
        return found

    async def _key_set(self, refresh: bool = False) -> KeySet:
        # A refresh (unknown key) is honoured at most every 30 s: forged tokens cannot make
        # us hammer the provider.
        recent = time.time() - self._keys_fetched < 30
        if self._keys and self._keys[0] > time.time() and (not refresh or recent):
            return self._keys[1]
        body = await self._get_json((await self.metadata())["jwks_uri"])
        try:
            keys = KeySet.import_key_set(body)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise OidcError("Identitetsleverantörens nycklar kan inte läsas") from exc
        self._keys = (time.time() + METADATA_TTL_SECONDS, keys)
        self._keys_fetched = time.time()
        return keys

    async def start(self, redirect_uri: str) -> tuple[str, dict[str, str]]:
        meta = await self.metadata()
        kept = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24),
                "verifier": secrets.token_urlsafe(48)}
        query = urlencode({
            "response_type": "code", "client_id": self.client_id,
            "redirect_uri": redirect_uri, "scope": "openid profile",
            "state": kept["state"], "nonce": kept["nonce"],
            "code_challenge": pkce_challenge(kept["verifier"]),
            "code_challenge_method": "S256"})
        endpoint = meta["authorization_endpoint"]
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", kept

    async def finish(self, params: Mapping[str, str], kept: Mapping[str, str],
                     redirect_uri: str) -> ExternalIdentity:
        state = params.get("state", "")
        if not kept.get("state") or not hmac.compare_digest(state.encode(),
                                                            kept["state"].encode()):
            raise OidcError("Inloggningen kunde inte kopplas till den här webbläsaren; "
                            "börja om")
        if params.get("error"):
            raise OidcError("Identitetsleverantören avbröt inloggningen "
                            f"({params['error'][:64]})")
        code = params.get("code")
        if not code:
            raise OidcError("Identitetsleverantören skickade ingen kod")
        id_token = await self._redeem(code, kept["verifier"], redirect_uri)
        claims = await self._validate(id_token, kept["nonce"])
        hsa = claims.get(self.hsa_claim)
        if not isinstance(hsa, str) or not _HSA_ID.match(hsa.upper()):
            raise OidcError("Identitetsleverantören uppgav inget HSA-id")
        name = claims.get("name")
        return ExternalIdentity(hsa.upper(), name if isinstance(name, str) else None)

    async def _redeem(self, code: str, verifier: str, redirect_uri: str) -> str:
        meta = await self.metadata()
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "code_verifier": verifier,
                "client_id": self.client_id}
        auth = None
        if self.client_secret:
            # RFC 6749 §2.3.1: form-encode both before Basic authentication.
            auth = (quote(self.client_id, safe=""), quote(self.client_secret, safe=""))
        try:
            async with self._client() as client:
                response = await client.post(meta["token_endpoint"], data=form, auth=auth,
                                             headers={"Accept": "application/json"})
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError("Identitetsleverantörens tokentjänst svarar inte") from exc
        token = body.get("id_token") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(token, str):
            raise OidcError("Identitetsleverantören lämnade ingen identitetstoken")
        return token

    async def _validate(self, id_token: str, nonce: str) -> dict[str, Any]:
        meta = await self.metadata()
        offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in SAFE_ALGORITHMS if a in offered]
        try:
            decoded = jwt.decode(id_token, await self._key_set(), algorithms=algorithms)
        except (JoseError, ValueError, TypeError, KeyError):
            try:  # the provider may have rotated its keys since we fetched them
                decoded = jwt.decode(id_token, await self._key_set(refresh=True),
                                     algorithms=algorithms)
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise OidcError("Identitetstokenens signatur är inte giltig") from exc
        claims = decoded.claims
        problem = claims_problem(claims, issuer=self.issuer, client_id=self.client_id,
                                 nonce=nonce, now=time.time())
        if problem:
            raise OidcError(problem)
        return claims


def claims_problem(claims: dict[str, Any], *, issuer: str, client_id: str, nonce: str,
                   now: float) -> str | None:
    """Why an id_token's claims are unacceptable (OIDC Core §3.1.3.7), or None."""
    if claims.get("iss") != issuer:
        return "Identitetstoken kommer från fel utfärdare"
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        return "Identitetstoken är inte utfärdad till Vårdnav"
    if len(audiences) > 1 and claims.get("azp") != client_id:
        return "Identitetstoken är inte utfärdad till Vårdnav"
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or exp + CLOCK_SKEW_SECONDS < now:
        return "Identitetstoken har gått ut"
    if not isinstance(iat, int | float) or iat - CLOCK_SKEW_SECONDS > now:
        return "Identitetstoken är utfärdad i framtiden"
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        return "Identitetstoken hör inte till den här inloggningen (nonce)"
    return None
