"""PKCE (RFC 7636), S256 only: `plain` would hand the code to anyone who sees the request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

# Verifiers are 43-128 unreserved characters; an S256 challenge is 32 bytes in base64url.
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def valid_challenge(challenge: str) -> bool:
    return bool(_S256_CHALLENGE.match(challenge))


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(verifier: str, challenge: str) -> bool:
    if not _VERIFIER.match(verifier):
        return False
    return hmac.compare_digest(s256(verifier), challenge)
