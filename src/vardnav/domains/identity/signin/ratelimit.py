"""Login rate limiting, shared by every server process through the database.

Each attempt is counted, before its password is checked, against the username and the
client address: at most `LIMIT` attempts per key in a `WINDOW_SECONDS` window. Counting
before checking means parallel guesses cannot slip past the limit; a successful sign-in
takes its own attempt back (and clears the username's count), so only failures add up.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from vardnav.domains.identity.models import login_failure

LIMIT = 5
WINDOW_SECONDS = 15 * 60


def keys_for(username: str, client_ip: str) -> list[str]:
    return [f"user:{username.lower()[:150]}", f"ip:{client_ip[:150]}"]


def reserve_attempt(conn: Connection, keys: list[str], now: float) -> float | None:
    """Count an attempt for every key; if a key is at its limit, count nothing and return
    the seconds until its window ends (None: go ahead)."""
    table = login_failure
    rows = {r.key: r for r in conn.execute(
        select(table).where(table.c.key.in_(keys)).with_for_update())}
    wait = [r.window_start + WINDOW_SECONDS - now for r in rows.values()
            if r.count >= LIMIT and r.window_start + WINDOW_SECONDS > now]
    if wait:
        return max(wait)
    for key in keys:
        row = rows.get(key)
        if row is None:
            conn.execute(insert(table).values(key=key, window_start=now, count=1))
        elif row.window_start + WINDOW_SECONDS <= now:  # a new window starts
            conn.execute(update(table).where(table.c.key == key)
                         .values(window_start=now, count=1))
        else:
            conn.execute(update(table).where(table.c.key == key)
                         .values(count=table.c.count + 1))
    return None


def attempt_succeeded(conn: Connection, keys: list[str]) -> None:
    """Take back a successful attempt: the username starts afresh, the address keeps only
    its failures."""
    user_key, *others = keys
    conn.execute(delete(login_failure).where(login_failure.c.key == user_key))
    conn.execute(update(login_failure)
                 .where(login_failure.c.key.in_(others), login_failure.c.count > 0)
                 .values(count=login_failure.c.count - 1))


def forget_old(conn: Connection, now: float) -> None:
    conn.execute(delete(login_failure)
                 .where(login_failure.c.window_start < now - WINDOW_SECONDS))
