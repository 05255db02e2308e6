"""Password sign-in: rate limit, then argon2 verification, then bookkeeping.

Blocking (argon2 takes tens of milliseconds by design): run it in a worker thread. The hash
is checked outside any transaction so no database lock is held meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.signin.accounts import (
    Account,
    get_account,
    hash_password,
    needs_rehash,
    password_matches,
    store_hash,
)
from vardnav.domains.identity.signin.ratelimit import (
    attempt_succeeded,
    forget_old,
    keys_for,
    reserve_attempt,
)


@dataclass(frozen=True)
class PasswordOutcome:
    status: str  # "ok", "wrong", "disabled" (right password, blocked account), "limited"
    account: Account | None = None
    retry_after: float = 0.0


def check_password(engine: Engine, username: str, password: str, client_ip: str,
                   now: float) -> PasswordOutcome:
    keys = keys_for(username, client_ip)

    def reserve(conn: Connection) -> tuple[float | None, Account | None]:
        forget_old(conn, now)
        wait = reserve_attempt(conn, keys, now)
        return wait, (get_account(conn, username) if wait is None else None)

    wait, account = run_in_transaction(engine, reserve)
    if wait is not None:
        return PasswordOutcome("limited", retry_after=wait)  # no password check at all
    if not password_matches(account, password) or account is None:
        return PasswordOutcome("wrong")
    if account.disabled:
        return PasswordOutcome("disabled")
    new_hash = hash_password(password) if needs_rehash(account) else None

    def succeeded(conn: Connection) -> None:
        attempt_succeeded(conn, keys)
        if new_hash:  # the hasher's parameters were raised since this hash was made
            store_hash(conn, account.username, new_hash)

    run_in_transaction(engine, succeeded)
    return PasswordOutcome("ok", account)
