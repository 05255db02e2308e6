"""Where to send the browser after sign-in: only back into this server (no open redirects)."""

from __future__ import annotations

from urllib.parse import urlsplit

from vardnav.domains.identity.signin.session import LOGIN_PATH


def safe_next(value: str | None) -> str:
    """`value` if it is a path on this server, else the sign-in status page.

    Browsers read `//host` and `/\\host` as another host, and strip tabs and newlines
    before resolving, so those are refused along with anything that has a scheme or host.
    """
    if not value or len(value) > 2000 or not value.startswith("/"):
        return LOGIN_PATH
    if value.startswith(("//", "/\\")) or any(c in value for c in "\\\t\r\n\x00"):
        return LOGIN_PATH
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return LOGIN_PATH
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return LOGIN_PATH
    return value
