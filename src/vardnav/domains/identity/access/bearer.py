"""The resource-server side: turn an `Authorization: Bearer` header into a principal.

Signature, issuer, audience and lifetime are checked by `tokens.validate`; a revoked token id
(see `revocation`) is refused too. Every failure is `Unauthorized` (401 with a
`WWW-Authenticate` challenge, RFC 6750).

An RSA signature check costs ~50 µs, a noticeable share of a 1 ms read; so the principal of a
token that verified is kept (by the exact token text, bounded) and reused until the token
expires. Expiry and revocation are still checked on every request.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from vardnav.domains.identity.access.keys import KeyStore
from vardnav.domains.identity.access.principal import Principal, from_claims
from vardnav.domains.identity.access.tokens import validate
from vardnav.errors import Unauthorized

REALM = "vardnav"
CACHE_SIZE = 10_000


class BearerAuthenticator:
    def __init__(self, store: KeyStore, *, issuer: str, audience: str,
                 is_revoked: Callable[[str], bool] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.issuer = issuer
        self.audience = audience
        self.is_revoked = is_revoked or (lambda _jti: False)
        self.clock = clock
        self._verified: dict[str, Principal] = {}

    def principal(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("An access token is required: send 'Authorization: Bearer "
                               "<token>' (see /.well-known/smart-configuration)")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Use the Bearer scheme: 'Authorization: Bearer <token>'")
        token = token.strip()
        principal = self._verified.get(token)
        now = self.clock()
        if principal is None or principal.expires < now:
            principal = from_claims(validate(self.store, token, issuer=self.issuer,
                                             audience=self.audience, now=now))
            if len(self._verified) >= CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)), None)  # oldest first
            self._verified[token] = principal
        if principal.token_id and self.is_revoked(principal.token_id):
            raise Unauthorized("The access token has been revoked")
        return principal


def challenge(error: Unauthorized, *, token_sent: bool) -> str:
    """The WWW-Authenticate value: no error code when no token was sent (RFC 6750 §3.1)."""
    if not token_sent:
        return f'Bearer realm="{REALM}"'
    description = error.message.replace('"', "'").replace("\\", "/")
    return f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'
