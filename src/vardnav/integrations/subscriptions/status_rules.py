"""Who may set which Subscription.status (R4: the client asks, the server decides).

A client creates a subscription `requested` (or `off`); the server moves it to `active`
after the first successful check (a handshake for rest-hook) and to `error` when delivery
keeps failing. A client may turn it `off`, or back to `requested` to start again (after an
error, say); it may leave `active` or `error` as it is when it updates other elements, but
may not set either itself.
"""

from __future__ import annotations

from vardnav.errors import BusinessRuleViolation


def check_client_status(wanted: str, current: str | None) -> None:
    if wanted in ("requested", "off"):
        return
    if wanted in ("active", "error") and current == wanted:
        return
    if wanted in ("active", "error"):
        raise BusinessRuleViolation(
            f"Subscription.status '{wanted}' is set by the server; create or restart a "
            "subscription with status 'requested' (or 'off')",
            expression=["Subscription.status"])
    raise BusinessRuleViolation(f"Unknown Subscription.status {wanted!r}",
                                expression=["Subscription.status"])
